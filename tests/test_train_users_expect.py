"""What users of Keras, ultralytics and fastai expect from ``kerascnn train`` (issue 14):
their own Keras callbacks, Keras' TensorBoard (histograms, profiler), enumerated options as
choices, the test-split evaluation at the end of training, a resume hint on Ctrl-C, and a
warning when the batch is larger than the training split."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from _train_utils import digits_arrays, tiny_model, wait_for_epoch

from kerascnn.train_config import TrainConfig


@pytest.fixture(scope="module")
def digits_bundle():
    from kerascnn.data import load_data

    return load_data(digits_arrays(), batch_size=64, seed=0)


def _train(*args, **kwargs):
    from kerascnn.train import train

    return train(*args, **kwargs)


def test_user_keras_callbacks_attach_and_see_every_epoch(tmp_path, digits_bundle):
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs, self.logs = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(epoch)
            self.logs.append(dict(logs or {}))

    recorder = Recorder()
    config = TrainConfig(epochs=2, project=str(tmp_path), tensorboard=False)
    result = _train(config, model=tiny_model(), data=digits_bundle, callbacks=[recorder],
                    verbose="quiet")
    assert recorder.epochs == [0, 1]
    assert {"loss", "val_loss", "accuracy"} <= set(recorder.logs[-1])
    assert recorder.model is result.model


def _tensor_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return set(events.Tags()["tensors"])


def test_tensorboard_is_keras_own_with_histograms_and_profiler(tmp_path, digits_bundle):
    config = TrainConfig(epochs=2, project=str(tmp_path), name="tb", histogram_freq=1,
                         profile_batch=2)
    result = _train(config, model=tiny_model(), data=digits_bundle, verbose="quiet")
    train_tags = _tensor_tags(result.run_dir / "logs" / "train")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= train_tags
    assert any(tag.endswith("kernel/histogram") for tag in train_tags), train_tags
    assert "epoch_loss" in _tensor_tags(result.run_dir / "logs" / "validation")
    traces = list((result.run_dir / "logs").rglob("*.xplane.pb"))
    assert traces, sorted(p.name for p in (result.run_dir / "logs").rglob("*"))


def test_tensorboard_settings_are_checked(tmp_path):
    from kerascnn.errors import UsageError

    with pytest.raises(UsageError, match="histogram_freq must be a whole number >= 0"):
        TrainConfig(histogram_freq=-1).validate()
    with pytest.raises(UsageError, match="profile_batch"):
        TrainConfig(profile_batch=1.5).validate()


# ---------------------------------------------------------------------------- the CLI's options


def _all_commands():
    import click

    from kerascnn.cli import cli

    context = click.Context(cli)
    stack = [("kerascnn", cli)]
    while stack:
        path, command = stack.pop()
        yield path, command
        if isinstance(command, click.Group):
            for name in command.list_commands(context):
                stack.append((f"{path} {name}", command.get_command(context, name)))


def test_enumerated_options_are_choices_that_suggest_names(cli):
    import click

    commands = dict(_all_commands())
    for verb in ("kerascnn train", "kerascnn lr-find"):
        params = {p.name: p for p in commands[verb].params}
        for name in ("model", "optimizer", "schedule", "precision", "strategy", "cache"):
            if name in params:
                assert isinstance(params[name].type, click.Choice), (verb, name)
    split = {p.name: p for p in commands["kerascnn evaluate"].params}["split"]
    assert isinstance(split.type, click.Choice) and set(split.type.choices) == {"test", "val", "train"}

    proc = cli("train", "--optimizer", "adamm")
    assert proc.returncode == 2
    assert "unknown optimizer 'adamm' (did you mean 'adam'?)" in proc.stderr
    assert "Traceback" not in proc.stderr
    help_text = cli("train", "--help").stdout
    assert "[sgd|adam|adamw|rmsprop|adagrad|adadelta]" in help_text


def test_output_paths_have_one_spelling_across_verbs():
    for path, command in _all_commands():
        for param in getattr(command, "params", []):
            opts = getattr(param, "opts", [])
            if any(opt in ("--output", "--output-dir", "--save-dir", "--dest") for opt in opts):
                raise AssertionError(f"{path}: {opts} (output paths are spelled --out)")
            if param.name in ("out", "output_dir"):
                assert "--out" in opts, (path, opts)


# ---------------------------------------------------------------------------- Ctrl-C


def _as_in_a_terminal():
    # A job started in the background by a non-interactive shell (CI scripts, `cmd &`) ignores
    # SIGINT, and so does everything it starts: Python then never turns Ctrl-C into
    # KeyboardInterrupt. A user at a terminal has the default disposition; give it back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_prints_the_command_that_resumes(tmp_path, cli):
    run = tmp_path / "runs" / "stopme"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerascnn", "train", "--epochs", "500", "--batch-size", "64",
         "--project", str(tmp_path / "runs"), "--name", "stopme", "--no-tensorboard"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_in_a_terminal,
    )
    try:
        wait_for_epoch(run, 1, proc)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 130, stderr
    done = json.loads((run / "resume.json").read_text())["epoch"]
    line = f"Interrupted after epoch {done}/500; resume with: kerascnn train --resume {run}"
    assert line in stderr, stderr
    assert "Traceback" not in stderr
    resumed = cli("train", "--resume", run, "--epochs", done + 1)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming {run} from epoch {done}/{done + 1}" in resumed.stdout


# ---------------------------------------------------------------------------- end of training


def test_training_ends_with_the_test_split_evaluation(tmp_path, digits_bundle, capsys):
    config = TrainConfig(epochs=1, project=str(tmp_path), name="ev", tensorboard=False)
    result = _train(config, model=tiny_model(), data=digits_bundle, verbose="line")
    out = capsys.readouterr().out
    run = result.run_dir
    for name in ("confusion_matrix.png", "top_losses.png", "classification_report.txt",
                 "classification_report.csv"):
        assert (run / name).is_file(), name
    tested = json.loads((run / "metrics.json").read_text())["evaluation"]["test"]
    assert tested["count"] == digits_bundle.sizes["test"]
    assert tested == result.metrics["evaluation"]["test"]
    assert abs(tested["accuracy"] - result.metrics["test_accuracy"]) < 1e-6
    assert "precision  recall" in out and "macro avg" in out
    assert f"Test split: {tested['errors']} of {tested['count']} images wrong" in out
    from PIL import Image

    assert Image.open(run / "confusion_matrix.png").size[0] > 100


# ---------------------------------------------------------------------------- warnings, devices


def test_a_batch_larger_than_the_training_split_is_warned_about(tmp_path, cli):
    from _train_utils import write_png_folder

    write_png_folder(tmp_path / "shapes", per_class=8, size=16)
    proc = cli("train", "--data", tmp_path / "shapes", "--model", "lenet5", "--epochs", "1",
               "--batch-size", "256", "--project", tmp_path / "runs", "--no-tensorboard")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "runs" / "exp" / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 1
    warning = [line for line in proc.stderr.splitlines() if line.startswith("Warning: batch size")]
    assert len(warning) == 1, proc.stderr
    assert "is larger than the training split (" in warning[0] and "--batch-size" in warning[0]

    quiet = cli("train", "--data", tmp_path / "shapes", "--model", "lenet5", "--epochs", "1",
                "--batch-size", "4", "--project", tmp_path / "runs", "--no-tensorboard")
    assert quiet.returncode == 0 and "Warning: batch size" not in quiet.stderr


def test_checks_reports_versions_devices_and_caches(cli, tmp_path):
    import tensorflow as tf

    env = {"KERASCNN_CACHE": str(tmp_path / "cache"), "TFDS_DATA_DIR": str(tmp_path / "tfds")}
    proc = cli("checks", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["tensorflow"] == tf.__version__
    assert report["caches"]["weights"] == str(tmp_path / "cache" / "weights")
    assert report["caches"]["tfds"] == str(tmp_path / "tfds")
    gpus = tf.config.list_physical_devices("GPU")
    assert len(report["devices"]["gpus"]) == len(gpus)
    text = cli("checks", "--device", "cpu", env=env).stdout
    assert f"TensorFlow {tf.__version__}" in text and "GPU: none [CUDA_VISIBLE_DEVICES=-1]" in text
    assert str(tmp_path / "cache" / "weights") in text


def test_device_selects_gpus_before_tensorflow_loads(cli, tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this check is for machines without a GPU")
    proc = cli("train", "--device", "0", "--epochs", "1", "--project", tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "GPU 0 asked for, but TensorFlow sees 0 GPU(s) here" in proc.stderr
    assert not (tmp_path / "exp").exists()
    bad = cli("evaluate", "lenet5", "--device", "gpu")
    assert bad.returncode == 2 and "'gpu' is not cpu, a GPU index (0) or a list (0,1)" in bad.stderr
    on_cpu = cli("train", "--device", "cpu", "--epochs", "1", "--project", tmp_path,
                 "--no-tensorboard")
    assert on_cpu.returncode == 0, on_cpu.stderr


def test_shell_completion_offers_the_choices():
    import os

    env = {**os.environ, "_KERASCNN_COMPLETE": "bash_complete",
           "COMP_WORDS": "kerascnn train --optimizer ", "COMP_CWORD": "3"}
    proc = subprocess.run([sys.executable, "-m", "kerascnn"], env=env, capture_output=True,
                          text=True, timeout=120)
    offered = [line.split(",", 1)[1] for line in proc.stdout.splitlines()]
    assert offered == ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"], proc.stdout
