"""Shared pieces of the benchmark scripts: machine info, timing, tables, result files,
synthetic image folders and a ``kerascnn serve`` launcher.

Every benchmark measures the things it compares side by side in one process run, so the
ratios hold on the machine that produced them even when absolute numbers move.

Example:
    >>> from _common import machine_info, write_result  # doctest: +SKIP
    >>> write_result("demo", {"rows": []}, smoke=True)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (or platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_info(with_tf: bool = True) -> dict:
    """Where the figures were measured: CPU, cores, memory, Python/TF/Keras versions, GPUs.

    Example:
        >>> machine_info(with_tf=False)["cores"] >= 1
        True
    """
    import psutil

    info = {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus_host": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    if with_tf:
        import keras
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["keras"] = keras.__version__
        gpus = tf.config.list_physical_devices("GPU")
        names = []
        for gpu in gpus:
            try:
                names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
            except Exception:  # details are best-effort
                names.append(gpu.name)
        info["gpus"] = names
    return info


def machine_line(info: dict) -> str:
    """One line describing the machine, for tables and the README."""
    gpu = ", ".join(info.get("gpus") or []) or "no GPU"
    return (f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB RAM, {gpu}; "
            f"TF {info.get('tensorflow', '?')}, Keras {info.get('keras', '?')}, "
            f"load avg {info.get('load_average_1m')}")


def write_result(name: str, payload: dict, *, smoke: bool, out_dir=None) -> Path:
    """Write ``benchmarks/results/NAME.json`` (``NAME.smoke.json`` in smoke mode).

    Smoke runs write beside the real figures, never over them.
    """
    out_dir = Path(out_dir or os.environ.get("KERASCNN_BENCH_RESULTS", RESULTS_DIR))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / (f"{name}.smoke.json" if smoke else f"{name}.json")
    doc = {
        "benchmark": name,
        "smoke": smoke,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **payload,
    }
    path.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def table(headers, rows) -> str:
    """A plain-text table (right-aligned numbers), as printed by every benchmark.

    Example:
        >>> print(table(["a", "b"], [["x", 1.5]]))
        a | b
        --+-----
        x | 1.50
    """
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    def line(values, numeric):
        padded = [v.rjust(w) if numeric and _is_num(v) else v.ljust(w)
                  for v, w in zip(values, widths)]
        return " | ".join(padded).rstrip()

    out = [line([str(h) for h in headers], False),
           "-+-".join("-" * w for w in widths)]
    out += [line(r, True) for r in cells]
    return "\n".join(out)


def markdown_table(headers, rows) -> str:
    """The same table in Markdown, for the README."""
    out = ["| " + " | ".join(map(str, headers)) + " |",
           "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _is_num(text: str) -> bool:
    try:
        float(text.rstrip("×%x ms"))
        return True
    except ValueError:
        return False


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"
    return str(value)


def percentiles(samples_seconds) -> dict:
    """p50/p95/p99 and mean of latencies in milliseconds."""
    ms = sorted(s * 1000 for s in samples_seconds)
    if not ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None}

    def pick(q):
        return ms[min(len(ms) - 1, max(0, round(q * (len(ms) - 1))))]

    return {"p50_ms": pick(0.50), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "mean_ms": statistics.fmean(ms)}


def target(name: str, value, threshold, *, higher_is_better=True, unit="") -> dict:
    """A target check as it goes into the JSON and the printed summary."""
    if value is None:
        met = None
    else:
        met = value >= threshold if higher_is_better else value <= threshold
    return {"target": name, "value": value, "threshold": threshold,
            "comparison": ">=" if higher_is_better else "<=", "unit": unit, "met": met}


def print_targets(targets) -> None:
    for t in targets:
        mark = {True: "MET", False: "MISSED", None: "n/a"}[t["met"]]
        value = "-" if t["value"] is None else _fmt(float(t["value"]))
        print(f"  [{mark:6}] {t['target']}: {value}{t['unit']} "
              f"(target {t['comparison']} {t['threshold']}{t['unit']})")


# ------------------------------------------------------------------------- synthetic images
def make_image_folder(root, *, n: int, size: int, classes: int, fmt: str = "png",
                      seed: int = 0, channels: int = 3) -> Path:
    """Write ``n`` random-but-structured images as ``root/class_k/img_i.EXT``.

    Each class gets its own mean colour plus noise, so a model can learn something, and the
    files compress like photos rather than like pure noise (JPEG quality 90).
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    ext = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}[fmt]
    for k in range(classes):
        (root / f"class_{k:02d}").mkdir(parents=True, exist_ok=True)
    base = rng.integers(0, 256, size=(classes, 1, 1, channels))
    yy, xx = np.mgrid[0:size, 0:size]
    ramp = ((xx + yy) * (128.0 / max(1, 2 * size - 2)))[..., None]
    for i in range(n):
        k = i % classes
        noise = rng.normal(0, 24, size=(size, size, channels))
        pixels = np.clip(base[k] * 0.6 + ramp + noise, 0, 255).astype("uint8")
        image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
        path = root / f"class_{k:02d}" / f"img_{i:05d}.{ext}"
        if ext == "jpg":
            image.save(path, quality=90)
        else:
            image.save(path)
    return root


def png_bytes(size=32, channels=1, seed=0) -> bytes:
    """One encoded PNG of random pixels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size, size, channels), dtype="uint8")
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------- server launcher
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(model_base_path, model_name, *, extra_args=(), timeout=240.0):
    """Run ``python -m kerascnn serve`` on free loopback ports; yield (rest_url, grpc_target, proc)."""
    import requests

    grpc_port, rest_port = free_port(), free_port()
    while rest_port == grpc_port:
        rest_port = free_port()
    args = [sys.executable, "-m", "kerascnn", "serve", "--port", str(grpc_port),
            "--rest-api-port", str(rest_port), "--model-base-path", str(model_base_path),
            "--model-name", model_name, *map(str, extra_args)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
           "KERASCNN_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    pump = threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True)
    pump.start()
    rest_url = f"http://127.0.0.1:{rest_port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("kerascnn serve exited early:\n" + "".join(lines))
            try:
                if requests.get(f"{rest_url}/v1/models/{model_name}", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kerascnn serve did not come up:\n" + "".join(lines))
            time.sleep(0.1)
        yield rest_url, f"127.0.0.1:{grpc_port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
