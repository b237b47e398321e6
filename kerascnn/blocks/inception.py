"""Inception blocks: GoogLeNet's four-branch module and Inception v3's factorised modules.

The lecture's point, in code: a 1×1 convolution first cuts the depth (channels) a 3×3 or 5×5
convolution has to read, so the expensive kernels see a thin input; the branches, each looking
at a different scale, are concatenated along the channels. Inception v3 (Szegedy et al. 2016)
goes further and factorises the big kernels: a 5×5 becomes two 3×3s, an n×n becomes a 1×n
followed by an n×1, and the grid is shrunk by strided branches running side by side with a
pooling branch instead of a pool that would lose information or a conv that would cost a lot.

Every convolution here is :func:`inception_conv`: conv (no bias) → batch norm → ReLU, which is
both torchvision's ``BasicConv2d`` (BN ``epsilon=1e-3``, scaled) and keras.applications'
``conv2d_bn`` + ReLU (BN ``epsilon=1e-3``, momentum 0.99, ``scale=False``); pass the BN
options your reference uses as ``conv_options``. Names are hierarchical:
``{block}_branch{b}_conv{i}`` / ``_bn{i}`` / ``_relu{i}``, ``{block}_branch{b}_pool``, split
branches ``..._conv2a`` / ``..._conv2b`` joined by ``..._branch{b}_concat``, and the block's
output ``{block}_concat``, e.g. ``stage3_block1_branch2_conv1``.

Example:
    >>> import keras
    >>> x = keras.Input((28, 28, 192))
    >>> y = inception_module(x, 64, 96, 128, 16, 32, 32, name="stage3_block1")
    >>> tuple(y.shape)
    (None, 28, 28, 256)
"""

from __future__ import annotations

from keras import layers

from kerascnn.blocks.primitives import BN_MOMENTUM, activation, conv_bn_act, pool
from kerascnn.errors import UsageError

# Both references (torchvision's BasicConv2d, keras.applications' conv2d_bn) use 1e-3.
INCEPTION_BN_EPSILON = 1e-3


def inception_conv(
    x,
    filters: int,
    kernel_size=1,
    *,
    name: str,
    index: int | str | None = None,
    strides=1,
    padding="same",
    bn_epsilon: float = INCEPTION_BN_EPSILON,
    bn_momentum: float = BN_MOMENTUM,
    bn_scale: bool = True,
    kernel_regularizer=None,
):
    """Conv2D without bias → batch norm → ReLU: ``{name}_conv{index}``, ``_bn{index}``,
    ``_relu{index}`` (and ``_pad{index}`` for explicit pads).

    ``kernel_size`` may be rectangular, ``(1, 7)`` being 1 row by 7 columns. ``padding``:
    "same", "valid" or explicit pads as in :func:`~kerascnn.blocks.primitives.conv_bn_act`.
    ``bn_scale=False`` drops gamma (keras.applications' Inception v3: the ReLU after it makes a
    scale redundant); ``bn_momentum`` is Keras' (torch's 0.1 is Keras' 0.9).

    Example:
        >>> import keras
        >>> y = inception_conv(keras.Input((17, 17, 128)), 192, (1, 7), name="b", index=2)
        >>> tuple(y.shape)
        (None, 17, 17, 192)
    """
    x = conv_bn_act(
        x,
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        batch_norm=False,
        use_bias=False,
        activation=None,
        kernel_regularizer=kernel_regularizer,
        name=name,
        index=index,
    )
    suffix = "" if index is None else index
    x = layers.BatchNormalization(
        momentum=bn_momentum, epsilon=bn_epsilon, scale=bn_scale, name=f"{name}_bn{suffix}"
    )(x)
    return activation(x, "relu", name=f"{name}_relu{suffix}")


