"""Residual blocks: the identity path, basic and bottleneck blocks, and their pre-activation forms.

Built from :mod:`kerascnn.blocks.primitives`; names follow one scheme (``stage2_block1_conv1``,
``_bn1``, ``_relu1``, ``_downsample_conv`` or ``_shortcut``, ``_add``, ``_out``). Shortcut
option "A" pads channels with zeros (He et al.'s CIFAR networks), option "B" projects with a
1x1 convolution.

Example:
    >>> import keras
    >>> x = basic_block(keras.Input((32, 32, 16)), 32, strides=2, shortcut="A", name="b1")
    >>> tuple(x.shape)
    (None, 16, 16, 32)
"""

from __future__ import annotations

from keras import layers

from kerascnn.blocks.primitives import (
    BN_EPSILON,
    KERAS_APPLICATIONS_BN_EPSILON,
    activation,
    batch_norm,
    conv_bn_act,
)
from kerascnn.errors import unknown_name
from kerascnn.layers import ZeroPadShortcut

SHORTCUTS = ("A", "B")


def _check_shortcut(shortcut: str) -> None:
    if shortcut not in SHORTCUTS:
        raise unknown_name("shortcut option", str(shortcut), SHORTCUTS)


def shortcut_branch(
    x,
    out_channels: int,
    *,
    name: str,
    strides: int = 1,
    option: str = "B",
    batch_norm: bool = True,
    use_bias: bool = False,
    kernel_regularizer=None,
    source=None,
    project_strided: bool = True,
):
    """The identity path of a residual block.

    Unchanged shape → ``x`` itself. Otherwise option "A": strided identity with zero channels
    (``{name}_shortcut``, no parameters); option "B": 1×1 strided projection
    (``{name}_downsample_conv``) + batch norm (``{name}_downsample_bn``). ``source`` is the
    tensor the projection reads (pre-activation blocks project the activated input). With
    ``project_strided=False`` a stride alone (same channel count) keeps a strided identity,
    as keras.applications' ResNetV2 does.

    Example:
        >>> import keras
        >>> x = keras.Input((8, 8, 16))
        >>> tuple(shortcut_branch(x, 32, strides=2, option="A", name="b").shape)
        (None, 4, 4, 32)
    """
    _check_shortcut(option)
    in_channels = x.shape[-1]
    if strides == 1 and in_channels == out_channels:
        return x
    if option == "A" or (in_channels == out_channels and not project_strided):
        return ZeroPadShortcut(strides, out_channels, name=f"{name}_shortcut")(x)
    return conv_bn_act(
        x if source is None else source,
        out_channels,
        1,
        strides=strides,
        padding="valid",
        batch_norm=batch_norm,
        use_bias=use_bias,
        activation=None,
        kernel_regularizer=kernel_regularizer,
        name=f"{name}_downsample",
    )


def _add_and_activate(branch, shortcut, *, name: str, activation_kind, slope):
    x = layers.Add(name=f"{name}_add")([branch, shortcut])
    if activation_kind in (None, "linear"):
        return x
    return activation(x, activation_kind, slope=slope, name=f"{name}_out")


def basic_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    shortcut: str = "B",
    activation: str = "relu",
    slope: float = 0.01,
    padding_mode: str = "zeros",
    zero_init_last_bn: bool = False,
    kernel_regularizer=None,
):
    """ResNet basic block: 3×3 (stride) → BN → act → 3×3 → BN, + shortcut, act.

    ``shortcut``: "B" projects when the shape changes (ImageNet ResNets), "A" zero-pads
    (CIFAR ResNets). ``zero_init_last_bn`` starts the residual branch at zero (Goyal et al.).

    Example:
        >>> import keras
        >>> y = basic_block(keras.Input((56, 56, 64)), 128, strides=2, name="stage2_block1")
        >>> tuple(y.shape)
        (None, 28, 28, 128)
    """
    _check_shortcut(shortcut)
    common = dict(
        padding_mode=padding_mode, slope=slope, kernel_regularizer=kernel_regularizer, name=name
    )
    y = conv_bn_act(
        x, filters, 3, strides=strides, padding=1, activation=activation, index=1, **common
    )
    y = conv_bn_act(
        y, filters, 3, padding=1, activation=None, zero_gamma=zero_init_last_bn, index=2, **common
    )
    identity = shortcut_branch(
        x,
        filters,
        strides=strides,
        option=shortcut,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )
    return _add_and_activate(y, identity, name=name, activation_kind=activation, slope=slope)


