"""MobileNets v1, v2 and v3 (small, large), layer for layer keras.applications' models.

* v1 (Howard et al. 2017): 3×3/2 conv 32 → 13 depthwise-separable blocks (depthwise 3×3 →
  BN → ReLU6 → pointwise 1×1 → BN → ReLU6); stride-2 depthwise convs are zero-padded
  ``((0, 1), (0, 1))`` as in keras.applications. ``alpha`` scales every width by
  ``int(width * alpha)``; ``depth_multiplier`` multiplies the depthwise outputs.
* v2 (Sandler et al. 2018): 3×3/2 conv 32 → 17 inverted residuals (expand 1×1 ×6 → depthwise
  3×3 → linear 1×1 projection, identity when shapes allow) → 1×1 conv 1280. ``alpha`` rounds
  widths to multiples of 8; the last 1280 grows only for ``alpha > 1``.
* v3 (Howard et al. 2019): 3×3/2 conv 16 (hard-swish) → 11 / 15 bnecks (inverted residuals
  with 3×3 or 5×5 depthwise, squeeze-and-excitation, ReLU or hard-swish) → 1×1 conv 576 / 960.
  keras.applications' MobileNetV3 *without* its built-in rescaling (``include_preprocessing=
  False``): inputs are scaled like every other model of the zoo, by the caller.

Batch norm: keras.applications' ``epsilon=1e-3`` (momentum 0.99 for v1, 0.999 for v2/v3).

Heads. The trainable layers are exactly the reference's so its pretrained weights load:

* v1: ``avg_pool`` (global average, kept 1×1) → ``dropout`` (default 1e-3, the reference's) →
  ``logits`` (the reference's 1×1 ``conv_preds`` Conv2D with bias) → ``flatten`` (its Reshape)
  → ``predictions``. A 1×1 conv rather than a Dense keeps the reference kernel's shape.
* v2: ``avg_pool`` → ``dropout`` (default 0: the reference has none) → ``logits`` Dense (the
  reference's ``predictions`` Dense) → ``predictions``.
* v3: ``avg_pool`` (kept 1×1) → ``fc1`` (the reference's ``conv_2``: 1×1 conv 1024 / 1280 with
  bias; its hard-swish is the layer's own activation so the head keeps the zoo's head names)
  → ``dropout`` (default 0.2) → ``logits`` (1×1 conv) → ``flatten`` → ``predictions``.

Layer names: ``stem_conv`` / ``_bn`` / ``_relu6`` (``_hard_swish``); a new stage starts at each
stride-2 block (v2: ``stage1`` at 112×112 … ``stage5`` at 7×7), blocks as in
:mod:`kerascnn.blocks.mobile` (``stage2_block1_expand_conv``, ``stage2_block1_depthwise_conv``,
``stage2_block1_se_reduce_conv``, ``stage2_block1_project_bn``, ``stage2_block2_add``; v1:
``stage2_block1_pointwise_conv``); the last 1×1 conv of v2/v3 is ``stageN_last_conv`` / ``_bn``.

Overrides: ``dropout_rate``, ``kernel_regularizer``, ``alpha`` (width multiplier), and for v1
``depth_multiplier``.

Example:
    >>> from kerascnn.architectures import build
    >>> build("mobilenet_v2", alpha=0.5, input_shape=(96, 96, 3)).output_shape  # doctest: +SKIP
    (None, 1000)
"""

from __future__ import annotations

from kerascnn.architectures._registry import Family
from kerascnn.errors import UsageError, positive_int

HOWARD_2017 = (
    "Howard et al.: MobileNets: Efficient Convolutional Neural Networks for Mobile Vision "
    "Applications, arXiv:1704.04861 (2017); layout of keras.applications MobileNet"
)
SANDLER_2018 = (
    "Sandler, Howard, Zhu, Zhmoginov, Chen: MobileNetV2: Inverted Residuals and Linear "
    "Bottlenecks, CVPR 2018 (arXiv:1801.04381); layout of keras.applications MobileNetV2"
)
HOWARD_2019 = (
    "Howard et al.: Searching for MobileNetV3, ICCV 2019 (arXiv:1905.02244); layout of "
    "keras.applications {} (include_preprocessing=False)"
)

