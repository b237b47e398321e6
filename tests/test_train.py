"""Training: optimizers, schedules, config, run folder, resume after kill -9, NaN, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from _train_utils import (
    digits_arrays,
    history_epochs,
    kill_9_after,
    tiny_model,
    wait_for_epoch,
    write_png_folder,
)

from kerascnn.errors import KerasCNNError, UsageError
from kerascnn.train_config import TrainConfig

# ---------------------------------------------------------------------------- schedules


def test_schedule_values_follow_their_formulas():
    from kerascnn.optim import OneCycle, StepDecay, WarmupCosine, make_schedule

    assert make_schedule("constant", 0.01, total_steps=100) == 0.01
    step = make_schedule("step", 0.1, total_steps=90, step_steps=30, gamma=0.5)
    assert isinstance(step, StepDecay)
    assert [round(float(step(s)), 6) for s in (0, 29, 30, 60, 89)] == [0.1, 0.1, 0.05, 0.025, 0.025]

    cosine = make_schedule("cosine", 0.1, total_steps=110, warmup_steps=10, final_fraction=0.1)
    assert isinstance(cosine, WarmupCosine)
    assert float(cosine(0)) == pytest.approx(0.0)
    assert float(cosine(5)) == pytest.approx(0.05)  # linear warmup
    assert float(cosine(10)) == pytest.approx(0.1)
    assert float(cosine(60)) == pytest.approx(0.01 + 0.09 * 0.5, rel=1e-5)  # cosine midpoint
    assert float(cosine(110)) == pytest.approx(0.01, rel=1e-5)

    cycle = make_schedule("one-cycle", 0.1, total_steps=100)
    assert isinstance(cycle, OneCycle)
    assert float(cycle(0)) == pytest.approx(0.1 / 25)
    assert float(cycle(30)) == pytest.approx(0.1)
    assert float(cycle(100)) == pytest.approx(0.1 / 25 / 1e4, rel=1e-3)
    rates = [float(cycle(s)) for s in range(0, 101, 5)]
    peak = rates.index(max(rates))
    assert all(a <= b for a, b in zip(rates[:peak], rates[1 : peak + 1]))
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1 :]))


def test_schedules_round_trip_through_keras_serialization():
    import keras

    from kerascnn.optim import make_schedule

    for name in ("step", "cosine", "one-cycle"):
        schedule = make_schedule(name, 0.05, total_steps=200, warmup_steps=20)
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
        assert float(restored(77)) == pytest.approx(float(schedule(77)))


def test_unknown_schedule_and_optimizer_suggest_names():
    from kerascnn.optim import make_optimizer, make_schedule

    with pytest.raises(UsageError, match="did you mean 'cosine'"):
        make_schedule("cosin", 0.1, total_steps=10)
    with pytest.raises(UsageError, match="did you mean 'adamw'"):  # noqa: E501
        make_optimizer("adamww", 0.1)


# ---------------------------------------------------------------------------- optimizers


def test_every_optimizer_is_built_with_its_settings():
    from kerascnn.optim import make_optimizer

    sgd = make_optimizer("sgd", 0.1, momentum=0.8, nesterov=True, weight_decay=1e-4)
    assert type(sgd).__name__ == "SGD"
    assert sgd.momentum == pytest.approx(0.8) and sgd.nesterov is True
    assert sgd.weight_decay == pytest.approx(1e-4)
    assert make_optimizer("sgd", 0.1).momentum == pytest.approx(0.9)
    assert make_optimizer("adamw", 0.1).weight_decay == pytest.approx(0.004)
    assert make_optimizer("adamw", 0.1, weight_decay=0.05).weight_decay == pytest.approx(0.05)
    assert make_optimizer("rmsprop", 0.1, momentum=0.5).momentum == pytest.approx(0.5)
    names = {n: type(make_optimizer(n, 0.01)).__name__ for n in
             ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")}
    assert names == {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                     "adagrad": "Adagrad", "adadelta": "Adadelta"}


@pytest.mark.parametrize("jit", [False, True])
def test_stage_rates_scale_each_stages_step_inside_fit(jit):
    """Adam's first step moves a weight by about lr * factor whatever its gradient's size, so
    each stage's largest move shows its own rate; model.fit runs the traced (and XLA) path."""
    import keras

    from kerascnn.factories import rate_factor_of_path, stage_rates
    from kerascnn.optim import scale_rates

    inputs = keras.Input((6,))
    x = keras.layers.Dense(5, activation="tanh", name="stem_fc")(inputs)
    x = keras.layers.Dense(5, activation="tanh", name="stage1_fc")(x)
    x = keras.layers.Dense(5, activation="tanh", name="stage2_fc")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    rates = stage_rates(model, 0.1)
    assert rates == pytest.approx({"stem": 1e-3, "stage1": 1e-2, "stage2": 1e-1})
    optimizer = scale_rates(keras.optimizers.Adam(0.01), rate_factor_of_path(rates))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", jit_compile=jit)
    before = {layer.name: layer.kernel.numpy() for layer in model.layers[1:]}
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(16, 6)).astype("float32"), rng.integers(0, 3, 16),
              batch_size=16, epochs=1, verbose=0)
    moved = {name: float(np.abs(model.get_layer(name).kernel.numpy() - kernel).max())
             for name, kernel in before.items()}
    assert moved == pytest.approx({"stem_fc": 1e-5, "stage1_fc": 1e-4, "stage2_fc": 1e-3,
                                   "logits": 1e-2}, rel=0.05)


