"""The README's REST ``curl`` example, pasted as a user pastes it after ``kerascnn quickstart``
and ``kerascnn serve ...``: run by bash against a real ``kerascnn serve`` (the ``serve``
fixture), with the system's curl, in a folder laid out as quickstart leaves it.

It runs twice: with the system's ``base64``, and with a stand-in that takes no options and wraps
its output (as GNU's does by default), so a GNU-only flag (``-w0``) or a line break left in the
JSON fails here as it would on macOS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_REST = "http://localhost:8501"

# base64 as the POSIX-ish common ground of GNU coreutils and macOS: no options, the file on
# stdin, the output wrapped at 76 columns.
STRICT_BASE64 = f"""#!{sys.executable}
import base64, sys
if sys.argv[1:]:
    sys.exit(f"base64: this stand-in takes no options, got {{sys.argv[1:]}}")
text = base64.b64encode(sys.stdin.buffer.read()).decode()
print("\\n".join(text[i:i + 76] for i in range(0, len(text), 76)))
"""


def readme_curl_predict() -> str:
    """The README's ``bash`` block that POSTs to ``:predict`` with curl, as written."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (block,) = [b for b in blocks if "curl" in b and ":predict" in b]
    return block


def test_the_readme_block_is_found_and_names_the_file_quickstart_writes():
    block = readme_curl_predict()
    assert README_REST in block
    assert "runs/quickstart/digit.png" in block  # where `kerascnn quickstart` writes the digit
    assert "-w0" not in block  # GNU-only


@pytest.fixture(scope="module")
def digits_server(serve, tmp_path_factory):
    """``kerascnn serve`` of an exported LeNet-5 named ``digits`` (random weights: the test is
    about the request, not the answer)."""
    from _processes import run_cli

    base = tmp_path_factory.mktemp("serving") / "models"
    run_cli("export", "lenet5", "--base", base, "--name", "digits", check=True)
    return serve(model_base_path=base / "digits", model_name="digits")


@pytest.fixture
def quickstart_folder(tmp_path):
    """A folder as `kerascnn quickstart` leaves it: runs/quickstart/digit.png."""
    from kerascnn.quickstart import write_digit_png

    write_digit_png(tmp_path / "runs" / "quickstart" / "digit.png")
    return tmp_path


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this system")
@pytest.mark.parametrize("base64_tool", ["system", "strict"])
def test_readme_curl_works_as_pasted(digits_server, quickstart_folder, tmp_path, base64_tool):
    env = None
    if base64_tool == "strict":
        tools = tmp_path / "bin"
        tools.mkdir()
        (tools / "base64").write_text(STRICT_BASE64)
        (tools / "base64").chmod(0o755)
        env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    elif shutil.which("base64") is None:
        pytest.skip("no base64 on this system")
    # The only change: the server's real port for README's localhost:8501.
    script = readme_curl_predict().replace(README_REST, digits_server.rest_url)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=quickstart_folder,
                          env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    response = json.loads(proc.stdout)
    assert "error" not in response, response
    (prediction,) = response["predictions"]
    assert len(prediction["probabilities"]) == 10
    assert prediction["label"] == str(prediction["class_id"])
