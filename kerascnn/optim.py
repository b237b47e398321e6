"""Optimizers, learning-rate schedules and the training loss.

Schedules count optimizer steps (batches) and are registered Keras serializables, so a
``last.keras`` checkpoint reloads with ``safe_mode=True`` and resumes at the same rate.

Example:
    >>> from kerascnn.optim import make_schedule, make_optimizer
    >>> schedule = make_schedule("cosine", 0.01, total_steps=1000, warmup_steps=100)
    >>> round(float(schedule(100)), 4)
    0.01
    >>> make_optimizer("sgd", schedule, momentum=0.9, nesterov=True).name  # doctest: +SKIP
    'SGD'
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerascnn.errors import UsageError, unknown_name
from kerascnn.train_config import OPTIMIZERS, SCHEDULES


def _float(x):
    return ops.cast(x, "float32")


@keras.saving.register_keras_serializable(package="kerascnn")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``base * gamma ** (step // step_steps)``: drop by ``gamma`` every ``step_steps`` steps.

    Example:
        >>> round(float(StepDecay(0.1, step_steps=10, gamma=0.5)(25)), 6)
        0.025
    """

    def __init__(self, base_rate, step_steps, gamma=0.1, warmup_steps=0):
        self.base_rate = float(base_rate)
        self.step_steps = max(1, int(step_steps))
        self.gamma = float(gamma)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = _float(step)
        drops = ops.floor(step / self.step_steps)
        rate = self.base_rate * ops.power(self.gamma, drops)
        return _with_warmup(rate, step, self.base_rate, self.warmup_steps)

    def get_config(self):
        return {
            "base_rate": self.base_rate,
            "step_steps": self.step_steps,
            "gamma": self.gamma,
            "warmup_steps": self.warmup_steps,
        }


@keras.saving.register_keras_serializable(package="kerascnn")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to ``base_rate`` over ``warmup_steps``, then cosine decay to
    ``base_rate * final_fraction`` at ``total_steps``.

    Example:
        >>> schedule = WarmupCosine(0.1, total_steps=100, warmup_steps=10)
        >>> [round(float(schedule(s)), 3) for s in (0, 5, 10, 100)]
        [0.0, 0.05, 0.1, 0.0]
    """

    def __init__(self, base_rate, total_steps, warmup_steps=0, final_fraction=0.0):
        self.base_rate = float(base_rate)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, min(int(warmup_steps), self.total_steps - 1))
        self.final_fraction = float(final_fraction)

    def __call__(self, step):
        step = _float(step)
        decay_steps = float(max(1, self.total_steps - self.warmup_steps))
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        floor = self.base_rate * self.final_fraction
        rate = floor + (self.base_rate - floor) * cosine
        return _with_warmup(rate, step, self.base_rate, self.warmup_steps)

    def get_config(self):
        return {
            "base_rate": self.base_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_fraction": self.final_fraction,
        }


@keras.saving.register_keras_serializable(package="kerascnn")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle policy: cosine rise from ``max_rate / div_factor`` to ``max_rate``
    over the first ``pct_start`` of training, then cosine fall to
    ``max_rate / (div_factor * final_div_factor)``.

    Example:
        >>> schedule = OneCycle(0.1, total_steps=100)
        >>> round(float(schedule(30)), 3), float(schedule(100)) < 1e-5
        (0.1, True)
    """

    def __init__(self, max_rate, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        self.max_rate = float(max_rate)
        self.total_steps = max(2, int(total_steps))
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        step = _float(step)
        start = self.max_rate / self.div_factor
        end = start / self.final_div_factor
        peak_step = max(1.0, self.pct_start * self.total_steps)
        up = ops.clip(step / peak_step, 0.0, 1.0)
        down = ops.clip((step - peak_step) / max(1.0, self.total_steps - peak_step), 0.0, 1.0)

        def anneal(a, b, t):  # cosine from a (t=0) to b (t=1)
            return b + (a - b) * 0.5 * (1.0 + ops.cos(math.pi * t))

        return ops.where(
            step <= peak_step, anneal(start, self.max_rate, up), anneal(self.max_rate, end, down)
        )

    def get_config(self):
        return {
            "max_rate": self.max_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
        }


@keras.saving.register_keras_serializable(package="kerascnn")
class ExponentialRamp(keras.optimizers.schedules.LearningRateSchedule):
    """``start * (end / start) ** (step / steps)``: the LR range test's sweep.

    Example:
        >>> round(float(ExponentialRamp(1e-4, 1.0, steps=4)(2)), 6)
        0.01
    """

    def __init__(self, start, end, steps):
        self.start, self.end, self.steps = float(start), float(end), max(1, int(steps))

    def __call__(self, step):
        ratio = self.end / self.start
        return self.start * ops.power(ratio, _float(step) / self.steps)

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps}


def _with_warmup(rate, step, base_rate, warmup_steps):
    if warmup_steps <= 0:
        return rate
    warm = base_rate * step / float(warmup_steps)
    return ops.where(step < warmup_steps, warm, rate)