# v1: (pointwise filters, depthwise stride) of the 13 separable blocks.
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + (
    (1024, 2),
    (1024, 1),
)
# v2: the paper's table 2 rows (expansion t, channels c, repeats n, first stride s).
V2_ROWS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# v3: (expansion, channels, kernel, stride, squeeze-excite, activation) of each bneck.
RE, HS = "relu", "hard_swish"
V3_SMALL = (
    (1, 16, 3, 2, True, RE),
    (72 / 16, 24, 3, 2, False, RE),
    (88 / 24, 24, 3, 1, False, RE),
    (4, 40, 5, 2, True, HS),
    (6, 40, 5, 1, True, HS),
    (6, 40, 5, 1, True, HS),
    (3, 48, 5, 1, True, HS),
    (3, 48, 5, 1, True, HS),
    (6, 96, 5, 2, True, HS),
    (6, 96, 5, 1, True, HS),
    (6, 96, 5, 1, True, HS),
)
V3_LARGE = (
    (1, 16, 3, 1, False, RE),
    (4, 24, 3, 2, False, RE),
    (3, 24, 3, 1, False, RE),
    (3, 40, 5, 2, True, RE),
    (3, 40, 5, 1, True, RE),
    (3, 40, 5, 1, True, RE),
    (6, 80, 3, 2, False, HS),
    (2.5, 80, 3, 1, False, HS),
    (2.3, 80, 3, 1, False, HS),
    (2.3, 80, 3, 1, False, HS),
    (6, 112, 3, 1, True, HS),
    (6, 112, 3, 1, True, HS),
    (6, 160, 5, 2, True, HS),
    (6, 160, 5, 1, True, HS),
    (6, 160, 5, 1, True, HS),
)
V3_SE_RATIO = 0.25
V1_BN_MOMENTUM = 0.99  # Keras' BatchNormalization default, which keras.applications v1 keeps


def _v2_blocks() -> list[tuple[int, int, int]]:
    """The 17 (expansion, channels, stride) of MobileNetV2, row repeats unrolled."""
    return [(t, c, s if i == 0 else 1) for t, c, n, s in V2_ROWS for i in range(n)]


def _plan_v1(config: dict) -> list:
    # Keras "same" stem; stride-2 depthwise convs read ((0, 1), (0, 1)) zero pads.
    return [(3, 2, None)] + [(3, 2, 1) for _, stride in V1_BLOCKS if stride == 2]


def _plan_v2(config: dict) -> list:
    return [(3, 2, None)] + [(3, 2, None) for _, _, stride in _v2_blocks() if stride == 2]


def _plan_v3(config: dict) -> list:
    return [(3, 2, None)] + [(k, 2, None) for _, _, k, s, _, _ in config["bnecks"] if s == 2]


def _stage_names(strides) -> list[str]:
    """``stageN_blockM`` for each block: a new stage at each stride-2 block (and the first).

    Example:
        >>> _stage_names([1, 2, 1, 2])
        ['stage1_block1', 'stage2_block1', 'stage2_block2', 'stage3_block1']
    """
    names, stage, index = [], 0, 0
    for stride in strides:
        if stride != 1 or stage == 0:
            stage, index = stage + 1, 0
        index += 1
        names.append(f"stage{stage}_block{index}")
    return names


def _check_alpha(alpha, smallest: float = 0.0) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > smallest:
        raise UsageError(f"alpha (width multiplier) must be a number > {smallest:g}, got {alpha!r}")
    return float(alpha)


def _dropout_rate(rate, default: float) -> float:
    return default if rate is None else float(rate)


def _conv_head(x, num_classes, classifier_activation, *, dropout_rate, kernel_regularizer,
               hidden=None):
    """Global average pool kept 1×1 → [``fc1`` 1×1 conv + hard-swish] → dropout → ``logits``
    1×1 conv → ``flatten`` → ``predictions``: keras.applications' MobileNet v1/v3 heads."""
    from keras import layers

    from kerascnn import blocks
    from kerascnn.architectures._common import predictions

    x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
    if hidden:
        x = layers.Conv2D(
            hidden,
            1,
            padding="same",
            activation="hard_swish",
            kernel_regularizer=kernel_regularizer,
            name="fc1",
        )(x)
    x = blocks.dropout(x, dropout_rate, name="dropout")
    x = layers.Conv2D(
        num_classes, 1, padding="same", kernel_regularizer=kernel_regularizer, name="logits"
    )(x)
    x = layers.Flatten(name="flatten")(x)
    return predictions(x, classifier_activation)


