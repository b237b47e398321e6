"""VGG (Simonyan & Zisserman, 2015) as torchvision defines it, with and without batch norm.

Five stages of 3×3 convs (padding 1, with bias — also in the ``_bn`` variants, where batch
norm follows each conv) each ending in a 2×2 max pool; adaptive average pool to 7×7; fc 4096,
dropout, fc 4096, dropout, fc classes. Layer names: ``stage3_conv2``, ``stage3_bn2``,
``stage3_relu2``, ``stage3_pool``, ``fc1``, ``fc2``, ``logits``, ``predictions``.

Overrides: ``dropout_rate`` (default 0.5), ``activation``, ``padding_mode`` ("zeros" |
"circular" | "reflect").

Example:
    >>> from kerascnn.architectures import build
    >>> build("vgg11", input_shape=(32, 32, 4), num_classes=10).output_shape  # doctest: +SKIP
    (None, 10)
"""

from __future__ import annotations

from kerascnn.architectures._registry import Family

REFERENCE = (
    "Simonyan, Zisserman: Very Deep Convolutional Networks for Large-Scale Image Recognition, "
    "ICLR 2015 (arXiv:1409.1556); batch-norm variants as in torchvision"
)

WIDTHS = (64, 128, 256, 512, 512)

def _plan(config: dict) -> list:
    plan = []
    for convs in config["convs"]:
        plan += [(3, 1, 2)] * convs + [(2, 2, 0)]
    return plan


def _vgg(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    convs,
    batch_norm,
    dropout_rate=0.5,
    activation="relu",
    padding_mode="zeros",
    kernel_regularizer=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    x = inputs
    for stage, (count, filters) in enumerate(zip(convs, WIDTHS), start=1):
        for index in range(1, count + 1):
            x = blocks.conv_bn_act(
                x,
                filters,
                3,
                padding=1,
                padding_mode=padding_mode,
                batch_norm=batch_norm,
                use_bias=True,
                activation=activation,
                kernel_regularizer=kernel_regularizer,
                name=f"stage{stage}",
                index=index,
            )
        x = blocks.pool(x, "max", 2, name=f"stage{stage}_pool")
    if not include_top:
        return features_head(x, pooling)
    x = blocks.adaptive_pool(x, 7, "avg", name="adaptive_pool")
    x = blocks.flatten(x, name="flatten")
    for fc in ("fc1", "fc2"):
        x = blocks.dense(
            x, 4096, activation=activation, kernel_regularizer=kernel_regularizer, name=fc
        )
        x = blocks.dropout(x, dropout_rate, name=f"{fc}_dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


VGG = Family("vgg", _vgg, overrides=("activation", "padding_mode"), spatial_plan=_plan)

# convs: 3x3 convs per stage (configurations A, B, D, E of the paper). Batch norm adds 2
# trainable parameters (gamma, beta) per conv channel; MACs count convs and dense layers only.
# fmt: off
VGG.variant("vgg11", convs=(1, 1, 2, 2, 2), batch_norm=False,
            params=132_863_336, macs=7_609_090_048, depth=11, receptive_field=150, reference=REFERENCE, description="VGG-11")
VGG.variant("vgg11_bn", convs=(1, 1, 2, 2, 2), batch_norm=True,
            params=132_868_840, macs=7_609_090_048, depth=11, receptive_field=150, reference=REFERENCE,
            description="VGG-11 with batch norm")
VGG.variant("vgg13", convs=(2, 2, 2, 2, 2), batch_norm=False,
            params=133_047_848, macs=11_308_466_176, depth=13, receptive_field=156, reference=REFERENCE, description="VGG-13")
VGG.variant("vgg13_bn", convs=(2, 2, 2, 2, 2), batch_norm=True,
            params=133_053_736, macs=11_308_466_176, depth=13, receptive_field=156, reference=REFERENCE,
            description="VGG-13 with batch norm")
VGG.variant("vgg16", convs=(2, 2, 3, 3, 3), batch_norm=False,
            params=138_357_544, macs=15_470_264_320, depth=16, receptive_field=212, reference=REFERENCE, description="VGG-16")
VGG.variant("vgg16_bn", convs=(2, 2, 3, 3, 3), batch_norm=True,
            params=138_365_992, macs=15_470_264_320, depth=16, receptive_field=212, reference=REFERENCE,
            description="VGG-16 with batch norm")
VGG.variant("vgg19", convs=(2, 2, 4, 4, 4), batch_norm=False,
            params=143_667_240, macs=19_632_062_464, depth=19, receptive_field=268, reference=REFERENCE, description="VGG-19")
VGG.variant("vgg19_bn", convs=(2, 2, 4, 4, 4), batch_norm=True,
            params=143_678_248, macs=19_632_062_464, depth=19, receptive_field=268, reference=REFERENCE,
            description="VGG-19 with batch norm")
# fmt: on
