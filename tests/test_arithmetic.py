"""Convolution arithmetic: hand-checked formulas, real Keras shapes, a walked model.

The property tests build real Keras layers and compare the formula with the shape Keras
produces, and measure receptive fields from real gradients — so the formulas are checked
against the framework, not against themselves.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kerascnn.arithmetic import (
    analyze,
    batchnorm_params,
    conv_macs,
    conv_output_size,
    conv_params,
    count_macs,
    dense_macs,
    dense_params,
    format_count,
    next_receptive_field,
    receptive_fields,
    same_padding,
)
from kerascnn.errors import UsageError

FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


# ----------------------------------------------------------------------------- output size


@pytest.mark.parametrize(
    "n, k, s, padding, d, expected",
    [
        (224, 7, 2, 3, 1, 112),  # ResNet stem, explicit padding 3
        (224, 7, 2, "same", 1, 112),
        (112, 3, 2, 1, 1, 56),  # ResNet max pool, padding 1
        (32, 5, 1, "valid", 1, 28),  # LeNet C1
        (14, 5, 1, "valid", 1, 10),  # LeNet C3
        (28, 2, 2, "valid", 1, 14),  # LeNet S2
        (7, 3, 2, "same", 1, 4),  # same = ceil(7 / 2)
        (7, 3, 2, "valid", 1, 3),
        (10, 3, 1, "valid", 2, 6),  # dilation 2 spans 5 pixels
        (10, 3, 1, "same", 2, 10),
        (10, 3, 1, "causal", 4, 10),
        (5, 1, 2, "valid", 1, 3),
        (5, 3, 1, (2, 0), 1, 5),  # asymmetric explicit padding
        (227, 11, 4, "valid", 1, 55),  # AlexNet conv1
    ],
)
def test_conv_output_size_hand_checked(n, k, s, padding, d, expected):
    assert conv_output_size(n, k, stride=s, padding=padding, dilation=d) == expected


def test_same_padding_puts_the_odd_pixel_after():
    assert same_padding(224, 7, stride=2) == (2, 3)
    assert same_padding(5, 3) == (1, 1)
    assert same_padding(8, 1, stride=2) == (0, 0)
    assert same_padding(4, 3, stride=1, dilation=2) == (2, 2)


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        ((4, 5), {}, "does not fit"),
        ((4, 3), {"dilation": 2}, "does not fit"),
        ((8, 3), {"padding": "mirror"}, "unknown padding"),
        ((8, 3), {"padding": -1}, "non-negative"),
        ((8, 0), {}, "kernel size"),
        ((8, 3), {"stride": 0}, "stride"),
    ],
)
def test_conv_output_size_rejects_impossible_windows(args, kwargs, words):
    with pytest.raises(UsageError, match=words):
        conv_output_size(*args, **kwargs)


# ----------------------------------------------------------------------------- receptive field


def test_receptive_field_of_a_small_chain():
    # two 3x3 convs -> 5, then 2x2/2 pooling -> 6, then a 3x3 conv at jump 2 -> 10
    chain = [(3, 1), (3, 1), (2, 2), (3, 1)]
    assert receptive_fields(chain) == [(3, 1), (5, 1), (6, 2), (10, 2)]


def test_receptive_field_of_the_resnet_stem_and_dilation():
    assert receptive_fields([(7, 2), (3, 2)]) == [(7, 2), (11, 4)]
    assert next_receptive_field(1, 1, 3, dilation=2) == (5, 1)
    # three 3x3 convs with dilations 1, 2, 4 (the "context module"): 3, 7, 15
    assert [r for r, _ in receptive_fields([(3, 1, 1), (3, 1, 2), (3, 1, 4)])] == [3, 7, 15]


# ----------------------------------------------------------------------------- params and MACs


def test_parameter_formulas_match_keras_layers():
    cases = [
        (keras.layers.Conv2D(64, 3, use_bias=False), (8, 8, 64), conv_params(3, 64, 64, use_bias=False)),
        (keras.layers.Conv2D(16, (5, 3)), (8, 8, 6), conv_params((5, 3), 6, 16)),
        (keras.layers.Conv2D(8, 3, groups=4), (8, 8, 8), conv_params(3, 8, 8, groups=4)),
        (keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (8, 8, 5), conv_params(3, 5, 10, groups=5)),
        (keras.layers.Conv1D(4, 7), (20, 3), conv_params((7,), 3, 4)),
        (keras.layers.Dense(84), (120,), dense_params(120, 84)),
    ]
    for layer, shape, expected in cases:
        layer.build((None, *shape))
        assert layer.count_params() == expected, layer.name
    bn = keras.layers.BatchNormalization()
    bn.build((None, 4, 4, 64))
    trainable, non_trainable = batchnorm_params(64)
    assert sum(int(np.prod(w.shape)) for w in bn.trainable_weights) == trainable == 128
    assert sum(int(np.prod(w.shape)) for w in bn.non_trainable_weights) == non_trainable == 128


def test_mac_formulas_by_hand():
    assert conv_macs((112, 112), 7, 3, 64) == 112 * 112 * 64 * 7 * 7 * 3
    assert conv_macs(56, 3, 64, 64, groups=32) == 56 * 56 * 64 * 9 * 2
    assert conv_macs((10,), (3,), 4, 8) == 10 * 8 * 3 * 4
    assert dense_macs(2048, 1000) == 2_048_000
    with pytest.raises(UsageError, match="groups"):
        conv_macs(8, 3, 6, 8, groups=4)


def test_format_count_uses_human_units():
    assert format_count(4_089_184_256) == "4.09 G"
    assert format_count(25_557_032) == "25.56 M"
    assert format_count(999) == "999"
    assert format_count(None) == "-"


# ----------------------------------------------------------------------------- walking models


def _lenet():
    """Classic LeNet-5 (tanh, average pooling, fully connected C3) by hand."""
    x = keras.Input((32, 32, 1))
    h = keras.layers.Conv2D(6, 5, activation="tanh", name="c1")(x)
    h = keras.layers.AveragePooling2D(2, name="s2")(h)
    h = keras.layers.Conv2D(16, 5, activation="tanh", name="c3")(h)
    h = keras.layers.AveragePooling2D(2, name="s4")(h)
    h = keras.layers.Conv2D(120, 5, activation="tanh", name="c5")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(84, activation="tanh", name="f6")(h)
    y = keras.layers.Dense(10, activation="softmax", name="output")(h)
    return keras.Model(x, y, name="hand_lenet")


def test_analyze_lenet_by_hand():
    report = analyze(_lenet())
    rows = {s.name: s for s in report}
    assert [s.name for s in report][1:] == ["c1", "s2", "c3", "s4", "c5", "flatten", "f6", "output"]
    # MACs: H_out*W_out*C_out*(k*k*C_in); dense in*out
    assert rows["c1"].macs == 28 * 28 * 6 * 25 == 117_600
    assert rows["c3"].macs == 10 * 10 * 16 * 150 == 240_000
    assert rows["c5"].macs == 120 * 400 == 48_000
    assert rows["f6"].macs == 120 * 84
    assert rows["output"].macs == 84 * 10
    assert rows["s2"].macs == rows["flatten"].macs == 0
    assert report.totals.macs == 416_520
    assert report.totals.trainable_params == 61_706 == report.totals.params
    assert rows["c3"].params == 2416 and rows["c3"].output_shape == (10, 10, 16)
    # receptive field / jump: 5/1, 6/2, 14/2, 16/4, 32/4, then the whole 32x32 input
    assert [rows[n].receptive_field[0] for n in ("c1", "s2", "c3", "s4", "c5")] == [5, 6, 14, 16, 32]
    assert [rows[n].jump[0] for n in ("c1", "s2", "c3", "s4", "c5")] == [1, 2, 2, 4, 4]
    assert rows["output"].receptive_field == (32, 32)
    assert count_macs(_lenet()) == 416_520
    table = report.table()
    assert "61,706" in table and "416.52 K" in table


def test_residual_merge_takes_the_widest_branch_and_counts_bn_as_non_trainable():
    x = keras.Input((16, 16, 3))
    stem = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(x)  # rf 3
    stem = keras.layers.BatchNormalization(name="bn")(stem)
    branch = keras.layers.Conv2D(8, 3, padding="same", name="b1")(stem)  # rf 5
    branch = keras.layers.Conv2D(8, 3, padding="same", dilation_rate=2, name="b2")(branch)  # rf 9
    shortcut = keras.layers.Conv2D(8, 1, name="short")(stem)  # rf 3
    merged = keras.layers.Add(name="add")([shortcut, branch])
    cat = keras.layers.Concatenate(name="cat")([merged, stem])
    pooled = keras.layers.MaxPooling2D(2, name="pool")(cat)  # rf 10, jump 2
    model = keras.Model(x, pooled)
    rows = {s.name: s for s in analyze(model)}
    assert rows["short"].receptive_field == (3, 3)
    assert rows["b2"].receptive_field == (9, 9)
    assert rows["add"].receptive_field == (9, 9)
    assert rows["cat"].receptive_field == (9, 9)
    assert rows["cat"].output_shape == (16, 16, 16)
    assert rows["pool"].receptive_field == (10, 10) and rows["pool"].jump == (2, 2)
    assert set(rows["add"].inputs) == {"short", "b2"}
    report = analyze(model)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report.totals.trainable_params == trainable
    assert report.totals.non_trainable_params == 16  # BN moving mean and variance
    assert report.totals.params == model.count_params()
    assert rows["b1"].macs == 16 * 16 * 8 * 9 * 8


def test_groups_depthwise_dense_on_maps_and_padding_layers():
    x = keras.Input((20, 20, 4))
    h = keras.layers.ZeroPadding2D(3, name="pad")(x)
    h = keras.layers.Conv2D(8, 7, strides=2, name="conv")(h)  # 26 -> 10
    h = keras.layers.Conv2D(8, 3, padding="same", groups=4, name="grouped")(h)
    h = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(h)  # 10 -> 8
    h = keras.layers.Dense(5, name="head")(h)  # applied per position
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    rows = {s.name: s for s in analyze(keras.Model(x, h))}
    assert rows["pad"].output_shape == (26, 26, 4)
    assert rows["pad"].receptive_field == (1, 1) and rows["pad"].start == (-3.0, -3.0)
    assert rows["conv"].output_shape == (10, 10, 8)
    assert rows["conv"].macs == 10 * 10 * 8 * 7 * 7 * 4
    # the first output's 7x7 window covers padded pixels -3..3, centred on input pixel 0
    assert rows["conv"].start == (0.0, 0.0) and rows["conv"].jump == (2, 2)
    assert rows["grouped"].macs == 10 * 10 * 8 * 9 * 2
    assert rows["dw"].macs == 8 * 8 * 16 * 9 and rows["dw"].params == 4 * 2 * 9 * 2 + 16
    assert rows["dw"].receptive_field == (7 + 2 * 2 + 2 * 2,) * 2
    assert rows["head"].macs == 8 * 8 * 16 * 5
    # global pooling sees the whole 8x8 map: 15 + 7 * 2
    assert rows["gap"].receptive_field == (29, 29) and rows["gap"].macs == 0


def test_project_padding_shortcut_and_adaptive_layers():
    from kerascnn.layers import (
        AdaptivePooling2D,
        CircularPadding2D,
        Padding2D,
        ReflectPadding2D,
        ZeroPadShortcut,
    )

    x = keras.Input((15, 15, 4))
    h = CircularPadding2D(1, name="circ")(x)
    h = keras.layers.Conv2D(8, 3, name="conv_circ")(h)  # circular "same": 15 -> 15, rf 3
    h = ReflectPadding2D((2, 1), name="refl")(h)  # 19 x 17
    h = keras.layers.Conv2D(8, 5, strides=2, name="conv_refl")(h)  # 8 x 7, rf 7, jump 2
    h = Padding2D(((1, 0), (0, 1)), mode="symmetric", name="asym")(h)  # 9 x 8
    h = ZeroPadShortcut(strides=2, out_channels=16, name="short")(h)  # 5 x 4, jump 4
    # 5 -> 3: windows [0,2) [1,4) [3,5), centres 0.5, 2, 3.5; 4 -> 3: [0,2) [1,3) [2,4)
    h = AdaptivePooling2D(3, name="adapt")(h)
    rows = {s.name: s for s in analyze(keras.Model(x, h))}
    assert rows["circ"].start == (-1.0, -1.0) and rows["circ"].receptive_field == (1, 1)
    assert rows["conv_circ"].output_shape == (15, 15, 8)
    assert rows["conv_circ"].receptive_field == (3, 3) and rows["conv_circ"].start == (0.0, 0.0)
    assert rows["refl"].start == (-2.0, -1.0)
    assert rows["conv_refl"].output_shape == (8, 7, 8)
    assert rows["conv_refl"].receptive_field == (7, 7) and rows["conv_refl"].jump == (2, 2)
    assert rows["conv_refl"].start == (0.0, 1.0)
    assert rows["asym"].start == (-2.0, 1.0)
    assert rows["short"].output_shape == (5, 4, 16)
    assert rows["short"].receptive_field == (7, 7) and rows["short"].jump == (4, 4)
    assert rows["short"].params == rows["short"].macs == 0
    assert rows["adapt"].receptive_field == (7 + 2 * 4, 7 + 1 * 4)
    assert rows["adapt"].jump == (4 * 1.5, 4 * 1)
    assert rows["adapt"].start == (rows["short"].start[0] + 0.5 * 4, rows["short"].start[1] + 0.5 * 4)


def test_shared_layer_counts_its_weights_once():
    x = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(3, 3, padding="same", name="shared")
    y = conv(conv(x))
    model = keras.Model(x, y)
    report = analyze(model)
    assert [s.name for s in report][1:] == ["shared", "shared#1"]
    assert report.totals.params == model.count_params() == 84
    assert report.totals.macs == 2 * 8 * 8 * 3 * 27
    assert report[-1].receptive_field == (5, 5)


class _ScaledConv2D(keras.layers.Conv2D):
    """A Conv2D subclass: analyze must still see a convolution."""


def test_subclasses_nested_models_and_channels_first():
    inner_in = keras.Input((8, 8, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, padding="same")(inner_in), name="inner")
    x = keras.Input((8, 8, 4))
    h = _ScaledConv2D(4, 3, padding="same", name="scaled")(x)
    h = inner(h)
    rows = {s.name: s for s in analyze(keras.Model(x, h))}
    assert rows["scaled"].type == "_ScaledConv2D"
    assert rows["scaled"].macs == 8 * 8 * 4 * 9 * 4 and rows["scaled"].receptive_field == (3, 3)
    assert rows["inner"].macs == 8 * 8 * 4 * 9 * 4 and rows["inner"].params == 4 * 9 * 4 + 4

    x = keras.Input((3, 10, 12))
    h = keras.layers.Conv2D(5, 3, strides=2, data_format="channels_first", name="cf")(x)
    h = keras.layers.MaxPooling2D(2, data_format="channels_first", name="pool")(h)
    rows = {s.name: s for s in analyze(keras.Model(x, h))}
    assert rows["cf"].output_shape == (5, 4, 5)
    assert rows["cf"].macs == 4 * 5 * 5 * 9 * 3
    assert rows["pool"].receptive_field == (5, 5) and rows["pool"].jump == (4, 4)


def test_analyze_wants_a_model_with_fixed_inputs():
    with pytest.raises(UsageError):
        analyze(object())
    x = keras.Input((None, None, 3))
    with pytest.raises(UsageError, match="unknown size"):
        analyze(keras.Model(x, keras.layers.Conv2D(2, 3)(x)))


# ----------------------------------------------------------------------------- property tests

pad_choice = st.one_of(st.sampled_from(["valid", "same"]), st.integers(0, 3))
# Keras refuses strides > 1 together with dilation > 1, so draw one or the other.
stride_dilation = st.one_of(
    st.tuples(st.integers(1, 3), st.just(1)), st.tuples(st.just(1), st.integers(1, 3))
)


@FAST
@given(
    n=st.tuples(st.integers(1, 14), st.integers(1, 14)),
    k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    sd=stride_dilation,
    padding=pad_choice,
)
def test_formula_matches_keras_conv2d(n, k, sd, padding):
    s, d = sd
    try:
        expected = [conv_output_size(ni, ki, s, padding, d) for ni, ki in zip(n, k)]
    except UsageError:
        assume(False)
    x = np.zeros((1, *n, 2), np.float32)
    if isinstance(padding, int):
        x = keras.layers.ZeroPadding2D(padding)(x)
        padding = "valid"
    y = keras.layers.Conv2D(1, k, strides=s, dilation_rate=d, padding=padding)(x)
    assert tuple(y.shape[1:3]) == tuple(expected)


@FAST
@given(
    n=st.integers(1, 24),
    k=st.integers(1, 6),
    sd=stride_dilation,
    padding=st.one_of(st.sampled_from(["valid", "same", "causal"]), st.integers(0, 3)),
)
def test_formula_matches_keras_conv1d(n, k, sd, padding):
    s, d = sd
    try:
        expected = conv_output_size(n, k, s, padding, d)
    except UsageError:
        assume(False)
    x = np.zeros((1, n, 1), np.float32)
    if isinstance(padding, int):
        x = keras.layers.ZeroPadding1D(padding)(x)
        padding = "valid"
    y = keras.layers.Conv1D(1, k, strides=s, dilation_rate=d, padding=padding)(x)
    assert y.shape[1] == expected


@FAST
@given(
    n=st.tuples(st.integers(1, 14), st.integers(1, 14)),
    pool=st.integers(1, 4),
    s=st.integers(1, 4),
    padding=st.sampled_from(["valid", "same"]),
    one_d=st.booleans(),
)
def test_formula_matches_keras_max_pooling(n, pool, s, padding, one_d):
    try:
        expected = [conv_output_size(ni, pool, s, padding) for ni in n]
    except UsageError:
        assume(False)
    if one_d:
        y = keras.layers.MaxPooling1D(pool, strides=s, padding=padding)(np.zeros((1, n[0], 1), "f4"))
        assert y.shape[1] == expected[0]
    else:
        y = keras.layers.MaxPooling2D(pool, strides=s, padding=padding)(np.zeros((1, *n, 1), "f4"))
        assert tuple(y.shape[1:3]) == tuple(expected)


layer_spec = st.tuples(
    st.sampled_from(["conv", "avgpool"]), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(specs=st.lists(layer_spec, min_size=1, max_size=3), padding=st.sampled_from(["valid", "same"]))
def test_receptive_field_and_start_match_real_gradients(specs, padding):
    """The input pixels that influence the last layer's first output are exactly its window."""
    x = keras.Input((48, 1))
    h = x
    for kind, k, s, d in specs:
        if kind == "conv":
            if s > 1 and d > 1:
                s = 1
            h = keras.layers.Conv1D(1, k, strides=s, dilation_rate=d, padding=padding,
                                    kernel_initializer="ones", use_bias=False)(h)  # fmt: skip
        else:
            h = keras.layers.AveragePooling1D(k, strides=s, padding=padding)(h)
    model = keras.Model(x, h)
    last = analyze(model)[-1]
    (rf,), (jump,), (start,) = last.receptive_field, last.jump, last.start
    length = last.output_shape[0]
    # Pick the first output whose window lies wholly inside the input (no padding in it).
    inside = [
        i
        for i in range(length)
        if start + i * jump - (rf - 1) / 2 >= 0 and start + i * jump + (rf - 1) / 2 <= 47
    ]
    assume(inside)
    index = inside[0]
    low, high = start + index * jump - (rf - 1) / 2, start + index * jump + (rf - 1) / 2

    inputs = tf.ones((1, 48, 1))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        chosen = model(inputs)[0, index, 0]
    touched = np.flatnonzero(tape.gradient(chosen, inputs).numpy()[0, :, 0])
    # Dilated kernels leave holes inside the window, but its two ends are always touched.
    assert (touched.min(), touched.max()) == (low, high)


@pytest.mark.parametrize(
    "name, last_conv_rf",
    [
        ("lenet5", 32),  # 5, 6, 14, 16, 32
        ("resnet20", 81),  # 3 + 6*2 at jump 1, +2 +5*4 at jump 2, +4 +5*8 at jump 4
        ("alexnet", 163),  # 11/4, pool 3/2, 5x5, pool 3/2, three 3x3 at jump 16
    ],
)
def test_registry_models_agree_with_the_walk(name, last_conv_rf):
    from kerascnn.architectures import build, get_model_info

    model = build(name)
    report = analyze(model)
    info = get_model_info(name)
    assert report.totals.macs == count_macs(model) == info.macs
    assert report.totals.trainable_params == info.params
    assert report.totals.params == model.count_params()
    convs = [s for s in report if s.type == "Conv2D"]
    assert convs[-1].receptive_field == (last_conv_rf, last_conv_rf)