def bottleneck_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    stride_in_1x1: bool = False,
    groups: int = 1,
    width_per_group: int = 64,
    expansion: int = 4,
    shortcut: str = "B",
    activation: str = "relu",
    slope: float = 0.01,
    padding_mode: str = "zeros",
    zero_init_last_bn: bool = False,
    kernel_regularizer=None,
):
    """ResNet bottleneck: 1×1 → 3×3 (groups) → 1×1 (×``expansion``), + shortcut, act.

    Stride placement: ResNet v1.5 (torchvision, default) strides the 3×3 conv; the original v1
    (``stride_in_1x1=True``) strides the first 1×1. Inner width is
    ``int(filters * width_per_group / 64) * groups``: ResNeXt-50 32×4d is ``groups=32,
    width_per_group=4``; Wide ResNet-50-2 is ``width_per_group=128``.

    Example:
        >>> import keras
        >>> y = bottleneck_block(keras.Input((56, 56, 64)), 64, name="stage1_block1")
        >>> tuple(y.shape)
        (None, 56, 56, 256)
    """
    _check_shortcut(shortcut)
    width = int(filters * (width_per_group / 64.0)) * groups
    common = dict(
        padding_mode=padding_mode, slope=slope, kernel_regularizer=kernel_regularizer, name=name
    )
    first_stride, middle_stride = (strides, 1) if stride_in_1x1 else (1, strides)
    y = conv_bn_act(
        x, width, 1, strides=first_stride, padding="valid", activation=activation, index=1, **common
    )
    y = conv_bn_act(
        y,
        width,
        3,
        strides=middle_stride,
        padding=1,
        groups=groups,
        activation=activation,
        index=2,
        **common,
    )
    y = conv_bn_act(
        y,
        filters * expansion,
        1,
        padding="valid",
        activation=None,
        zero_gamma=zero_init_last_bn,
        index=3,
        **common,
    )
    identity = shortcut_branch(
        x,
        filters * expansion,
        strides=strides,
        option=shortcut,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )
    return _add_and_activate(y, identity, name=name, activation_kind=activation, slope=slope)


def _preact(x, *, name, activation_kind, slope, bn_epsilon):
    x = batch_norm(x, name=f"{name}_preact_bn", epsilon=bn_epsilon)
    return activation(x, activation_kind, slope=slope, name=f"{name}_preact_{activation_kind}")


def preact_basic_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    shortcut: str = "B",
    activation: str = "relu",
    slope: float = 0.01,
    padding_mode: str = "zeros",
    bn_epsilon: float = BN_EPSILON,
    kernel_regularizer=None,
):
    """Pre-activation (ResNet v2) basic block: BN → act → 3×3 → BN → act → 3×3, + shortcut.

    The basic-block form of He et al. (2016b), "Identity Mappings in Deep Residual Networks",
    as used by pre-activation ResNet-18/34 and the CIFAR ResNet v2s; the registered v2 models
    are bottleneck ones (:func:`preact_bottleneck_block`), so this one is for models you build.
    The shortcut is the identity (strided when ``strides > 1``) while the channel count stays;
    otherwise a 1×1 projection of the activated input (option "B", no BN as in He et al. 2016b)
    or zero channels (option "A").

    Example:
        >>> import keras
        >>> y = preact_basic_block(keras.Input((32, 32, 16)), 32, strides=2, name="stage2_block1")
        >>> tuple(y.shape)
        (None, 16, 16, 32)
    """
    _check_shortcut(shortcut)
    common = dict(
        padding_mode=padding_mode,
        slope=slope,
        kernel_regularizer=kernel_regularizer,
        bn_epsilon=bn_epsilon,
        name=name,
    )
    preact = _preact(x, name=name, activation_kind=activation, slope=slope, bn_epsilon=bn_epsilon)
    identity = shortcut_branch(
        x,
        filters,
        strides=strides,
        option=shortcut,
        batch_norm=False,
        kernel_regularizer=kernel_regularizer,
        source=preact,
        project_strided=False,
        name=name,
    )
    y = conv_bn_act(
        preact, filters, 3, strides=strides, padding=1, activation=activation, index=1, **common
    )
    y = conv_bn_act(
        y,
        filters,
        3,
        padding=1,
        batch_norm=False,
        use_bias=False,
        activation=None,
        index=2,
        **common,
    )
    return layers.Add(name=f"{name}_out")([y, identity])


def preact_bottleneck_block(
    x,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    expansion: int = 4,
    shortcut: str = "B",
    activation: str = "relu",
    slope: float = 0.01,
    padding_mode: str = "zeros",
    bn_epsilon: float = KERAS_APPLICATIONS_BN_EPSILON,
    kernel_regularizer=None,
):
    """Pre-activation bottleneck laid out as keras.applications' ResNet50V2 ``block2``.

    BN → act → [shortcut: 1×1 projection *with bias* when channels change, else strided
    identity] → 1×1 → BN → act → 3×3 (stride) → BN → act → 1×1 (×4, with bias), added.

    Example:
        >>> import keras
        >>> y = preact_bottleneck_block(keras.Input((56, 56, 64)), 64, name="stage1_block1")
        >>> tuple(y.shape)
        (None, 56, 56, 256)
    """
    _check_shortcut(shortcut)
    common = dict(
        padding_mode=padding_mode,
        slope=slope,
        kernel_regularizer=kernel_regularizer,
        bn_epsilon=bn_epsilon,
        name=name,
    )
    preact = _preact(x, name=name, activation_kind=activation, slope=slope, bn_epsilon=bn_epsilon)
    identity = shortcut_branch(
        x,
        filters * expansion,
        strides=strides,
        option=shortcut,
        batch_norm=False,
        use_bias=True,
        kernel_regularizer=kernel_regularizer,
        source=preact,
        project_strided=False,
        name=name,
    )
    y = conv_bn_act(preact, filters, 1, padding="valid", activation=activation, index=1, **common)
    y = conv_bn_act(
        y, filters, 3, strides=strides, padding=1, activation=activation, index=2, **common
    )
    y = conv_bn_act(
        y,
        filters * expansion,
        1,
        padding="valid",
        batch_norm=False,
        use_bias=True,
        activation=None,
        index=3,
        **common,
    )
    return layers.Add(name=f"{name}_out")([y, identity])



__all__ = [
    "SHORTCUTS",
    "basic_block",
    "bottleneck_block",
    "preact_basic_block",
    "preact_bottleneck_block",
    "shortcut_branch",
]
