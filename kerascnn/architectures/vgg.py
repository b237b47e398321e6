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

from kerascnn.architectures._registry import register

REFERENCE = (
    "Simonyan, Zisserman: Very Deep Convolutional Networks for Large-Scale Image Recognition, "
    "ICLR 2015 (arXiv:1409.1556); batch-norm variants as in torchvision"
)

WIDTHS = (64, 128, 256, 512, 512)

# name -> convs per stage (configurations A, B, D, E of the paper), params, MACs at 224x224x3.
VARIANTS = {
    "vgg11": ((1, 1, 2, 2, 2), 132_863_336, 7_609_090_048),
    "vgg13": ((2, 2, 2, 2, 2), 133_047_848, 11_308_466_176),
    "vgg16": ((2, 2, 3, 3, 3), 138_357_544, 15_470_264_320),
    "vgg19": ((2, 2, 4, 4, 4), 143_667_240, 19_632_062_464),
}
# Batch norm adds 2 trainable parameters (gamma, beta) per conv channel.
BN_EXTRA_PARAMS = {"vgg11": 5_504, "vgg13": 5_888, "vgg16": 8_448, "vgg19": 11_008}


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


for _name, (_convs, _params, _macs) in VARIANTS.items():
    for _bn in (False, True):
        register(
            f"{_name}_bn" if _bn else _name,
            family="vgg",
            builder=_vgg,
            config={"convs": _convs, "batch_norm": _bn},
            default_input_shape=(224, 224, 3),
            default_num_classes=1000,
            params=_params + (BN_EXTRA_PARAMS[_name] if _bn else 0),
            macs=_macs,
            reference=REFERENCE,
            description=f"VGG-{sum(_convs) + 3}{' with batch norm' if _bn else ''}",
            overrides=("activation", "padding_mode"),
            spatial_plan=_plan,
        )
