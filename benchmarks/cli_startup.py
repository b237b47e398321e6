"""How long the CLI takes to answer: ``kerascnn --help`` and ``kerascnn predict`` on one image.

``--help`` must stay TensorFlow-free (target < 0.5 s); ``predict`` pays for importing
TensorFlow and loading the SavedModel, which is shown split into its parts: the interpreter
alone, ``import tensorflow``, and the full command.

    python benchmarks/cli_startup.py            # 10 runs each
    python benchmarks/cli_startup.py --smoke    # 2 runs each, for CI

Writes benchmarks/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    machine_info,
    machine_line,
    png_bytes,
    print_targets,
    table,
    target,
    write_result,
)

HELP_TARGET_S = 0.5


def kerascnn_command() -> list[str]:
    """The installed console script beside this Python, else ``python -m kerascnn``."""
    script = Path(sys.executable).with_name("kerascnn")
    if script.exists():
        return [str(script)]
    found = shutil.which("kerascnn")
    return [found] if found else [sys.executable, "-m", "kerascnn"]


def time_command(args, repeats: int, env=None) -> dict:
    """Run ``args`` ``repeats`` times; wall seconds (median, min, max) and the last exit code."""
    times, code, out = [], None, ""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, env=full_env)
        times.append(time.perf_counter() - start)
        code, out = proc.returncode, proc.stdout + proc.stderr
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs": repeats, "exit_code": code, "output_tail": out[-300:]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 runs each (CI)")
    parser.add_argument("--repeats", type=int, default=None)
    opts = parser.parse_args(argv)
    repeats = opts.repeats or (1 if opts.smoke else 10)
    cli = kerascnn_command()

    with tempfile.TemporaryDirectory(prefix="kerascnn-bench-cli-") as tmp:
        from kerascnn.export import export_model

        base = Path(tmp) / "models"
        export_model("lenet5", base=base, name="lenet5", version=1)
        image = Path(tmp) / "digit.png"
        image.write_bytes(png_bytes(32, 1))
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
        ]
        if not opts.smoke:  # the cost predict pays before it does anything
            cases.append(("python -c 'import tensorflow'",
                          [sys.executable, "-c", "import tensorflow"]))
        cases += [
            ("kerascnn --help", [*cli, "--help"]),
            ("kerascnn predict --help", [*cli, "predict", "--help"]),
            ("kerascnn predict 1 image (local SavedModel)",
             [*cli, "predict", str(image), "--model", str(base / "lenet5" / "1")]),
        ]
        rows, results = [], {}
        for name, args in cases:
            r = time_command(args, repeats)
            if r["exit_code"] != 0:
                raise SystemExit(f"{name} failed ({r['exit_code']}): {r['output_tail']}")
            results[name] = r
            rows.append([name, r["median_s"], r["min_s"], r["max_s"], repeats])

    info = machine_info()
    headers = ["command", "median s", "min s", "max s", "runs"]
    print(f"CLI wall time — {machine_line(info)}")
    print(table(headers, rows))
    targets = [target("kerascnn --help wall time", results["kerascnn --help"]["median_s"],
                      HELP_TARGET_S, higher_is_better=False, unit=" s")]
    print_targets(targets)
    path = write_result("cli_startup", {
        "machine": info, "command": cli, "headers": headers, "rows": rows,
        "results": results, "targets": targets,
    }, smoke=opts.smoke)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
