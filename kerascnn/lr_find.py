"""The LR range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks"):
train briefly while the learning rate rises exponentially, record the loss, and suggest the
rate where it fell fastest. ``kerascnn lr-find`` is one call of :func:`lr_find`; it writes
``lr_find.png`` and ``lr_find.csv`` into ``runs/lr_find`` (``lr_find2``, ...).

Example:
    >>> from kerascnn.lr_find import lr_find
    >>> from kerascnn.train_config import TrainConfig
    >>> result = lr_find(TrainConfig(model="lenet5", data="digits"), steps=50)  # doctest: +SKIP
    >>> f"{result.suggested:.0e}"  # doctest: +SKIP
    '3e-03'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerascnn.console import say, verbosity
from kerascnn.errors import KerasCNNError, UsageError, positive_int
from kerascnn.factories import build_model, default_input_shape, load_training_data
from kerascnn.optim import ExponentialRamp, SparseCrossentropy, make_optimizer
from kerascnn.plots import plot_lr_find
from kerascnn.runs import RunPaths, atomic_write_text, claim_run_dir
from kerascnn.train_config import LR_FIND_RUN_NAME, TrainConfig


@dataclass
class LRFindResult:
    """The LR range test's curve and suggestion."""

    suggested: float
    learning_rates: list[float]
    losses: list[float]
    plot: Path | None


class _LossRecorder(keras.callbacks.Callback):
    """Records each batch's rate and loss, a bias-corrected moving average of the loss, and
    stops the sweep once that average exceeds ``stop_factor`` times its best (the loss has
    exploded; later points would only flatten the plot)."""

    def __init__(self, schedule, stop_factor=4.0, smoothing=0.9):
        super().__init__()
        self.schedule, self.stop_factor, self.smoothing = schedule, stop_factor, smoothing
        self.rates, self.losses, self.smoothed = [], [], []
        self._avg, self._best = 0.0, math.inf

    def on_train_batch_end(self, batch, logs=None):
        # Keras' logged loss is a running mean over the epoch; undo it to get this batch's.
        mean = float((logs or {}).get("loss", math.nan))
        n = len(self.losses) + 1
        previous_mean = self._mean if n > 1 else 0.0
        loss = mean * n - previous_mean * (n - 1)
        self._mean = mean
        rate = float(self.schedule(batch))
        self.rates.append(rate)
        self.losses.append(loss)
        self._avg = self.smoothing * self._avg + (1 - self.smoothing) * loss
        smooth = self._avg / (1 - self.smoothing**n)
        self.smoothed.append(smooth)
        self._best = min(self._best, smooth)
        if not math.isfinite(loss) or (n > 10 and smooth > self.stop_factor * self._best):
            self.model.stop_training = True


def suggest_learning_rate(rates, smoothed) -> float:
    """The rate where the smoothed loss falls fastest (before its minimum), a tenth of the
    minimum-loss rate when the curve is too short to tell.

    Example:
        >>> rates = list(np.logspace(-5, 0, 50)); losses = [2 - np.tanh(4 * (np.log10(r) + 2.5)) for r in rates]
        >>> 1e-3 < suggest_learning_rate(rates, losses) < 1e-2
        True
    """
    rates = np.asarray(rates, dtype=float)
    smoothed = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(smoothed)
    rates, smoothed = rates[finite], smoothed[finite]
    if len(rates) == 0:
        raise KerasCNNError("lr-find recorded no finite loss; lower --start-lr")
    lowest = int(np.argmin(smoothed))
    if lowest < 3:
        return float(rates[lowest] / 10)
    slopes = np.gradient(smoothed[: lowest + 1], np.log10(rates[: lowest + 1]))
    return float(rates[int(np.argmin(slopes))])


def lr_find(
    config: TrainConfig | None = None,
    *,
    start_lr=1e-7,
    end_lr=10.0,
    steps=100,
    verbose="auto",
    **overrides,
) -> LRFindResult:
    """Run the LR range test (Smith 2017): train briefly while raising the learning rate
    exponentially from ``start_lr`` to ``end_lr``, record the loss, stop when it explodes,
    suggest the rate where it fell fastest, and plot ``lr_find.png`` in a run folder
    (``runs/lr_find``, ``lr_find2``, ... unless ``config.name`` is set).

    Example:
        >>> result = lr_find(TrainConfig(model="lenet5", data="digits"))  # doctest: +SKIP
        >>> f"{result.suggested:.0e}"  # doctest: +SKIP
        '3e-03'
    """
    config = (config or TrainConfig()).replace(**overrides)
    config.validate()
    if not 0 < start_lr < end_lr:
        raise UsageError(f"need 0 < start_lr < end_lr, got {start_lr:g} and {end_lr:g}")
    positive_int(steps, "steps")
    level = verbosity(verbose)
    keras.utils.set_random_seed(config.seed)
    bundle = load_training_data(config, default_input_shape(config))
    schedule = ExponentialRamp(start_lr, end_lr, steps)
    net = build_model(config, input_shape=bundle.input_shape, num_classes=bundle.num_classes)
    net.compile(
        optimizer=make_optimizer(
            config.optimizer,
            schedule,
            momentum=config.momentum,
            nesterov=bool(config.nesterov),
            weight_decay=config.weight_decay,
        ),
        loss=SparseCrossentropy(label_smoothing=config.label_smoothing),
        jit_compile=bool(config.jit_compile),
    )
    recorder = _LossRecorder(schedule)
    say(
        level,
        f"LR range test: {config.model} on {bundle.spec}, {config.optimizer}, "
        f"{start_lr:g} -> {end_lr:g} over {steps} steps",
    )
    net.fit(
        bundle.train.repeat(),
        steps_per_epoch=steps,
        epochs=1,
        callbacks=[recorder],
        shuffle=False,
        verbose=1 if level == "bar" else 0,
    )
    suggested = suggest_learning_rate(recorder.rates, recorder.smoothed)
    run_dir = claim_run_dir(config.project, config.name or LR_FIND_RUN_NAME)
    plot = RunPaths(run_dir).lr_find
    plot_lr_find(recorder.rates, recorder.smoothed, suggested, plot, title=config.model)
    atomic_write_text(
        run_dir / "lr_find.csv",
        "learning_rate,loss,smoothed_loss\n"
        + "".join(
            f"{r!r},{raw!r},{s!r}\n"
            for r, raw, s in zip(recorder.rates, recorder.losses, recorder.smoothed)
        ),
    )
    say(level, f"Suggested learning rate: {suggested:.2e}\nResults saved to {run_dir}")
    return LRFindResult(suggested, recorder.rates, recorder.losses, plot)
