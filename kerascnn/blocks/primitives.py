"""Primitive blocks: activation, batch norm, padding, conv-BN-activation, pooling, dense, dropout.

The layers every other block and every architecture is made of, each named from the ``name``
prefix it is given. Batch norm follows torchvision (``epsilon=1e-5``, momentum 0.9, i.e. torch's
0.1); families whose reference uses other constants (keras.applications' 1e-3) pass their own.
Padding names and amounts come from :mod:`kerascnn.arithmetic.formulas`, the padding and pooling
layers from :mod:`kerascnn.layers`.

Example:
    >>> import keras
    >>> x = conv_bn_act(keras.Input((32, 32, 3)), 16, 3, padding="circular", name="stem")
    >>> tuple(x.shape)
    (None, 32, 32, 16)
"""


from __future__ import annotations

from keras import layers

from kerascnn.arithmetic.formulas import PADDINGS, size_preserving_padding
from kerascnn.errors import UsageError, unknown_name
from kerascnn.layers import AdaptivePooling2D, Padding2D, normalize_padding

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "gelu", "swish")
PADDING_MODES = ("zeros", "circular", "reflect")

BN_EPSILON = 1e-5
# keras.applications' ResNetV2 and DenseNet use this epsilon; their weights expect it.
KERAS_APPLICATIONS_BN_EPSILON = 1.001e-5
BN_MOMENTUM = 0.9


def _pair(value, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    try:
        first, second = (int(v) for v in value)
    except (TypeError, ValueError):
        raise UsageError(f"bad {what} {value!r}: expected an int or a pair of ints") from None
    if first < 1 or second < 1:
        raise UsageError(f"bad {what} {value!r}: must be >= 1")
    return first, second


def _suffix(name: str, kind: str, index) -> str:
    return f"{name}_{kind}{'' if index is None else index}"


def activation(x, kind: str | None = "relu", *, name: str, slope: float = 0.01):
    """Apply an activation layer named ``name``; ``kind`` None or "linear" returns ``x``.

    ``kind``: relu, leaky_relu (negative ``slope``, torch's default 0.01), elu, tanh,
    sigmoid, gelu (exact erf form), swish (= SiLU).

    Example:
        >>> import keras
        >>> y = activation(keras.Input((4,)), "leaky_relu", slope=0.2, name="act")
    """
    if kind is None or kind == "linear":
        return x
    if kind not in ACTIVATIONS:
        raise unknown_name("activation", str(kind), ACTIVATIONS)
    if kind == "leaky_relu":
        return layers.LeakyReLU(negative_slope=float(slope), name=name)(x)
    return layers.Activation(kind, name=name)(x)


def batch_norm(x, *, name: str, zero_gamma: bool = False, epsilon: float = BN_EPSILON):
    """Batch normalization over channels; ``zero_gamma`` starts it at zero (residual branches).

    Example:
        >>> import keras
        >>> y = batch_norm(keras.Input((8, 8, 4)), name="bn")
    """
    return layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=epsilon,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )(x)


# Aliases: conv_bn_act and dense take arguments named like these functions.
_activation = activation
_batch_norm = batch_norm


def pad(x, padding, *, mode: str = "zeros", name: str, value: float = 0.0):
    """Pad height and width; ``mode`` zeros | constant | circular | reflect | symmetric.

    Example:
        >>> import keras
        >>> tuple(pad(keras.Input((8, 8, 3)), 1, mode="circular", name="p").shape)
        (None, 10, 10, 3)
    """
    pads = normalize_padding(padding)
    if mode == "zeros" or (mode == "constant" and value == 0.0):
        return layers.ZeroPadding2D(pads, name=name)(x)
    return Padding2D(pads, mode=mode, value=value, name=name)(x)


def conv_bn_act(
    x,
    filters: int,
    kernel_size=3,
    *,
    name: str,
    index: int | None = None,
    strides=1,
    padding="same",
    padding_mode: str = "zeros",
    dilation=1,
    groups: int = 1,
    use_bias: bool | None = None,
    batch_norm: bool = True,
    activation: str | None = "relu",
    slope: float = 0.01,
    zero_gamma: bool = False,
    bn_epsilon: float = BN_EPSILON,
    kernel_initializer="he_normal",
    kernel_regularizer=None,
):
    """Conv2D → optional batch norm → activation.

    Layers: ``{name}_pad{index}`` (when needed), ``{name}_conv{index}``, ``{name}_bn{index}``,
    ``{name}_{activation}{index}``. ``padding``: "valid", "same" (Keras' same), "circular" or
    "reflect" (same-size output, torch-style symmetric pads of ``dilation*(k-1)/2``), or an int /
    pair / ``((top, bottom), (left, right))`` of explicit pads filled per ``padding_mode``
    (zeros | circular | reflect), like torch's ``Conv2d(padding=p, padding_mode=...)``.
    ``use_bias`` defaults to ``not batch_norm``.

    Example:
        >>> import keras
        >>> x = keras.Input((32, 32, 3))
        >>> y = conv_bn_act(x, 64, 7, strides=2, padding=3, name="stem")
        >>> tuple(y.shape)
        (None, 16, 16, 64)
    """
    kernel = _pair(kernel_size, "kernel size")
    stride = _pair(strides, "stride")
    rate = _pair(dilation, "dilation")
    if groups < 1 or filters % groups or (x.shape[-1] is not None and x.shape[-1] % groups):
        raise UsageError(
            f"{name}: groups={groups} must divide both the input channels ({x.shape[-1]}) "
            f"and filters ({filters})"
        )
    if padding_mode not in PADDING_MODES:
        raise unknown_name("padding mode", str(padding_mode), PADDING_MODES)
    keras_padding = "valid"
    pads = None
    mode = padding_mode
    # The pads that keep the size at stride 1, per axis (what "same" means before the input
    # size is known; circular/reflect fill these same amounts from the input).
    same = tuple(size_preserving_padding(k, d) for k, d in zip(kernel, rate))
    if isinstance(padding, str):
        if padding not in PADDINGS:
            raise unknown_name("padding", padding, PADDINGS)
        if padding in ("circular", "reflect"):
            mode = padding
            pads = same
        elif padding == "same" and padding_mode != "zeros":
            pads = same
        else:
            keras_padding = padding
    else:
        pads = normalize_padding(padding)
    if pads is not None and mode == "zeros" and stride == (1, 1):
        if pads == same:  # Keras' "same" is exactly these pads: no extra layer needed.
            pads, keras_padding = None, "same"
        elif pads == ((0, 0), (0, 0)):
            pads = None
    if pads is not None and pads != ((0, 0), (0, 0)):
        x = pad(x, pads, mode=mode, name=_suffix(name, "pad", index))
    if use_bias is None:
        use_bias = not batch_norm
    x = layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=keras_padding,
        dilation_rate=rate,
        groups=groups,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=_suffix(name, "conv", index),
    )(x)
    if batch_norm:
        x = _batch_norm(
            x, name=_suffix(name, "bn", index), zero_gamma=zero_gamma, epsilon=bn_epsilon
        )
    if activation not in (None, "linear"):
        x = _activation(x, activation, slope=slope, name=_suffix(name, str(activation), index))
    return x


