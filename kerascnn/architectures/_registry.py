"""The model registry: one ``ModelInfo`` per name, a builder per family, ``build(name)``.

Family modules (lenet, alexnet, vgg, resnet) declare their zoo the same way: one
:class:`Family` holding what its variants share (builder, default input, overrides, spatial
plan), then one ``FAMILY.variant(name, **architecture, params=..., macs=..., depth=...,
receptive_field=..., reference=..., description=...)`` call per model, so each module's table reads by name. Spatial arithmetic
comes from :mod:`kerascnn.arithmetic`; this module imports nothing above the architectures.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kerascnn.arithmetic import conv_output_size, effective_kernel_size, image_shape
from kerascnn.errors import UsageError, positive_int, unknown_name

if TYPE_CHECKING:  # keras loads only when a model is built, so listing models stays fast
    import keras

# Overrides every model accepts; families add their own (see ModelInfo.overrides).
COMMON_OVERRIDES = ("dropout_rate", "kernel_regularizer")

# Deep functional graphs (ResNet-152: ~500 layers, deeper custom ones more) recurse once per
# layer while Keras builds, serializes and deserializes them.
RECURSION_LIMIT = 20_000


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model name.

    ``params``: trainable parameters at the defaults (what the paper / torchvision report).
    ``macs``: multiply-accumulates of every conv and dense layer at the defaults (batch 1;
    ``out_h*out_w*k_h*k_w*c_in/groups*c_out`` per conv, ``in*out`` per dense; batch norm,
    pooling, additions and biases not counted). ``min_input_size``: the smallest height/width
    accepted. ``spatial_plan``: the (kernel, stride, total padding) of every size-changing layer
    on the main path, ``None`` padding meaning Keras "same". ``depth``: weighted layers on the
    longest input-to-output path (the number in VGG-16, ResNet-50; GoogLeNet's 22).
    ``receptive_field``: the final feature map's receptive field in input pixels at the default
    input. Both are what :func:`kerascnn.arithmetic.analyze` measures, stored so listing the
    zoo builds nothing.

    Example:
        >>> from kerascnn.architectures import get_model_info
        >>> get_model_info("resnet50").params  # doctest: +SKIP
        25557032
    """

    name: str
    family: str
    builder: Callable[..., Any] = dataclasses.field(repr=False, compare=False)
    config: dict = dataclasses.field(default_factory=dict, repr=False)
    default_input_shape: tuple[int, int, int] = (224, 224, 3)
    default_num_classes: int = 1000
    params: int | None = None
    macs: int | None = None
    reference: str = ""
    description: str = ""
    depth: int | None = None
    receptive_field: int | None = None
    min_input_size: int = 1
    overrides: tuple[str, ...] = COMMON_OVERRIDES
    spatial_plan: Callable[[dict], list] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    def as_dict(self) -> dict:
        """JSON-friendly summary (no builder), e.g. for ``kerascnn models --json``.

        Example:
            >>> sorted(get_model_info("lenet5").as_dict())[:3]  # doctest: +SKIP
            ['default_input_shape', 'default_num_classes', 'description']
        """
        return {
            "name": self.name,
            "family": self.family,
            "default_input_shape": list(self.default_input_shape),
            "default_num_classes": self.default_num_classes,
            "params": self.params,
            "macs": self.macs,
            "depth": self.depth,
            "receptive_field": self.receptive_field,
            "min_input_size": self.min_input_size,
            "reference": self.reference,
            "description": self.description,
            "overrides": list(self.overrides),
        }


_REGISTRY: dict[str, ModelInfo] = {}


def output_size(size: int, kernel: int, stride: int, padding: int | None, dilation: int = 1) -> int:
    """Spatial output size of a window layer, or 0 when the window does not fit.

    ``padding`` is the *total* padding (both sides, an odd pixel after), ``None`` meaning Keras
    "same". The formula is :func:`kerascnn.arithmetic.conv_output_size`'s; that one raises
    where this returns 0, which :func:`min_input_size` searches for.

    Example:
        >>> output_size(224, 7, 2, 6)
        112
        >>> output_size(5, 2, 2, None)
        3
        >>> output_size(4, 5, 1, 0)
        0
    """
    if size < 1:
        return 0
    if padding is None:
        return conv_output_size(size, kernel, stride, "same", dilation)
    if size + padding < effective_kernel_size(kernel, dilation):
        return 0
    before = padding // 2
    return conv_output_size(size, kernel, stride, (before, padding - before), dilation)


