"""GoogLeNet (Inception v1, torchvision layout) and Inception v3 (keras.applications layout).

What the lecture draws from them: 1×1 convolutions cut the depth before the expensive 3×3 and
5×5 ones (:func:`kerascnn.blocks.inception_module`), Inception v3 factorises the big kernels
(:func:`~kerascnn.blocks.inception_a`, ``_b``, ``_c`` and the grid reductions), and both end
in a global average pool and one fc layer instead of AlexNet/VGG's big dense layers.

GoogLeNet, as torchvision's ``googlenet(aux_logits=False)``: every conv is conv (no bias) → BN
(``epsilon=1e-3``) → ReLU; stem 7×7/2 (pad 3) → 3×3/2 max pool → 1×1 (64) → 3×3 (192); max pools
in torch's ceil mode (224 → 112 → 56 → 28 → 14 → 7); nine Inception modules whose third branch
is a 3×3 (torchvision kept it for its ported weights, the paper has 5×5); global average pool,
dropout 0.2, fc. ``transform_input`` is preprocessing, not part of the layout. ``aux_logits=True``
adds the two auxiliary classifiers (after 4a and 4d: 4×4 adaptive average pool → 1×1 conv (128)
→ fc 1024 + ReLU → dropout 0.7 → fc) and the model then has three outputs,
``[predictions, aux1_predictions, aux2_predictions]`` (torchvision's tuple is main, aux2, aux1).
Train them as the paper does, the auxiliary losses weighted 0.3:
``model.compile(loss=[loss] * 3, loss_weights=[1.0, 0.3, 0.3])``; predict with the first output
(or build without them: they only help training). Loading torchvision's aux weights needs the
fc1 rows permuted: torch flattens the 128×4×4 map channels-first, Keras channels-last.

Inception v3, as keras.applications' ``InceptionV3`` (299×299 by default, at least 75×75):
conv (no bias) → BN (``epsilon=1e-3``, momentum 0.99, ``scale=False``) → ReLU; stem 3×3/2, 3×3,
3×3 (same), 3×3/2 max pool, 1×1 (80), 3×3 (192); then a 3×3/2 max pool; three 35×35 modules
(A), a grid reduction, four 17×17 modules (B), a grid reduction, two 8×8 modules (C); global
average pool, fc. Unpadded ("valid") stem and strided convs, Keras "same" pads elsewhere and
average pools that leave the pads out, exactly as the reference, so its weights load (the
keras.applications ``predictions`` layer is our ``logits``).

Stages (for :func:`~kerascnn.architectures.stage_outputs`), named by their output stride:
``stem`` (stride 4: 56×56×192 / 71×71×192 at the defaults), ``stage3`` (stride 8: 28×28×480 /
35×35×288), ``stage4`` (16: 14×14×832 / 17×17×768), ``stage5`` (32: 7×7×1024 / 8×8×2048).
Layer names: ``stem_conv1`` / ``stem_bn1`` / ``stem_relu1``…, ``stem_pool1``; ``stage3_pool``
(the downsampling max pool opening a stage); ``stage3_block1_branch2_conv1``… and
``stage3_block1_concat`` (see :mod:`kerascnn.blocks.inception`); ``avg_pool``, ``dropout``,
``logits``, ``predictions``; the auxiliary heads ``aux1_pool``, ``aux1_conv``…,
``aux1_logits``, ``aux1_predictions``.

Overrides: ``dropout_rate`` (GoogLeNet 0.2, Inception v3 0, as their references),
``kernel_regularizer``, ``aux_logits`` (GoogLeNet only).

Example:
    >>> from kerascnn.architectures import build
    >>> build("googlenet", input_shape=(64, 64, 1), num_classes=10).output_shape  # doctest: +SKIP
    (None, 10)
"""

from __future__ import annotations

from kerascnn.architectures._registry import Family

SZEGEDY_2015 = (
    "Szegedy et al.: Going Deeper with Convolutions, CVPR 2015 (arXiv:1409.4842); "
    "torchvision googlenet layout (BN after every conv, 3x3 in the third branch, no aux heads)"
)
SZEGEDY_2016 = (
    "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna: Rethinking the Inception Architecture for "
    "Computer Vision, CVPR 2016 (arXiv:1512.00567); layout of keras.applications InceptionV3"
)

# GoogLeNet's Inception modules (torchvision's table): filters_1x1, reduce_3x3, filters_3x3,
# reduce_5x5, filters_5x5, pool_proj, per stage.
GOOGLENET_MODULES = {
    3: [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)],
    4: [
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ],
    5: [(256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)],
}
# The stage-4 modules that feed GoogLeNet's auxiliary classifiers (inception 4a and 4d).
AUX_AFTER = {1: "aux1", 4: "aux2"}
AUX_DROPOUT = 0.7

# Inception v3 (keras.applications InceptionV3): stage-3 modules' pool-branch widths and the
# stage-4 modules' widths inside the factorised 7x7 branches.
V3_POOL_FILTERS = (32, 64, 64)
V3_CHANNELS_7X7 = (128, 160, 160, 192)
V3_BN = {"bn_epsilon": 1e-3, "bn_momentum": 0.99, "bn_scale": False}


def _googlenet_plan(config: dict) -> list:
    # (kernel, stride, total padding); a ceil-mode pool behaves as stride - 1 extra pixels.
    return [(7, 2, 6), (3, 2, 1), (3, 1, 2), (3, 2, 1), (3, 2, 1), (2, 2, 1)]


def _inception_v3_plan(config: dict) -> list:
    # Stem convs and pools without padding, then the two grid reductions (3x3/2, unpadded).
    return [(3, 2, 0), (3, 1, 0), (3, 2, 0), (3, 1, 0), (3, 2, 0), (3, 2, 0), (3, 2, 0)]


