"""Mobile blocks: depthwise and depthwise-separable convolutions, inverted residuals,
squeeze-and-excitation, and the width-multiplier rounding rule of the MobileNet papers.

* :func:`depthwise_conv_bn_act`: one filter per input channel (times ``depth_multiplier``),
  batch norm, activation (MobileNet v1's "dw" layer);
* :func:`separable_block`: depthwise 3×3 → BN → act → pointwise 1×1 → BN → act (MobileNet v1);
* :func:`inverted_residual_block`: 1×1 expansion → depthwise k×k → optional
  squeeze-and-excitation → *linear* 1×1 projection, plus the identity when the shapes allow
  (MobileNetV2; with ``se_ratio`` and ``activation="hard_swish"`` MobileNetV3's bneck);
* :func:`squeeze_excite`: global pool → 1×1 reduce → ReLU → 1×1 expand → gate → rescale;
* :func:`make_divisible`: the papers' "round channels to a multiple of 8" rule.

Batch norm here defaults to the MobileNet references' constants (keras.applications:
``epsilon=1e-3``, ``momentum=0.999`` for v2/v3; v1 passes Keras' default 0.99), not the
torchvision ones of :mod:`~kerascnn.blocks.primitives`, so a model built from these blocks is
layer for layer the reference and trains like it. Activations: ``relu``, ``relu6``,
``hard_swish`` (x·ReLU6(x+3)/6), ``hard_sigmoid`` (ReLU6(x+3)/6) or None.

Names, from the ``name`` prefix: ``{name}_expand_conv`` / ``_bn`` / ``_relu6``,
``{name}_depthwise_pad`` (explicit pads only), ``{name}_depthwise_conv`` / ``_bn`` / ``_relu6``,
``{name}_se_pool``, ``{name}_se_reduce_conv``, ``{name}_se_relu``, ``{name}_se_expand_conv``,
``{name}_se_hard_sigmoid``, ``{name}_se_scale``, ``{name}_project_conv`` / ``_bn``,
``{name}_add``; a separable block's 1×1 is ``{name}_pointwise_conv`` / ``_bn`` / ``_relu6``.

Example:
    >>> import keras
    >>> x = keras.Input((32, 32, 16))
    >>> y = inverted_residual_block(x, 16, expansion=6, name="stage1_block1")
    >>> tuple(y.shape), keras.Model(x, y).layers[-1].name
    ((None, 32, 32, 16), 'stage1_block1_add')
"""

from __future__ import annotations

from keras import layers

from kerascnn.blocks.primitives import pad
from kerascnn.errors import UsageError, unknown_name

MOBILE_ACTIVATIONS = ("relu", "relu6", "hard_swish", "hard_sigmoid")

