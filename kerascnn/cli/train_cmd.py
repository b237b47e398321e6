"""``kerascnn quickstart | train | evaluate | lr-find``: thin shells over kerascnn.train and
kerascnn.evaluate. Nothing here imports TensorFlow at import time.

Flags map one to one onto ``TrainConfig`` fields (``--learning-rate`` -> ``learning_rate``);
``--config FILE.yaml`` supplies any of them and flags given on the command line win. The
defaults and choices ``--help`` shows are read from ``kerascnn.train_config`` (TensorFlow-free),
never copied here.

Example:
    $ kerascnn quickstart
    $ kerascnn train --model resnet20 --data photos/ --epochs 30 --schedule cosine --name flowers
    $ kerascnn train --resume runs/flowers --epochs 40
    $ kerascnn evaluate runs/flowers
    $ kerascnn lr-find --model resnet20 --data photos/
"""

from __future__ import annotations

import dataclasses

import click

from kerascnn.cli.common import SHAPE, NamedChoice, device_option, model_choice
from kerascnn.contract import DEFAULT_BASE
from kerascnn.train_config import (
    DEFAULT_RUN_NAME,
    LR_FIND_RUN_NAME,
    OPTIMIZERS,
    PRECISIONS,
    QUICKSTART,
    SCHEDULES,
    STRATEGIES,
    TrainConfig,
)


def _config_default(field_name: str):
    """``TrainConfig``'s default for ``field_name``, read from the dataclass itself.

    Example:
        >>> _config_default("batch_size"), _config_default("learning_rate")
        (32, 0.001)
    """
    (found,) = (f for f in dataclasses.fields(TrainConfig) if f.name == field_name)
    return found.default


