"""AlexNet as torchvision defines it (the single-GPU "one weird trick" variant).

conv 11×11/4 (64) → max pool 3/2 → conv 5×5 (192) → max pool → conv 3×3 (384, 256, 256) →
max pool → adaptive average pool to 6×6 → dropout, fc 4096, dropout, fc 4096, fc classes.
61,100,840 parameters at 224×224×3 and 1000 classes. Stages: ``stage1`` (conv1 + pool),
``stage2`` (conv2 + pool), ``stage3`` (conv3–5 + pool).

Overrides: ``dropout_rate`` (default 0.5), ``activation``, ``padding_mode`` ("zeros" |
"circular" | "reflect").

Example:
    >>> from kerascnn.architectures import build
    >>> build("alexnet", input_shape=(63, 63, 3), num_classes=5).output_shape  # doctest: +SKIP
    (None, 5)
"""

from __future__ import annotations

from typing import NamedTuple

from kerascnn.architectures._registry import Family

REFERENCE = (
    "Krizhevsky, Sutskever, Hinton: ImageNet Classification with Deep Convolutional Neural "
    "Networks, NeurIPS 2012; Krizhevsky: One weird trick for parallelizing convolutional neural "
    "networks, arXiv:1404.5997 (torchvision layout)"
)


class _Conv(NamedTuple):
    """One AlexNet convolution; ``padding`` is per side."""

    stage: int
    filters: int
    kernel: int
    stride: int
    padding: int


# Every conv, in order; each stage ends with a 3x3/2 max pool.
_CONVS = (
    _Conv(stage=1, filters=64, kernel=11, stride=4, padding=2),
    _Conv(stage=2, filters=192, kernel=5, stride=1, padding=2),
    _Conv(stage=3, filters=384, kernel=3, stride=1, padding=1),
    _Conv(stage=3, filters=256, kernel=3, stride=1, padding=1),
    _Conv(stage=3, filters=256, kernel=3, stride=1, padding=1),
)


def _plan(config: dict) -> list:
    plan = []
    for i, (stage, _, kernel, stride, padding) in enumerate(_CONVS):
        plan.append((kernel, stride, 2 * padding))
        if i + 1 == len(_CONVS) or _CONVS[i + 1].stage != stage:
            plan.append((3, 2, 0))
    return plan


def _alexnet(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    dropout_rate=0.5,
    activation="relu",
    padding_mode="zeros",
    kernel_regularizer=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    x = inputs
    for i, (stage, filters, kernel, stride, padding) in enumerate(_CONVS):
        index = sum(1 for conv in _CONVS[:i] if conv.stage == stage) + 1
        x = blocks.conv_bn_act(
            x,
            filters,
            kernel,
            strides=stride,
            padding=padding,
            padding_mode=padding_mode,
            batch_norm=False,
            activation=activation,
            kernel_regularizer=kernel_regularizer,
            name=f"stage{stage}",
            index=index,
        )
        if i + 1 == len(_CONVS) or _CONVS[i + 1].stage != stage:
            x = blocks.pool(x, "max", 3, strides=2, name=f"stage{stage}_pool")
    if not include_top:
        return features_head(x, pooling)
    x = blocks.adaptive_pool(x, 6, "avg", name="adaptive_pool")
    x = blocks.flatten(x, name="flatten")
    for fc in ("fc1", "fc2"):
        x = blocks.dropout(x, dropout_rate, name=f"{fc}_dropout")
        x = blocks.dense(
            x, 4096, activation=activation, kernel_regularizer=kernel_regularizer, name=fc
        )
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


ALEXNET = Family(
    "alexnet", _alexnet, overrides=("activation", "padding_mode"), spatial_plan=_plan
)

ALEXNET.variant(
    "alexnet",
    params=61_100_840,
    macs=714_188_480, depth=8, receptive_field=195,
    reference=REFERENCE,
    description="AlexNet (torchvision layout, adaptive 6x6 average pool)",
)
