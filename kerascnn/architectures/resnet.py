"""ResNets: ImageNet v1.5 / v1 (torchvision), pre-activation v2 (keras.applications layout),
ResNeXt, Wide ResNet and the CIFAR ResNets of He et al.

ImageNet stem: 7×7/2 conv (pad 3) → BN → ReLU → 3×3/2 max pool (pad 1); four stages of
basic or bottleneck blocks (64, 128, 256, 512 filters; stride 2 in the first block of stages
2–4); global average pool; fc. Bottleneck stride sits on the 3×3 conv (v1.5, torchvision's
default) unless ``variant="v1"``. CIFAR stem: 3×3 conv (16) → BN → ReLU; three stages of
``(depth-2)/6`` basic blocks with 16, 32, 64 filters and option-A (zero-padding) shortcuts.
ResNet50V2 / 101V2 / 152V2 follow keras.applications: stem conv with bias and no BN, the stride in the *last*
block of stages 1–3, pre-activation bottlenecks, a final BN + ReLU.

Layer names: ``stem_conv``, ``stem_bn``, ``stem_relu``, ``stem_pool``, then
``stage2_block1_conv1`` / ``_bn1`` / ``_relu1`` …, ``stage2_block1_downsample_conv`` (option B)
or ``stage2_block1_shortcut`` (option A / strided identity), ``stage2_block1_add``,
``stage2_block1_out``; ``avg_pool``, ``logits``, ``predictions``.

Overrides: ``dropout_rate`` (dropout before the fc, default 0), ``kernel_regularizer``,
``shortcut`` ("A" | "B"), ``variant`` ("v1.5" | "v1", bottleneck v1 models only),
``zero_init_residual`` (zero-init the last BN gamma of each block), ``activation``,
``padding_mode`` ("zeros" | "circular" | "reflect").

Example:
    >>> from kerascnn.architectures import build
    >>> build("resnet20", input_shape=(64, 64, 1), num_classes=100).output_shape  # doctest: +SKIP
    (None, 100)
"""

from __future__ import annotations

import functools

from kerascnn.architectures._registry import Family
from kerascnn.errors import unknown_name

HE_2016 = (
    "He, Zhang, Ren, Sun: Deep Residual Learning for Image Recognition, CVPR 2016 "
    "(arXiv:1512.03385)"
)
HE_2016_V15 = HE_2016 + "; v1.5 stride placement as in torchvision"
HE_2016_V2 = (
    "He, Zhang, Ren, Sun: Identity Mappings in Deep Residual Networks, ECCV 2016 "
    "(arXiv:1603.05027); layout of keras.applications ResNet50V2"
)
HE_2016_V2_101 = HE_2016_V2.replace("ResNet50V2", "ResNet101V2")
HE_2016_V2_152 = HE_2016_V2.replace("ResNet50V2", "ResNet152V2")
XIE_2017 = (
    "Xie, Girshick, Dollar, Tu, He: Aggregated Residual Transformations for Deep Neural "
    "Networks, CVPR 2017 (arXiv:1611.05431); torchvision layout"
)
ZAGORUYKO_2016 = (
    "Zagoruyko, Komodakis: Wide Residual Networks, BMVC 2016 (arXiv:1605.07146); "
    "torchvision wide_resnet50_2 layout"
)
HE_2016_CIFAR = HE_2016 + ", section 4.2 (CIFAR-10, shortcut option A)"

IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)
VARIANTS_V1 = ("v1.5", "v1")


def _plan(config: dict) -> list:
    stride_conv = (3, 2, 2)  # the stride-2 3x3 conv (pad 1); a 1x1/2 conv never goes below 1
    if config["stem"] == "cifar":
        return [(3, 1, 2)] + [stride_conv] * (len(config["layers"]) - 1)
    return [(7, 2, 6), (3, 2, 2)] + [stride_conv] * (len(config["layers"]) - 1)