def _head(x, *, num_classes, include_top, pooling, classifier_activation, dropout_rate,
          kernel_regularizer):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    if not include_top:
        return features_head(x, pooling)
    x = blocks.global_pool(x, "avg", name="avg_pool")
    x = blocks.dropout(x, dropout_rate or 0.0, name="dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


def _aux_head(x, num_classes, classifier_activation, *, name, kernel_regularizer):
    """torchvision's InceptionAux: 4×4 adaptive average pool → 1×1 conv (128) → fc 1024 + ReLU
    → dropout 0.7 → fc → activation (float32, like the main head)."""
    from kerascnn import blocks
    from kerascnn.architectures._common import predictions

    x = blocks.adaptive_pool(x, 4, "avg", name=f"{name}_pool")
    x = blocks.inception_conv(x, 128, 1, name=name, kernel_regularizer=kernel_regularizer)
    x = blocks.flatten(x, name=f"{name}_flatten")
    x = blocks.dense(
        x, 1024, activation="relu", kernel_regularizer=kernel_regularizer, name=f"{name}_fc"
    )
    x = blocks.dropout(x, AUX_DROPOUT, name=f"{name}_dropout")
    x = blocks.dense(x, num_classes, kernel_regularizer=kernel_regularizer, name=f"{name}_logits")
    return predictions(x, classifier_activation, name=f"{name}_predictions")


def _googlenet(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    aux_logits=False,
    dropout_rate=0.2,
    kernel_regularizer=None,
):
    from kerascnn import blocks

    options = {"kernel_regularizer": kernel_regularizer}  # BN: torch's, epsilon 1e-3
    x = blocks.inception_conv(inputs, 64, 7, strides=2, padding=3, name="stem", index=1, **options)
    x = blocks.ceil_max_pool(x, 3, 2, name="stem_pool1")
    x = blocks.inception_conv(x, 64, 1, name="stem", index=2, **options)
    x = blocks.inception_conv(x, 192, 3, name="stem", index=3, **options)

    aux_outputs = []
    for stage, modules in GOOGLENET_MODULES.items():
        x = blocks.ceil_max_pool(x, 2 if stage == 5 else 3, 2, name=f"stage{stage}_pool")
        for index, widths in enumerate(modules, start=1):
            x = blocks.inception_module(
                x, *widths, kernel_5x5=3, name=f"stage{stage}_block{index}", **options
            )
            if aux_logits and include_top and stage == 4 and index in AUX_AFTER:
                aux_outputs.append(
                    _aux_head(
                        x,
                        num_classes,
                        classifier_activation,
                        name=AUX_AFTER[index],
                        kernel_regularizer=kernel_regularizer,
                    )
                )

    outputs = _head(
        x,
        num_classes=num_classes,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        dropout_rate=dropout_rate,
        kernel_regularizer=kernel_regularizer,
    )
    return [outputs, *aux_outputs] if aux_outputs else outputs


def _inception_v3(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    dropout_rate=0.0,
    kernel_regularizer=None,
):
    from kerascnn import blocks

    options = {**V3_BN, "kernel_regularizer": kernel_regularizer}
    x = blocks.inception_conv(inputs, 32, 3, strides=2, padding="valid", name="stem", index=1,
                              **options)
    x = blocks.inception_conv(x, 32, 3, padding="valid", name="stem", index=2, **options)
    x = blocks.inception_conv(x, 64, 3, name="stem", index=3, **options)
    x = blocks.pool(x, "max", 3, strides=2, name="stem_pool1")
    x = blocks.inception_conv(x, 80, 1, padding="valid", name="stem", index=4, **options)
    x = blocks.inception_conv(x, 192, 3, padding="valid", name="stem", index=5, **options)

    x = blocks.pool(x, "max", 3, strides=2, name="stage3_pool")
    for index, pool_filters in enumerate(V3_POOL_FILTERS, start=1):
        x = blocks.inception_a(x, pool_filters, name=f"stage3_block{index}", **options)
    x = blocks.grid_reduction_a(x, name="stage4_block1", **options)
    for index, channels in enumerate(V3_CHANNELS_7X7, start=2):
        x = blocks.inception_b(x, channels, name=f"stage4_block{index}", **options)
    x = blocks.grid_reduction_b(x, name="stage5_block1", **options)
    for index in (2, 3):
        x = blocks.inception_c(x, name=f"stage5_block{index}", **options)

    return _head(
        x,
        num_classes=num_classes,
        include_top=include_top,
        pooling=pooling,
        classifier_activation=classifier_activation,
        dropout_rate=dropout_rate,
        kernel_regularizer=kernel_regularizer,
    )


GOOGLENET = Family(
    "inception", _googlenet, overrides=("aux_logits",), spatial_plan=_googlenet_plan
)
INCEPTION_V3 = Family(
    "inception",
    _inception_v3,
    spatial_plan=_inception_v3_plan,
    default_input_shape=(299, 299, 3),
)

# params: trainable parameters (Inception v3's BN has no gamma: 2 fewer per channel, plus the
# non-trainable moving statistics); macs: multiply-accumulates at 224 / 299.
# fmt: off
GOOGLENET.variant("googlenet", params=6_624_904, macs=1_498_376_192, depth=22, receptive_field=379, reference=SZEGEDY_2015,
                  description="GoogLeNet (Inception v1), torchvision layout")
INCEPTION_V3.variant("inception_v3", params=23_817_352, macs=5_713_216_096, depth=48, receptive_field=1311, reference=SZEGEDY_2016,
                     description="Inception v3, keras.applications layout")
# fmt: on
