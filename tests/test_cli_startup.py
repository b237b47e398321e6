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
    assert not is_tensorflow_noise(b"E0000 00:00:17.9  8826 saved_model.cc:12] could not load model")
    assert not is_tensorflow_noise(b"Error: unknown model 'x'")
