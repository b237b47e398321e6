"""The training configuration: one dataclass, the single source of truth for a run.

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
from dataclasses import dataclass, field
from pathlib import Path

from kerascnn.errors import UsageError, unknown_name
from kerascnn.runs import RunPaths, check_run_name

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("constant", "step", "cosine", "one-cycle")
STRATEGIES = ("auto", "none", "mirrored", "multiworker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

DEFAULT_RUN_NAME = "exp"


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

        Example:
            >>> TrainConfig.from_dict({"learning-rate": 0.1}).learning_rate
            0.1
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
            clean[name] = value
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

    def validate(self) -> None:
        """Check names and ranges before anything is built or written.

        Example:
            >>> TrainConfig(optimizer="adamm").validate()
            Traceback (most recent call last):
            kerascnn.errors.UsageError: unknown optimizer 'adamm' (did you mean 'adam'?)
        """
        if self.optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise unknown_name("schedule", self.schedule, SCHEDULES)
        if self.strategy not in STRATEGIES:
            raise unknown_name("strategy", self.strategy, STRATEGIES)
        if self.precision not in PRECISIONS:
            raise unknown_name("precision", self.precision, PRECISIONS)
        _positive_int("epochs", self.epochs)
        parse_tfds_split(self.tfds_split)
        _positive_int("batch_size", self.batch_size)
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
            _positive_int("patience", self.patience)
        if self.name is not None:
            check_run_name(self.name)
        if self.input_shape is not None:
            _shape(self.input_shape)
        if not isinstance(self.model_options, dict):
            raise UsageError(f"model_options must be a mapping, not {self.model_options!r}")


def _positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{name} must be a positive integer, not {value!r}")


def _shape(value) -> tuple[int, int, int]:
    if isinstance(value, str):
        value = value.replace("x", ",").split(",")
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise UsageError(f"input_shape {value!r} is not height,width,channels") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise UsageError(f"input_shape {value!r} is not height,width,channels")
    return shape


# Fields that may differ between a run and the command that resumes it.
_RESUMABLE_CHANGES = {"epochs", "resume", "name", "project"}


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
    stored = TrainConfig.from_yaml(paths.config)
    return stored.replace(resume=str(run_dir), epochs=epochs or stored.epochs)


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