def min_input_size(plan: list[tuple[int, int, int | None]]) -> int:
    """Smallest side that keeps every layer of ``plan`` at least 1 pixel, and at least the
    product of its strides (so the last feature map still has one real input pixel per cell).

    Example:
        >>> min_input_size([(5, 1, 0), (2, 2, 0), (5, 1, 0), (2, 2, 0), (5, 1, 0)])
        32
    """
    total_stride = math.prod(stride for _, stride, _ in plan) if plan else 1
    size = 1
    while True:
        current, ok = size, True
        for kernel, stride, padding in plan:
            current = output_size(current, kernel, stride, padding)
            if current < 1:
                ok = False
                break
        if ok:
            return max(size, total_stride)
        size += 1


def register(
    name: str,
    *,
    family: str,
    builder: Callable[..., Any] | None = None,
    config: dict | None = None,
    default_input_shape=(224, 224, 3),
    default_num_classes: int = 1000,
    params: int | None = None,
    macs: int | None = None,
    reference: str = "",
    description: str = "",
    overrides: tuple[str, ...] = (),
    spatial_plan: Callable[[dict], list] | None = None,
    min_size: int | None = None,
    depth: int | None = None,
    receptive_field: int | None = None,
):
    """Add a model to the registry; usable directly or as a decorator on the builder.

    A builder is ``builder(inputs, *, num_classes, include_top, pooling, classifier_activation,
    **config_and_overrides) -> outputs`` (a functional-API tensor); the registry makes the
    input, validates arguments and wraps the result in a ``keras.Model`` named ``name``.

    Example:
        >>> from kerascnn import blocks
        >>> @register("tiny_cnn", family="custom", default_input_shape=(28, 28, 1),
        ...           default_num_classes=10, reference="none", min_size=4)
        ... def tiny_cnn(inputs, *, num_classes, include_top, pooling, classifier_activation,
        ...              dropout_rate=0.0, kernel_regularizer=None):
        ...     x = blocks.conv_bn_act(inputs, 8, 3, strides=2, name="stage1")
        ...     x = blocks.global_pool(x, pooling or "avg", name="pool")
        ...     return blocks.dense(x, num_classes, name="logits") if include_top else x
    """
    if builder is None:

        def decorate(fn):
            register(
                name,
                family=family,
                builder=fn,
                config=config,
                default_input_shape=default_input_shape,
                default_num_classes=default_num_classes,
                params=params,
                macs=macs,
                reference=reference,
                description=description,
                overrides=overrides,
                spatial_plan=spatial_plan,
                min_size=min_size,
                depth=depth,
                receptive_field=receptive_field,
            )
            return fn

        return decorate
    if name in _REGISTRY:
        raise KeyError(f"model {name!r} is already registered")
    config = dict(config or {})
    if min_size is None:
        min_size = min_input_size(spatial_plan(config)) if spatial_plan else 1
    _REGISTRY[name] = ModelInfo(
        name=name,
        family=family,
        builder=builder,
        config=config,
        default_input_shape=tuple(default_input_shape),
        default_num_classes=default_num_classes,
        params=params,
        macs=macs,
        reference=reference,
        description=description,
        depth=depth,
        receptive_field=receptive_field,
        min_input_size=min_size,
        overrides=tuple(dict.fromkeys(COMMON_OVERRIDES + tuple(overrides))),
        spatial_plan=spatial_plan,
    )
    return _REGISTRY[name]


