"""The training configuration: one dataclass, the single source of truth for a run, the
tuned :data:`QUICKSTART` recipe, and how a config finds the run it resumes.

Kept free of TensorFlow so the CLI can parse and check settings (names, YAML, resume folder)
in a fraction of a second, before paying for the TensorFlow import.

Example:
    >>> config = TrainConfig.from_dict({"model": "resnet20", "learning-rate": 0.1})
    >>> config.validate()
    >>> config.learning_rate
    0.1
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from kerascnn.arithmetic import image_shape
from kerascnn.errors import KerasCNNError, UsageError, positive_int, unknown_name
from kerascnn.runs import RunPaths, check_run_name, holds_no_epoch, read_resume_state

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("constant", "step", "cosine", "one-cycle")
STRATEGIES = ("auto", "none", "mirrored", "multiworker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# --freeze: what the head phase of a pretrained run leaves frozen (or a number of first stages).
FREEZE_CHOICES = ("backbone", "none")

DEFAULT_RUN_NAME = "exp"  # training runs: exp, exp2, ...
LR_FIND_RUN_NAME = "lr_find"  # LR range tests: lr_find, lr_find2, ...

# The quickstart recipe (``kerascnn quickstart``, :mod:`kerascnn.quickstart`), tuned on 2 CPU
# cores (see README): the classic LeNet-5 (tanh, average pooling) on the 8x8 digits upscaled to
# 32x32, shift/rotate/zoom augmentation, Adam with a one-cycle schedule peaking at 3e-3; best
# epoch by val_loss. Held-out test accuracy, seeds 0/1/2: 99.44 % / 99.44 % / 100 % at 40
# epochs. It lives here, with the other settings, because it is nothing but settings: the
# TensorFlow-free CLI can show them and kerascnn.train can re-export them.
QUICKSTART = dict(
    model="lenet5",
    data="digits",
    epochs=40,
    batch_size=32,
    optimizer="adam",
    learning_rate=3e-3,
    schedule="one-cycle",
    augment="digits",
    seed=0,
    # Op determinism makes the run bit-for-bit repeatable (augmentation inside tf.data's
    # parallel map is otherwise applied in a varying order); it costs nothing measurable here.
    deterministic=True,
)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Field names double as YAML keys and CLI flags
    (``learning_rate`` <-> ``--learning-rate``).

    Example:
        >>> config = TrainConfig(model="resnet20", data="photos/", epochs=30, schedule="cosine")
        >>> config.optimizer, config.batch_size
        ('adam', 32)
    """

    # what to train on what
    model: str = "lenet5"
    data: str = "digits"
    input_shape: tuple[int, int, int] | None = None  # None: the model's default input
    model_options: dict = field(default_factory=dict)  # architecture overrides: activation=relu
    # pretrained start (kerascnn.weights): None trains from scratch
    weights: str | None = None  # "imagenet", a tag (tv_in1k, keras, ...) or a weights file
    freeze: str = "backbone"  # with weights, before fine-tuning: backbone | none | N first stages
    fine_tune_epochs: int = 0  # the last N of `epochs` train every layer (batch norm stays frozen)
    fine_tune_lr: float | None = None  # their learning rate; None: learning_rate / 10
    stage_lr_decay: float | None = None  # with weights: each stage learns at this times the next
    # data pipeline
    batch_size: int = 32
    val_split: float = 0.1
    test_split: float = 0.1
    augment: str = "none"
    data_dir: str | None = None
    tfds_split: str | None = None  # "train[:90%]" or "train=train[:80%],val=train[80%:],test=test"
    download: bool = False
    skip_bad: bool = False
    cache: str = "auto"
    # optimization
    epochs: int = 10
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float | None = None  # sgd: 0.9, rmsprop: 0.0 when None
    nesterov: bool = False
    weight_decay: float | None = None  # decoupled; adamw: 0.004 when None
    clipnorm: float | None = None
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    step_epochs: int | None = None  # step schedule: drop every N epochs (None: epochs // 3)
    step_gamma: float = 0.1
    final_lr_fraction: float = 0.0  # cosine: end at learning_rate * this
    # regularization
    l1: float = 0.0
    l2: float = 0.0
    dropout_rate: float | None = None  # None: the architecture's default
    label_smoothing: float = 0.0
    # callbacks
    monitor: str = "val_loss"
    patience: int | None = None  # early stopping patience in epochs; None: off
    tensorboard: bool = True
    histogram_freq: int = 0  # TensorBoard weight histograms every N epochs; 0: none
    profile_batch: int = 0  # TensorBoard profiler trace of this batch (1-based); 0: none
    # performance and reproducibility
    precision: str = "auto"
    jit_compile: bool = False
    seed: int = 0
    deterministic: bool = False
    strategy: str = "auto"
    # where
    project: str = "runs"
    name: str | None = None  # None: exp, exp2, ...; an existing unfinished NAME resumes
    resume: str | None = None  # a run folder to continue

    # ------------------------------------------------------------------ construction
    @classmethod
    def field_names(cls) -> list[str]:
        """The config keys, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict, *, source: str = "config") -> TrainConfig:
        """Build from a mapping; unknown keys fail with a did-you-mean. Dashes in keys are
        accepted (``learning-rate``) and a ``meta`` section (run metadata) is ignored.

        Values are coerced to their field's type (:func:`coerce_setting`), because YAML 1.1,
        which PyYAML reads, takes ``1e-3`` for a string: only ``1.0e-3`` is a float there.

        Example:
            >>> TrainConfig.from_dict({"learning-rate": 0.1}).learning_rate
            0.1
            >>> TrainConfig.from_dict({"learning_rate": "1e-3", "epochs": "5"}).learning_rate
            0.001
        """
        if not isinstance(values, dict):
            raise UsageError(f"{source} must be a mapping of settings, not {type(values).__name__}")
        known = cls.field_names()
        clean = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name == "meta":
                continue
            if name not in known:
                raise unknown_name(f"setting in {source}:", str(key), known)
            clean[name] = coerce_setting(name, value, source=source)
        if clean.get("input_shape") is not None:
            clean["input_shape"] = _shape(clean["input_shape"])
        return cls(**clean)

    @classmethod
    def from_yaml(cls, path) -> TrainConfig:
        """Read a YAML config (a saved ``config.yaml`` works too).

        Example:
            >>> TrainConfig.from_yaml("runs/exp/config.yaml").model  # doctest: +SKIP
            'lenet5'
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read config {path}: {exc.strerror or exc}") from None
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise UsageError(f"cannot parse config {path}{where}: {problem}") from None
        return cls.from_dict(values or {}, source=str(path))

    def to_dict(self) -> dict:
        """Plain types only (tuples become lists), suitable for YAML."""
        values = dataclasses.asdict(self)
        if values["input_shape"] is not None:
            values["input_shape"] = list(values["input_shape"])
        return values

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def with_absolute_paths(self, base=None) -> TrainConfig:
        """A copy whose data folder and TFDS ``data_dir`` are absolute, so the run folder that
        stores it works from any directory (``kerascnn evaluate /path/runs/exp`` from /tmp).

        Relative paths are taken from ``base`` (default: the working directory). ``digits``,
        ``tfds:NAME`` and a data folder that does not exist (its error names it as typed) are
        kept as they are.

        Example:
            >>> import tempfile
            >>> base = Path(tempfile.mkdtemp()); (base / "photos").mkdir()
            >>> TrainConfig(data="photos/").with_absolute_paths(base).data == str(base / "photos")
            True
            >>> TrainConfig(data="digits").with_absolute_paths(base).data
            'digits'
        """
        changes = {"data": absolute_data_spec(self.data, base)}
        if self.data_dir is not None:
            changes["data_dir"] = _absolute(self.data_dir, base)
        if self.weights is not None and Path(_absolute(self.weights, base)).is_file():
            changes["weights"] = _absolute(self.weights, base)  # a weights file, not a tag
        return self.replace(**changes)

    @property
    def head_epochs(self) -> int:
        """Epochs before fine-tuning: the head phase of a pretrained run (all of ``epochs``
        otherwise).

        Example:
            >>> TrainConfig(weights="imagenet", epochs=10, fine_tune_epochs=4).head_epochs
            6
        """
        return max(0, self.epochs - (self.fine_tune_epochs if self.weights is not None else 0))

    def validate(self) -> None:
        """Check names and ranges before anything is built or written.

        Example:
            >>> TrainConfig(optimizer="adamm").validate()
            Traceback (most recent call last):
            kerascnn.errors.UsageError: unknown optimizer 'adamm' (did you mean 'adam'?)
        """
        for name in self.field_names():  # numbers and switches have their declared types
            check_setting_type(name, getattr(self, name))
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise unknown_name("schedule", self.schedule, SCHEDULES)
        if self.strategy not in STRATEGIES:
            raise unknown_name("strategy", self.strategy, STRATEGIES)
        if self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)
        positive_int(self.epochs, "epochs")
        parse_tfds_split(self.tfds_split)
        positive_int(self.batch_size, "batch_size")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise UsageError(f"learning_rate must be a positive number, not {self.learning_rate!r}")
        for name in ("l1", "l2", "label_smoothing", "warmup_epochs", "step_gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise UsageError(f"{name} must be a number >= 0, not {value!r}")
        if self.label_smoothing >= 1:
            raise UsageError(f"label_smoothing must be below 1, not {self.label_smoothing}")
        if self.dropout_rate is not None and not 0 <= self.dropout_rate < 1:
            raise UsageError(f"dropout_rate must be in [0, 1), not {self.dropout_rate}")
        if self.patience is not None:
            positive_int(self.patience, "patience")
        self._validate_fine_tuning()
        for name in ("histogram_freq", "profile_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be a whole number >= 0, not {value!r}")
        if self.name is not None:
            check_run_name(self.name)
        if self.input_shape is not None:
            _shape(self.input_shape)
        if not isinstance(self.model_options, dict):
            raise UsageError(f"model_options must be a mapping, not {self.model_options!r}")


    def _validate_fine_tuning(self) -> None:
        freeze = str(self.freeze).strip().lower()
        if freeze not in FREEZE_CHOICES and not (freeze.isdigit() and int(freeze) >= 0):
            raise UsageError(
                f"freeze must be backbone, none or a number of first stages, not {self.freeze!r}"
            )
        if isinstance(self.fine_tune_epochs, bool) or not isinstance(self.fine_tune_epochs, int):
            raise UsageError(f"fine_tune_epochs must be a whole number, not {self.fine_tune_epochs!r}")
        if self.fine_tune_epochs < 0:
            raise UsageError(f"fine_tune_epochs must be >= 0, not {self.fine_tune_epochs}")
        if self.fine_tune_lr is not None and not (
            isinstance(self.fine_tune_lr, (int, float)) and self.fine_tune_lr > 0
        ):
            raise UsageError(f"fine_tune_lr must be a positive number, not {self.fine_tune_lr!r}")
        if self.stage_lr_decay is not None and not (
            isinstance(self.stage_lr_decay, (int, float)) and 0 < self.stage_lr_decay <= 1
        ):
            raise UsageError(
                f"stage_lr_decay must be a number in (0, 1], not {self.stage_lr_decay!r}"
            )
        if self.weights is None and (
            self.fine_tune_epochs or self.fine_tune_lr is not None or self.stage_lr_decay
        ):
            raise UsageError(
                "fine_tune_epochs, fine_tune_lr and stage_lr_decay need pretrained --weights"
            )


# ---------------------------------------------------------------------------- field types

_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


@functools.cache
def _setting_kinds() -> dict[str, tuple[type | None, bool]]:
    """Each field's scalar kind (``float``, ``int``, ``bool``; None for everything else, which
    is left as given) and whether it may be None, read from ``TrainConfig``'s annotations.

    Example:
        >>> _setting_kinds()["weight_decay"], _setting_kinds()["epochs"], _setting_kinds()["model"]
        ((<class 'float'>, True), (<class 'int'>, False), (None, False))
    """
    kinds = {}
    for name, hint in typing.get_type_hints(TrainConfig).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        optional = type(None) in args
        scalar = [a for a in args if a in (float, int, bool)]
        kinds[name] = (scalar[0] if len(scalar) == 1 else None, optional)
    return kinds


def _kind_words(kind: type) -> str:
    return {float: "a number", int: "an integer", bool: "true or false"}[kind]


def _coerced(kind: type, value):
    """``value`` as ``kind``, or None when it does not convert exactly (see coerce_setting)."""
    if isinstance(value, bool):  # bool is an int to Python, never a number to a user
        return value if kind is bool else None
    if kind is bool:
        if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS + _FALSE_WORDS:
            return value.strip().lower() in _TRUE_WORDS
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if kind is float else _integral(value.strip())
        except ValueError:
            return None
    if kind is float and isinstance(value, numbers.Real):
        return float(value)
    if kind is int and isinstance(value, numbers.Integral):
        return int(value)
    if kind is int and isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    return None


def _integral(text: str) -> int:
    """``"12"`` or ``"1e3"`` as an int; ValueError for ``"2.5"`` or words."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


def coerce_setting(name: str, value, *, source: str | None = None):
    """``value`` converted to the type ``TrainConfig`` declares for ``name``.

    Numbers may come as strings (``"1e-3"``, ``"64"``), integers as integral floats
    (``64.0``), switches as ``true``/``false``/``yes``/``no``; None stays None where the field
    allows it. Fields that are not numbers or switches are returned unchanged (``cache`` takes
    ``auto`` or a YAML ``true``/``false``). A value that does not convert exactly fails with
    one :class:`UsageError` naming the field (and ``source``, when given).

    Example:
        >>> coerce_setting("learning_rate", "1e-3"), coerce_setting("epochs", 12.0)
        (0.001, 12)
        >>> coerce_setting("epochs", 2.5, source="c.yaml")
        Traceback (most recent call last):
        kerascnn.errors.UsageError: epochs must be an integer, not 2.5 (in c.yaml)
    """
    kind, optional = _setting_kinds()[name]
    if kind is None or (value is None and optional):
        return value
    coerced = _coerced(kind, value) if value is not None else None
    if coerced is None:
        where = f" (in {source})" if source else ""
        raise UsageError(f"{name} must be {_kind_words(kind)}, not {value!r}{where}")
    return coerced


def check_setting_type(name: str, value) -> None:
    """Fail unless ``value`` already has ``name``'s declared type (no conversion: Python
    callers pass numbers as numbers), so a ``"5e-4"`` string cannot slip into training.

    Example:
        >>> check_setting_type("weight_decay", 5e-4)
        >>> check_setting_type("weight_decay", "5e-4")
        Traceback (most recent call last):
        kerascnn.errors.UsageError: weight_decay must be a number, not '5e-4'
    """
    kind, optional = _setting_kinds()[name]
    if kind is None or (value is None and optional):
        return
    if isinstance(value, bool):
        exact = kind is bool
    elif kind is float:
        exact = isinstance(value, numbers.Real)
    elif kind is int:
        exact = isinstance(value, numbers.Integral)
    else:
        exact = False
    if not exact:
        raise UsageError(f"{name} must be {_kind_words(kind)}, not {value!r}")


def _shape(value) -> tuple[int, int, int]:
    shape = image_shape(value)
    if shape is None:
        raise UsageError(f"input_shape {value!r} is not height,width,channels")
    return shape


def _absolute(path, base=None) -> str:
    """``path`` as a normalized absolute path string, relative ones taken from ``base``."""
    path = Path(path).expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return os.path.abspath(path)


def absolute_data_spec(spec, base=None):
    """``spec`` with a data folder made absolute (see :meth:`TrainConfig.with_absolute_paths`).

    Example:
        >>> absolute_data_spec("tfds:mnist"), absolute_data_spec("no/such/folder")
        ('tfds:mnist', 'no/such/folder')
    """
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    text = os.fspath(spec)
    if text == "digits" or text.startswith("tfds:"):
        return spec
    folder = _absolute(text, base)
    return folder if Path(folder).is_dir() else spec


def training_directory(config: TrainConfig, run_dir) -> Path | None:
    """The working directory training ran from, when ``run_dir`` shows it: a run stores its
    ``project`` as given (``runs``), so ``/work/runs/exp`` made with project ``runs`` ran from
    ``/work``. None when the project is absolute or does not match the folder's path.

    Example:
        >>> training_directory(TrainConfig(project="runs", name="exp"), "/work/runs/exp")
        PosixPath('/work')
        >>> training_directory(TrainConfig(project="/abs/runs"), "/abs/runs/exp") is None
        True
    """
    project = Path(config.project)
    if project.is_absolute():
        return None
    run_dir = Path(os.path.abspath(Path(run_dir).expanduser()))
    tail = (*project.parts, run_dir.name)
    tail = tuple(part for part in tail if part != ".")
    if len(run_dir.parts) <= len(tail) or run_dir.parts[-len(tail):] != tail:
        return None
    return Path(*run_dir.parts[: -len(tail)])


def stored_config(run_dir) -> TrainConfig:
    """A run folder's ``config.yaml``, with relative paths made absolute.

    Runs store their data folder absolute; older ones kept it as typed (``data: photos/``),
    relative to where training ran. Such a path is looked up there first
    (:func:`training_directory`), then in the working directory, so evaluating or resuming
    works from anywhere.

    Example:
        >>> stored_config("runs/exp").data  # doctest: +SKIP
        '/home/me/work/photos'
    """
    run_dir = Path(run_dir).expanduser()
    config = TrainConfig.from_yaml(RunPaths(run_dir).config)
    trained_from = training_directory(config, run_dir)
    if trained_from is not None:
        moved = config.with_absolute_paths(trained_from)
        if moved.data != config.data:  # the data folder exists where training ran
            return moved
    return config.with_absolute_paths()


# Fields that may differ between a run and the command that resumes it.
RESUMABLE_CHANGES = frozenset({"epochs", "resume", "name", "project"})


def resume_config(run_dir, *, epochs: int | None = None) -> TrainConfig:
    """The config that continues ``run_dir``: its stored settings, ``epochs`` as the new total.

    Example:
        >>> train(resume_config("runs/exp", epochs=40))  # doctest: +SKIP
    """
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise UsageError(f"resume folder {run_dir} does not exist")
    paths = RunPaths(run_dir)
    if not paths.config.is_file():
        raise UsageError(f"resume folder {run_dir} has no config.yaml (not a kerascnn run)")
    stored = stored_config(run_dir)
    return stored.replace(resume=str(run_dir), epochs=epochs or stored.epochs)


def find_resume(config: TrainConfig) -> tuple[TrainConfig, Path | None, dict | None]:
    """Resolve ``config.resume``, or find an unfinished run with the same name and settings.

    Returns (the config to train, the run folder to continue or None, its ``resume.json``
    state or None). A ``resume`` folder must hold a completed epoch and, unless a larger
    ``epochs`` is asked for, still have epochs to go. A named run continues only when every
    field outside :data:`RESUMABLE_CHANGES` matches; otherwise training starts afresh.

    Example:
        >>> config, run_dir, state = find_resume(TrainConfig(name="never-trained", project="/nowhere"))
        >>> run_dir is None and state is None and config.name == "never-trained"
        True
    """
    if config.resume:
        run_dir = Path(config.resume).expanduser()
        stored = resume_config(run_dir)
        paths = RunPaths(run_dir)
        state = read_resume_state(run_dir)
        if state is None or not paths.last.is_file():
            raise UsageError(
                f"resume folder {run_dir} has no completed epoch to resume from "
                "(no resume.json / weights/last.keras)"
            )
        resolved = stored.replace(
            epochs=config.epochs or stored.epochs,
            resume=None,
            project=str(run_dir.parent),
            name=run_dir.name,
        )
        if state["epoch"] >= resolved.epochs and state.get("status") != "running":
            raise UsageError(
                f"run {run_dir} already completed {state['epoch']} epochs; pass --epochs N "
                f"with N > {state['epoch']} to train further"
            )
        return resolved, run_dir, state
    if config.name is None:
        return config, None, None
    run_dir = Path(config.project) / config.name
    state = read_resume_state(run_dir) if run_dir.is_dir() else None
    if state is None or not RunPaths(run_dir).last.is_file():
        return config, None, None
    try:
        stored = stored_config(run_dir)
    except UsageError:
        return config, None, None
    wanted = config.with_absolute_paths()
    same = all(
        getattr(stored, f) == getattr(wanted, f)
        for f in TrainConfig.field_names()
        if f not in RESUMABLE_CHANGES
    )
    unfinished = state.get("status") == "running" or state["epoch"] < config.epochs
    if same and unfinished and state["epoch"] < config.epochs:
        return config, run_dir, state
    return config, None, None


def why_not_continued(config: TrainConfig, run_dir) -> str:
    """Why a run of ``config`` cannot continue the existing ``run_dir`` of the same name, in
    words that finish "runs/NAME ..." (the message for a run that goes to ``NAME2``).

    Example:
        >>> why_not_continued(TrainConfig(name="exp"), "/nowhere/exp")
        'is not a kerascnn training run'
    """
    run_dir = Path(run_dir)
    paths = RunPaths(run_dir)
    if holds_no_epoch(run_dir):
        return "is in use by a run that has not completed its first epoch"
    try:
        state = read_resume_state(run_dir)
        stored = stored_config(run_dir) if paths.config.is_file() else None
    except (UsageError, KerasCNNError):
        return "holds a run whose config.yaml or resume.json cannot be read"
    if state is None or stored is None:
        return "is not a kerascnn training run"
    if state.get("status") == "finished":
        return "holds a finished run"
    wanted = config.with_absolute_paths()
    changed = [
        f"{name} {getattr(wanted, name)!r}, not {getattr(stored, name)!r}"
        for name in TrainConfig.field_names()
        if name not in RESUMABLE_CHANGES and getattr(stored, name) != getattr(wanted, name)
    ]
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"holds a run with other settings ({'; '.join(changed[:3])}{more})"
    return (
        f"already completed {state.get('epoch')} epochs; pass --epochs N with N > "
        f"{state.get('epoch')} to continue it"
    )


def parse_tfds_split(text: str | None):
    """A TFDS split option as ``load_data(split=...)`` takes it.

    Example:
        >>> parse_tfds_split("train[:90%]")
        'train[:90%]'
        >>> parse_tfds_split("train=train[:80%],val=train[80%:],test=test")
        {'train': 'train[:80%]', 'val': 'train[80%:]', 'test': 'test'}
    """
    if not text or "=" not in text:
        return text or None
    plan = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in ("train", "val", "test") or not value:
            raise UsageError(
                f"tfds_split {text!r}: expected 'SPLIT' or 'train=SPLIT,val=SPLIT,test=SPLIT'"
            )
        plan[key] = value
    return plan
