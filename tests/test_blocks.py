"""kerascnn.blocks: conv/pool/dense helpers, activations and residual blocks."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kerascnn import blocks
from kerascnn.errors import UsageError
from kerascnn.layers import Padding2D, ZeroPadShortcut


def _model(fn, shape, **kwargs):
    inputs = keras.Input(shape, name="input")
    return keras.Model(inputs, fn(inputs, **kwargs))


def _layer_names(model):
    return [layer.name for layer in model.layers]


def _params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _out(n, k, s, p, d=1):
    return (n + p - d * (k - 1) - 1) // s + 1


def test_conv_bn_act_names_and_bias_convention():
    model = _model(
        blocks.conv_bn_act, (16, 16, 3), filters=8, kernel_size=3, name="stage2_block1", index=1
    )
    assert _layer_names(model) == [
        "input",
        "stage2_block1_conv1",
        "stage2_block1_bn1",
        "stage2_block1_relu1",
    ]
    conv = model.get_layer("stage2_block1_conv1")
    assert conv.use_bias is False  # no bias before batch norm
    plain = _model(
        blocks.conv_bn_act, (16, 16, 3), filters=8, batch_norm=False, activation=None, name="c"
    )
    assert _layer_names(plain) == ["input", "c_conv"] and plain.get_layer("c_conv").use_bias


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation",
    [
        (3, 1, "same", 1),
        (3, 2, 1, 1),
        (7, 2, 3, 1),
        (5, 1, "valid", 1),
        (3, 1, "circular", 2),
        (4, 1, "reflect", 1),
        (3, 3, ((1, 0), (2, 2)), 1),
        (1, 2, 0, 1),
        (3, 1, 2, 2),
    ],
)
def test_conv_output_shape_follows_the_size_formula(kernel, stride, padding, dilation):
    n = 13
    y = blocks.conv_bn_act(
        keras.Input((n, n + 2, 3)),
        4,
        kernel,
        strides=stride,
        padding=padding,
        dilation=dilation,
        name="c",
    )
    if padding == "same":
        want = (math.ceil(n / stride), math.ceil((n + 2) / stride))
    else:
        if padding == "valid":
            pads = ((0, 0), (0, 0))
        elif padding in ("circular", "reflect"):
            total = dilation * (kernel - 1)
            pads = ((total // 2, total - total // 2),) * 2
        elif isinstance(padding, int):
            pads = ((padding, padding),) * 2
        else:
            pads = padding
        want = tuple(
            _out(size, kernel, stride, sum(p), dilation) for size, p in zip((n, n + 2), pads)
        )
    assert tuple(y.shape[1:3]) == want


def test_zero_padding_equal_to_same_uses_no_extra_layer_but_strided_padding_does():
    same = _model(blocks.conv_bn_act, (8, 8, 3), filters=4, padding=1, name="a")
    assert "a_pad" not in _layer_names(same) and same.get_layer("a_conv").padding == "same"
    strided = _model(blocks.conv_bn_act, (8, 8, 3), filters=4, strides=2, padding=1, name="b")
    assert isinstance(strided.get_layer("b_pad"), keras.layers.ZeroPadding2D)


@pytest.mark.parametrize("mode,np_mode", [("circular", "wrap"), ("reflect", "reflect")])
def test_circular_and_reflect_conv_equal_valid_conv_on_numpy_padded_input(mode, np_mode):
    plain = dict(filters=3, batch_norm=False, activation=None, name="c")  # the bare conv
    model = _model(blocks.conv_bn_act, (6, 7, 2), kernel_size=3, padding=mode, **plain)
    assert isinstance(model.get_layer("c_pad"), Padding2D)
    x = np.random.default_rng(0).normal(size=(2, 6, 7, 2)).astype("float32")
    kernel, bias = model.get_layer("c_conv").get_weights()
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=np_mode)
    want = keras.ops.convert_to_numpy(keras.ops.conv(padded, kernel, padding="valid")) + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    # The same via an explicit int and padding_mode, as torch's Conv2d(padding=1, padding_mode=...).
    explicit = _model(blocks.conv_bn_act, (6, 7, 2), padding=1, padding_mode=mode, **plain)
    explicit.get_layer("c_conv").set_weights([kernel, bias])
    np.testing.assert_allclose(explicit.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_groups_divide_parameters_and_bad_groups_are_rejected():
    grouped = _model(
        blocks.conv_bn_act, (8, 8, 32), filters=64, groups=8, batch_norm=False, name="g"
    )
    assert _params(grouped) == 3 * 3 * (32 // 8) * 64 + 64
    with pytest.raises(UsageError, match="groups=3 must divide"):
        blocks.conv_bn_act(keras.Input((8, 8, 32)), 64, groups=3, name="g")


def test_bad_padding_and_mode_are_usage_errors():
    x = keras.Input((8, 8, 3))
    with pytest.raises(UsageError, match="unknown padding 'sme'.*did you mean 'same'"):
        blocks.conv_bn_act(x, 4, padding="sme", name="c")
    with pytest.raises(UsageError, match="unknown padding mode 'wrap'"):
        blocks.conv_bn_act(x, 4, padding=1, padding_mode="wrap", name="c")
    with pytest.raises(UsageError, match="bad kernel size"):
        blocks.conv_bn_act(x, 4, kernel_size=0, name="c")


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


ACTIVATION_REFERENCE = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "gelu": _gelu,
    "swish": lambda x: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("kind", sorted(ACTIVATION_REFERENCE))
def test_activations_compute_their_formulas(kind):
    x = np.linspace(-4, 4, 33, dtype="float32").reshape(1, 33)
    model = _model(blocks.activation, (33,), kind=kind, slope=0.2, name=f"act_{kind}")
    assert model.layers[-1].name == f"act_{kind}"
    np.testing.assert_allclose(
        model.predict(x, verbose=0), ACTIVATION_REFERENCE[kind](x), rtol=1e-5, atol=1e-6
    )


def test_unknown_activation_suggests_the_closest():
    with pytest.raises(UsageError, match="unknown activation 'relu6'.*did you mean 'relu'"):
        blocks.activation(keras.Input((3,)), "relu6", name="a")
    x = keras.Input((3,))
    assert blocks.activation(x, None, name="a") is x


def test_max_pool_padding_is_minus_infinity_and_avg_pool_counts_pads():
    x = -np.arange(1, 17, dtype="float32").reshape(1, 4, 4, 1)  # all negative
    got = _model(blocks.pool, (4, 4, 1), kind="max", pool_size=3, strides=2, padding=1, name="p")
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    want = np.array(
        [[padded[0, i : i + 3, j : j + 3, 0].max() for j in (0, 2)] for i in (0, 2)]
    ).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(got.predict(x, verbose=0), want)
    avg = _model(blocks.pool, (4, 4, 1), kind="avg", pool_size=2, strides=2, padding=1, name="p")
    zero_padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    np.testing.assert_allclose(
        avg.predict(x, verbose=0)[0, 0, 0, 0], zero_padded[0, :2, :2, 0].mean()
    )
    with pytest.raises(UsageError, match="unknown pooling 'min'"):
        blocks.pool(keras.Input((4, 4, 1)), "min", name="p")


def test_global_adaptive_dense_dropout_flatten_shapes_and_names():
    inputs = keras.Input((5, 5, 16), name="input")
    a = blocks.adaptive_pool(inputs, (2, 3), "max", name="ap")
    g = blocks.global_pool(inputs, "max", name="gmp")
    f = blocks.flatten(inputs, name="flat")
    d = blocks.dense(f, 7, activation="elu", name="fc")
    assert blocks.dropout(d, 0.0, name="drop") is d
    dd = blocks.dropout(d, 0.25, name="drop")
    assert tuple(a.shape) == (None, 2, 3, 16) and tuple(g.shape) == (None, 16)
    assert tuple(dd.shape) == (None, 7)
    model = keras.Model(inputs, [a, g, dd])
    assert {"ap", "gmp", "flat", "fc", "fc_elu", "drop"} <= set(_layer_names(model))
    assert model.get_layer("drop").rate == 0.25
    with pytest.raises(UsageError, match="dropout rate must be in"):
        blocks.dropout(d, 1.5, name="bad")


def test_basic_block_identity_projection_and_option_a():
    identity = _model(blocks.basic_block, (8, 8, 16), filters=16, name="b")
    assert _params(identity) == 2 * (9 * 16 * 16 + 32)
    assert "b_downsample_conv" not in _layer_names(identity)
    projection = _model(blocks.basic_block, (8, 8, 16), filters=32, strides=2, name="b")
    assert projection.get_layer("b_downsample_conv").strides == (2, 2)
    assert _params(projection) == 9 * 16 * 32 + 64 + 9 * 32 * 32 + 64 + 16 * 32 + 64
    option_a = _model(blocks.basic_block, (8, 8, 16), filters=32, strides=2, shortcut="A", name="b")
    assert isinstance(option_a.get_layer("b_shortcut"), ZeroPadShortcut)
    assert _params(option_a) == _params(projection) - (16 * 32 + 64)
    assert option_a.output_shape == (None, 4, 4, 32)
    with pytest.raises(UsageError, match="unknown shortcut option 'C'"):
        blocks.basic_block(keras.Input((8, 8, 16)), 16, shortcut="C", name="b")


@pytest.mark.parametrize(
    "stride_in_1x1,first,middle", [(False, (1, 1), (2, 2)), (True, (2, 2), (1, 1))]
)
def test_bottleneck_stride_placement_v15_and_v1(stride_in_1x1, first, middle):
    model = _model(
        blocks.bottleneck_block,
        (16, 16, 256),
        filters=128,
        strides=2,
        stride_in_1x1=stride_in_1x1,
        name="stage2_block1",
    )
    assert model.get_layer("stage2_block1_conv1").strides == first
    assert model.get_layer("stage2_block1_conv2").strides == middle
    assert model.output_shape == (None, 8, 8, 512)
    # torchvision Bottleneck(256, 128, stride=2, downsample=conv1x1+BN): 379,392 parameters.
    assert _params(model) == 379_392


@pytest.mark.parametrize("groups,width_per_group,inner", [(32, 4, 128), (1, 128, 128), (1, 64, 64)])
def test_bottleneck_width_for_resnext_and_wide_resnet(groups, width_per_group, inner):
    model = _model(
        blocks.bottleneck_block,
        (8, 8, 64),
        filters=64,
        groups=groups,
        width_per_group=width_per_group,
        name="b",
    )
    conv2 = model.get_layer("b_conv2")
    assert conv2.filters == inner and conv2.groups == groups
    assert model.output_shape == (None, 8, 8, 256)


def test_zero_init_last_bn_makes_the_block_start_as_relu_of_shortcut():
    model = _model(
        blocks.bottleneck_block, (6, 6, 256), filters=64, zero_init_last_bn=True, name="b"
    )
    assert not model.get_layer("b_bn3").gamma.numpy().any()
    assert model.get_layer("b_bn2").gamma.numpy().all()
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 256)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.maximum(x, 0), atol=1e-6)


def test_preact_blocks_keras_v2_layout():
    block = _model(blocks.preact_bottleneck_block, (56, 56, 64), filters=64, name="stage1_block1")
    names = _layer_names(block)
    assert names[1:3] == ["stage1_block1_preact_bn", "stage1_block1_preact_relu"]
    assert block.get_layer(
        "stage1_block1_downsample_conv"
    ).use_bias  # keras' conv shortcut has bias
    assert block.get_layer("stage1_block1_conv3").use_bias
    assert "stage1_block1_bn3" not in names  # the next block's pre-activation normalizes
    strided = _model(blocks.preact_bottleneck_block, (56, 56, 256), filters=64, strides=2, name="b")
    assert isinstance(strided.get_layer("b_shortcut"), ZeroPadShortcut)  # strided identity
    assert strided.output_shape == (None, 28, 28, 256)
    basic = _model(
        blocks.preact_basic_block, (16, 16, 16), filters=32, strides=2, shortcut="A", name="p"
    )
    assert basic.output_shape == (None, 8, 8, 32) and "p_shortcut" in _layer_names(basic)


def test_blocks_give_stable_names_when_built_twice():
    def net(x):
        x = blocks.conv_bn_act(x, 16, 3, padding="reflect", activation="leaky_relu", name="stem")
        x = blocks.basic_block(x, 16, name="stage1_block1")
        x = blocks.bottleneck_block(x, 8, strides=2, name="stage2_block1")
        return blocks.preact_basic_block(x, 32, name="stage3_block1")

    first, second = _model(net, (16, 16, 3)), _model(net, (16, 16, 3))
    assert _layer_names(first) == _layer_names(second)
    assert len(set(_layer_names(first))) == len(first.layers)
