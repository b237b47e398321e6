"""The README's first commands are the contract with a new user and with CI."""

import re

from _processes import ROOT


def _first_code_block():
    text = (ROOT / "README.md").read_text()
    return re.search(r"```bash\n(.*?)```", text, re.S).group(1)


def test_readme_opens_with_install_and_test_commands():
    commands = [ln for ln in _first_code_block().splitlines() if ln and not ln.startswith("#")]
    assert len(commands) == 2
    main_job, tests = commands
    assert "pip install -e ." in main_job and main_job.endswith("kerascnn quickstart")
    assert 'pip install -e ".[dev,reference]"' in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    tests_command = _first_code_block().strip().splitlines()[-1]
    pytest_part = tests_command[tests_command.index("python -m pytest") :]
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert pytest_part in ci_script
    extras = re.search(r'pip install -e "(\.\[[^\]]*\])"', tests_command).group(1)
    assert f'pip install --quiet -e "{extras}"' in ci_script  # the same extras as CI