def pool(
    x,
    kind: str = "max",
    pool_size=2,
    *,
    name: str,
    strides=None,
    padding="valid",
    pad_value: float | None = None,
):
    """Max or average pooling; ``padding`` "valid", "same" or an int of explicit pads.

    Explicit pads are filled with ``pad_value``: by default ``-inf`` for max pooling (as torch)
    and zeros (counted in the average, like torch's ``count_include_pad=True``) for average
    pooling. ``pad_value=0.0`` before a max pool reproduces keras.applications' ZeroPadding2D.

    Example:
        >>> import keras
        >>> y = pool(keras.Input((112, 112, 64)), "max", 3, strides=2, padding=1, name="pool")
        >>> tuple(y.shape)
        (None, 56, 56, 64)
    """
    if kind not in ("max", "avg"):
        raise unknown_name("pooling", str(kind), ("max", "avg"))
    size = _pair(pool_size, "pool size")
    stride = size if strides is None else _pair(strides, "pool stride")
    keras_padding = "valid"
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise unknown_name("pool padding", padding, ("valid", "same"))
        keras_padding = padding
    elif normalize_padding(padding) != ((0, 0), (0, 0)):
        if pad_value is None:
            pad_value = float("-inf") if kind == "max" else 0.0
        x = pad(x, padding, mode="constant", value=pad_value, name=f"{name}_pad")
    cls = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
    return cls(size, strides=stride, padding=keras_padding, name=name)(x)


def global_pool(x, kind: str = "avg", *, name: str):
    """Global average or max pooling to ``[batch, channels]``.

    Example:
        >>> import keras
        >>> tuple(global_pool(keras.Input((7, 7, 512)), name="gap").shape)
        (None, 512)
    """
    if kind == "avg":
        return layers.GlobalAveragePooling2D(name=name)(x)
    if kind == "max":
        return layers.GlobalMaxPooling2D(name=name)(x)
    raise unknown_name("pooling", str(kind), ("avg", "max"))


def adaptive_pool(x, output_size, kind: str = "avg", *, name: str):
    """Pool to a fixed spatial size like torch's ``AdaptiveAvgPool2d`` / ``AdaptiveMaxPool2d``.

    Example:
        >>> import keras
        >>> tuple(adaptive_pool(keras.Input((13, 13, 256)), 6, name="ap").shape)
        (None, 6, 6, 256)
    """
    return AdaptivePooling2D(output_size, mode=kind, name=name)(x)


def dense(
    x,
    units: int,
    *,
    name: str,
    activation: str | None = None,
    slope: float = 0.01,
    use_bias: bool = True,
    kernel_initializer="glorot_uniform",
    kernel_regularizer=None,
):
    """Dense layer ``{name}`` and optional activation ``{name}_{activation}``.

    Example:
        >>> import keras
        >>> tuple(dense(keras.Input((400,)), 120, activation="tanh", name="fc1").shape)
        (None, 120)
    """
    x = layers.Dense(
        units,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )(x)
    if activation not in (None, "linear"):
        x = _activation(x, activation, slope=slope, name=f"{name}_{activation}")
    return x


def dropout(x, rate: float, *, name: str):
    """Dropout with ``rate`` (returns ``x`` unchanged when the rate is 0).

    Example:
        >>> import keras
        >>> y = dropout(keras.Input((10,)), 0.5, name="drop")
    """
    if not 0.0 <= float(rate) < 1.0:
        raise UsageError(f"{name}: dropout rate must be in [0, 1), got {rate}")
    if float(rate) == 0.0:
        return x
    return layers.Dropout(float(rate), name=name)(x)


def flatten(x, *, name: str = "flatten"):
    """Flatten to ``[batch, features]``.

    Example:
        >>> import keras
        >>> tuple(flatten(keras.Input((5, 5, 16))).shape)
        (None, 400)
    """
    return layers.Flatten(name=name)(x)