# keras.applications MobileNetV2 / V3 batch norm (v1 uses Keras' default momentum 0.99).
MOBILE_BN_EPSILON = 1e-3
MOBILE_BN_MOMENTUM = 0.999


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``, by
    default ``divisor``), rounded up once more when rounding lost over 10 %.

    The MobileNetV2/V3 papers' (and their reference code's) rule for channel counts scaled by
    a width multiplier: hardware likes multiples of 8, and no layer may shrink much.

    Example:
        >>> make_divisible(32 * 0.35), make_divisible(16 * 0.25), make_divisible(96 * 0.75)
        (16, 8, 72)
        >>> make_divisible(1280 * 1.4), make_divisible(20)
        (1792, 24)
    """
    if divisor < 1:
        raise UsageError(f"divisor must be a positive integer, got {divisor!r}")
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def mobile_activation(x, kind: str | None, *, name: str):
    """The activation layer ``{name}_{kind}`` (``x`` itself for None / "linear").

    Example:
        >>> import keras
        >>> x = keras.Input((4,))
        >>> keras.Model(x, mobile_activation(x, "hard_swish", name="stem")).layers[-1].name
        'stem_hard_swish'
    """
    if kind is None or kind == "linear":
        return x
    if kind not in MOBILE_ACTIVATIONS:
        raise unknown_name("activation", str(kind), MOBILE_ACTIVATIONS)
    if kind == "relu6":
        return layers.ReLU(6.0, name=f"{name}_relu6")(x)
    if kind == "relu":
        return layers.ReLU(name=f"{name}_relu")(x)
    return layers.Activation(kind, name=f"{name}_{kind}")(x)


def mobile_batch_norm(
    x, *, name: str, epsilon: float = MOBILE_BN_EPSILON, momentum: float = MOBILE_BN_MOMENTUM
):
    """Batch normalization with the MobileNet references' constants.

    Example:
        >>> import keras
        >>> y = mobile_batch_norm(keras.Input((8, 8, 4)), name="stem_bn")
    """
    return layers.BatchNormalization(epsilon=epsilon, momentum=momentum, name=name)(x)


def mobile_conv_bn_act(
    x,
    filters: int,
    kernel_size: int = 1,
    *,
    name: str,
    strides: int = 1,
    activation: str | None = "relu6",
    bn_epsilon: float = MOBILE_BN_EPSILON,
    bn_momentum: float = MOBILE_BN_MOMENTUM,
    kernel_regularizer=None,
):
    """Conv2D ("same", no bias) ``{name}_conv`` → ``{name}_bn`` → activation ``{name}_{act}``.

    The stems, the pointwise (1×1) convolutions and the last 1×1 of the MobileNets.

    Example:
        >>> import keras
        >>> y = mobile_conv_bn_act(keras.Input((224, 224, 3)), 32, 3, strides=2, name="stem")
        >>> tuple(y.shape)
        (None, 112, 112, 32)
    """
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_conv",
    )(x)
    x = mobile_batch_norm(x, name=f"{name}_bn", epsilon=bn_epsilon, momentum=bn_momentum)
    return mobile_activation(x, activation, name=name)


def depthwise_conv_bn_act(
    x,
    kernel_size: int = 3,
    *,
    name: str,
    strides: int = 1,
    padding="same",
    depth_multiplier: int = 1,
    dilation: int = 1,
    batch_norm: bool = True,
    activation: str | None = "relu6",
    bn_epsilon: float = MOBILE_BN_EPSILON,
    bn_momentum: float = MOBILE_BN_MOMENTUM,
    kernel_regularizer=None,
):
    """DepthwiseConv2D ``{name}_conv`` (no bias when batch-normed) → ``{name}_bn`` → act.

    Each input channel gets ``depth_multiplier`` k×k filters of its own, so the output has
    ``channels * depth_multiplier`` channels. ``padding``: "same" / "valid", or explicit zero
    pads (an int, a pair or ``((top, bottom), (left, right))``, layer ``{name}_pad``), e.g.
    keras.applications MobileNet's ``((0, 1), (0, 1))`` before a stride-2 depthwise conv.
    A stride and a dilation above 1 cannot be combined (Keras refuses it).

    Example:
        >>> import keras
        >>> y = depthwise_conv_bn_act(keras.Input((32, 32, 8)), strides=2, depth_multiplier=2,
        ...                           padding=((0, 1), (0, 1)), name="b1_depthwise")
        >>> tuple(y.shape)
        (None, 16, 16, 16)
    """
    if strides != 1 and dilation != 1:
        raise UsageError(f"{name}: a depthwise conv cannot have both a stride and a dilation")
    if not isinstance(depth_multiplier, int) or depth_multiplier < 1:
        raise UsageError(f"{name}: depth_multiplier must be a positive integer")
    keras_padding = padding
    if not isinstance(padding, str):
        x = pad(x, padding, name=f"{name}_pad")
        keras_padding = "valid"
    elif padding not in ("same", "valid"):
        raise unknown_name("depthwise padding", padding, ("same", "valid"))
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding=keras_padding,
        depth_multiplier=depth_multiplier,
        dilation_rate=dilation,
        use_bias=not batch_norm,
        depthwise_initializer="he_normal",
        depthwise_regularizer=kernel_regularizer,
        name=f"{name}_conv",
    )(x)
    if batch_norm:
        x = mobile_batch_norm(x, name=f"{name}_bn", epsilon=bn_epsilon, momentum=bn_momentum)
    return mobile_activation(x, activation, name=name)


def separable_block(
    x,
    filters: int,
    *,
    name: str,
    kernel_size: int = 3,
    strides: int = 1,
    padding="same",
    depth_multiplier: int = 1,
    dilation: int = 1,
    activation: str | None = "relu6",
    bn_epsilon: float = MOBILE_BN_EPSILON,
    bn_momentum: float = MOBILE_BN_MOMENTUM,
    kernel_regularizer=None,
):
    """Depthwise-separable convolution: ``{name}_depthwise_*`` then ``{name}_pointwise_*``.

    Depthwise k×k (``strides``, ``padding``, ``depth_multiplier``, ``dilation``) → BN → act →
    pointwise 1×1 to ``filters`` → BN → act; MobileNet v1's building block.

    Example:
        >>> import keras
        >>> y = separable_block(keras.Input((56, 56, 64)), 128, strides=2, name="stage2_block1")
        >>> tuple(y.shape)
        (None, 28, 28, 128)
    """
    common = dict(
        activation=activation,
        bn_epsilon=bn_epsilon,
        bn_momentum=bn_momentum,
        kernel_regularizer=kernel_regularizer,
    )
    x = depthwise_conv_bn_act(
        x,
        kernel_size,
        strides=strides,
        padding=padding,
        depth_multiplier=depth_multiplier,
        dilation=dilation,
        name=f"{name}_depthwise",
        **common,
    )
    return mobile_conv_bn_act(x, filters, 1, name=f"{name}_pointwise", **common)


def squeeze_excite(
    x,
    squeeze_channels: int,
    *,
    name: str,
    activation: str = "relu",
    gate: str = "hard_sigmoid",
    kernel_regularizer=None,
):
    """Squeeze-and-excitation: rescale each channel by a gate computed from the whole map.

    ``{name}_pool`` (global average, kept 1×1) → ``{name}_reduce_conv`` (1×1, bias) →
    ``{name}_{activation}`` → ``{name}_expand_conv`` (1×1 back to the channels, bias) →
    ``{name}_{gate}`` → ``{name}_scale`` (input × gate). MobileNetV3 gates with a hard sigmoid.

    Example:
        >>> import keras
        >>> y = squeeze_excite(keras.Input((14, 14, 96)), 24, name="b1_se")
        >>> tuple(y.shape)
        (None, 14, 14, 96)
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    for suffix, units, act in (("reduce", squeeze_channels, activation), ("expand", channels, gate)):
        s = layers.Conv2D(
            units,
            1,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_{suffix}_conv",
        )(s)
        s = mobile_activation(s, act, name=name)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def inverted_residual_block(
    x,
    filters: int,
    *,
    name: str,
    expansion: float = 6,
    expanded_channels: int | None = None,
    kernel_size: int = 3,
    strides: int = 1,
    dilation: int = 1,
    se_ratio: float | None = None,
    activation: str = "relu6",
    bn_epsilon: float = MOBILE_BN_EPSILON,
    bn_momentum: float = MOBILE_BN_MOMENTUM,
    kernel_regularizer=None,
):
    """MobileNetV2's inverted residual (MobileNetV3's "bneck" with ``se_ratio``).

    1×1 expansion to ``expanded_channels`` (default ``round(in_channels * expansion)``;
    skipped when that equals the input channels, as in both papers' first block) → BN → act →
    depthwise k×k (``strides``, ``dilation``, "same" padding) → BN → act → squeeze-and-excitation
    to ``make_divisible(expanded * se_ratio)`` channels when ``se_ratio`` → linear 1×1
    projection to ``filters`` → BN; plus the input (``{name}_add``) when the stride is 1 and
    the channels match.

    Example:
        >>> import keras
        >>> y = inverted_residual_block(keras.Input((28, 28, 40)), 80, expansion=6, strides=2,
        ...                             kernel_size=5, se_ratio=0.25, activation="hard_swish",
        ...                             name="stage4_block1")
        >>> tuple(y.shape)
        (None, 14, 14, 80)
    """
    in_channels = x.shape[-1]
    if expanded_channels is None:
        expanded_channels = int(round(in_channels * expansion))
    common = dict(bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    inputs = x
    if expanded_channels != in_channels:
        x = mobile_conv_bn_act(
            x,
            expanded_channels,
            1,
            activation=activation,
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_expand",
            **common,
        )
    x = depthwise_conv_bn_act(
        x,
        kernel_size,
        strides=strides,
        dilation=dilation,
        activation=activation,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_depthwise",
        **common,
    )
    if se_ratio:
        x = squeeze_excite(
            x,
            make_divisible(expanded_channels * se_ratio),
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_se",
        )
    x = mobile_conv_bn_act(
        x,
        filters,
        1,
        activation=None,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_project",
        **common,
    )
    if strides == 1 and in_channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x
