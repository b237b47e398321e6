"""What a :class:`~kerascnn.train_config.TrainConfig` describes, built: the model, the
optimizer with its schedule, and the data.

Shared by training (:mod:`kerascnn.train`) and the LR range test (:mod:`kerascnn.lr_find`),
so both read a config the same way. The architecture registry and the data loaders are
imported when first needed; they are heavy and only some callers need both.

Example:
    >>> from kerascnn.train_config import TrainConfig
    >>> config = TrainConfig(model="resnet20", data="digits")
    >>> net = build_model(config, input_shape=(32, 32, 3), num_classes=10)  # doctest: +SKIP
    >>> net.name  # doctest: +SKIP
    'resnet20'
"""

from __future__ import annotations

import math
import re

import keras

from kerascnn.errors import UsageError
from kerascnn.optim import make_optimizer, make_schedule
from kerascnn.train_config import TrainConfig, parse_tfds_split


def build_model(config: TrainConfig, *, input_shape, num_classes):
    """Build ``config.model`` from the registry with the config's overrides, starting from
    ``config.weights`` when set (pretrained backbone, a fresh head for ``num_classes``).

    Example:
        >>> build_model(TrainConfig(dropout_rate=0.2), input_shape=(32, 32, 1), num_classes=10)  # doctest: +SKIP
        <Functional name=lenet5, built=True>
    """
    from kerascnn.weights import build

    overrides = dict(config.model_options or {})
    if config.dropout_rate is not None:
        overrides["dropout_rate"] = float(config.dropout_rate)
    if config.l1 or config.l2:
        overrides["kernel_regularizer"] = keras.regularizers.L1L2(l1=config.l1, l2=config.l2)
    return build(
        config.model,
        weights=config.weights,
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        **overrides,
    )


def input_spec_for(config: TrainConfig, record: dict | None = None):
    """The :class:`~kerascnn.preprocessing.InputSpec` a run trains with: its stored pretrained
    ``record``'s (a resumed run), its weights' (read from the table, nothing downloaded), else
    pixels / 255.

    Example:
        >>> input_spec_for(TrainConfig(model="resnet18", weights="imagenet")).name
        'torchvision'
        >>> input_spec_for(TrainConfig()).name
        'unit'
    """
    from kerascnn.preprocessing import UNIT, InputSpec

    if record is not None:
        return InputSpec.from_dict(record["input_spec"])
    if config.weights is None:
        return UNIT
    from kerascnn.weights import describe

    return InputSpec.from_dict(describe(config.model, config.weights)["input_spec"])


_STAGE = re.compile(r"^(stem|stage\d+)_")