def _shown(value) -> str:
    """A default as ``--help`` shows it: ``yes``/``no``, ``0.001``, ``0`` for ``0.0``.

    Example:
        >>> _shown(True), _shown(0.0), _shown(1e-3), _shown("lenet5")
        ('yes', '0', '0.001', 'lenet5')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _with_default(text: str, field_name: str, explained: str | None = None) -> str:
    """``text`` plus ``[default: ...]``: the field's ``TrainConfig`` default, or ``explained``
    for a field whose default (None) means "decided later" and needs words.

    Example:
        >>> _with_default("Global batch size.", "batch_size")
        'Global batch size. [default: 32]'
        >>> _with_default("Dropout override.", "dropout_rate")
        'Dropout override.'
    """
    if explained is None:
        value = _config_default(field_name)
        if value is None:
            return text
        explained = _shown(value)
    return f"{text} [default: {explained}]"


def _option(flags, field_name, kind, text, *, explained=None):
    """One row of the option tables: (flags, TrainConfig field, click type, help).

    ``kind`` None is a ``--x/--no-x`` switch, ``"flag"`` an on-only flag (off by default, so
    its help shows no default). The help's ``[default: ...]`` comes from ``TrainConfig``.
    """
    if kind != "flag":
        text = _with_default(text, field_name, explained)
    return (flags, field_name, kind, text)


# Flags map one to one onto TrainConfig fields; their defaults live only in TrainConfig.
_DATA_OPTIONS = [
    _option(("--model", "-m"), "model", model_choice(), "Registered model name (kerascnn models)."),
    _option(
        ("--data", "-d"), "data", str, "digits | tfds:NAME | a folder root/<class>/<image>."
    ),
    _option(
        ("--input-shape",), "input_shape", SHAPE, "H,W,C the model takes.", explained="the model's"
    ),
    _option(
        ("--weights",),
        "weights",
        str,
        "Start from pretrained weights: imagenet, a tag (tv_in1k, keras, ...) or a weights file.",
        explained="none, train from scratch",
    ),
    _option(
        ("--freeze",),
        "freeze",
        str,
        "With --weights, what the first epochs leave frozen: backbone | none | N first stages.",
    ),
    _option(
        ("--fine-tune-epochs",),
        "fine_tune_epochs",
        int,
        "With --weights: the last N of --epochs train every layer (batch norm stays frozen).",
    ),
    _option(
        ("--fine-tune-lr",),
        "fine_tune_lr",
        float,
        "Learning rate of those epochs.",
        explained="--lr / 10",
    ),
    _option(
        ("--stage-lr-decay",),
        "stage_lr_decay",
        float,
        "With --weights, a discriminative rate: the head learns at the full rate, the last stage "
        "at this fraction of it, the one before at its square, down to the stem.",
        explained="every layer at one rate",
    ),
    _option(("--batch-size", "-b"), "batch_size", int, "Global batch size."),
    _option(("--val-split",), "val_split", float, "Validation fraction when the data has none."),
    _option(
        ("--test-split",), "test_split", float, "Held-out test fraction when the data has none."
    ),
    _option(
        ("--augment",),
        "augment",
        str,
        "Augmentation preset (none, light, standard, digits) or layer names.",
    ),
    _option(("--data-dir",), "data_dir", str, "TFDS data directory."),
    _option(
        ("--tfds-split",),
        "tfds_split",
        str,
        "TFDS split for training ('train[:90%]') or 'train=...,val=...,test=...'.",
    ),
    _option(("--download/--no-download",), "download", None, "Let TFDS download."),
    _option(("--skip-bad",), "skip_bad", "flag", "Skip unreadable images instead of failing."),
    _option(
        ("--cache",),
        "cache",
        NamedChoice(("auto", "true", "false"), kind="cache setting"),
        "Cache decoded images (auto: when they fit in memory).",
    ),
]

_OPTIM_OPTIONS = [
    _option(
        ("--optimizer", "-o"),
        "optimizer",
        NamedChoice(OPTIMIZERS, kind="optimizer"),
        "Optimizer.",
    ),
    _option(
        ("--learning-rate", "--lr"), "learning_rate", float, "Base (one-cycle: peak) rate."
    ),
    _option(
        ("--momentum",),
        "momentum",
        float,
        "SGD/RMSprop momentum.",
        explained="sgd 0.9, rmsprop 0",
    ),
    _option(("--nesterov/--no-nesterov",), "nesterov", None, "Nesterov momentum (sgd)."),
    _option(
        ("--weight-decay",),
        "weight_decay",
        float,
        "Decoupled weight decay.",
        explained="adamw 0.004, else 0",
    ),
    _option(("--clipnorm",), "clipnorm", float, "Clip the global gradient norm."),
    _option(("--label-smoothing",), "label_smoothing", float, "Label smoothing."),
]

_TRAIN_OPTIONS = [
    _option(
        ("--epochs", "-e"), "epochs", int, "Epochs to train (on resume: the new total)."
    ),
    _option(
        ("--schedule",),
        "schedule",
        NamedChoice(SCHEDULES, kind="schedule"),
        "Learning-rate schedule.",
    ),
    _option(
        ("--warmup-epochs",), "warmup_epochs", float, "Linear warmup (cosine, step, constant)."
    ),
    _option(
        ("--step-epochs",),
        "step_epochs",
        int,
        "step: decay every N epochs.",
        explained="epochs // 3",
    ),
    _option(("--step-gamma",), "step_gamma", float, "step: decay factor."),
    _option(
        ("--final-lr-fraction",), "final_lr_fraction", float, "cosine: final rate / base rate."
    ),
    _option(("--l1",), "l1", float, "L1 kernel regularization."),
    _option(("--l2",), "l2", float, "L2 kernel regularization."),
    _option(("--dropout-rate",), "dropout_rate", float, "Override the architecture's dropout rate."),
    _option(
        ("--monitor",), "monitor", str, "Metric choosing best.keras and early stopping."
    ),
    _option(
        ("--patience",),
        "patience",
        int,
        "Early stopping patience in epochs (restores best weights).",
        explained="off",
    ),
    _option(("--tensorboard/--no-tensorboard",), "tensorboard", None, "Write TensorBoard logs."),
    _option(
        ("--histogram-freq",),
        "histogram_freq",
        int,
        "TensorBoard weight histograms every N epochs (0: none).",
    ),
    _option(
        ("--profile-batch",),
        "profile_batch",
        int,
        "TensorBoard profiler trace of batch N of the first epoch (0: none).",
    ),
    _option(
        ("--precision",),
        "precision",
        NamedChoice(PRECISIONS, kind="precision"),
        "auto: mixed on a capable GPU.",
    ),
    _option(
        ("--jit-compile/--no-jit-compile",), "jit_compile", None, "XLA-compile the train step."
    ),
    _option(
        ("--seed",), "seed", int, "Seeds splits, shuffling, augmentation and weights."
    ),
    _option(
        ("--deterministic",), "deterministic", "flag", "Enable TensorFlow op determinism (slower)."
    ),
    _option(
        ("--strategy",),
        "strategy",
        NamedChoice(STRATEGIES, kind="strategy"),
        "Distribution strategy (multiworker reads TF_CONFIG).",
    ),
    _option(("--project",), "project", str, "Parent folder of run folders."),
    _option(
        ("--name", "-n"),
        "name",
        str,
        "Run folder name; an unfinished run of that name with the same settings resumes.",
        explained=f"{DEFAULT_RUN_NAME}, {DEFAULT_RUN_NAME}2, ...",
    ),
]


def _apply(options):
    def decorate(func):
        for flags, field_name, kind, text in reversed(options):
            if kind is None:  # --x/--no-x boolean; None = not given
                option = click.option(*flags, field_name, default=None, help=text)
            elif kind == "flag":
                option = click.option(*flags, field_name, is_flag=True, default=None, help=text)
            else:
                # A long list of choices reads better in the help text than in the metavar.
                long_choice = isinstance(kind, NamedChoice) and len(kind.choices) > 8
                option = click.option(
                    *flags,
                    field_name,
                    type=kind,
                    default=None,
                    help=text,
                    metavar="NAME" if long_choice else None,
                )
            func = option(func)
        return func

    return decorate


def _model_options(pairs) -> dict:
    import yaml

    options = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--model-option")
        options[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return options


def _config_values(config_file, model_option, values) -> dict:
    """Settings from --config, then from flags actually given (flags win)."""
    merged = {}
    if config_file is not None:
        merged.update(TrainConfig.from_yaml(config_file).to_dict())
        for key in ("project", "name", "resume"):  # only when the file really sets them
            merged.pop(key, None)
        import yaml

        raw = yaml.safe_load(open(config_file, encoding="utf-8")) or {}
        for key in ("project", "name", "resume"):
            if key in raw:
                merged[key] = raw[key]
    merged.update({k: v for k, v in values.items() if v is not None})
    if model_option:
        merged["model_options"] = {
            **merged.get("model_options", {}),
            **_model_options(model_option),
        }
    if isinstance(merged.get("cache"), str) and merged["cache"].lower() in ("true", "false"):
        merged["cache"] = merged["cache"].lower() == "true"
    return merged


def _verbose(quiet: bool) -> str:
    return "quiet" if quiet else "auto"


_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="YAML file of settings (any TrainConfig field; a run's config.yaml works).",
)
_model_option = click.option(
    "--model-option",
    "model_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Architecture override, repeatable: --model-option activation=relu.",
)
_quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print only errors.")


@click.command()
@_config_option
@_apply(_DATA_OPTIONS)
@_apply(_OPTIM_OPTIONS)
@_apply(_TRAIN_OPTIONS)
@_model_option
@click.option(
    "--resume",
    "resume",
    type=str,
    default=None,
    metavar="RUN_DIR",
    help="Continue RUN_DIR from its last completed epoch (with --epochs: a new total).",
)
@device_option
@_quiet_option
def train(config_file, model_option, resume, quiet, **values):
    """Train a model; writes runs/NAME with weights, history, plots and metrics."""
    # Settings are parsed and checked before TensorFlow loads: bad input fails fast.
    from kerascnn.train_config import resume_config

    if resume:  # every other setting comes from RUN_DIR/config.yaml
        config = resume_config(resume, epochs=values.get("epochs"))
    else:
        config = TrainConfig.from_dict(
            _config_values(config_file, model_option, values), source="the command line"
        )
    config.validate()
    from kerascnn.train import train as run_training

    run_training(config, verbose=_verbose(quiet))


_EVAL_HELP = "RUN_DIR, a .keras file, or a registered model name (random weights; needs --data)."


@click.command()
@click.argument("source")
@click.option(
    "--data", "-d", default=None, help="Data spec [default: the run's own data and split]."
)
@click.option(
    "--split",
    type=NamedChoice(("test", "val", "train"), kind="split"),
    default="test",
    show_default=True,
    help="Which split to evaluate.",
)
@click.option("--batch-size", "-b", type=int, default=None, help="Batch size [default: the run's].")
@click.option(
    "--out",
    "output_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for the report [default: the run folder].",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1, max=100),
    default=16,
    show_default=True,
    help="Images in top_losses.png.",
)
@device_option
@_quiet_option
def evaluate(source, data, split, batch_size, output_dir, top_k, quiet):
    """Evaluate SOURCE: metrics, confusion matrix, per-class report, top losses.

    SOURCE is a run folder, a .keras file, or a registered model name (random weights; needs
    --data).
    """
    from kerascnn.evaluate import evaluate as run_evaluation

    run_evaluation(
        source,
        data=data,
        split=split,
        batch_size=batch_size,
        output_dir=output_dir,
        top_k=top_k,
        verbose=_verbose(quiet),
    )


@click.command(name="lr-find")
@_config_option
@_apply(_DATA_OPTIONS)
@_apply(_OPTIM_OPTIONS)
@click.option("--seed", "seed", type=int, default=None, help=_with_default("Seed.", "seed"))
@click.option(
    "--project", "project", default=None, help=_with_default("Parent folder.", "project")
)
@click.option(
    "--name",
    "-n",
    "name",
    default=None,
    help=f"Output folder name. [default: {LR_FIND_RUN_NAME}, {LR_FIND_RUN_NAME}2, ...]",
)
@_model_option
@click.option("--start-lr", type=float, default=1e-7, show_default=True, help="Lowest rate tried.")
@click.option("--end-lr", type=float, default=10.0, show_default=True, help="Highest rate tried.")
@click.option(
    "--steps",
    type=click.IntRange(min=10),
    default=100,
    show_default=True,
    help="Batches in the sweep.",
)
@device_option
@_quiet_option
def lr_find(config_file, model_option, start_lr, end_lr, steps, quiet, **values):
    """LR range test: sweep the learning rate, plot lr_find.png, suggest a rate."""
    config = TrainConfig.from_dict(
        _config_values(config_file, model_option, values), source="the command line"
    )
    config.validate()
    from kerascnn.lr_find import lr_find as run_lr_find

    run_lr_find(config, start_lr=start_lr, end_lr=end_lr, steps=steps, verbose=_verbose(quiet))


@click.command()
@click.option(
    "--epochs",
    "-e",
    type=click.IntRange(min=1),
    default=None,
    help=f"Epochs [default: the tuned recipe's {QUICKSTART['epochs']}].",
)
@click.option("--project", default="runs", show_default=True, help="Parent folder of the run.")
@click.option("--name", "-n", default="quickstart", show_default=True, help="Run folder name.")
@click.option(
    "--serving-base",
    default=DEFAULT_BASE,
    show_default=True,
    help="TF Serving model base directory the model is exported into (as digits/N, the next free version).",
)
@click.option("--no-export", is_flag=True, help="Stop after the held-out evaluation.")
@device_option
@_quiet_option
def quickstart(epochs, project, name, serving_base, no_export, quiet):
    """Train LeNet-5 on digits, evaluate, export for TF Serving, predict a real digit."""
    from kerascnn.quickstart import quickstart as run_quickstart

    overrides = {"epochs": epochs} if epochs else {}
    run_quickstart(
        project=project,
        name=name,
        serving_base=serving_base,
        export=not no_export,
        verbose=_verbose(quiet),
        **overrides,
    )