def _resnet(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    block,
    layers,
    stem="imagenet",
    widths=IMAGENET_WIDTHS,
    groups=1,
    width_per_group=64,
    shortcut="B",
    variant="v1.5",
    zero_init_residual=False,
    activation="relu",
    padding_mode="zeros",
    dropout_rate=0.0,
    kernel_regularizer=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    if variant not in VARIANTS_V1:
        raise unknown_name("ResNet variant", str(variant), VARIANTS_V1)
    common = dict(
        activation=activation,
        padding_mode=padding_mode,
        kernel_regularizer=kernel_regularizer,
        shortcut=shortcut,
    )
    preact = block == "preact_bottleneck"
    if block == "basic":
        make_block = functools.partial(
            blocks.basic_block, zero_init_last_bn=zero_init_residual, **common
        )
    elif block == "bottleneck":
        make_block = functools.partial(
            blocks.bottleneck_block,
            groups=groups,
            width_per_group=width_per_group,
            stride_in_1x1=variant == "v1",
            zero_init_last_bn=zero_init_residual,
            **common,
        )
    else:
        make_block = functools.partial(blocks.preact_bottleneck_block, **common)

    if stem == "cifar":
        x = blocks.conv_bn_act(
            inputs,
            widths[0],
            3,
            padding=1,
            activation=activation,
            padding_mode=padding_mode,
            kernel_regularizer=kernel_regularizer,
            name="stem",
        )
    else:
        x = blocks.conv_bn_act(
            inputs,
            64,
            7,
            strides=2,
            padding=3,
            padding_mode=padding_mode,
            batch_norm=not preact,
            use_bias=preact,
            activation=None if preact else activation,
            kernel_regularizer=kernel_regularizer,
            name="stem",
        )
        # keras.applications' ResNetV2 zero-pads before this pool (its input is not yet
        # activated, so that differs from torch's -inf padding); keep its layout for v2.
        x = blocks.pool(
            x, "max", 3, strides=2, padding=1, pad_value=0.0 if preact else None, name="stem_pool"
        )

    last_stage = len(layers)
    for stage, (count, filters) in enumerate(zip(layers, widths), start=1):
        for index in range(1, count + 1):
            if preact:  # keras.applications ResNetV2: stride in the last block, not the last stage
                stride = 2 if index == count and stage < last_stage else 1
            else:
                stride = 2 if index == 1 and stage > 1 else 1
            x = make_block(x, filters, strides=stride, name=f"stage{stage}_block{index}")
    if preact:
        x = blocks.batch_norm(x, epsilon=blocks.KERAS_APPLICATIONS_BN_EPSILON, name=f"stage{last_stage}_post_bn")
        x = blocks.activation(x, activation, name=f"stage{last_stage}_post_{activation}")

    if not include_top:
        return features_head(x, pooling)
    x = blocks.global_pool(x, "avg", name="avg_pool")
    x = blocks.dropout(x, dropout_rate or 0.0, name="dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


_IMAGENET_OVERRIDES = ("shortcut", "zero_init_residual", "activation", "padding_mode")
# Bottleneck v1 models may move the stride to the first 1x1 conv (variant="v1").
STRIDE_VARIANT = ("variant",)

IMAGENET = Family(
    "resnet",
    _resnet,
    config={"stem": "imagenet", "widths": IMAGENET_WIDTHS},
    overrides=_IMAGENET_OVERRIDES,
    spatial_plan=_plan,
)
CIFAR = Family(
    "resnet_cifar",
    _resnet,
    config={"block": "basic", "stem": "cifar", "widths": CIFAR_WIDTHS, "shortcut": "A"},
    overrides=_IMAGENET_OVERRIDES,
    spatial_plan=_plan,
    default_input_shape=(32, 32, 3),
    default_num_classes=10,
)

# params: trainable parameters; macs: multiply-accumulates at the default input (224 / 32).
# fmt: off
IMAGENET.variant("resnet18", block="basic", layers=(2, 2, 2, 2),
                 params=11_689_512, macs=1_814_073_344, depth=18, receptive_field=435, reference=HE_2016,
                 description="ResNet-18")
IMAGENET.variant("resnet34", block="basic", layers=(3, 4, 6, 3),
                 params=21_797_672, macs=3_663_761_408, depth=34, receptive_field=899, reference=HE_2016,
                 description="ResNet-34")
IMAGENET.variant("resnet50", block="bottleneck", layers=(3, 4, 6, 3),
                 params=25_557_032, macs=4_089_184_256, depth=50, receptive_field=427, reference=HE_2016_V15,
                 description="ResNet-50 v1.5", overrides=STRIDE_VARIANT)
IMAGENET.variant("resnet101", block="bottleneck", layers=(3, 4, 23, 3),
                 params=44_549_160, macs=7_801_405_440, depth=101, receptive_field=971, reference=HE_2016_V15,
                 description="ResNet-101 v1.5", overrides=STRIDE_VARIANT)
IMAGENET.variant("resnet152", block="bottleneck", layers=(3, 8, 36, 3),
                 params=60_192_808, macs=11_513_626_624, depth=152, receptive_field=1451, reference=HE_2016_V15,
                 description="ResNet-152 v1.5", overrides=STRIDE_VARIANT)
IMAGENET.variant("resnet50v2", block="preact_bottleneck", layers=(3, 4, 6, 3),
                 params=25_568_360, macs=3_482_255_360, depth=50, receptive_field=483, reference=HE_2016_V2,
                 description="ResNet-50 v2 (pre-activation)")
IMAGENET.variant("resnet101v2", block="preact_bottleneck", layers=(3, 4, 23, 3),
                 params=44_577_896, macs=7_194_476_544, depth=101, receptive_field=1027, reference=HE_2016_V2_101,
                 description="ResNet-101 v2 (pre-activation)")
IMAGENET.variant("resnet152v2", block="preact_bottleneck", layers=(3, 8, 36, 3),
                 params=60_236_904, macs=10_906_697_728, depth=152, receptive_field=1507, reference=HE_2016_V2_152,
                 description="ResNet-152 v2 (pre-activation)")
IMAGENET.variant("resnext50_32x4d", block="bottleneck", layers=(3, 4, 6, 3),
                 groups=32, width_per_group=4,
                 params=25_028_904, macs=4_230_479_872, depth=50, receptive_field=427, reference=XIE_2017,
                 description="ResNeXt-50 32x4d", overrides=STRIDE_VARIANT)
IMAGENET.variant("wide_resnet50_2", block="bottleneck", layers=(3, 4, 6, 3),
                 width_per_group=128,
                 params=68_883_240, macs=11_398_021_120, depth=50, receptive_field=427, reference=ZAGORUYKO_2016,
                 description="Wide ResNet-50-2", overrides=STRIDE_VARIANT)

# CIFAR ResNet-n: (n - 2) / 6 basic blocks in each of three stages.
CIFAR.variant("resnet20", layers=(3, 3, 3),
              params=269_722, macs=40_551_040, depth=20, receptive_field=81, reference=HE_2016_CIFAR,
              description="CIFAR ResNet-20 (3 basic blocks per stage, option A)")
CIFAR.variant("resnet32", layers=(5, 5, 5),
              params=464_154, macs=68_862_592, depth=32, receptive_field=137, reference=HE_2016_CIFAR,
              description="CIFAR ResNet-32 (5 basic blocks per stage, option A)")
CIFAR.variant("resnet44", layers=(7, 7, 7),
              params=658_586, macs=97_174_144, depth=44, receptive_field=193, reference=HE_2016_CIFAR,
              description="CIFAR ResNet-44 (7 basic blocks per stage, option A)")
CIFAR.variant("resnet56", layers=(9, 9, 9),
              params=853_018, macs=125_485_696, depth=56, receptive_field=249, reference=HE_2016_CIFAR,
              description="CIFAR ResNet-56 (9 basic blocks per stage, option A)")
CIFAR.variant("resnet110", layers=(18, 18, 18),
              params=1_727_962, macs=252_887_680, depth=110, receptive_field=501, reference=HE_2016_CIFAR,
              description="CIFAR ResNet-110 (18 basic blocks per stage, option A)")
# fmt: on
