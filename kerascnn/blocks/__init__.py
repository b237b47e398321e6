"""Building blocks: small functions on Keras functional-API tensors.

Every function takes a ``name`` prefix and names each layer it creates from it, so a model
built twice gets identical, hierarchical layer names (``stage2_block1_conv1``,
``stage2_block1_bn1``, ``stage2_block1_relu1``, ``stage2_block1_downsample_conv``,
``stage2_block1_out``) and never Keras' ``_1`` counters.

One module per kind of block, all read as ``blocks.X``:

* :mod:`~kerascnn.blocks.primitives`: activation, batch norm, padding, conv-BN-activation,
  pooling, dense, dropout, flatten (torchvision's conventions: BN ``epsilon=1e-5``, no conv bias
  before BN, explicit integer padding);
* :mod:`~kerascnn.blocks.residual`: the identity path, basic and bottleneck blocks and their
  pre-activation (ResNet v2) forms;
* :mod:`~kerascnn.blocks.dense`: DenseNet-BC dense layers, dense blocks and transitions;
* :mod:`~kerascnn.blocks.inception`: GoogLeNet's Inception module, Inception v3's factorised
  modules and grid reductions, torch's ceil-mode max pool;
* :mod:`~kerascnn.blocks.mobile`: depthwise and depthwise-separable convolutions, inverted
  residuals (MobileNetV2/V3), squeeze-and-excitation, the round-to-8 width rule.

Example:
    >>> import keras
    >>> from kerascnn import blocks
    >>> inputs = keras.Input((32, 32, 3), name="input")
    >>> x = blocks.conv_bn_act(inputs, 16, 3, padding="circular", name="stem")
    >>> x = blocks.basic_block(x, 32, strides=2, shortcut="A", name="stage1_block1")
    >>> tuple(x.shape)
    (None, 16, 16, 32)
"""

from kerascnn.blocks.dense import (
    dense_block,
    dense_layer,
    dense_transition,
)
from kerascnn.blocks.inception import (
    INCEPTION_BN_EPSILON,
    ceil_max_pool,
    grid_reduction_a,
    grid_reduction_b,
    inception_a,
    inception_b,
    inception_c,
    inception_conv,
    inception_module,
)
from kerascnn.blocks.mobile import (
    MOBILE_ACTIVATIONS,
    MOBILE_BN_EPSILON,
    MOBILE_BN_MOMENTUM,
    depthwise_conv_bn_act,
    inverted_residual_block,
    make_divisible,
    mobile_activation,
    mobile_batch_norm,
    mobile_conv_bn_act,
    separable_block,
    squeeze_excite,
)
from kerascnn.blocks.primitives import (
    ACTIVATIONS,
    BN_EPSILON,
    BN_MOMENTUM,
    KERAS_APPLICATIONS_BN_EPSILON,
    PADDING_MODES,
    PADDINGS,
    activation,
    adaptive_pool,
    batch_norm,
    conv_bn_act,
    dense,
    dropout,
    flatten,
    global_pool,
    pad,
    pool,
)
from kerascnn.blocks.residual import (
    SHORTCUTS,
    basic_block,
    bottleneck_block,
    preact_basic_block,
    preact_bottleneck_block,
    shortcut_branch,
)

__all__ = [
    "ACTIVATIONS",
    "BN_EPSILON",
    "BN_MOMENTUM",
    "KERAS_APPLICATIONS_BN_EPSILON",
    "INCEPTION_BN_EPSILON",
    "MOBILE_ACTIVATIONS",
    "MOBILE_BN_EPSILON",
    "MOBILE_BN_MOMENTUM",
    "PADDINGS",
    "PADDING_MODES",
    "SHORTCUTS",
    "activation",
    "adaptive_pool",
    "basic_block",
    "batch_norm",
    "bottleneck_block",
    "ceil_max_pool",
    "conv_bn_act",
    "dense",
    "dense_block",
    "dense_layer",
    "dense_transition",
    "depthwise_conv_bn_act",
    "dropout",
    "flatten",
    "global_pool",
    "grid_reduction_a",
    "grid_reduction_b",
    "inception_a",
    "inception_b",
    "inception_c",
    "inception_conv",
    "inception_module",
    "inverted_residual_block",
    "make_divisible",
    "mobile_activation",
    "mobile_batch_norm",
    "mobile_conv_bn_act",
    "pad",
    "pool",
    "preact_basic_block",
    "preact_bottleneck_block",
    "separable_block",
    "shortcut_branch",
    "squeeze_excite",
]
