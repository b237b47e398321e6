"""Training callbacks: one log line per epoch, NaN guard, run-folder recorder, TensorBoard.

The :class:`RunRecorder` owns everything a run persists per epoch, in a crash-safe order:
the ``history.csv`` row, ``best.keras`` when the monitored metric improved, ``last.keras``
(with optimizer state), and last the atomically replaced ``resume.json`` that makes the
epoch count as done. A process killed anywhere in between resumes from the previous state,
and the history rows past it are dropped on resume, so rows are never duplicated.

Example:
    >>> recorder = RunRecorder(RunPaths(Path("runs/exp")), monitor="val_accuracy")  # doctest: +SKIP
    >>> model.fit(data, callbacks=[recorder])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np

from kerascnn.runs import RunPaths, atomic_save_model, atomic_write_text, write_json


def monitor_mode(monitor: str) -> str:
    """``min`` for losses and errors, ``max`` for everything else.

    Example:
        >>> monitor_mode("val_loss"), monitor_mode("val_accuracy")
        ('min', 'max')
    """
    return "min" if ("loss" in monitor or "error" in monitor) else "max"


def improved(value, best, mode: str) -> bool:
    """Whether ``value`` beats ``best`` (None = nothing yet) under ``mode``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best if mode == "min" else value > best


