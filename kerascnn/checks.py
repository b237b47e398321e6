"""``kerascnn checks``: what this machine offers kerascnn, in one screen.

Versions (kerascnn, Python, TensorFlow and whether it was built with CUDA, Keras and its
backend), the devices TensorFlow sees (and ``CUDA_VISIBLE_DEVICES`` when it hides some), which
precisions a run would use, and where every cache lives: pretrained weights, Keras' own
downloads, TFDS datasets and the Hugging Face Hub. The first thing to paste into a bug report.

Example:
    >>> from kerascnn.checks import machine_report, format_machine_report
    >>> report = machine_report()  # doctest: +SKIP
    >>> print(format_machine_report(report))  # doctest: +SKIP
    kerascnn 0.1.0, Python 3.11.7 on Linux x86_64
    TensorFlow 2.21.0 (CPU build), Keras 3.15.1 (backend tensorflow)
    ...
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import keras
import tensorflow as tf

from kerascnn import __version__
from kerascnn.distribute import resolve_precision
from kerascnn.weights.download import cache_root


def _gpus() -> list[dict]:
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        gpus.append(
            {
                "name": details.get("device_name", device.name),
                "compute_capability": ".".join(map(str, details.get("compute_capability", ()))),
            }
        )
    return gpus


def _capability(gpu: dict) -> tuple[int, ...]:
    text = gpu["compute_capability"]
    return tuple(int(part) for part in text.split(".")) if text else (0,)


def _caches() -> dict[str, str]:
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    tfds_dir = os.environ.get("TFDS_DATA_DIR") or str(Path.home() / "tensorflow_datasets")
    hub_dir = os.environ.get("HF_HUB_CACHE") or str(
        Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser() / "hub"
    )
    return {
        "weights": str(cache_root() / "weights"),
        "keras": str(keras_home),
        "tfds": str(Path(tfds_dir).expanduser()),
        "huggingface": hub_dir,
    }


def machine_report() -> dict:
    """Versions, devices, precisions and caches as a JSON-able dict.

    Example:
        >>> machine_report()["devices"]["cpu_cores"] >= 1  # doctest: +SKIP
        True
    """
    build = tf.sysconfig.get_build_info()
    gpus = _gpus()
    return {
        "kerascnn": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "tensorflow": tf.__version__,
        "tensorflow_cuda_build": bool(build.get("is_cuda_build")),
        "cuda": build.get("cuda_version"),
        "cudnn": build.get("cudnn_version"),
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "devices": {
            "cpu_cores": os.cpu_count() or 1,
            "gpus": gpus,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        },
        "precision": {
            "auto": resolve_precision("auto"),
            # Mixed float16 needs tensor cores (compute capability 7.0); bfloat16 runs
            # anywhere, but only pays off on GPUs from 8.0 and CPUs with AMX/AVX512-BF16.
            "mixed_float16": any(_capability(g) >= (7, 0) for g in gpus),
            "mixed_bfloat16": True,
        },
        "xla": tf.test.is_built_with_xla() if hasattr(tf.test, "is_built_with_xla") else True,
        "caches": _caches(),
        "executable": sys.executable,
    }


def format_machine_report(report: dict) -> str:
    """The report as the lines ``kerascnn checks`` prints.

    Example:
        >>> print(format_machine_report({  # doctest: +NORMALIZE_WHITESPACE
        ...     "kerascnn": "0.1.0", "python": "3.11.7", "platform": "Linux x86_64",
        ...     "tensorflow": "2.21.0", "tensorflow_cuda_build": False, "cuda": None,
        ...     "cudnn": None, "keras": "3.15.1", "keras_backend": "tensorflow",
        ...     "devices": {"cpu_cores": 2, "gpus": [], "cuda_visible_devices": None},
        ...     "precision": {"auto": "float32", "mixed_float16": False, "mixed_bfloat16": True},
        ...     "xla": True, "caches": {"weights": "/c/w"}, "executable": "/v/python"}))
        kerascnn 0.1.0, Python 3.11.7 on Linux x86_64 (/v/python)
        TensorFlow 2.21.0 (CPU build), Keras 3.15.1 (backend tensorflow), XLA yes
        Devices: CPU (2 cores); GPU: none
        Precision: auto -> float32; mixed_float16 no (needs a GPU of compute capability 7.0+);
            mixed_bfloat16 yes
        Caches:
          weights      /c/w
    """
    devices = report["devices"]
    build = "CPU build"
    if report["tensorflow_cuda_build"]:
        build = f"CUDA {report['cuda']}, cuDNN {report['cudnn']}"
    gpus = ", ".join(
        f"{index}: {gpu['name']} (compute {gpu['compute_capability']})"
        for index, gpu in enumerate(devices["gpus"])
    ) or "none"
    if devices.get("cuda_visible_devices") is not None:
        gpus += f" [CUDA_VISIBLE_DEVICES={devices['cuda_visible_devices']}]"
    precision = report["precision"]
    fp16 = "yes" if precision["mixed_float16"] else "no (needs a GPU of compute capability 7.0+)"
    lines = [
        f"kerascnn {report['kerascnn']}, Python {report['python']} on {report['platform']} "
        f"({report['executable']})",
        f"TensorFlow {report['tensorflow']} ({build}), Keras {report['keras']} "
        f"(backend {report['keras_backend']}), XLA {'yes' if report['xla'] else 'no'}",
        f"Devices: CPU ({devices['cpu_cores']} cores); GPU: {gpus}",
        f"Precision: auto -> {precision['auto']}; mixed_float16 {fp16};\n"
        f"    mixed_bfloat16 {'yes' if precision['mixed_bfloat16'] else 'no'}",
        "Caches:",
    ]
    lines += [f"  {name:<12} {path}" for name, path in report["caches"].items()]
    return "\n".join(lines)
