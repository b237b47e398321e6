"""DenseNet-BC (Huang et al.) as laid out by keras.applications DenseNet121/169/201.

Stem: zero pad 3 → 7×7/2 conv (64, no bias) → BN → ReLU → zero pad 1 → 3×3/2 max pool (the
padding is zeros, as keras.applications', which equals torch's -inf padding after the ReLU).
Four dense blocks of bottleneck layers (growth rate 32, 1×1 width 4 × 32) with a transition
(BN-ReLU-1×1 conv halving the channels, 2×2/2 average pool) between consecutive blocks; a final
BN → ReLU; global average pool; fc. BN epsilon 1.001e-5 (keras.applications; torchvision
uses 1e-5), so keras.applications' weights load layer for layer and compute the same function.
BN momentum is the zoo's (0.9, torch's 0.1; keras.applications' 0.99): it only shapes training.

Stages: ``stem`` (to the max pool, stride 4), then ``stage1`` … ``stage4``, each one dense
block. A transition *begins* the stage whose block it feeds (``stage2_transition_*``), the way
a ResNet stage begins with its strided block: so ``stageN`` ends at stride ``2**(N+1)`` (4, 8,
16, 32) and :func:`~kerascnn.architectures.feature_extractor` gives the usual FPN pyramid.
``stage4`` ends with the final ``stage4_post_bn`` / ``stage4_post_relu``.

Layer names: ``stem_pad``, ``stem_conv``, ``stem_bn``, ``stem_relu``, ``stem_pool_pad``,
``stem_pool``; ``stage2_transition_bn`` / ``_relu`` / ``_conv`` / ``_pool``;
``stage1_block1_bn1`` / ``_relu1`` / ``_conv1`` / ``_bn2`` / ``_relu2`` / ``_conv2`` /
``_concat`` (keras.applications' ``conv2_block1_0_bn`` … ``conv2_block1_concat``);
``avg_pool``, ``dropout``, ``logits``, ``predictions``.

Overrides: ``dropout_rate`` (dropout before the fc, default 0), ``kernel_regularizer``,
``growth_rate`` (k, 32) and ``compression`` (θ, 0.5), the paper's two DenseNet-BC
hyper-parameters; ``bn_epsilon`` (1.001e-5; torchvision's weights expect its 1e-5).

Example:
    >>> from kerascnn.architectures import build
    >>> build("densenet121", input_shape=(64, 64, 1), num_classes=10).output_shape  # doctest: +SKIP
    (None, 10)
"""

from __future__ import annotations

from kerascnn.architectures._registry import Family

HUANG_2017 = (
    "Huang, Liu, van der Maaten, Weinberger: Densely Connected Convolutional Networks, "
    "CVPR 2017 (arXiv:1608.06993); layout of keras.applications DenseNet{depth} "
    "(torchvision densenet{depth} has the same parameters)"
)

STEM_FEATURES = 64


def _plan(config: dict) -> list:
    # 7x7/2 conv (pad 3), 3x3/2 max pool (pad 1), then a 2x2/2 average pool per transition.
    return [(7, 2, 6), (3, 2, 2)] + [(2, 2, 0)] * (len(config["block_config"]) - 1)


def _densenet(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    block_config,
    growth_rate=32,
    compression=0.5,
    bottleneck_factor=4,
    dropout_rate=0.0,
    kernel_regularizer=None,
    bn_epsilon=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    # The epsilon is part of the function the weights were trained for: keras.applications
    # uses 1.001e-5, torchvision 1e-5.
    epsilon = blocks.KERAS_APPLICATIONS_BN_EPSILON if bn_epsilon is None else float(bn_epsilon)
    x = blocks.conv_bn_act(
        inputs,
        STEM_FEATURES,
        7,
        strides=2,
        padding=3,
        bn_epsilon=epsilon,
        kernel_regularizer=kernel_regularizer,
        name="stem",
    )
    # Zero padding, as keras.applications: after the ReLU it is the same as torch's -inf.
    x = blocks.pool(x, "max", 3, strides=2, padding=1, pad_value=0.0, name="stem_pool")

    common = dict(bn_epsilon=epsilon, kernel_regularizer=kernel_regularizer)
    last_stage = len(block_config)
    for stage, num_layers in enumerate(block_config, start=1):
        if stage > 1:
            x = blocks.dense_transition(
                x, compression=compression, name=f"stage{stage}_transition", **common
            )
        x = blocks.dense_block(
            x,
            num_layers,
            growth_rate=growth_rate,
            bottleneck_factor=bottleneck_factor,
            name=f"stage{stage}",
            **common,
        )
    x = blocks.batch_norm(x, epsilon=epsilon, name=f"stage{last_stage}_post_bn")
    x = blocks.activation(x, "relu", name=f"stage{last_stage}_post_relu")

    if not include_top:
        return features_head(x, pooling)
    x = blocks.global_pool(x, "avg", name="avg_pool")
    x = blocks.dropout(x, dropout_rate or 0.0, name="dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


DENSENET = Family(
    "densenet",
    _densenet,
    overrides=("growth_rate", "compression", "bn_epsilon"),
    spatial_plan=_plan,
)

# params: trainable parameters, torchvision's figures. keras.applications' trainable counts are
# the same; its totals (8,062,504 / 14,307,880 / 20,242,984) add the BN moving means and
# variances, which are non-trainable in Keras (buffers in torch). macs at 224x224.
# fmt: off
DENSENET.variant("densenet121", block_config=(6, 12, 24, 16),
                 params=7_978_856, macs=2_834_161_664, depth=121, receptive_field=2071, reference=HUANG_2017.format(depth=121),
                 description="DenseNet-121 (BC, k=32, blocks 6-12-24-16)")
DENSENET.variant("densenet169", block_config=(6, 12, 32, 32),
                 params=14_149_480, macs=3_359_843_328, depth=169, receptive_field=3351, reference=HUANG_2017.format(depth=169),
                 description="DenseNet-169 (BC, k=32, blocks 6-12-32-32)")
DENSENET.variant("densenet201", block_config=(6, 12, 48, 32),
                 params=20_013_928, macs=4_291_365_888, depth=201, receptive_field=3863, reference=HUANG_2017.format(depth=201),
                 description="DenseNet-201 (BC, k=32, blocks 6-12-48-32)")
# fmt: on
