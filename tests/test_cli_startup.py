"""The CLI's help and argument errors must not pay for importing TensorFlow."""

import subprocess
import sys

PROBE = """
import sys
from kerascnn.cli import main
try:
    main({args!r})
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _heavy_modules(args):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, timeout=60
    )
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY=")][-1]
    return line.removeprefix("HEAVY=")


def test_top_level_help_does_not_import_tensorflow():
    assert _heavy_modules(["--help"]) == ""


def test_every_verb_help_does_not_import_tensorflow():
    from kerascnn.cli import COMMANDS, LazyGroup

    for verb in COMMANDS:
        if LazyGroup._load(verb) is None:
            continue
        assert _heavy_modules([verb, "--help"]) == "", verb


def test_listing_models_does_not_import_tensorflow():
    assert _heavy_modules(["models"]) == ""


def test_unknown_verb_suggests_and_exits_2(cli):
    proc = cli("sumary")
    assert proc.returncode == 2
    assert "did you mean 'summary'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_tensorflow_startup_notices_do_not_reach_the_user(cli):
    proc = cli("summary", "lenet5")
    assert proc.returncode == 0, proc.stderr
    assert "absl::InitializeLog" not in proc.stderr
    assert "cudart_stub" not in proc.stderr
    assert "61,706" in proc.stdout


def test_stderr_filter_keeps_real_errors():
    from kerascnn.cli.quiet import is_tensorflow_noise

    assert is_tensorflow_noise(b"I0000 00:00:17.9  8826 port.cc:153] oneDNN custom operations are on.")
    assert is_tensorflow_noise(
        b"To enable the following instructions: AVX2 FMA, in other operations, "
        b"rebuild TensorFlow with the appropriate compiler flags."
    )
    assert is_tensorflow_noise(
        b"E0000 00:00:1796017809.132611   12148 util.cc:131] oneDNN supports DT_UINT8 only on "
        b"platforms with AVX-512. Falling back to the default Eigen-based implementation if present."
    )
    assert is_tensorflow_noise(
        b"E0000 00:00:1.5  77 node_def_util.cc:680] NodeDef mentions attribute "
        b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset ...>"
    )
    assert is_tensorflow_noise(
        b"E0000 00:00:1.5  77 add_port.cc:83] Failed to add port to server: No address added out "
        b"of total 1 resolved for '0.0.0.0:8500'"
    )
    assert not is_tensorflow_noise(b"E0000 00:00:17.9  8826 saved_model.cc:12] could not load model")
    assert not is_tensorflow_noise(b"E0000 00:00:17.9  8826 util.cc:12] something else went wrong")
    assert not is_tensorflow_noise(b"Error: unknown model 'x'")


def test_lr_find_on_jpeg_folder_prints_no_tensorflow_noise(cli, tmp_path):
    """oneDNN's uint8 fallback notice (E0000 ... util.cc) appeared on every lr-find over photos."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(12):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{index}.jpg")
    proc = cli("lr-find", "--data", str(tmp_path / "photos"), "--steps", "10",
               "--project", str(tmp_path / "runs"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "E0000" not in proc.stderr and "W0000" not in proc.stderr, proc.stderr
    assert "Suggested learning rate" in proc.stdout
