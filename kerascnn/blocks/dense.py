"""Dense blocks (DenseNet-BC): bottleneck dense layers joined by concatenation, and transitions.

Huang et al.'s composite function is pre-activation: BN → ReLU → 1×1 conv to
``bottleneck_factor × growth_rate`` channels → BN → ReLU → 3×3 conv to ``growth_rate``
channels, whose output is concatenated to its input, so a block of ``n`` layers adds
``n × growth_rate`` channels. A transition compresses between blocks: BN → ReLU → 1×1 conv to
``⌊compression × C⌋`` channels → 2×2 average pool, stride 2.

Layout and constants follow keras.applications' DenseNet (BN ``epsilon=1.001e-5``, no conv
biases, Keras "same" for the 3×3 conv, which at stride 1 is torch's symmetric padding 1), so
its weights load into these layers. Names: one dense layer is ``{name}_bn1``, ``_relu1``,
``_conv1``, ``_bn2``, ``_relu2``, ``_conv2``, ``_concat``; :func:`dense_block` names its layers
``{name}_block1`` … (keras.applications' ``conv2_block1``); a transition is ``{name}_bn``,
``_relu``, ``_conv``, ``_pool``.

Example:
    >>> import keras
    >>> x = dense_block(keras.Input((56, 56, 64)), 6, growth_rate=32, name="stage1")
    >>> tuple(x.shape)
    (None, 56, 56, 256)
    >>> tuple(dense_transition(x, name="stage2_transition").shape)
    (None, 28, 28, 128)
"""

from __future__ import annotations

from keras import layers

from kerascnn.blocks.primitives import (
    KERAS_APPLICATIONS_BN_EPSILON,
    activation,
    batch_norm,
    conv_bn_act,
    pool,
)
from kerascnn.errors import UsageError


def _bn_relu_conv(x, filters, kernel_size, *, name, index, bn_epsilon, kernel_regularizer):
    suffix = "" if index is None else str(index)
    x = batch_norm(x, epsilon=bn_epsilon, name=f"{name}_bn{suffix}")
    x = activation(x, "relu", name=f"{name}_relu{suffix}")
    return conv_bn_act(
        x,
        filters,
        kernel_size,
        padding=kernel_size // 2,
        batch_norm=False,
        use_bias=False,
        activation=None,
        index=index,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )


def dense_layer(
    x,
    growth_rate: int,
    *,
    name: str,
    bottleneck_factor: int = 4,
    bn_epsilon: float = KERAS_APPLICATIONS_BN_EPSILON,
    kernel_regularizer=None,
):
    """One DenseNet-BC layer: BN-ReLU-1×1 (``bottleneck_factor × growth_rate``), BN-ReLU-3×3
    (``growth_rate``), concatenated to ``x``: the output has ``growth_rate`` more channels.

    Example:
        >>> import keras
        >>> y = dense_layer(keras.Input((8, 8, 64)), 32, name="stage1_block1")
        >>> tuple(y.shape)
        (None, 8, 8, 96)
    """
    if growth_rate < 1 or bottleneck_factor < 1:
        raise UsageError(
            f"{name}: growth_rate and bottleneck_factor must be >= 1, "
            f"got {growth_rate} and {bottleneck_factor}"
        )
    common = dict(bn_epsilon=bn_epsilon, kernel_regularizer=kernel_regularizer, name=name)
    y = _bn_relu_conv(x, bottleneck_factor * growth_rate, 1, index=1, **common)
    y = _bn_relu_conv(y, growth_rate, 3, index=2, **common)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])


def dense_block(
    x,
    num_layers: int,
    *,
    name: str,
    growth_rate: int = 32,
    bottleneck_factor: int = 4,
    bn_epsilon: float = KERAS_APPLICATIONS_BN_EPSILON,
    kernel_regularizer=None,
):
    """``num_layers`` dense layers ``{name}_block1`` …, each reading every earlier feature map.

    Example:
        >>> import keras
        >>> y = dense_block(keras.Input((8, 8, 64)), 3, growth_rate=12, name="stage1")
        >>> tuple(y.shape)
        (None, 8, 8, 100)
    """
    if num_layers < 1:
        raise UsageError(f"{name}: a dense block needs at least one layer, got {num_layers}")
    for index in range(1, num_layers + 1):
        x = dense_layer(
            x,
            growth_rate,
            bottleneck_factor=bottleneck_factor,
            bn_epsilon=bn_epsilon,
            kernel_regularizer=kernel_regularizer,
            name=f"{name}_block{index}",
        )
    return x


def dense_transition(
    x,
    *,
    name: str,
    compression: float = 0.5,
    bn_epsilon: float = KERAS_APPLICATIONS_BN_EPSILON,
    kernel_regularizer=None,
):
    """DenseNet transition: BN-ReLU-1×1 conv to ``int(compression × C)`` channels (θ, 0.5 in
    DenseNet-BC), then 2×2 average pooling with stride 2 (``{name}_pool``).

    Example:
        >>> import keras
        >>> y = dense_transition(keras.Input((56, 56, 256)), name="stage2_transition")
        >>> tuple(y.shape)
        (None, 28, 28, 128)
    """
    if not 0.0 < compression <= 1.0:
        raise UsageError(f"{name}: compression must be in (0, 1], got {compression}")
    channels = int(x.shape[-1] * compression)
    if channels < 1:
        raise UsageError(f"{name}: compression {compression} leaves no channels of {x.shape[-1]}")
    x = _bn_relu_conv(
        x,
        channels,
        1,
        index=None,
        bn_epsilon=bn_epsilon,
        kernel_regularizer=kernel_regularizer,
        name=name,
    )
    return pool(x, "avg", 2, strides=2, name=f"{name}_pool")


__all__ = ["KERAS_APPLICATIONS_BN_EPSILON", "dense_block", "dense_layer", "dense_transition"]
