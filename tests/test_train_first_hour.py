"""A new user's first hour with ``kerascnn train`` (issue 14): YAML numbers as PyYAML reads
them, run folders that work from any directory, and a rerun after a run killed before its
first epoch."""

from __future__ import annotations

import pytest
import yaml

from kerascnn.errors import UsageError
from kerascnn.train_config import TrainConfig

# ---------------------------------------------------------------------------- YAML numbers


def test_yaml_exponent_numbers_become_floats(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-3 and 5e-4 as strings: they need a dot to be floats.
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: 1e-3\nweight_decay: 5e-4\nepochs: 3\nl2: 1E-4\n")
    assert yaml.safe_load(path.read_text())["learning_rate"] == "1e-3"
    config = TrainConfig.from_yaml(path)
    config.validate()
    assert config.learning_rate == 0.001 and type(config.learning_rate) is float
    assert config.weight_decay == 0.0005 and type(config.weight_decay) is float
    assert config.l2 == 0.0001 and config.epochs == 3


def test_yaml_values_are_coerced_by_each_fields_type(tmp_path):
    config = TrainConfig.from_dict(
        {"epochs": "12", "batch_size": 64.0, "momentum": 1, "patience": None,
         "nesterov": "true", "deterministic": "no", "seed": "7"}
    )
    assert (config.epochs, config.batch_size, config.seed) == (12, 64, 7)
    assert type(config.batch_size) is int and type(config.momentum) is float
    assert config.patience is None
    assert config.nesterov is True and config.deterministic is False
    # Strings stay strings; a YAML true for cache (auto | true | false) is kept as it is.
    assert TrainConfig.from_dict({"cache": True, "name": "run1"}).cache is True


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("learning_rate: fast\n", "learning_rate must be a number, not 'fast'"),
        ("weight_decay: [1, 2]\n", "weight_decay must be a number, not [1, 2]"),
        ("epochs: 2.5\n", "epochs must be an integer, not 2.5"),
        ("epochs: true\n", "epochs must be an integer, not True"),
        ("nesterov: maybe\n", "nesterov must be true or false, not 'maybe'"),
    ],
)
def test_a_value_that_cannot_be_coerced_names_its_field(tmp_path, text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        TrainConfig.from_yaml(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_a_string_number_given_in_python_fails_validation_naming_the_field():
    # Python callers get no silent coercion, but one clear error before anything is built.
    with pytest.raises(UsageError, match="weight_decay must be a number, not '5e-4'"):
        TrainConfig(weight_decay="5e-4").validate()


def test_cli_reads_exponent_numbers_from_a_config_file_and_names_a_bad_field(tmp_path, cli):
    project = tmp_path / "runs"
    good = tmp_path / "good.yaml"
    good.write_text("learning_rate: 1e-3\nweight_decay: 5e-4\nepochs: 0\n")
    # epochs: 0 stops the run at validation, after the numbers were read: the error is about
    # epochs, not about learning_rate or weight_decay.
    proc = cli("train", "--config", good, "--project", project)
    assert proc.returncode == 2, proc.stderr
    assert "epochs must be a positive integer" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: fast\n")
    proc = cli("train", "--config", bad, "--project", project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "learning_rate must be a number, not 'fast'" in errors[0]
    assert not project.exists()
