"""A new user's first hour with ``kerascnn train`` (issue 14): YAML numbers as PyYAML reads
them, run folders that work from any directory, and a rerun after a run killed before its
first epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _train_utils import (
    digits_arrays,
    history_epochs,
    kill_9_after,
    tiny_model,
    wait_for,
    write_png_folder,
)

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


# ---------------------------------------------------------------------------- run folders


def _train_small_folder_run(cli, workdir: Path, *extra):
    """``kerascnn train --data shapes/`` run from ``workdir`` with relative paths, as a user
    in a fresh project folder (created here) types it; returns the run folder (absolute)."""
    workdir.mkdir()
    write_png_folder(workdir / "shapes", per_class=8, size=16)
    proc = cli("train", "--model", "lenet5", "--data", "shapes/", "--input-shape", "32,32,3",
               "--epochs", "1", "--batch-size", "8", "--no-tensorboard", "--name", "shapes",
               *extra, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return workdir / "runs" / "shapes"


def _evaluate_from_a_new_directory(cli, run: Path, elsewhere: Path) -> Path:
    """``kerascnn evaluate RUN`` from ``elsewhere`` (created here, outside the project): it
    must find the run's data and evaluate on its test split. Returns ``elsewhere``."""
    elsewhere.mkdir()
    proc = cli("evaluate", run, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert "Evaluation on the test split" in proc.stdout
    return elsewhere


@pytest.mark.slow
def test_a_run_folder_evaluates_and_resumes_from_another_directory(tmp_path, cli):
    workdir = tmp_path / "project"
    run = _train_small_folder_run(cli, workdir)
    stored = yaml.safe_load((run / "config.yaml").read_text())
    # The data folder is stored absolute; what the user typed stays in the run's meta.
    assert stored["data"] == str(workdir / "shapes")
    assert stored["meta"]["data_as_given"] == "shapes/"

    elsewhere = _evaluate_from_a_new_directory(cli, run, tmp_path / "elsewhere")
    assert (run / "classification_report.txt").is_file()
    assert not (elsewhere / "runs").exists()

    proc = cli("train", "--resume", run, "--epochs", "2", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert history_epochs(run) == [1, 2]

    # The same command from the same directory still finds and continues the run by name.
    proc = cli("train", "--model", "lenet5", "--data", "shapes/", "--input-shape", "32,32,3",
               "--epochs", "3", "--batch-size", "8", "--no-tensorboard", "--name", "shapes",
               cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "Resuming" in proc.stdout and history_epochs(run) == [1, 2, 3]
    assert not (workdir / "runs" / "shapes2").exists()


@pytest.mark.slow
def test_evaluate_finds_the_data_of_a_run_stored_with_a_relative_path(tmp_path, cli):
    # Runs written before data was stored absolute keep "data: shapes/": evaluate looks for
    # it beside the folder that held runs/ when training ran.
    workdir = tmp_path / "project"
    run = _train_small_folder_run(cli, workdir)
    document = yaml.safe_load((run / "config.yaml").read_text())
    document["data"], document["project"] = "shapes/", "runs"
    (run / "config.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    _evaluate_from_a_new_directory(cli, run, tmp_path / "elsewhere")


# ---------------------------------------------------------------------------- killed early


@pytest.mark.slow
def test_rerun_after_kill_9_before_the_first_epoch_reuses_the_folder(tmp_path, cli):
    project = tmp_path / "runs"
    # Batches of 8: a first epoch of 180 steps, far longer than the kill takes to land.
    args = ["train", "--model", "lenet5", "--data", "digits", "--batch-size", "8",
            "--epochs", "1", "--project", str(project), "--name", "hugebs", "--no-tensorboard"]
    run = project / "hugebs"
    config = run / "config.yaml"  # written just before the first epoch
    with kill_9_after(*args) as trainer:  # a real crash (or the OOM killer): no cleanup runs
        wait_for(config.is_file, trainer, str(config), every=0.01)
    assert config.is_file()
    assert not (run / "resume.json").exists() and not (run / "history.csv").exists(), (
        "the first epoch completed before the kill; the test needs a longer first epoch")

    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{run} holds no completed epoch" in rerun.stdout
    assert "finished run" not in rerun.stdout and "other settings" not in rerun.stdout
    assert f"Results saved to {run}" in rerun.stdout
    assert history_epochs(run) == [1]
    assert sorted(p.name for p in project.iterdir()) == ["hugebs"]


def test_a_folder_whose_first_epoch_is_running_is_not_reused(tmp_path):
    from kerascnn.runs import RunPaths, hold_run_lock, reuse_unstarted_run_dir

    run = tmp_path / "busy"
    run.mkdir()
    RunPaths(run).config.write_text("model: lenet5\n")
    live = hold_run_lock(run)  # the run that owns it, alive, still in its first epoch
    assert live is not None
    assert reuse_unstarted_run_dir(run) is None
    assert RunPaths(run).config.is_file()
    live.close()  # the owner dies: the kernel drops its lock
    reclaimed = reuse_unstarted_run_dir(run)
    try:
        assert reclaimed is not None
        assert not RunPaths(run).config.exists()  # emptied, ready for the rerun
    finally:
        reclaimed.close()


def test_folders_with_a_completed_epoch_or_not_from_train_are_never_reused(tmp_path):
    from kerascnn.runs import RunPaths, reuse_unstarted_run_dir

    started = tmp_path / "started"
    (started / "weights").mkdir(parents=True)
    RunPaths(started).config.write_text("model: lenet5\n")
    RunPaths(started).resume_state.write_text('{"epoch": 1}')
    other = tmp_path / "other"  # evaluate --out, or a user's own folder
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert reuse_unstarted_run_dir(started) is None
    assert reuse_unstarted_run_dir(other) is None
    assert RunPaths(started).resume_state.is_file() and (other / "notes.txt").is_file()


def test_a_finished_run_of_the_same_name_says_so_and_moves_on(tmp_path, capsys):
    from kerascnn.data import load_data
    from kerascnn.train import train

    bundle = load_data(digits_arrays(), batch_size=64, seed=0)
    config = TrainConfig(epochs=1, project=str(tmp_path), name="done", tensorboard=False)
    first = train(config, model=tiny_model(), data=bundle, verbose="line")
    capsys.readouterr()
    second = train(config, model=tiny_model(), data=bundle, verbose="line")
    out = capsys.readouterr().out
    assert first.run_dir == tmp_path / "done" and second.run_dir == tmp_path / "done2"
    assert f"{tmp_path / 'done'} holds a finished run; this run goes to {second.run_dir}" in out
    assert not (tmp_path / "done" / ".lock").exists()