@dataclasses.dataclass(frozen=True)
class Family:
    """What every variant of one architecture family shares; :meth:`variant` registers one.

    ``config`` holds architecture arguments common to the family; each variant adds its own
    (e.g. ``block="basic", layers=(2, 2, 2, 2)``) and both reach ``builder`` as keywords.
    ``overrides`` are the family's user-tunable builder arguments (see :func:`register`).

    Example:
        >>> def tiny(inputs, *, num_classes, include_top, pooling, classifier_activation,
        ...          width, dropout_rate=0.0, kernel_regularizer=None):
        ...     raise NotImplementedError  # a real builder returns the output tensor
        >>> TINY = Family("tiny", tiny, default_input_shape=(8, 8, 1), default_num_classes=2,
        ...               spatial_plan=lambda config: [(3, 2, 0)])
        >>> info = TINY.variant("tiny8", width=8, params=82, macs=72, reference="none",
        ...                     description="Tiny, 8 filters", depth=2, receptive_field=3)
        >>> info.config, info.min_input_size
        ({'width': 8}, 3)
        >>> _ = _REGISTRY.pop("tiny8")  # keep the doctest out of the zoo
    """

    name: str
    builder: Callable[..., Any] = dataclasses.field(repr=False)
    config: dict = dataclasses.field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    spatial_plan: Callable[[dict], list] | None = dataclasses.field(default=None, repr=False)
    default_input_shape: tuple[int, int, int] = (224, 224, 3)
    default_num_classes: int = 1000

    def variant(
        self,
        name: str,
        *,
        params: int,
        macs: int,
        reference: str,
        description: str,
        depth: int,
        receptive_field: int,
        overrides: tuple[str, ...] = (),
        **architecture,
    ) -> ModelInfo:
        """Register model ``name``: the family's builder with ``architecture`` arguments, its
        published trainable ``params`` and ``macs`` at the defaults, its ``depth`` and final
        ``receptive_field`` (both as :func:`kerascnn.arithmetic.analyze` measures them), and its
        ``reference``.
        ``overrides`` adds overrides for this variant only. Example: see :class:`Family`.
        """
        return register(
            name,
            family=self.name,
            builder=self.builder,
            config={**self.config, **architecture},
            default_input_shape=self.default_input_shape,
            default_num_classes=self.default_num_classes,
            params=params,
            macs=macs,
            reference=reference,
            description=description,
            depth=depth,
            receptive_field=receptive_field,
            overrides=self.overrides + tuple(overrides),
            spatial_plan=self.spatial_plan,
        )


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, sorted naturally (resnet18 before resnet101).

    Example:
        >>> "resnet50" in list_models()  # doctest: +SKIP
        True
    """
    names = [n for n, info in _REGISTRY.items() if family is None or info.family == family]
    return sorted(names, key=_natural_key)


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def get_model_info(name: str) -> ModelInfo:
    """The ``ModelInfo`` for ``name``; unknown names raise UsageError with a suggestion.

    Example:
        >>> get_model_info("vgg16").default_input_shape  # doctest: +SKIP
        (224, 224, 3)
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise unknown_name("model", str(name), _REGISTRY)
    return _REGISTRY[name]