def test_stage_rates_need_stages_and_pretrained_weights():
    import keras

    from kerascnn.factories import stage_rates
    from kerascnn.train_config import TrainConfig

    flat = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="fc")], name="flat")
    with pytest.raises(UsageError, match="flat has none"):
        stage_rates(flat, 0.5)
    with pytest.raises(UsageError, match="stage_lr_decay need pretrained --weights"):
        TrainConfig(stage_lr_decay=0.5).validate()
    with pytest.raises(UsageError, match=r"stage_lr_decay must be a number in \(0, 1\]"):
        TrainConfig(weights="imagenet", stage_lr_decay=1.5).validate()


def test_each_optimizer_reduces_the_loss_of_a_small_problem():
    import keras

    from kerascnn.optim import SparseCrossentropy, make_optimizer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    rates = {"sgd": 0.1, "adam": 0.05, "adamw": 0.05, "rmsprop": 0.02, "adagrad": 0.3,
             "adadelta": 5.0}
    for name, rate in rates.items():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=make_optimizer(name, rate), loss=SparseCrossentropy())
        before = model.evaluate(x, y, verbose=0)
        model.fit(x, y, epochs=5, batch_size=32, verbose=0)
        assert model.evaluate(x, y, verbose=0) < before * 0.9, name


def test_label_smoothing_loss_matches_the_formula():
    from kerascnn.optim import SparseCrossentropy

    probs = np.array([[0.7, 0.2, 0.1]], "float32")
    smoothing = 0.3
    target = np.array([1 - smoothing + smoothing / 3, smoothing / 3, smoothing / 3])
    expected = -np.sum(target * np.log(probs[0]))
    assert float(SparseCrossentropy(label_smoothing=smoothing)([0], probs)) == pytest.approx(
        expected, rel=1e-5
    )
    assert float(SparseCrossentropy()([0], probs)) == pytest.approx(-np.log(0.7), rel=1e-5)