def ceil_max_pool(x, pool_size: int, strides: int, *, name: str):
    """Max pooling with torch's ``ceil_mode=True``: a last, partial window is kept.

    The output side is ``ceil((n - pool_size) / strides) + 1``; the missing pixels are padded
    with ``-inf`` after the map (``{name}_pad``, only when needed), so they never win the max.
    GoogLeNet's pools take 112 → 56 → 28 → 14 → 7 this way, where floor mode gives 55.
    Needs a known height and width.

    Example:
        >>> import keras
        >>> tuple(ceil_max_pool(keras.Input((112, 112, 64)), 3, 2, name="pool").shape)
        (None, 56, 56, 64)
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise UsageError(f"{name}: ceil-mode pooling needs a known input height and width")

    def pad_after(size: int) -> int:
        out = max(size + strides - 1 - pool_size, 0) // strides + 1
        return max((out - 1) * strides + pool_size - size, 0)

    pads = ((0, pad_after(height)), (0, pad_after(width)))
    return pool(x, "max", pool_size, strides=strides, padding=pads, name=name)


def _concat(tensors, *, name: str):
    return layers.Concatenate(axis=-1, name=name)(tensors)


def inception_module(
    x,
    filters_1x1: int,
    reduce_3x3: int,
    filters_3x3: int,
    reduce_5x5: int,
    filters_5x5: int,
    pool_proj: int,
    *,
    name: str,
    kernel_5x5: int = 5,
    **conv_options,
):
    """GoogLeNet's Inception module (Szegedy et al. 2015, figure 2b), four branches:

    1. ``branch1``: 1×1 conv (``filters_1x1``);
    2. ``branch2``: 1×1 conv down to ``reduce_3x3`` channels → 3×3 conv (``filters_3x3``);
    3. ``branch3``: 1×1 conv down to ``reduce_5x5`` → ``kernel_5x5`` conv (``filters_5x5``);
    4. ``branch4``: 3×3 max pool (stride 1) → 1×1 projection (``pool_proj``);

    concatenated in that order (``{name}_concat``). ``kernel_5x5=3`` reproduces torchvision's
    GoogLeNet, which kept a 3×3 there for compatibility with its ported weights.
    ``conv_options`` go to every :func:`inception_conv`.

    Example:
        >>> import keras
        >>> y = inception_module(keras.Input((14, 14, 480)), 192, 96, 208, 16, 48, 64, name="b")
        >>> tuple(y.shape)
        (None, 14, 14, 512)
    """
    branch1 = inception_conv(x, filters_1x1, 1, name=f"{name}_branch1", index=1, **conv_options)
    branch2 = inception_conv(x, reduce_3x3, 1, name=f"{name}_branch2", index=1, **conv_options)
    branch2 = inception_conv(
        branch2, filters_3x3, 3, name=f"{name}_branch2", index=2, **conv_options
    )
    branch3 = inception_conv(x, reduce_5x5, 1, name=f"{name}_branch3", index=1, **conv_options)
    branch3 = inception_conv(
        branch3, filters_5x5, kernel_5x5, name=f"{name}_branch3", index=2, **conv_options
    )
    # A stride-1 max pool with Keras "same" pads 1 pixel each side, never chosen by the max:
    # torch's MaxPool2d(3, stride=1, padding=1).
    branch4 = pool(x, "max", 3, strides=1, padding="same", name=f"{name}_branch4_pool")
    branch4 = inception_conv(branch4, pool_proj, 1, name=f"{name}_branch4", index=1, **conv_options)
    return _concat([branch1, branch2, branch3, branch4], name=f"{name}_concat")


def _avg_pool_branch(x, filters: int, *, name: str, **conv_options):
    # keras.applications' Inception v3 pools with "same" padding, which leaves the pads out of
    # the average (torchvision's count_include_pad=True would count them).
    y = pool(x, "avg", 3, strides=1, padding="same", name=f"{name}_pool")
    return inception_conv(y, filters, 1, name=name, index=1, **conv_options)


def _chain(x, convs, *, name: str, **conv_options):
    """Consecutive convs ``{name}_conv1``, ``_conv2``… from ``(filters, kernel[, strides])``."""
    for index, (filters, kernel, *stride) in enumerate(convs, start=1):
        strides = stride[0] if stride else 1
        x = inception_conv(
            x,
            filters,
            kernel,
            strides=strides,
            padding="valid" if strides > 1 else "same",
            name=name,
            index=index,
            **conv_options,
        )
    return x


def inception_a(x, pool_filters: int, *, name: str, **conv_options):
    """Inception v3's 35×35 module (paper figure 5: the 5×5 factorised into two 3×3s):

    ``branch1`` 1×1 (64); ``branch2`` 1×1 (48) → 5×5 (64); ``branch3`` 1×1 (64) → 3×3 (96) →
    3×3 (96); ``branch4`` 3×3 average pool → 1×1 (``pool_filters``: 32 in the first module,
    64 after). Output channels: 224 + ``pool_filters``.

    Example:
        >>> import keras
        >>> tuple(inception_a(keras.Input((35, 35, 192)), 32, name="b").shape)
        (None, 35, 35, 256)
    """
    branch1 = _chain(x, [(64, 1)], name=f"{name}_branch1", **conv_options)
    branch2 = _chain(x, [(48, 1), (64, 5)], name=f"{name}_branch2", **conv_options)
    branch3 = _chain(x, [(64, 1), (96, 3), (96, 3)], name=f"{name}_branch3", **conv_options)
    branch4 = _avg_pool_branch(x, pool_filters, name=f"{name}_branch4", **conv_options)
    return _concat([branch1, branch2, branch3, branch4], name=f"{name}_concat")


def grid_reduction_a(x, *, name: str, **conv_options):
    """Inception v3's 35×35 → 17×17 reduction (paper figure 10): strided branches beside a
    pool, so the grid halves without a representational bottleneck.

    ``branch1`` 3×3/2 (384); ``branch2`` 1×1 (64) → 3×3 (96) → 3×3/2 (96); ``branch3`` 3×3/2
    max pool. Strided layers use no padding ("valid"). Output: 480 + input channels.

    Example:
        >>> import keras
        >>> tuple(grid_reduction_a(keras.Input((35, 35, 288)), name="b").shape)
        (None, 17, 17, 768)
    """
    branch1 = _chain(x, [(384, 3, 2)], name=f"{name}_branch1", **conv_options)
    branch2 = _chain(x, [(64, 1), (96, 3), (96, 3, 2)], name=f"{name}_branch2", **conv_options)
    branch3 = pool(x, "max", 3, strides=2, name=f"{name}_branch3_pool")
    return _concat([branch1, branch2, branch3], name=f"{name}_concat")


def inception_b(x, channels_7x7: int, *, name: str, **conv_options):
    """Inception v3's 17×17 module (paper figure 6, n = 7): each 7×7 factorised into 1×7 and
    7×1, ``channels_7x7`` (128, 160, 160, 192 in the four modules) inside the factorised
    branches.

    ``branch1`` 1×1 (192); ``branch2`` 1×1 → 1×7 → 7×1 (192); ``branch3`` 1×1 → 7×1 → 1×7 →
    7×1 → 1×7 (192); ``branch4`` 3×3 average pool → 1×1 (192). Output: 768 channels.

    Example:
        >>> import keras
        >>> tuple(inception_b(keras.Input((17, 17, 768)), 128, name="b").shape)
        (None, 17, 17, 768)
    """
    c = channels_7x7
    branch1 = _chain(x, [(192, 1)], name=f"{name}_branch1", **conv_options)
    branch2 = _chain(
        x, [(c, 1), (c, (1, 7)), (192, (7, 1))], name=f"{name}_branch2", **conv_options
    )
    branch3 = _chain(
        x,
        [(c, 1), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))],
        name=f"{name}_branch3",
        **conv_options,
    )
    branch4 = _avg_pool_branch(x, 192, name=f"{name}_branch4", **conv_options)
    return _concat([branch1, branch2, branch3, branch4], name=f"{name}_concat")


def grid_reduction_b(x, *, name: str, **conv_options):
    """Inception v3's 17×17 → 8×8 reduction.

    ``branch1`` 1×1 (192) → 3×3/2 (320); ``branch2`` 1×1 (192) → 1×7 (192) → 7×1 (192) →
    3×3/2 (192); ``branch3`` 3×3/2 max pool. Output: 512 + input channels.

    Example:
        >>> import keras
        >>> tuple(grid_reduction_b(keras.Input((17, 17, 768)), name="b").shape)
        (None, 8, 8, 1280)
    """
    branch1 = _chain(x, [(192, 1), (320, 3, 2)], name=f"{name}_branch1", **conv_options)
    branch2 = _chain(
        x,
        [(192, 1), (192, (1, 7)), (192, (7, 1)), (192, 3, 2)],
        name=f"{name}_branch2",
        **conv_options,
    )
    branch3 = pool(x, "max", 3, strides=2, name=f"{name}_branch3_pool")
    return _concat([branch1, branch2, branch3], name=f"{name}_concat")


def _split_1x3_3x1(x, filters: int, index: int, *, name: str, **conv_options):
    """A 1×3 and a 3×1 conv side by side on ``x``, concatenated (``{name}_concat``)."""
    wide = inception_conv(x, filters, (1, 3), name=name, index=f"{index}a", **conv_options)
    tall = inception_conv(x, filters, (3, 1), name=name, index=f"{index}b", **conv_options)
    return _concat([wide, tall], name=f"{name}_concat")


def inception_c(x, *, name: str, **conv_options):
    """Inception v3's 8×8 module (paper figure 7): the last 3×3s split into a 1×3 and a 3×1
    side by side, widening the output for the coarsest grid.

    ``branch1`` 1×1 (320); ``branch2`` 1×1 (384) → [1×3 (384) ‖ 3×1 (384)]; ``branch3`` 1×1
    (448) → 3×3 (384) → [1×3 (384) ‖ 3×1 (384)]; ``branch4`` 3×3 average pool → 1×1 (192).
    The split convs are ``_conv2a``/``_conv2b`` (``_conv3a``/``_conv3b``). Output: 2048.

    Example:
        >>> import keras
        >>> tuple(inception_c(keras.Input((8, 8, 1280)), name="b").shape)
        (None, 8, 8, 2048)
    """
    branch1 = _chain(x, [(320, 1)], name=f"{name}_branch1", **conv_options)
    branch2 = _chain(x, [(384, 1)], name=f"{name}_branch2", **conv_options)
    branch2 = _split_1x3_3x1(branch2, 384, 2, name=f"{name}_branch2", **conv_options)
    branch3 = _chain(x, [(448, 1), (384, 3)], name=f"{name}_branch3", **conv_options)
    branch3 = _split_1x3_3x1(branch3, 384, 3, name=f"{name}_branch3", **conv_options)
    branch4 = _avg_pool_branch(x, 192, name=f"{name}_branch4", **conv_options)
    return _concat([branch1, branch2, branch3, branch4], name=f"{name}_concat")