def _mobilenet_v1(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    alpha=1.0,
    depth_multiplier=1,
    dropout_rate=None,
    kernel_regularizer=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import features_head

    alpha = _check_alpha(alpha, 1 / 32 - 1e-9)  # int(32 * alpha) stem filters must be >= 1
    positive_int(depth_multiplier, "depth_multiplier")
    bn = dict(bn_momentum=V1_BN_MOMENTUM, kernel_regularizer=kernel_regularizer)
    x = blocks.mobile_conv_bn_act(inputs, int(32 * alpha), 3, strides=2, name="stem", **bn)
    names = _stage_names([stride for _, stride in V1_BLOCKS])
    for (filters, stride), name in zip(V1_BLOCKS, names):
        x = blocks.separable_block(
            x,
            int(filters * alpha),
            strides=stride,
            padding="same" if stride == 1 else ((0, 1), (0, 1)),
            depth_multiplier=depth_multiplier,
            name=name,
            **bn,
        )
    if not include_top:
        return features_head(x, pooling)
    return _conv_head(
        x,
        num_classes,
        classifier_activation,
        dropout_rate=_dropout_rate(dropout_rate, 1e-3),
        kernel_regularizer=kernel_regularizer,
    )


def _mobilenet_v2(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    alpha=1.0,
    dropout_rate=None,
    kernel_regularizer=None,
):
    from kerascnn import blocks
    from kerascnn.architectures._common import classifier, features_head

    alpha = _check_alpha(alpha)
    x = blocks.mobile_conv_bn_act(
        inputs,
        blocks.make_divisible(32 * alpha),
        3,
        strides=2,
        kernel_regularizer=kernel_regularizer,
        name="stem",
    )
    table = _v2_blocks()
    names = _stage_names([stride for _, _, stride in table])
    for (expansion, channels, stride), name in zip(table, names):
        x = blocks.inverted_residual_block(
            x,
            blocks.make_divisible(int(channels * alpha)),
            expanded_channels=expansion * x.shape[-1],
            strides=stride,
            kernel_regularizer=kernel_regularizer,
            name=name,
        )
    # No alpha on the last conv below 1 (the paper: it would cost accuracy, not speed).
    last = blocks.make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = blocks.mobile_conv_bn_act(
        x, last, 1, kernel_regularizer=kernel_regularizer, name=f"{names[-1].split('_')[0]}_last"
    )
    if not include_top:
        return features_head(x, pooling)
    x = blocks.global_pool(x, "avg", name="avg_pool")
    x = blocks.dropout(x, _dropout_rate(dropout_rate, 0.0), name="dropout")
    return classifier(x, num_classes, classifier_activation, kernel_regularizer=kernel_regularizer)


def _mobilenet_v3(
    inputs,
    *,
    num_classes,
    include_top,
    pooling,
    classifier_activation,
    bnecks: tuple,
    last_point_channels: int,
    alpha=1.0,
    dropout_rate=None,
    kernel_regularizer=None,
):
    from kerascnn import blocks as mobile
    from kerascnn.architectures._common import features_head

    alpha = _check_alpha(alpha)
    x = mobile.mobile_conv_bn_act(
        inputs, 16, 3, strides=2, activation=HS, kernel_regularizer=kernel_regularizer, name="stem"
    )
    names = _stage_names([stride for _, _, _, stride, _, _ in bnecks])
    for (expansion, channels, kernel, stride, se, act), name in zip(bnecks, names):
        x = mobile.inverted_residual_block(
            x,
            mobile.make_divisible(channels * alpha),
            expanded_channels=mobile.make_divisible(x.shape[-1] * expansion),
            kernel_size=kernel,
            strides=stride,
            se_ratio=V3_SE_RATIO if se else None,
            activation=act,
            kernel_regularizer=kernel_regularizer,
            name=name,
        )
    x = mobile.mobile_conv_bn_act(
        x,
        mobile.make_divisible(x.shape[-1] * 6),
        1,
        activation=HS,
        kernel_regularizer=kernel_regularizer,
        name=f"{names[-1].split('_')[0]}_last",
    )
    if not include_top:
        return features_head(x, pooling)
    if alpha > 1.0:
        last_point_channels = mobile.make_divisible(last_point_channels * alpha)
    return _conv_head(
        x,
        num_classes,
        classifier_activation,
        dropout_rate=_dropout_rate(dropout_rate, 0.2),
        kernel_regularizer=kernel_regularizer,
        hidden=last_point_channels,
    )


V1 = Family("mobilenet", _mobilenet_v1, overrides=("alpha", "depth_multiplier"),
            spatial_plan=_plan_v1)
V2 = Family("mobilenet", _mobilenet_v2, overrides=("alpha",), spatial_plan=_plan_v2)
V3 = Family("mobilenet", _mobilenet_v3, overrides=("alpha",), spatial_plan=_plan_v3)

# params: trainable parameters; macs: multiply-accumulates at 224×224×3, 1000 classes.
# fmt: off
V1.variant("mobilenet", params=4_231_976, macs=568_740_352, depth=28, receptive_field=315, reference=HOWARD_2017,
           description="MobileNet v1 (alpha 1.0)")
V2.variant("mobilenet_v2", params=3_504_872, macs=300_774_272, depth=53, receptive_field=491, reference=SANDLER_2018,
           description="MobileNetV2 (alpha 1.0)")
V3.variant("mobilenet_v3_small", bnecks=V3_SMALL, last_point_channels=1024,
           params=2_542_856, macs=56_510_400, depth=54, receptive_field=639, reference=HOWARD_2019.format("MobileNetV3Small"),
           description="MobileNetV3-Small (alpha 1.0)")
V3.variant("mobilenet_v3_large", bnecks=V3_LARGE, last_point_channels=1280,
           params=5_483_032, macs=216_589_760, depth=64, receptive_field=595, reference=HOWARD_2019.format("MobileNetV3Large"),
           description="MobileNetV3-Large (alpha 1.0)")
# fmt: on