@contextlib.contextmanager
def recursion_headroom(limit: int = RECURSION_LIMIT) -> Iterator[None]:
    """Temporarily raise Python's recursion limit (deep Keras graphs recurse per layer).

    Wrap ``model.save`` / ``keras.models.load_model`` of very deep custom models in it;
    :func:`build`, :func:`save_model` and :func:`kerascnn.loading.load_keras_file` already do.

    Example:
        >>> with recursion_headroom():
        ...     pass
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _check_input_shape(info: ModelInfo, input_shape, overrides: dict) -> tuple[int, int, int]:
    if input_shape is None:
        return info.default_input_shape
    shape = image_shape(input_shape)
    if shape is None:
        raise UsageError(
            f"bad input shape {input_shape!r} for {info.name}: expected (height, width, channels) "
            "of positive integers"
        )
    minimum = info.min_input_size
    if info.spatial_plan is not None and overrides:
        minimum = min_input_size(info.spatial_plan({**info.config, **overrides}))
    if shape[0] < minimum or shape[1] < minimum:
        raise UsageError(
            f"input {shape[0]}x{shape[1]} is too small for {info.name}: "
            f"height and width must be at least {minimum}"
        )
    return shape


def build(
    name: str,
    *,
    input_shape=None,
    num_classes: int | None = None,
    include_top: bool = True,
    pooling: str | None = None,
    classifier_activation: str | None = "softmax",
    **overrides,
) -> keras.Model:
    """Build a registered model (random weights) as a ``keras.Model`` named ``name``.

    ``input_shape`` (H, W, C) defaults to the model's; any size down to ``min_input_size`` and
    any channel count work. With ``include_top=True`` the output is ``[batch, num_classes]``
    class probabilities (``classifier_activation``; None gives logits) from a layer named
    ``predictions``, preceded by the ``logits`` Dense layer. With ``include_top=False`` the
    output is the last feature map, or its global ``pooling`` ("avg" | "max"); ``pooling`` is
    ignored when ``include_top=True`` (as in keras.applications).
    ``overrides``: ``dropout_rate``, ``kernel_regularizer`` (every conv/dense kernel) and the
    family's own (``get_model_info(name).overrides``).

    Example:
        >>> model = build("resnet20", input_shape=(32, 32, 3), num_classes=10)  # doctest: +SKIP
        >>> model.output_shape  # doctest: +SKIP
        (None, 10)
    """
    import keras

    info = get_model_info(name)
    unknown = sorted(set(overrides) - set(info.overrides))
    if unknown:
        raise UsageError(
            f"{name} does not accept override {unknown[0]!r}; it accepts: "
            f"{', '.join(info.overrides)}"
        )
    shape = _check_input_shape(info, input_shape, overrides)
    if num_classes is None:
        num_classes = info.default_num_classes
    positive_int(num_classes, "num_classes")
    if pooling not in (None, "avg", "max"):
        raise unknown_name("pooling", str(pooling), ("avg", "max"))
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise UsageError(
                f"unknown classifier_activation {classifier_activation!r}; "
                "use e.g. 'softmax', 'sigmoid' or None for logits"
            ) from None
    rate = overrides.get("dropout_rate")
    if rate is not None and not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
        raise UsageError(f"dropout_rate must be a number in [0, 1), got {rate!r}")
    regularizer = overrides.get("kernel_regularizer")
    if regularizer is not None and not isinstance(regularizer, keras.regularizers.Regularizer):
        try:
            overrides["kernel_regularizer"] = keras.regularizers.get(regularizer)
        except (ValueError, TypeError):
            raise UsageError(f"bad kernel_regularizer {regularizer!r}") from None
    with recursion_headroom():
        inputs = keras.Input(shape, name="input")
        outputs = info.builder(
            inputs,
            num_classes=num_classes,
            include_top=bool(include_top),
            pooling=pooling,
            classifier_activation=classifier_activation,
            **{**info.config, **overrides},
        )
        return keras.Model(inputs, outputs, name=name)


def save_model(model: keras.Model, path) -> None:
    """``model.save(path)`` with recursion headroom for very deep graphs.

    Example:
        >>> save_model(build("lenet5"), "/tmp/lenet5.keras")  # doctest: +SKIP
    """
    with recursion_headroom():
        model.save(path)


_STAGE = re.compile(r"^(stem|stage\d+)_")


def stage_outputs(model: keras.Model) -> dict[str, Any]:
    """The output tensor of every stage of a registry model, for feature extraction.

    Stages are the layer-name groups ``stem``, ``stage1``, ``stage2``…; each stage's output is
    its last layer's, and the last stage's is the backbone's final feature map. Works on models
    loaded back from ``.keras`` files too (it only reads layer names).

    Example:
        >>> model = build("resnet50", include_top=False)  # doctest: +SKIP
        >>> {k: v.shape[1] for k, v in stage_outputs(model).items()}  # doctest: +SKIP
        {'stem': 56, 'stage1': 56, 'stage2': 28, 'stage3': 14, 'stage4': 7}
    """
    last: dict[str, keras.layers.Layer] = {}
    for layer in model.layers:
        match = _STAGE.match(layer.name)
        if match:
            last[match.group(1)] = layer
    if not last:
        raise UsageError(f"model {model.name!r} has no stem/stageN layers to extract features from")
    return {stage: layer.output for stage, layer in last.items()}


def feature_extractor(name: str, *, input_shape=None, stages=None, **overrides) -> keras.Model:
    """A multi-output model ``{stage: feature map}`` from the backbone of ``name``.

    ``stages`` picks a subset (e.g. ``["stage2", "stage3", "stage4"]`` for an FPN); default all.

    Example:
        >>> fx = feature_extractor("resnet18", input_shape=(64, 64, 3))  # doctest: +SKIP
        >>> sorted(fx.output_shape)  # doctest: +SKIP
        ['stage1', 'stage2', 'stage3', 'stage4', 'stem']
    """
    import keras

    backbone = build(name, input_shape=input_shape, include_top=False, **overrides)
    outputs = stage_outputs(backbone)
    if stages is not None:
        missing = [s for s in stages if s not in outputs]
        if missing:
            raise unknown_name("stage", str(missing[0]), outputs)
        outputs = {s: outputs[s] for s in stages}
    with recursion_headroom():
        return keras.Model(backbone.inputs, outputs, name=f"{name}_features")