def make_schedule(
    name: str,
    learning_rate: float,
    *,
    total_steps: int,
    warmup_steps: int = 0,
    step_steps: int | None = None,
    gamma: float = 0.1,
    final_fraction: float = 0.0,
):
    """Build a learning-rate schedule by name: constant, step, cosine or one-cycle.

    ``constant`` returns a plain float (unless warmup is asked for). For ``one-cycle``,
    ``learning_rate`` is the peak rate.

    Example:
        >>> make_schedule("constant", 0.001, total_steps=100)
        0.001
        >>> float(make_schedule("step", 0.1, total_steps=100, step_steps=30, gamma=0.1)(60))
        0.0010000000474974513
    """
    if learning_rate is None or not learning_rate > 0:
        raise UsageError(f"learning rate must be positive, not {learning_rate!r}")
    if name not in SCHEDULES:
        raise unknown_name("schedule", name, SCHEDULES)
    if name == "constant":
        if warmup_steps > 0:
            return StepDecay(learning_rate, step_steps=10**12, gamma=1.0, warmup_steps=warmup_steps)
        return float(learning_rate)
    if name == "step":
        return StepDecay(
            learning_rate,
            step_steps=step_steps or max(1, total_steps // 3),
            gamma=gamma,
            warmup_steps=warmup_steps,
        )
    if name == "cosine":
        return WarmupCosine(
            learning_rate, total_steps, warmup_steps=warmup_steps, final_fraction=final_fraction
        )
    return OneCycle(learning_rate, total_steps)


def make_optimizer(
    name: str,
    learning_rate,
    *,
    momentum: float | None = None,
    nesterov: bool = False,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
):
    """Build a Keras optimizer by name.

    ``sgd`` uses ``momentum`` (default 0.9) and ``nesterov``; ``rmsprop`` uses ``momentum``
    (default 0). ``weight_decay`` is decoupled weight decay for every optimizer (AdamW's
    default 0.004 when not given).

    Example:
        >>> opt = make_optimizer("adamw", 0.001, weight_decay=0.01)
        >>> opt.weight_decay
        0.01
    """
    if name not in OPTIMIZERS:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    if weight_decay is not None and weight_decay < 0:
        raise UsageError(f"weight decay must be >= 0, not {weight_decay}")
    common = {"learning_rate": learning_rate}
    if clipnorm:
        common["global_clipnorm"] = float(clipnorm)
    if weight_decay:
        common["weight_decay"] = float(weight_decay)
    opt = keras.optimizers
    if name == "sgd":
        return opt.SGD(momentum=0.9 if momentum is None else momentum, nesterov=nesterov, **common)
    if name == "adam":
        return opt.Adam(**common)
    if name == "adamw":
        common.setdefault("weight_decay", 0.004 if weight_decay is None else 0.0)
        return opt.AdamW(**common)
    if name == "rmsprop":
        return opt.RMSprop(momentum=momentum or 0.0, **common)
    if name == "adagrad":
        return opt.Adagrad(**common)
    return opt.Adadelta(**common)


def scale_rates(optimizer, factor_of):
    """Give each variable its own learning rate: ``factor_of(variable.path)`` times the
    optimizer's (or its schedule's) rate; returns ``optimizer``, changed in place.

    Keras optimizers hold one rate, and each applies it in ``update_step(gradient, variable,
    learning_rate)``, once per variable; scaling the rate there is exact for every optimizer.
    Scaling gradients instead would be undone by Adam's and RMSprop's normalization. Decoupled
    weight decay keeps the unscaled rate. Nothing is saved with the optimizer: training
    rebuilds it from the config, resumes included, and scales it again.

    Example:
        >>> layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="stem_fc")
        >>> layer.build((None, 1))
        >>> optimizer = scale_rates(keras.optimizers.SGD(0.1), lambda path: 0.5)
        >>> optimizer.apply([ops.ones((1, 1))], layer.trainable_variables)
        >>> round(float(layer.kernel[0, 0]), 4)  # 1 - 0.1 * 0.5 * 1
        0.95
    """
    plain_update_step = optimizer.update_step

    def update_step(gradient, variable, learning_rate):
        # TensorFlow passes the backing tf.Variable; the optimizer's own index (the one its
        # update_step uses for its slots) finds the Keras variable and its path.
        owner = optimizer._trainable_variables[optimizer._get_variable_index(variable)]
        factor = float(factor_of(owner.path))
        if factor != 1.0:
            learning_rate = learning_rate * factor
        return plain_update_step(gradient, variable, learning_rate)

    optimizer.update_step = update_step
    return optimizer


@keras.saving.register_keras_serializable(package="kerascnn")
class SparseCrossentropy(keras.losses.Loss):
    """Sparse (integer-label) categorical cross-entropy with optional label smoothing.

    Keras' own sparse loss has no ``label_smoothing``; this one one-hot encodes the labels
    first when smoothing is asked for.

    Example:
        >>> loss = SparseCrossentropy(label_smoothing=0.1)
        >>> round(float(loss([0], [[0.9, 0.1]])), 4)  # -(0.95 ln 0.9 + 0.05 ln 0.1)
        0.2152
    """

    def __init__(self, label_smoothing=0.0, name="sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if self.label_smoothing <= 0:
            return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        one_hot = ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
