"""Training: one :class:`TrainConfig` in, a run folder and a :class:`RunResult` out.

``TrainConfig`` is the single source of truth: the CLI builds it from flags and/or a YAML
file, and the run folder stores it resolved (with library versions and the git commit).
Training resumes from the last completed epoch after a crash (``resume=RUN_DIR``, or the same
config with the same explicit ``name``), and may then train for more epochs.

:func:`train` drives one :class:`Run` through its steps: prepare (data, model, optimizer; all
that can fail on bad input, before any folder exists), claim the run folder, fit, finish.
Its neighbours hold the rest: :mod:`kerascnn.train_config` (settings, resume discovery, the
``QUICKSTART`` recipe), :mod:`kerascnn.factories` (model, optimizer and data from a config),
:mod:`kerascnn.callbacks`, :mod:`kerascnn.plots`, :mod:`kerascnn.provenance` and
:mod:`kerascnn.lr_find`. The names tests and the README import from here are re-exported.
The module is long because a run is one story told in order (a pretrained run's two phases,
resume, Ctrl-C and the closing evaluation are steps of the same :class:`Run`); what a step
builds lives in those neighbours.

Example:
    >>> from kerascnn.train import TrainConfig, train
    >>> result = train(TrainConfig(model="lenet5", data="digits", epochs=5))  # doctest: +SKIP
    >>> result.run_dir, round(result.metrics["test_accuracy"], 3)  # doctest: +SKIP
    (PosixPath('runs/exp'), 0.983)
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml

from kerascnn import console
from kerascnn.callbacks import (
    EpochLine,
    NaNGuard,
    ResumableEarlyStopping,
    RunRecorder,
    improved,
    monitor_mode,
    read_history,
    tensorboard,
)
from kerascnn.console import summary_text
from kerascnn.distribute import is_chief, make_strategy, resolve_precision, strategy_name
from kerascnn.errors import KerasCNNError, TrainingInterrupted, UsageError
from kerascnn.evaluate import compute_metrics, evaluate, format_report
from kerascnn.factories import (
    build_model,
    check_model_matches,
    default_input_shape,
    input_spec_for,
    load_training_data,
    make_training_optimizer,
    rate_factor_of_path,
    set_trainable,
    stage_rates,
    steps_per_epoch,
)
from kerascnn.loading import load_keras_file, load_model, read_pretrained_record
from kerascnn.lr_find import LRFindResult, lr_find, suggest_learning_rate
from kerascnn.optim import SparseCrossentropy, scale_rates
from kerascnn.plots import plot_history
from kerascnn.provenance import run_metadata
from kerascnn.runs import (
    RunPaths,
    atomic_write_text,
    claim_run_dir,
    hold_run_lock,
    release_run_lock,
    reuse_unstarted_run_dir,
    write_json,
    write_labels,
)
from kerascnn.train_config import (
    DEFAULT_RUN_NAME,
    QUICKSTART,
    TrainConfig,
    absolute_data_spec,
    find_resume,
    resume_config,
    why_not_continued,
)


@dataclass
class RunResult:
    """What :func:`train` returns.

    Attributes: ``run_dir`` (None on non-chief workers), ``config`` (resolved), ``model``
    (best weights), ``class_names``, ``history`` (one dict per epoch), ``best`` (the best
    epoch's row), ``metrics`` (final: best-epoch val and held-out test figures),
    ``epochs_completed``, ``resumed_from`` (epoch count found on resume, else 0),
    ``epoch_seconds`` (this process' epochs), ``seconds`` (wall time), ``strategy``,
    ``precision``.
    """

    run_dir: Path | None
    config: TrainConfig
    model: object
    class_names: list[str]
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    epochs_completed: int = 0
    resumed_from: int = 0
    epoch_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    strategy: str = "default"
    replicas: int = 1
    precision: str = "float32"


def write_config(path, config: TrainConfig, **meta) -> None:
    """Save the resolved config and run metadata as YAML (readable by ``from_yaml``).

    Example:
        >>> write_config("runs/exp/config.yaml", TrainConfig(), precision="float32")  # doctest: +SKIP
        >>> TrainConfig.from_yaml("runs/exp/config.yaml") == TrainConfig()  # doctest: +SKIP
        True
    """
    document = config.to_dict()
    document["meta"] = run_metadata(**meta)
    atomic_write_text(path, yaml.safe_dump(document, sort_keys=False))


# ---------------------------------------------------------------------------- train


def train(
    config: TrainConfig | None = None,
    *,
    model=None,
    data=None,
    callbacks=None,
    verbose="auto",
    **overrides,
) -> RunResult:
    """Train ``config.model`` on ``config.data`` and write the run folder.

    Args:
        config: the run's settings (defaults: LeNet-5 on digits). Keyword ``overrides``
            replace fields (``train(epochs=3)``).
        model: a Keras model to train instead of ``config.model``, or a function returning
            one (called under the distribution strategy's scope; pass that for strategies).
        data: an already loaded :class:`kerascnn.data.DataBundle` instead of ``config.data``.
        callbacks: more Keras callbacks (MLflow, Weights & Biases, your own), run after
            kerascnn's own in every epoch, on every worker.
        verbose: ``"auto"`` (progress bar on a terminal, one line per epoch otherwise),
            ``"bar"``, ``"line"`` or ``"quiet"``.

    Returns:
        a :class:`RunResult`; the run folder holds config.yaml, labels.txt, history.csv,
        results.png, weights/best.keras, weights/last.keras, resume.json, logs/, metrics.json.

    Raises:
        UsageError: bad settings or data (nothing is written then).
        KerasCNNError: training diverged (NaN loss) or a checkpoint cannot be read.

    Example:
        >>> result = train(TrainConfig(epochs=20, augment="digits"))  # doctest: +SKIP
        >>> result.metrics["test_accuracy"] > 0.98  # doctest: +SKIP
        True
    """
    started = time.perf_counter()
    config = (
        (config or TrainConfig()).replace(**overrides) if overrides else (config or TrainConfig())
    )
    config.validate()
    # The run folder stores the data folder absolute, so it works from any directory.
    data_as_given = config.data
    config = config.with_absolute_paths()
    config, resume_dir, state = find_resume(config)
    config.validate()
    with _op_determinism(config.deterministic):
        run = Run(
            config,
            verbosity=console.verbosity(verbose),
            started=started,
            resume_dir=resume_dir,
            state=state,
            data_as_given=data_as_given if data_as_given != config.data else None,
            user_callbacks=list(callbacks or []),
        )
        run.prepare(model, data)
        try:
            run.claim_folder()
            run.fit()
            return run.finish()
        except KeyboardInterrupt as interrupt:
            if isinstance(interrupt, TrainingInterrupted):
                raise
            raise run.interrupted() from interrupt
        finally:
            run.release_folder()


@contextlib.contextmanager
def _op_determinism(enabled: bool):
    """Enable TensorFlow op determinism for one run, then put the process back as it was
    (it is process-wide: left on, it would change every later TensorFlow call)."""
    from tensorflow.python.framework import config as tf_framework_config

    was_enabled = tf_framework_config.is_op_determinism_enabled()
    if enabled and not was_enabled:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not was_enabled:
            tf_framework_config.disable_op_determinism()


# Up to this many classes, the end of training prints the per-class table (files hold the rest).
PRINTED_CLASSES = 20


@dataclass
class Run:
    """One training run while it happens: what its steps share, so none takes a dozen arguments.

    :func:`train` calls, in order, :meth:`prepare` (seed, strategy, precision, data, compiled
    model; restores the optimizer state on resume), :meth:`claim_folder` (the chief's run
    folder), :meth:`fit` (writes config.yaml and labels.txt, trains, removes a fresh folder
    that completed no epoch) and :meth:`finish` (best weights, metrics.json, results.png, the
    :class:`RunResult`). ``config`` is updated as the run learns what it really trains (the
    model's name, the data spec, the folder).

    Example:
        >>> run = Run(TrainConfig(epochs=2), verbosity="line", started=time.perf_counter())  # doctest: +SKIP
        >>> run.prepare(); run.claim_folder(); run.fit()  # doctest: +SKIP
        >>> run.finish().epochs_completed  # doctest: +SKIP
        2
    """

    config: TrainConfig
    verbosity: str = "line"  # console.verbosity(): bar, line or quiet
    started: float = 0.0  # time.perf_counter() when train() was called
    resume_dir: Path | None = None  # the run folder being continued
    state: dict | None = None  # its resume.json
    data_as_given: str | None = None  # config.data as typed, when it was made absolute
    chief: bool = True  # this process writes the run folder
    strategy: object = None
    precision: str = "float32"
    bundle: object = None  # the DataBundle
    net: object = None  # the compiled Keras model
    paths: RunPaths | None = None  # None on non-chief workers
    created: bool = False  # this run made its folder, so may remove it when it fails early
    lock: object = None  # the held run_dir/.lock: a live run's folder is never taken over
    guard: NaNGuard | None = None
    recorder: RunRecorder | None = None
    stopper: ResumableEarlyStopping | None = None
    user_callbacks: list = field(default_factory=list)  # train(callbacks=...), run after ours
    pretrained: dict | None = None  # the record of the weights a pretrained run started from
    input_spec: object = None  # the InputSpec its data is prepared with (UNIT from scratch)
    phase: str = "head"  # a pretrained run's phase: "head", then "fine_tune"
    fine_tune_started: int | None = None  # the epoch count where this process began fine-tuning

    @property
    def monitor(self) -> str:
        """``config.monitor``, without its ``val_`` prefix when the data has no val split."""
        monitor = self.config.monitor
        if self.bundle.val is None and monitor.startswith("val_"):
            monitor = monitor.removeprefix("val_")
        return monitor

    @property
    def initial_epoch(self) -> int:
        """Epochs already completed by the run being resumed (0 for a fresh run)."""
        return int(self.state["epoch"]) if self.state else 0

    @property
    def run_dir(self) -> Path | None:
        """The run folder (None on non-chief workers, which write nothing)."""
        return self.paths.root if self.paths is not None else None

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def say(self, text: str) -> None:
        console.say(self.verbosity, text)

    # ------------------------------------------------------------------ prepare

    def prepare(self, model=None, data=None) -> None:
        """Seed, pick the strategy and precision, load the data and compile the model.

        ``model`` and ``data`` are :func:`train`'s arguments. Everything that can fail on bad
        input happens here, before the run folder exists.
        """
        self.chief = is_chief()
        keras.utils.set_random_seed(self.config.seed)
        self.strategy = make_strategy(self.config.strategy)
        self.precision = resolve_precision(self.config.precision)
        if self.resume_dir is not None:
            self.pretrained = read_pretrained_record(self.resume_dir)
        config = self.config
        if self.resume_dir is None and config.weights is not None:
            if config.fine_tune_epochs > config.epochs:
                raise UsageError(
                    f"--fine-tune-epochs {config.fine_tune_epochs} counts the last of the "
                    f"{config.epochs} --epochs: it cannot be larger"
                )
        self.input_spec = input_spec_for(config, self.pretrained)
        start = self.fine_tune_from
        self.phase = "fine_tune" if start is not None and self.initial_epoch >= start else "head"
        factory = model if (model is not None and not isinstance(model, keras.Model)) else None
        self._load_data(model, factory, data)
        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.precision)
        try:
            self._compile_model(model, factory)
        finally:
            keras.config.set_dtype_policy(previous_policy)

    def _load_data(self, model, factory, data) -> None:
        if data is not None:
            self.bundle = data
            self.config = self.config.replace(data=absolute_data_spec(str(data.spec)))
            return
        input_shape = (
            tuple(int(d) for d in model.inputs[0].shape[1:])
            if model is not None and factory is None
            else default_input_shape(self.config)
        )
        self.bundle = load_training_data(self.config, input_shape, input_spec=self.input_spec)
        self._warn_if_batch_exceeds_split()

    def _warn_if_batch_exceeds_split(self) -> None:
        """A batch larger than the training split makes every epoch one short step: almost
        always a typo or a too-small folder, so say so (to stderr) and carry on."""
        train_size = self.bundle.sizes.get("train", 0)
        if 0 < train_size < self.config.batch_size:
            suggestion = 1 << max(0, (train_size // 4).bit_length() - 1)
            print(
                f"Warning: batch size {self.config.batch_size} is larger than the training "
                f"split ({train_size} images), so each epoch is a single step; try "
                f"--batch-size {suggestion}",
                file=sys.stderr,
                flush=True,
            )

    def _compile_model(self, model, factory) -> None:
        config, bundle = self.config, self.bundle
        steps = steps_per_epoch(bundle.train, bundle.sizes.get("train", 0), config.batch_size)
        with self.strategy.scope():
            if factory is not None:  # built here, under the strategy's scope
                net = factory()
            elif model is not None:
                net = model
            elif self.resume_dir is not None and self.pretrained is not None:
                # The architecture as the run saved it: no weights download to resume.
                net = load_keras_file(RunPaths(self.resume_dir).last)
            else:
                net = build_model(
                    config, input_shape=bundle.input_shape, num_classes=bundle.num_classes
                )
                if config.weights is not None:
                    self.pretrained = net.pretrained.record()
            check_model_matches(net, bundle)
            if model is not None:  # record what was really trained
                config = self.config = config.replace(model=net.name)
            self._compile(net, steps)
            if self.resume_dir is not None:
                # A fine-tune phase starts with a fresh optimizer: at its first epoch there is
                # no state of it to restore yet.
                fresh_phase = self.phase == "fine_tune" and self.initial_epoch == self.fine_tune_from
                _restore_training_state(
                    net, RunPaths(self.resume_dir).last, optimizer_state=not fresh_phase
                )
        self.net = net

    @property
    def fine_tune_from(self) -> int | None:
        """The epoch count after which a pretrained run unfreezes (None: no fine-tune phase)."""
        config = self.config
        if config.weights is None or not config.fine_tune_epochs:
            return None
        if self.fine_tune_started is not None:
            return self.fine_tune_started
        if self.state and self.state.get("fine_tune_from") is not None:
            return int(self.state["fine_tune_from"])  # where it really began (early stopping)
        return config.head_epochs

    @property
    def fine_tune_lr(self) -> float:
        return self.config.fine_tune_lr or self.config.learning_rate / 10

    def _compile(self, net, steps: int) -> None:
        """Compile for the current phase: a pretrained run's frozen layers, and its rate and
        schedule over the phase's epochs (fine-tuning at ``fine_tune_lr``)."""
        config = self.config
        start = self.fine_tune_from
        if config.weights is not None:
            set_trainable(net, freeze=config.freeze, phase=self.phase)
        if self.phase == "fine_tune":
            optimizer = make_training_optimizer(
                config.replace(learning_rate=self.fine_tune_lr, warmup_epochs=0.0),
                steps,
                total_epochs=max(1, config.epochs - start),
            )
        else:
            optimizer = make_training_optimizer(config, steps, total_epochs=start or config.epochs)
        if config.weights is not None and config.stage_lr_decay:
            scale_rates(optimizer, rate_factor_of_path(stage_rates(net, config.stage_lr_decay)))
        net.compile(
            optimizer=optimizer,
            loss=SparseCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
            jit_compile=bool(config.jit_compile),
        )

    # ------------------------------------------------------------------ run folder

    def claim_folder(self) -> None:
        """The chief continues the resumed folder or claims a new one (exp, exp2, ...)."""
        if not self.chief:
            return
        config = self.config
        named = Path(config.project) / config.name if config.name else None
        if self.resume_dir is not None:
            run_dir = self.resume_dir
        elif named is not None and (reused := reuse_unstarted_run_dir(named)) is not None:
            # A run of this name died before its first epoch ended: nothing there to keep.
            run_dir, self.lock, self.created = named, reused, True
            self.say(
                f"{named} holds no completed epoch (an earlier run stopped before its first "
                "epoch ended); starting it afresh there"
            )
        else:
            run_dir = claim_run_dir(config.project, config.name or DEFAULT_RUN_NAME)
            self.lock, self.created = hold_run_lock(run_dir), True
            if named is not None and run_dir != named:
                self.say(f"{named} {why_not_continued(config, named)}; this run goes to {run_dir}")
        self.config = config.replace(project=str(run_dir.parent), name=run_dir.name, resume=None)
        self.paths = RunPaths(run_dir)

    def release_folder(self) -> None:
        """Let go of the run folder's ``.lock`` (held from :meth:`claim_folder` to the end)."""
        if self.lock is not None and self.paths is not None:
            release_run_lock(self.run_dir, self.lock)
        elif self.lock is not None:
            self.lock.close()
        self.lock = None

    def _discard_folder_if_empty(self) -> bool:
        """Remove a folder this run created when no epoch completed (nothing to keep or resume)."""
        if self.created and (self.recorder is None or self.recorder.completed == 0):
            shutil.rmtree(self.run_dir, ignore_errors=True)
            return True
        return False

    # ------------------------------------------------------------------ fit

    def fit(self) -> None:
        """Write config.yaml and labels.txt, then train from :attr:`initial_epoch`.

        Raises:
            KerasCNNError: the loss became NaN or infinite.
        """
        config, paths = self.config, self.paths
        try:
            if paths is not None:
                paths.weights.mkdir(parents=True, exist_ok=True)
                write_config(
                    paths.config,
                    config,
                    precision=self.precision,
                    strategy=strategy_name(self.strategy),
                    replicas=self.replicas,
                    **self._data_as_given_meta(),
                )
                write_labels(paths.labels, self.bundle.class_names)
                if self.pretrained is not None:
                    write_json(paths.pretrained, self.pretrained)
                if getattr(self.bundle, "skipped", None):  # --skip-bad left files out
                    atomic_write_text(paths.skipped_files, self.bundle.skipped_report())
                    self.say(self.bundle.skipped_summary(paths.skipped_files))
            callbacks = self._make_callbacks()
            if self.resume_dir is not None:
                self.say(f"Resuming {self.run_dir} from epoch {self.initial_epoch}/{config.epochs}")
            elif self.chief and self.verbosity != "quiet":
                self.say(self._start_banner())
            start = self.fine_tune_from
            head_end = start if self.phase == "head" and start is not None else config.epochs
            self._fit(self.initial_epoch, head_end, callbacks)
            if head_end < config.epochs and not self.guard.tripped:
                self._fine_tune(callbacks)
        except BaseException:
            self._discard_folder_if_empty()
            raise
        self._raise_if_diverged()

    def _fit(self, first: int, last: int, callbacks) -> None:
        self.net.fit(
            self.bundle.train,
            validation_data=self.bundle.val,
            epochs=last,
            initial_epoch=first,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles
            verbose=1 if self.verbosity == "bar" else 0,
        )

    def _fine_tune(self, callbacks) -> None:
        """Unfreeze (batch norm stays frozen), recompile at ``fine_tune_lr`` and train the
        remaining epochs; resume.json records where this phase began."""
        start = self.recorder.completed if self.recorder is not None else self.fine_tune_from
        self.phase = "fine_tune"
        if self.recorder is not None:
            self.recorder.initial_epoch = start
            self.recorder.extra_state["fine_tune_from"] = start
        self.fine_tune_started = start
        bundle = self.bundle
        steps = steps_per_epoch(bundle.train, bundle.sizes.get("train", 0), self.config.batch_size)
        with self.strategy.scope():
            self._compile(self.net, steps)
        rates = ""
        if self.config.stage_lr_decay:
            factors = stage_rates(self.net, self.config.stage_lr_decay)
            rates = " for the head; " + ", ".join(
                f"{stage} {self.fine_tune_lr * factor:.3g}" for stage, factor in factors.items()
            )
        self.say(
            f"Fine-tuning every layer (batch norm frozen) from epoch {start} at lr "
            f"{self.fine_tune_lr:g}{rates}"
        )
        self._fit(start, self.config.epochs, callbacks)

    def _data_as_given_meta(self) -> dict:
        """``{"data_as_given": ...}`` for config.yaml's meta: the data spec as the user typed
        it, from this command or, on resume, from the run's existing config.yaml."""
        given = self.data_as_given
        if given is None and self.resume_dir is not None and self.paths.config.is_file():
            try:
                document = yaml.safe_load(self.paths.config.read_text(encoding="utf-8"))
                given = (document.get("meta") or {}).get("data_as_given")
            except (OSError, yaml.YAMLError, AttributeError):
                given = None
        return {"data_as_given": given} if given is not None else {}

    def _make_callbacks(self) -> list:
        config, paths, state = self.config, self.paths, self.state
        self.guard = NaNGuard()
        callbacks = [self.guard]
        if config.patience:
            best_weights = None
            es_best = state.get("early_stopping_best") if state else None
            if es_best is not None and paths is not None and paths.best.is_file():
                best_weights = load_keras_file(paths.best).get_weights()
            self.stopper = ResumableEarlyStopping(
                monitor=self.monitor,
                mode=monitor_mode(self.monitor),
                patience=config.patience,
                restore_best_weights=True,
                initial_wait=state.get("early_stopping_wait", 0) if state else 0,
                initial_best=es_best,
                initial_best_epoch=state.get("early_stopping_best_epoch", 0) if state else 0,
                initial_best_weights=best_weights,
            )
            callbacks.append(self.stopper)
        if paths is not None:
            self.recorder = RunRecorder(
                paths,
                monitor=self.monitor,
                initial_epoch=self.initial_epoch,
                best=state.get("best") if state else None,
                best_epoch=state.get("best_epoch", 0) if state else 0,
                early_stopping=self.stopper,
                nan_guard=self.guard,
                extra_state={"epochs": config.epochs},
            )
            callbacks.append(self.recorder)
            if config.tensorboard:
                callbacks.append(
                    tensorboard(
                        paths.logs,
                        histogram_freq=config.histogram_freq,
                        profile_batch=config.profile_batch,
                    )
                )
        if self.verbosity == "line":
            callbacks.append(EpochLine())
        return callbacks + self.user_callbacks

    def _start_banner(self) -> str:
        config, bundle, sizes = self.config, self.bundle, self.bundle.sizes
        return (
            f"Training {config.model} on {bundle.spec} "
            f"({sizes.get('train', 0)} train / {sizes.get('val', 0)} val / "
            f"{sizes.get('test', 0)} test images, {bundle.num_classes} classes, input "
            f"{tuple(bundle.input_shape)}) for {config.epochs} epochs; {config.optimizer} lr "
            f"{config.learning_rate:g} {config.schedule}; {self.precision}; "
            f"{self.replicas} replica(s) -> {self.run_dir}"
        )

    def interrupted(self) -> TrainingInterrupted:
        """The error for Ctrl-C: how far the run got and the command that resumes it."""
        completed = self.recorder.completed if self.recorder is not None else 0
        run_dir = self.run_dir
        if run_dir is None or not run_dir.is_dir() or completed == 0:
            return TrainingInterrupted(
                "Interrupted before the first epoch finished; nothing was kept.",
                epochs_completed=completed,
            )
        return TrainingInterrupted(
            f"Interrupted after epoch {completed}/{self.config.epochs}; resume with: "
            f"kerascnn train --resume {run_dir}",
            run_dir=run_dir,
            epochs_completed=completed,
        )

    def _raise_if_diverged(self) -> None:
        if not self.guard.tripped:
            return
        epoch, batch, loss = self.guard.tripped
        where = f"epoch {epoch}" + (f", batch {batch}" if batch else "")
        if self.recorder is not None and not self._discard_folder_if_empty():
            self.recorder.write_state("diverged")
        raise KerasCNNError(
            f"training diverged: the loss became {loss} at {where}; lower --learning-rate "
            f"(now {self.config.learning_rate:g}), add --clipnorm 1.0, or use --precision float32"
        )

    # ------------------------------------------------------------------ finish

    def finish(self) -> RunResult:
        """Load the best epoch's weights, measure val and test, write metrics.json and
        results.png, mark the run finished and print the summary."""
        config, paths, recorder = self.config, self.paths, self.recorder
        history = recorder.rows if recorder is not None else []
        best_row = self._best_row(history)
        # Final model = the best epoch's weights (what best.keras holds).
        if paths is not None and paths.best.is_file() and best_row:
            self.net.set_weights(load_keras_file(paths.best).get_weights())
        completed = recorder.completed if recorder is not None else len(history) or config.epochs
        epoch_seconds = list(recorder.epoch_seconds) if recorder is not None else []
        metrics = self._final_metrics(best_row, completed, epoch_seconds)
        if paths is not None:
            write_json(paths.metrics, metrics)
            metrics = self._evaluate_test_split(metrics)
            plot_history(read_history(paths.history), paths.results_png, title=config.model)
            recorder.write_state("finished")
            if self.verbosity != "quiet":
                self.say(console.summary_text(metrics, paths.root))
        return RunResult(
            run_dir=self.run_dir,
            config=config,
            model=self.net,
            class_names=list(self.bundle.class_names),
            history=history,
            best=best_row,
            metrics=metrics,
            epochs_completed=completed,
            resumed_from=self.initial_epoch,
            epoch_seconds=epoch_seconds,
            seconds=time.perf_counter() - self.started,
            strategy=strategy_name(self.strategy),
            replicas=self.replicas,
            precision=self.precision,
        )

    def _evaluate_test_split(self, metrics: dict) -> dict:
        """The held-out evaluation ultralytics users expect after the last epoch: confusion
        matrix, per-class report and top losses in the run folder, ``metrics["evaluation"]``.
        The per-class table is printed for up to :data:`PRINTED_CLASSES` classes."""
        if self.bundle.test is None:
            return metrics
        result = evaluate(
            self.paths.root, data=self.bundle, split="test", model=self.net, verbose="quiet"
        )
        if self.verbosity != "quiet" and len(result.class_names) <= PRINTED_CLASSES:
            self.say(format_report(result.per_class, result.accuracy).removesuffix("\n"))
        # evaluate() added its figures to metrics.json; the result carries the same.
        return json.loads(self.paths.metrics.read_text(encoding="utf-8"))

    def _best_row(self, history: list[dict]) -> dict:
        """The history row with the best monitored value (the first one on ties)."""
        best_row, best_value = {}, None
        mode = monitor_mode(self.monitor)
        for row in history:
            if improved(row.get(self.monitor), best_value, mode):
                best_value, best_row = row.get(self.monitor), row
        return best_row

    def _final_metrics(self, best_row: dict, completed: int, epoch_seconds: list) -> dict:
        metrics = {"best_epoch": best_row.get("epoch"), "monitor": self.monitor}
        for key, value in best_row.items():
            if key not in ("epoch", "seconds"):
                metrics[f"best_{key}"] = value
        for split in ("val", "test"):
            dataset = getattr(self.bundle, split)
            if dataset is not None:
                figures = compute_metrics(self.net, dataset)
                metrics[f"{split}_accuracy"] = figures["accuracy"]
                metrics[f"{split}_loss"] = figures["loss"]
        metrics.update(
            {
                "epochs_completed": completed,
                "stopped_early": bool(self.stopper is not None and self.stopper.stopped_epoch > 0),
                "mean_epoch_seconds": (float(np.mean(epoch_seconds)) if epoch_seconds else None),
                "train_seconds": time.perf_counter() - self.started,
                "precision": self.precision,
                "replicas": self.replicas,
            }
        )
        return metrics


def _restore_training_state(model, last_path: Path, *, optimizer_state: bool = True) -> None:
    """Copy weights and optimizer state (step count, moments) from ``last.keras``.

    The optimizer is rebuilt from the config first, so a resume with more epochs gets a
    schedule stretched over the new total while keeping its step count. ``optimizer_state``
    False copies the weights alone (a phase that begins with a fresh optimizer).
    """
    saved = load_keras_file(last_path, compile=optimizer_state, action="resume from")
    model.set_weights(saved.get_weights())
    if not optimizer_state:
        return
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    saved_vars = list(saved.optimizer.variables) if saved.optimizer is not None else []
    new_vars = list(optimizer.variables)
    if len(saved_vars) != len(new_vars) or any(
        tuple(a.shape) != tuple(b.shape) for a, b in zip(saved_vars, new_vars)
    ):
        raise KerasCNNError(
            f"optimizer state in {last_path} does not match the {type(optimizer).__name__} "
            "optimizer of this config"
        )
    for target, value in zip(new_vars, saved_vars):
        target.assign(keras.ops.convert_to_numpy(value))


__all__ = [
    "QUICKSTART",
    "LRFindResult",
    "Run",
    "RunResult",
    "TrainConfig",
    "build_model",
    "load_model",
    "lr_find",
    "make_training_optimizer",
    "resume_config",
    "suggest_learning_rate",
    "summary_text",
    "train",
    "write_config",
]
