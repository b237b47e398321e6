"""ResNets: ImageNet v1.5 / v1 (torchvision), pre-activation v2 (keras.applications layout),
ResNeXt, Wide ResNet and the CIFAR ResNets of He et al.

ImageNet stem: 7×7/2 conv (pad 3) → BN → ReLU → 3×3/2 max pool (pad 1); four stages of
basic or bottleneck blocks (64, 128, 256, 512 filters; stride 2 in the first block of stages
2–4); global average pool; fc. Bottleneck stride sits on the 3×3 conv (v1.5, torchvision's
default) unless ``variant="v1"``. CIFAR stem: 3×3 conv (16) → BN → ReLU; three stages of
``(depth-2)/6`` basic blocks with 16, 32, 64 filters and option-A (zero-padding) shortcuts.
ResNet50V2 follows keras.applications: stem conv with bias and no BN, the stride in the *last*
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

from kerascnn.architectures._registry import register
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
        x = blocks.batch_norm(x, epsilon=1.001e-5, name=f"stage{last_stage}_post_bn")
        x = blocks.activation(x, activation, name=f"stage{last_stage}_post_{activation}")

    if not include_top:
        return features_head(x, pooling)
    x = blocks.global_pool(x, "avg", name="avg_pool")
    x = blocks.dropout(x, dropout_rate or 0.0, name="dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


_IMAGENET_OVERRIDES = ("shortcut", "zero_init_residual", "activation", "padding_mode")

# name -> (config, params, MACs at the defaults, reference, description)
VARIANTS = {
    "resnet18": (
        {"block": "basic", "layers": (2, 2, 2, 2)},
        11_689_512,
        1_814_073_344,
        HE_2016,
        "ResNet-18",
    ),
    "resnet34": (
        {"block": "basic", "layers": (3, 4, 6, 3)},
        21_797_672,
        3_663_761_408,
        HE_2016,
        "ResNet-34",
    ),
    "resnet50": (
        {"block": "bottleneck", "layers": (3, 4, 6, 3)},
        25_557_032,
        4_089_184_256,
        HE_2016_V15,
        "ResNet-50 v1.5",
    ),
    "resnet101": (
        {"block": "bottleneck", "layers": (3, 4, 23, 3)},
        44_549_160,
        7_801_405_440,
        HE_2016_V15,
        "ResNet-101 v1.5",
    ),
    "resnet152": (
        {"block": "bottleneck", "layers": (3, 8, 36, 3)},
        60_192_808,
        11_513_626_624,
        HE_2016_V15,
        "ResNet-152 v1.5",
    ),
    "resnet50v2": (
        {"block": "preact_bottleneck", "layers": (3, 4, 6, 3)},
        25_568_360,
        3_482_255_360,
        HE_2016_V2,
        "ResNet-50 v2 (pre-activation)",
    ),
    "resnext50_32x4d": (
        {"block": "bottleneck", "layers": (3, 4, 6, 3), "groups": 32, "width_per_group": 4},
        25_028_904,
        4_230_479_872,
        XIE_2017,
        "ResNeXt-50 32x4d",
    ),
    "wide_resnet50_2": (
        {"block": "bottleneck", "layers": (3, 4, 6, 3), "width_per_group": 128},
        68_883_240,
        11_398_021_120,
        ZAGORUYKO_2016,
        "Wide ResNet-50-2",
    ),
}
CIFAR_VARIANTS = {
    "resnet20": (269_722, 40_551_040),
    "resnet32": (464_154, 68_862_592),
    "resnet44": (658_586, 97_174_144),
    "resnet56": (853_018, 125_485_696),
    "resnet110": (1_727_962, 252_887_680),
}

for _name, (_config, _params, _macs, _reference, _description) in VARIANTS.items():
    _overrides = _IMAGENET_OVERRIDES
    if _config["block"] == "bottleneck":
        _overrides += ("variant",)
    register(
        _name,
        family="resnet",
        builder=_resnet,
        config={"stem": "imagenet", "widths": IMAGENET_WIDTHS, **_config},
        default_input_shape=(224, 224, 3),
        default_num_classes=1000,
        params=_params,
        macs=_macs,
        reference=_reference,
        description=_description,
        overrides=_overrides,
        spatial_plan=_plan,
    )

for _name, (_params, _macs) in CIFAR_VARIANTS.items():
    _depth = int(_name.removeprefix("resnet"))
    _blocks = (_depth - 2) // 6
    register(
        _name,
        family="resnet_cifar",
        builder=_resnet,
        config={
            "block": "basic",
            "layers": (_blocks,) * 3,
            "stem": "cifar",
            "widths": CIFAR_WIDTHS,
            "shortcut": "A",
        },
        default_input_shape=(32, 32, 3),
        default_num_classes=10,
        params=_params,
        macs=_macs,
        reference=HE_2016_CIFAR,
        description=f"CIFAR ResNet-{_depth} ({_blocks} basic blocks per stage, option A)",
        overrides=_IMAGENET_OVERRIDES,
        spatial_plan=_plan,
    )