def current_learning_rate(model) -> float | None:
    """The optimizer's learning rate at its current step."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # pragma: no cover - exotic optimizer wrappers
        return None


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4):
            return f"{value:.2e}"
        return f"{value:.4f}"
    return str(value)


class EpochLine(keras.callbacks.Callback):
    """Prints one line per epoch (for logs and pipes, where Keras' bar writes ``\\r`` noise).

    Example:
        >>> model.fit(data, epochs=3, verbose=0, callbacks=[EpochLine()])  # doctest: +SKIP
        Epoch 1/3 - 0.9s - loss 0.6931 - accuracy 0.5000 - val_loss ... - lr 1.00e-03
    """

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self._start = 0.0
        self._epochs = 0

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs", 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        stream = self.stream or sys.stdout
        logs = dict(logs or {})
        parts = [f"Epoch {epoch + 1}/{self._epochs}", f"{time.perf_counter() - self._start:.1f}s"]
        parts += [
            f"{key} {_fmt(float(value))}" for key, value in logs.items() if key != "learning_rate"
        ]
        rate = logs.get("learning_rate", current_learning_rate(self.model))
        if rate is not None:
            parts.append(f"lr {float(rate):.2e}")
        print(" - ".join(parts), file=stream, flush=True)


class NaNGuard(keras.callbacks.Callback):
    """Stops training on a NaN or infinite loss and remembers where it happened.

    ``train`` turns a tripped guard into one clear error instead of Keras' terse message.

    Example:
        >>> guard = NaNGuard(); model.fit(data, callbacks=[guard])  # doctest: +SKIP
        >>> guard.tripped  # doctest: +SKIP
        (2, 17, nan)
    """

    def __init__(self):
        super().__init__()
        self.tripped = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.tripped:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            self.tripped = (self._epoch + 1, batch + 1, loss)
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not self.tripped and not math.isfinite(float(loss)):
            self.tripped = (epoch + 1, None, float(loss))
            self.model.stop_training = True


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' early stopping (best-weights restore) that can carry its state across a resume.

    Example:
        >>> ResumableEarlyStopping(monitor="val_loss", patience=5, initial_wait=2)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        initial_wait=0,
        initial_best=None,
        initial_best_epoch=0,
        initial_best_weights=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._initial = (initial_wait, initial_best, initial_best_epoch, initial_best_weights)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        wait, best, best_epoch, best_weights = self._initial
        if best is not None:
            self.wait, self.best, self.best_epoch = int(wait), float(best), int(best_epoch)
            self.best_weights = best_weights


def tensorboard(log_dir, *, histogram_freq: int = 0, profile_batch: int = 0):
    """Keras' own TensorBoard callback, set up the way a run folder keeps it.

    Scalars (losses, metrics, the learning rate) per epoch under ``log_dir/train`` and
    ``log_dir/validation``, weight histograms every ``histogram_freq`` epochs and a profiler
    trace of batch ``profile_batch`` when asked; view with ``tensorboard --logdir log_dir``.
    Keras' callback rather than our own writer, so its options (and the profiler) work as the
    Keras documentation describes them.

    Example:
        >>> model.fit(data, callbacks=[tensorboard("runs/exp/logs", histogram_freq=1)])  # doctest: +SKIP
    """
    return keras.callbacks.TensorBoard(
        log_dir=str(log_dir),
        histogram_freq=histogram_freq,
        profile_batch=profile_batch,
        write_graph=False,  # the graph of a functional model is in its summary; keep logs small
    )


def read_history(path) -> list[dict]:
    """Rows of a ``history.csv`` as dicts of floats (``epoch`` as int, 1-based).

    Example:
        >>> read_history("runs/exp/history.csv")[0]["epoch"]  # doctest: +SKIP
        1
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            parsed = {}
            for key, value in row.items():
                if key is None or value in (None, ""):
                    continue
                try:
                    parsed[key] = int(value) if key == "epoch" else float(value)
                except ValueError:
                    continue
            if "epoch" in parsed:
                rows.append(parsed)
    return rows


def _write_history(path, rows: list[dict]) -> None:
    keys = ["epoch"]
    for row in rows:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(float(v)) if k != "epoch" else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


class RunRecorder(keras.callbacks.Callback):
    """Persists each completed epoch to the run folder (history, best/last, resume state).

    Args:
        paths: the run folder.
        monitor: metric deciding ``best.keras`` (``val_accuracy`` ...).
        initial_epoch: epochs already done (a resume); later history rows are dropped.
        best, best_epoch: the best value so far when resuming.
        early_stopping: the early-stopping callback whose state goes into the resume file.
        nan_guard: a :class:`NaNGuard`; a diverged epoch is not saved.
        extra_state: constant entries for ``resume.json`` (the target epoch count ...).

    Example:
        >>> RunRecorder(RunPaths(Path("runs/exp")), monitor="val_loss")  # doctest: +SKIP
    """

    def __init__(
        self,
        paths: RunPaths,
        *,
        monitor: str,
        initial_epoch: int = 0,
        best=None,
        best_epoch: int = 0,
        early_stopping=None,
        nan_guard=None,
        extra_state=None,
    ):
        super().__init__()
        self.paths = paths
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.best = best
        self.best_epoch = best_epoch
        self.initial_epoch = initial_epoch
        self.early_stopping = early_stopping
        self.nan_guard = nan_guard
        self.extra_state = dict(extra_state or {})
        self.rows: list[dict] = []
        self.epoch_seconds: list[float] = []
        self.completed = initial_epoch
        self._start = 0.0

    def on_train_begin(self, logs=None):
        kept = [r for r in read_history(self.paths.history) if r["epoch"] <= self.initial_epoch]
        self.rows = kept
        if kept or self.paths.history.exists():
            _write_history(self.paths.history, kept)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_guard is not None and self.nan_guard.tripped:
            return
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        logs = {k: float(v) for k, v in (logs or {}).items()}
        rate = current_learning_rate(self.model)
        row = {"epoch": epoch + 1, **logs}
        if rate is not None:
            row["learning_rate"] = rate
        row["seconds"] = seconds
        self.rows.append(row)
        _write_history(self.paths.history, self.rows)
        value = logs.get(self.monitor)
        if improved(value, self.best, self.mode):
            self.best, self.best_epoch = value, epoch + 1
            atomic_save_model(self.model, self.paths.best)
        atomic_save_model(self.model, self.paths.last)
        self.completed = epoch + 1
        self.write_state("running")

    def write_state(self, status: str, **more) -> None:
        """Atomically rewrite ``resume.json`` with the current progress."""
        es = self.early_stopping
        state = {
            **self.extra_state,
            "epoch": self.completed,
            "status": status,
            "monitor": self.monitor,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "early_stopping_wait": int(es.wait) if es is not None else 0,
            "early_stopping_best": (
                float(es.best)
                if es is not None and es.best is not None and np.isfinite(es.best)
                else None
            ),
            "early_stopping_best_epoch": int(es.best_epoch) if es is not None else 0,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **more,
        }
        write_json(self.paths.resume_state, state)