def set_trainable(model, *, freeze: str, phase: str) -> int:
    """Freeze what a pretrained run's ``phase`` leaves frozen; returns the trainable weights.

    ``phase`` "head": with ``freeze`` "backbone" only the layers after the last stage (the
    classifier) train; with a number N, all but the stem and the first N stages; with "none",
    all. ``phase`` "fine_tune": every layer trains. In both, batch normalization stays frozen,
    which in Keras also keeps it in inference mode (the Keras transfer-learning guide's advice:
    its moving statistics never see the new data's small batches).

    Example:
        >>> set_trainable(build("resnet18", num_classes=3), freeze="backbone", phase="head")  # doctest: +SKIP
        2
    """
    stages, last_stage = _stages(model)
    freeze = str(freeze).strip().lower()
    frozen_stages: set[str] = set()
    if phase == "head" and freeze.isdigit():
        counted = [stage for stage in stages if stage != "stem"][: int(freeze)]
        frozen_stages = set(counted) | {"stem"}
    for index, layer in enumerate(model.layers):
        match = _STAGE.match(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif phase == "head" and freeze == "backbone":
            layer.trainable = index > last_stage
        elif match and match.group(1) in frozen_stages:
            layer.trainable = False
        else:
            layer.trainable = True
    return len(model.trainable_weights)


def _stages(model) -> tuple[list[str], int]:
    """The stage prefixes in the order they appear (``stem``, ``stage1``, ...) and the index of
    the last layer that belongs to one (the classifier's layers come after it)."""
    stages, last_stage = [], -1
    for index, layer in enumerate(model.layers):
        match = _STAGE.match(layer.name)
        if match:
            last_stage = index
            if match.group(1) not in stages:
                stages.append(match.group(1))
    return stages, last_stage


def stage_rates(model, decay: float) -> dict[str, float]:
    """Learning-rate factors per stage for a discriminative (layer-wise decayed) rate: the
    classifier keeps the full rate, the last stage ``decay`` of it, the stage before that
    ``decay ** 2``, down to the stem. Early stages hold generic features worth keeping; the
    last ones are the most specific to the pretraining task.

    Example:
        >>> from kerascnn.weights import build
        >>> stage_rates(build("resnet18", num_classes=3, input_shape=(32, 32, 3)), 0.5)
        {'stem': 0.03125, 'stage1': 0.0625, 'stage2': 0.125, 'stage3': 0.25, 'stage4': 0.5}
    """
    stages, _ = _stages(model)
    if not stages:
        raise UsageError(
            f"stage_lr_decay needs a model built in stages (stem_, stage1_, ... layers); "
            f"{model.name} has none"
        )
    return {stage: float(decay) ** (len(stages) - i) for i, stage in enumerate(stages)}


def rate_factor_of_path(rates: dict[str, float]):
    """``path -> factor`` for :func:`kerascnn.optim.scale_rates`: a variable's factor is its
    stage's (its layer name's prefix), 1 for the classifier and anything outside the stages.

    Example:
        >>> factor = rate_factor_of_path({"stem": 0.25, "stage1": 0.5})
        >>> factor("stage1_block1_conv1/kernel"), factor("logits/bias")
        (0.5, 1.0)
    """

    def factor(path: str) -> float:
        match = _STAGE.match(path)
        return rates.get(match.group(1), 1.0) if match else 1.0

    return factor


def make_training_optimizer(config: TrainConfig, steps_per_epoch: int, total_epochs=None):
    """The optimizer with its schedule for ``config`` (steps count batches).

    Example:
        >>> make_training_optimizer(TrainConfig(schedule="cosine"), steps_per_epoch=50)  # doctest: +SKIP
        <keras.src.optimizers.adam.Adam object at 0x...>
    """
    epochs = total_epochs or config.epochs
    schedule = make_schedule(
        config.schedule,
        config.learning_rate,
        total_steps=epochs * steps_per_epoch,
        warmup_steps=int(round(config.warmup_epochs * steps_per_epoch)),
        step_steps=(config.step_epochs * steps_per_epoch) if config.step_epochs else None,
        gamma=config.step_gamma,
        final_fraction=config.final_lr_fraction,
    )
    return make_optimizer(
        config.optimizer,
        schedule,
        momentum=config.momentum,
        nesterov=bool(config.nesterov),
        weight_decay=config.weight_decay,
        clipnorm=config.clipnorm,
    )


def default_input_shape(config: TrainConfig) -> tuple:
    """``config.input_shape``, else the registered model's default input.

    Example:
        >>> default_input_shape(TrainConfig(input_shape=(16, 16, 3)))
        (16, 16, 3)
    """
    if config.input_shape is not None:
        return tuple(config.input_shape)
    from kerascnn.architectures import get_model_info

    return tuple(get_model_info(config.model).default_input_shape)


def load_training_data(config: TrainConfig, input_shape, *, augment=None, input_spec=None):
    """The :class:`~kerascnn.data.DataBundle` for ``config``, prepared as ``input_shape``.

    Example:
        >>> bundle = load_training_data(TrainConfig(), (32, 32, 1))  # doctest: +SKIP
        >>> bundle.num_classes  # doctest: +SKIP
        10
    """
    from kerascnn.data import load_data

    return load_data(
        config.data,
        input_shape=input_shape,
        batch_size=config.batch_size,
        val_split=config.val_split,
        test_split=config.test_split,
        seed=config.seed,
        augment=config.augment if augment is None else augment,
        data_dir=config.data_dir,
        split=parse_tfds_split(config.tfds_split),
        download=config.download,
        skip_bad=config.skip_bad,
        cache=config.cache,
        input_spec=input_spec,
    )


def steps_per_epoch(dataset, size: int, batch_size: int) -> int:
    """Batches in one epoch of ``dataset``: its cardinality, else ``size / batch_size``.

    Example:
        >>> steps_per_epoch(bundle.train, bundle.sizes["train"], 32)  # doctest: +SKIP
        45
    """
    cardinality = int(dataset.cardinality().numpy())
    if cardinality > 0:
        return cardinality
    return max(1, math.ceil(size / batch_size))


def check_model_matches(model, bundle) -> None:
    """Fail with a :class:`UsageError` when ``model``'s input or class count differ from the data.

    Example:
        >>> check_model_matches(build_model(TrainConfig(), input_shape=(32, 32, 1), num_classes=3), bundle)  # doctest: +SKIP
        Traceback (most recent call last):
        kerascnn.errors.UsageError: model lenet5 predicts 3 classes but the data has 10
    """
    model_shape = tuple(int(d) for d in model.inputs[0].shape[1:]) if model.inputs else None
    if model_shape and tuple(bundle.input_shape) != model_shape:
        raise UsageError(
            f"model {model.name} takes input {model_shape} but the data is prepared as "
            f"{tuple(bundle.input_shape)}; pass --input-shape {','.join(map(str, model_shape))}"
        )
    outputs = int(model.outputs[0].shape[-1])
    if outputs != bundle.num_classes:
        raise UsageError(
            f"model {model.name} predicts {outputs} classes but the data has {bundle.num_classes}"
        )
