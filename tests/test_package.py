"""The package's public names resolve lazily and stay usable after submodules load."""

import subprocess
import sys

import kerascnn


def test_import_is_cheap_and_names_resolve():
    probe = (
        "import sys, kerascnn; assert 'tensorflow' not in sys.modules; "
        "assert callable(kerascnn.build) and 'lenet5' in kerascnn.list_models(); "
        "import kerascnn.train, kerascnn.quickstart, kerascnn.evaluate; "
        "assert callable(kerascnn.load_data) and callable(kerascnn.export_model); "
        "assert kerascnn.TrainConfig is kerascnn.train.TrainConfig; "
        "assert callable(kerascnn.train.train) and callable(kerascnn.quickstart.quickstart)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_unknown_attribute_is_an_attribute_error():
    try:
        kerascnn.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