def test_regularization_and_dropout_overrides_reach_the_model():
    import keras

    from kerascnn.train import build_model

    config = TrainConfig(model="lenet5", l2=1e-3, dropout_rate=0.25)
    model = build_model(config, input_shape=(32, 32, 1), num_classes=10)
    kernels = [layer for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert kernels and all(isinstance(layer.kernel_regularizer, keras.regularizers.L1L2)
                           for layer in kernels)
    assert len(model.losses) == len(kernels)  # one L2 penalty per kernel
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates and all(rate == pytest.approx(0.25) for rate in rates)


# ---------------------------------------------------------------------------- config


def test_config_yaml_round_trip_keeps_every_field(tmp_path):
    from kerascnn.train import write_config

    config = TrainConfig(model="resnet20", input_shape=(16, 16, 3), optimizer="sgd",
                         nesterov=True, momentum=0.8, schedule="cosine", warmup_epochs=2.5,
                         l2=1e-4, dropout_rate=0.1, label_smoothing=0.1, patience=4,
                         model_options={"activation": "relu"}, seed=7, name="flowers")
    path = tmp_path / "config.yaml"
    write_config(path, config)
    document = yaml.safe_load(path.read_text())
    assert document["meta"]["versions"]["tensorflow"]
    assert document["meta"]["versions"]["keras"]
    assert "git_commit" in document["meta"]
    assert document["seed"] == 7
    assert TrainConfig.from_yaml(path) == config


def test_config_rejects_unknown_keys_and_bad_yaml(tmp_path):
    with pytest.raises(UsageError, match="did you mean 'learning_rate'"):
        TrainConfig.from_dict({"learning_rat": 0.1})
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: lenet5\n  epochs: [3\n")
    with pytest.raises(UsageError, match="cannot parse config .*broken.yaml"):
        TrainConfig.from_yaml(broken)
    with pytest.raises(UsageError, match="cannot read config"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")


def test_cli_flags_override_the_yaml_file(tmp_path):
    from kerascnn.cli.train_cmd import _config_values

    path = tmp_path / "c.yaml"
    path.write_text("model: resnet20\nepochs: 3\nlearning-rate: 0.5\nname: fromfile\n")
    values = _config_values(path, ("activation=relu",), {"epochs": 7, "optimizer": None})
    config = TrainConfig.from_dict(values)
    assert (config.model, config.epochs, config.learning_rate, config.name) == (
        "resnet20", 7, 0.5, "fromfile")
    assert config.model_options == {"activation": "relu"}


def test_help_defaults_agree_with_trainconfig():
    from kerascnn.cli.train_cmd import _DATA_OPTIONS, _OPTIM_OPTIONS, _TRAIN_OPTIONS

    defaults = TrainConfig()
    for _flags, name, _kind, text in _DATA_OPTIONS + _OPTIM_OPTIONS + _TRAIN_OPTIONS:
        value = getattr(defaults, name)
        if "[default:" not in text or value is None or isinstance(value, bool):
            continue
        shown = text.split("[default:")[1].rstrip("]").strip()
        assert shown == str(value) or shown == f"{value:g}", (name, shown, value)


# ---------------------------------------------------------------------------- training runs


@pytest.fixture
def digits_bundle():
    from kerascnn.data import load_data

    return load_data(digits_arrays(), batch_size=64, seed=0)


def test_train_writes_a_complete_run_folder(tmp_path, digits_bundle, capsys):
    import keras

    from kerascnn.loading import load_model

    config = TrainConfig(epochs=3, project=str(tmp_path), schedule="cosine", warmup_epochs=1,
                         learning_rate=0.01, patience=5)
    result = train_api(config, model=tiny_model(), data=digits_bundle, verbose="line")
    out = capsys.readouterr().out
    run = result.run_dir
    assert run == tmp_path / "exp"
    assert out.count("Epoch ") == 3 and "\r" not in out  # one line per epoch, no bar noise
    assert f"Results saved to {run}" in out and "Best epoch" in out
    for name in ("config.yaml", "labels.txt", "history.csv", "results.png", "metrics.json",
                 "resume.json", "weights/best.keras", "weights/last.keras"):
        assert (run / name).is_file(), name
    assert list((run / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((run / "logs" / "validation").glob("events.out.tfevents.*"))
    assert (run / "labels.txt").read_text().split() == [str(i) for i in range(10)]
    assert history_epochs(run) == [1, 2, 3]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["epochs_completed"] == 3
    assert json.loads((run / "resume.json").read_text())["status"] == "finished"
    # The returned model holds best.keras' weights; best.keras loads in safe mode.
    loaded = load_model(run)
    x = next(iter(digits_bundle.test))[0]
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0),
                               result.model.predict(x, verbose=0), atol=1e-5)
    assert isinstance(loaded.model, keras.Model) and loaded.class_names[3] == "3"
    # A second run with the default name gets exp2.
    second = train_api(config, model=tiny_model(), data=digits_bundle, verbose="quiet")
    assert second.run_dir == tmp_path / "exp2"


def train_api(*args, **kwargs):
    from kerascnn.train import train

    return train(*args, **kwargs)


def test_early_stopping_stops_and_restores_best(tmp_path, digits_bundle):
    # A learning rate of ~0 leaves val_accuracy flat: no improvement after epoch 1.
    config = TrainConfig(epochs=10, patience=2, monitor="val_accuracy", learning_rate=1e-12,
                         project=str(tmp_path), tensorboard=False)
    result = train_api(config, model=tiny_model(), data=digits_bundle, verbose="quiet")
    assert result.epochs_completed == 3
    assert result.metrics["stopped_early"] is True
    assert history_epochs(result.run_dir) == [1, 2, 3]


def test_nan_loss_stops_with_a_clear_message_and_leaves_no_run(tmp_path, digits_bundle):
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(10, kernel_initializer=keras.initializers.Constant(1e30))(x)
    outputs = keras.layers.Softmax()(keras.layers.Dense(10)(x) * 1e30)
    model = keras.Model(inputs, outputs, name="exploding")
    config = TrainConfig(epochs=3, optimizer="sgd", learning_rate=1e6, project=str(tmp_path))
    with pytest.raises(KerasCNNError, match=r"training diverged: the loss became (nan|inf) at epoch 1"):
        train_api(config, model=model, data=digits_bundle, verbose="quiet")
    assert not (tmp_path / "exp").exists()


@pytest.mark.slow
def test_lenet5_learns_digits(tmp_path):
    from kerascnn.train import QUICKSTART, train

    config = TrainConfig(**{**QUICKSTART, "epochs": 12, "project": str(tmp_path)})
    result = train(config, verbose="quiet")
    assert result.run_dir == tmp_path / "exp"
    assert result.model.name == "lenet5"
    assert result.metrics["test_accuracy"] >= 0.95, result.metrics


@pytest.mark.slow
def test_small_resnet_on_a_png_folder_via_cli(tmp_path, cli):
    data = write_png_folder(tmp_path / "shapes", per_class=10, size=20)
    project = tmp_path / "runs"
    proc = cli("train", "--model", "resnet20", "--data", data, "--input-shape", "16,16,3",
               "--epochs", "2", "--batch-size", "8", "--optimizer", "sgd", "--nesterov",
               "--lr", "0.05", "--schedule", "step", "--step-epochs", "1", "--l2", "1e-4",
               "--label-smoothing", "0.1", "--project", project, "--name", "shapes")
    assert proc.returncode == 0, proc.stderr
    run = project / "shapes"
    assert proc.stdout.count("Epoch ") == 2 and "\r" not in proc.stdout
    assert f"Results saved to {run}" in proc.stdout
    assert (run / "labels.txt").read_text().split() == ["circle", "cross", "square"]
    assert history_epochs(run) == [1, 2]
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"] == "resnet20" and config["input_shape"] == [16, 16, 3]
    assert config["optimizer"] == "sgd" and config["nesterov"] is True

    proc = cli("evaluate", run)
    assert proc.returncode == 0, proc.stderr
    assert "precision" in proc.stdout and "circle" in proc.stdout
    for name in ("confusion_matrix.png", "classification_report.txt", "top_losses.png"):
        assert (run / name).is_file(), name
    assert "test" in json.loads((run / "metrics.json").read_text())["evaluation"]


def test_lr_find_writes_plot_and_suggestion(tmp_path, cli):
    proc = cli("lr-find", "--model", "lenet5", "--steps", "30", "--batch-size", "64",
               "--project", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Suggested learning rate:" in proc.stdout
    rate = float(proc.stdout.split("Suggested learning rate:")[1].split()[0])
    assert 1e-7 <= rate <= 10
    assert (tmp_path / "lr_find" / "lr_find.png").is_file()
    rows = (tmp_path / "lr_find" / "lr_find.csv").read_text().splitlines()
    assert len(rows) > 10


def test_suggested_rate_is_on_the_steepest_descent():
    from kerascnn.train import suggest_learning_rate

    rates = np.logspace(-6, 1, 80)
    losses = 2.0 - np.tanh(3 * (np.log10(rates) + 3)) + np.where(rates > 0.1, 50 * rates, 0)
    assert 3e-4 < suggest_learning_rate(rates, losses) < 3e-3


# ---------------------------------------------------------------------------- resume


@pytest.mark.slow
def test_resume_after_kill_9_continues_without_duplicate_rows(tmp_path, cli):
    project = tmp_path / "runs"
    args = ["train", "--model", "lenet5", "--data", "digits", "--batch-size", "64",
            "--lr", "0.003", "--project", str(project), "--name", "crash", "--no-tensorboard"]
    run = project / "crash"
    with kill_9_after(*args, "--epochs", "200") as trainer:  # a real crash: no cleanup runs
        wait_for_epoch(run, 1, trainer)
    done = json.loads((run / "resume.json").read_text())["epoch"]
    assert 1 <= done < 200 and not (run / "metrics.json").exists()

    # --resume with a new total continues from the last completed epoch.
    target = done + 2
    proc2 = cli("train", "--resume", run, "--epochs", str(target))
    assert proc2.returncode == 0, proc2.stderr
    assert f"Resuming {run} from epoch {done}/{target}" in proc2.stdout
    assert history_epochs(run) == list(range(1, target + 1))
    assert (run / "metrics.json").is_file()

    # Re-running the same command (same --name, more epochs) continues the same folder.
    proc3 = cli(*args, "--epochs", str(target + 1))
    assert proc3.returncode == 0, proc3.stderr
    assert "Resuming" in proc3.stdout
    assert history_epochs(run) == list(range(1, target + 2))
    assert not (project / "crash2").exists()
    state = json.loads((run / "resume.json").read_text())
    assert state["status"] == "finished" and state["epoch"] == target + 1
    # Nothing left to do: --resume without more epochs is a usage error.
    proc4 = cli("train", "--resume", run)
    assert proc4.returncode == 2 and "already completed" in proc4.stderr


def test_resume_restores_optimizer_state(tmp_path, digits_bundle):
    import keras

    from kerascnn.runs import RunPaths
    from kerascnn.train import resume_config, train

    def net():
        keras.utils.set_random_seed(0)
        return tiny_model()

    config = TrainConfig(epochs=2, project=str(tmp_path), name="r", tensorboard=False,
                         schedule="cosine")
    first = train(config, model=net(), data=digits_bundle, verbose="quiet")
    last = keras.saving.load_model(RunPaths(first.run_dir).last, safe_mode=True)
    steps = int(last.optimizer.iterations.numpy())
    assert steps == 2 * int(digits_bundle.train.cardinality())
    resumed = train(resume_config(first.run_dir, epochs=3), model=net(), data=digits_bundle,
                    verbose="quiet")
    assert resumed.resumed_from == 2 and resumed.epochs_completed == 3
    last = keras.saving.load_model(RunPaths(first.run_dir).last, safe_mode=True)
    assert int(last.optimizer.iterations.numpy()) == steps * 3 // 2
    assert history_epochs(first.run_dir) == [1, 2, 3]


@pytest.mark.parametrize(
    "settings, policy",
    [
        pytest.param({"precision": "mixed_float16"}, "mixed_float16", marks=pytest.mark.slow),
        pytest.param({"precision": "mixed_bfloat16", "jit_compile": True}, "mixed_bfloat16",
                     marks=pytest.mark.slow),
        ({"precision": "auto", "deterministic": True}, "float32"),  # auto is float32 on CPU
    ],
)
def test_precision_jit_and_determinism_options_train_and_resume(tmp_path, settings, policy):
    import keras

    from kerascnn.data import load_data
    from kerascnn.train import resume_config, train

    x, y = digits_arrays()
    digits_bundle = load_data((x[:500], y[:500]), batch_size=50, seed=0)

    config = TrainConfig(epochs=1, project=str(tmp_path), name="p", tensorboard=False,
                         optimizer="sgd", learning_rate=0.05, **settings)
    first = train(config, model=tiny_model, data=digits_bundle, verbose="quiet")
    assert first.precision == policy
    assert first.model.layers[1].dtype_policy.name == policy
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    again = train(resume_config(first.run_dir, epochs=2), model=tiny_model, data=digits_bundle,
                  verbose="quiet")
    assert again.resumed_from == 1 and history_epochs(first.run_dir) == [1, 2]
    assert again.metrics["val_accuracy"] > 0.2


@pytest.mark.slow
def test_deterministic_runs_repeat_exactly_across_processes(tmp_path, cli):
    rows = []
    for name in ("a", "b"):
        proc = cli("train", "--deterministic", "--augment", "digits", "--epochs", "2",
                   "--batch-size", "64", "--seed", "5", "--no-tensorboard",
                   "--project", tmp_path, "--name", name)
        assert proc.returncode == 0, proc.stderr
        text = (tmp_path / name / "history.csv").read_text().splitlines()
        header = text[0].split(",")
        keep = [i for i, col in enumerate(header) if col != "seconds"]
        rows.append([[line.split(",")[i] for i in keep] for line in text])
    assert rows[0] == rows[1]


# ---------------------------------------------------------------------------- bad input


def _assert_usage_error(proc, fragment, project: Path):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and fragment in errors[0], proc.stderr
    leftovers = list(project.iterdir()) if project.exists() else []
    assert leftovers == [], leftovers


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--optimizer", "adamm"], "unknown optimizer 'adamm' (did you mean 'adam'?)"),
        (["--schedule", "one_cycle"], "did you mean 'one-cycle'?"),
        (["--strategy", "mirored"], "did you mean 'mirrored'?"),
        (["--resume", "no/such/run"], "resume folder no/such/run does not exist"),
        (["--epochs", "0"], "epochs must be a positive integer"),
    ],
)
def test_bad_settings_fail_fast_with_one_line(tmp_path, cli, args, fragment):
    project = tmp_path / "runs"
    _assert_usage_error(cli("train", *args, "--project", project), fragment, project)


def test_unreadable_yaml_fails_with_one_line(tmp_path, cli):
    project = tmp_path / "runs"
    broken = tmp_path / "bad.yaml"
    broken.write_text("epochs: [1\n")
    _assert_usage_error(cli("train", "--config", broken, "--project", project),
                        "cannot parse config", project)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("optimiser: sgd\n")
    _assert_usage_error(cli("train", "--config", unknown, "--project", project),
                        "did you mean 'optimizer'", project)


@pytest.mark.slow
def test_bad_data_and_model_fail_with_one_line_and_no_run_folder(tmp_path, cli):
    project = tmp_path / "runs"
    empty = tmp_path / "empty"
    empty.mkdir()
    single = write_png_folder(tmp_path / "single", classes=("only",), per_class=4)
    cases = [
        (["--model", "lenet55"], "did you mean 'lenet5'"),
        (["--data", empty], "holds no images"),
        (["--data", single], "class"),
        (["--input-shape", "32,32,2"], "2 channels"),
    ]
    for args, fragment in cases:
        _assert_usage_error(cli("train", *args, "--epochs", "1", "--project", project),
                            fragment, project)


def test_tfds_split_strings_reach_the_data_offline(tmp_path, monkeypatch):
    """tfds:NAME through train(), offline via TFDS' mock data, with a split plan."""
    import tensorflow_datasets as tfds

    import kerascnn.data
    from kerascnn.train import train
    from kerascnn.train_config import parse_tfds_split

    assert parse_tfds_split("train[:50%]") == "train[:50%]"
    with pytest.raises(UsageError, match="tfds_split"):
        parse_tfds_split("training=train")
    seen = []
    real_load_data = kerascnn.data.load_data

    def recording_load_data(spec, **kwargs):
        seen.append(kwargs.get("split"))
        return real_load_data(spec, **kwargs)

    monkeypatch.setattr(kerascnn.data, "load_data", recording_load_data)
    config = TrainConfig(
        model="lenet5", data="tfds:mnist", data_dir=str(tmp_path / "tfds"), epochs=1,
        batch_size=8, tfds_split="train=train[:75%],val=train[75%:],test=test",
        project=str(tmp_path / "runs"), name="tfds", tensorboard=False,
    )
    with tfds.testing.mock_data(num_examples=16):
        run = train(config, verbose="quiet")
    assert seen == [{"train": "train[:75%]", "val": "train[75%:]", "test": "test"}]
    from kerascnn.evaluate import evaluate  # evaluating the run reads the same split plan

    with tfds.testing.mock_data(num_examples=16):
        evaluate(run.run_dir, output_dir=tmp_path / "eval", verbose="quiet")
    assert seen[-1] == {"train": "train[:75%]", "val": "train[75%:]", "test": "test"}
    assert (run.run_dir / "weights" / "best.keras").is_file()
    assert 0.0 <= run.metrics["test_accuracy"] <= 1.0
