"""LeNet-5 (LeCun et al., 1998), classic form.

C1 conv 5×5×6 → S2 average pool → C3 conv 5×5×16 (fully connected to all six S2 maps, as in
the common modern reading) → S4 average pool → C5 conv 5×5×120 → F6 dense 84 → output dense,
tanh activations; 61,706 parameters at 32×32×1 and 10 classes. Layer names: C1 is
``stage1_conv``, S2 ``stage1_pool``, C3 ``stage2_conv``, S4 ``stage2_pool``, C5
``stage3_conv``, F6 ``fc1``, the output ``logits``/``predictions``.

Overrides: ``activation`` (default "tanh"; "relu" for the modern variant), ``pool`` ("avg" |
"max"), ``dropout_rate`` (before F6 and before the output; default 0).

Example:
    >>> from kerascnn.architectures import build
    >>> build("lenet5").count_params()  # doctest: +SKIP
    61706
"""

from __future__ import annotations

from kerascnn.architectures._registry import Family

REFERENCE = (
    "LeCun, Bottou, Bengio, Haffner: Gradient-Based Learning Applied to Document Recognition, "
    "Proc. IEEE 86(11), 1998"
)


def _plan(config: dict) -> list:
    return [(5, 1, 0), (2, 2, 0), (5, 1, 0), (2, 2, 0), (5, 1, 0)]


def _lenet(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    activation="tanh",
    pool="avg",
    dropout_rate=0.0,
    kernel_regularizer=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    def conv(x, filters, name):
        return blocks.conv_bn_act(
            x,
            filters,
            5,
            padding="valid",
            batch_norm=False,
            activation=activation,
            kernel_initializer="glorot_uniform",
            kernel_regularizer=kernel_regularizer,
            name=name,
        )

    x = conv(inputs, 6, "stage1")  # C1
    x = blocks.pool(x, pool, 2, name="stage1_pool")  # S2
    x = conv(x, 16, "stage2")  # C3
    x = blocks.pool(x, pool, 2, name="stage2_pool")  # S4
    x = conv(x, 120, "stage3")  # C5
    if not include_top:
        return features_head(x, pooling)
    x = blocks.flatten(x, name="flatten")
    x = blocks.dropout(x, dropout_rate or 0.0, name="fc1_dropout")
    x = blocks.dense(
        x, 84, activation=activation, kernel_regularizer=kernel_regularizer, name="fc1"
    )  # F6
    x = blocks.dropout(x, dropout_rate or 0.0, name="logits_dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


LENET = Family(
    "lenet",
    _lenet,
    overrides=("activation", "pool"),
    spatial_plan=_plan,
    default_input_shape=(32, 32, 1),
    default_num_classes=10,
)

LENET.variant(
    "lenet5",
    params=61_706,
    macs=416_520, depth=5, receptive_field=16,
    reference=REFERENCE,
    description="LeNet-5: tanh, average pooling, C3 fully connected",
)
