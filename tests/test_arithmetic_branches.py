"""kerascnn.arithmetic on grouped, depthwise and separable convolutions and on graphs that
branch and concatenate, against numbers worked out by hand (in the comments), and
``kerascnn summary`` on branching models through the CLI.

The merge rule under test (kerascnn/arithmetic/analysis.py's docstring): where branches meet,
the widest path gives the receptive field, the jump and the start; squeeze-and-excitation gates
(pooled to the whole input, broadcast back) are left out while a spatial branch remains.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from kerascnn.architectures import build, get_model_info
from kerascnn.arithmetic import (
    analyze,
    conv_macs,
    conv_params,
    separable_conv_macs,
    separable_conv_params,
)

layers = keras.layers


def _rows(model) -> dict:
    return {s.name: s for s in analyze(model)}


def _touched_span(model, index: int) -> tuple[int, int]:
    """First and last input row whose pixels change any channel of output row/col ``index``.

    Measured by forward passes: each input row in turn is raised above every other pixel. The
    models here have positive kernels and max pools only, so a row inside the receptive field
    always changes the output. (A gradient tape would say the same, but TensorFlow's eager
    gradient of these strided convs crashed the interpreter now and then in CI, corrupting
    the heap, always in this helper.)
    """
    height = model.inputs[0].shape[1]
    channels = model.inputs[0].shape[-1]
    base = np.random.default_rng(1).uniform(0.5, 1.0, (1, height, height, channels))
    batch = np.repeat(base, height + 1, axis=0).astype("float32")
    for row in range(height):
        batch[row + 1, row] += 1.0  # sample 0 stays the unchanged base
    out = np.asarray(model(batch))[:, index, index, :]
    rows = np.flatnonzero(np.abs(out[1:] - out[0]).sum(axis=-1) > 1e-6)
    return int(rows.min()), int(rows.max())


# ------------------------------------------------------------------------ grouped, depthwise


def test_grouped_convolution_counts_one_group_of_inputs_per_output():
    x = keras.Input((8, 8, 16))
    h = layers.Conv2D(32, 3, padding="same", groups=4, name="grouped")(x)
    h = layers.Conv2D(32, 3, strides=2, padding="same", groups=8, use_bias=False, name="g8")(h)
    model = keras.Model(x, h)
    rows = _rows(model)
    # each output channel sees 16/4 = 4 input channels: 3*3*4*32 weights + 32 biases
    assert rows["grouped"].params == 9 * 4 * 32 + 32 == 1184 == conv_params(3, 16, 32, groups=4)
    assert rows["grouped"].macs == 8 * 8 * 32 * 9 * 4 == 73_728 == conv_macs(8, 3, 16, 32, groups=4)
    # 32/8 = 4 inputs per output, 4x4 outputs after stride 2, no bias
    assert rows["g8"].output_shape == (4, 4, 32)
    assert rows["g8"].params == 9 * 4 * 32 == 1152
    assert rows["g8"].macs == 4 * 4 * 32 * 9 * 4 == 18_432
    assert rows["g8"].receptive_field == (5, 5) and rows["g8"].jump == (2, 2)
    assert analyze(model).totals.params == model.count_params() == 1184 + 1152


def test_depthwise_with_depth_multiplier_2():
    x = keras.Input((10, 10, 8))
    h = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)  # valid: 10 -> 8
    h = layers.DepthwiseConv2D(3, dilation_rate=2, use_bias=False, name="dw_dilated")(h)  # 8 -> 4
    model = keras.Model(x, h)
    rows = _rows(model)
    assert rows["dw"].output_shape == (8, 8, 16)
    # one 3x3 kernel per (input channel, multiplier): 9*8*2 weights + 16 biases
    assert rows["dw"].params == 9 * 8 * 2 + 16 == 160 == conv_params(3, 8, 16, groups=8)
    assert rows["dw"].macs == 8 * 8 * 16 * 9 == 9216 == conv_macs(8, 3, 8, 16, groups=8)
    assert rows["dw"].receptive_field == (3, 3)
    assert rows["dw_dilated"].output_shape == (4, 4, 16)
    assert rows["dw_dilated"].params == 9 * 16 == 144
    assert rows["dw_dilated"].macs == 4 * 4 * 16 * 9 == 2304
    assert rows["dw_dilated"].receptive_field == (3 + 4, 3 + 4)  # a dilated 3x3 spans 5
    assert analyze(model).totals.params == model.count_params()


def test_separable_convolution_is_depthwise_plus_pointwise():
    x = keras.Input((8, 8, 16))
    h = layers.SeparableConv2D(32, 3, padding="same", name="sep")(x)
    h = layers.SeparableConv2D(32, 3, strides=2, padding="same", depth_multiplier=2, name="sep2")(h)
    model = keras.Model(x, h)
    rows = _rows(model)
    # depthwise 9*16, pointwise 16*32, bias 32
    assert rows["sep"].params == 9 * 16 + 16 * 32 + 32 == 688 == separable_conv_params(3, 16, 32)
    assert rows["sep"].macs == 64 * 16 * 9 + 64 * 16 * 32 == 41_984
    assert rows["sep"].macs == separable_conv_macs(8, 3, 16, 32)
    # multiplier 2: depthwise 9*32*2 = 576 to 64 maps, pointwise 64*32, bias 32; 4x4 outputs
    assert rows["sep2"].output_shape == (4, 4, 32)
    assert rows["sep2"].params == 9 * 32 * 2 + 64 * 32 + 32 == 2656
    assert rows["sep2"].params == separable_conv_params(3, 32, 32, depth_multiplier=2)
    assert rows["sep2"].macs == 16 * 64 * 9 + 16 * 64 * 32 == 41_984
    assert rows["sep2"].receptive_field == (5, 5) and rows["sep2"].jump == (2, 2)
    assert analyze(model).totals.params == model.count_params() == 688 + 2656


# -------------------------------------------------------------------------- branches, concat


def _inception_like():
    x = keras.Input((17, 17, 3))
    ones = {"kernel_initializer": "ones"}
    stem = layers.Conv2D(8, 3, strides=2, name="stem", **ones)(x)  # 8x8, rf 3, jump 2, start 1
    b1 = layers.Conv2D(4, 1, name="b1_1x1", **ones)(stem)  # rf 3
    b2 = layers.Conv2D(4, 1, name="b2_reduce", **ones)(stem)
    b2 = layers.Conv2D(8, 3, padding="same", name="b2_3x3", **ones)(b2)  # rf 3 + 2*2 = 7
    b3 = layers.Conv2D(2, 1, name="b3_reduce", **ones)(stem)
    b3 = layers.Conv2D(4, 5, padding="same", name="b3_5x5", **ones)(b3)  # rf 3 + 4*2 = 11
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name="b4_pool")(stem)  # rf 7
    b4 = layers.Conv2D(4, 1, name="b4_proj", **ones)(b4)
    # the narrowest branch first and the widest third: the rule must not depend on order
    mixed = layers.Concatenate(name="mixed")([b1, b2, b3, b4])
    after = layers.Conv2D(6, 3, strides=2, name="after", **ones)(mixed)  # 8 -> 3
    return keras.Model(x, after, name="inception_like")


def test_inception_like_four_branches_take_the_widest_path():
    model = _inception_like()
    rows = _rows(model)
    expected = {  # name: (receptive field, params, MACs), worked out by hand
        "stem": (3, 3 * 3 * 3 * 8 + 8, 8 * 8 * 8 * 27),
        "b1_1x1": (3, 8 * 4 + 4, 64 * 4 * 8),
        "b2_reduce": (3, 8 * 4 + 4, 64 * 4 * 8),
        "b2_3x3": (7, 9 * 4 * 8 + 8, 64 * 8 * 36),
        "b3_reduce": (3, 8 * 2 + 2, 64 * 2 * 8),
        "b3_5x5": (11, 25 * 2 * 4 + 4, 64 * 4 * 50),
        "b4_pool": (7, 0, 0),
        "b4_proj": (7, 8 * 4 + 4, 64 * 4 * 8),
        "mixed": (11, 0, 0),
        "after": (15, 9 * 20 * 6 + 6, 3 * 3 * 6 * 180),
    }
    for name, (rf, params, macs) in expected.items():
        assert rows[name].receptive_field == (rf, rf), name
        assert (rows[name].params, rows[name].macs) == (params, macs), name
    assert rows["mixed"].output_shape == (8, 8, 4 + 8 + 4 + 4)
    assert rows["mixed"].jump == (2, 2) and rows["mixed"].start == (1.0, 1.0)
    assert set(rows["mixed"].inputs) == {"b1_1x1", "b2_3x3", "b3_5x5", "b4_proj"}
    assert rows["after"].jump == (4, 4) and rows["after"].start == (3.0, 3.0)
    totals = analyze(model).totals
    assert totals.macs == sum(m for _, _, m in expected.values()) == 61_944
    assert totals.params == model.count_params() == sum(p for _, p, _ in expected.values())
    # the merged output at (2, 2) sees input rows start + 2*jump -+ (rf-1)/2 = 5 -+ 5
    mixed_model = keras.Model(model.input, model.get_layer("mixed").output)
    assert _touched_span(mixed_model, 2) == (0, 10)


def test_dense_block_like_concat_chain():
    x = keras.Input((8, 8, 4))
    h = x
    for i in (1, 2, 3):
        y = layers.BatchNormalization(name=f"block{i}_bn")(h)
        y = layers.ReLU(name=f"block{i}_relu")(y)
        y = layers.Conv2D(8, 1, use_bias=False, name=f"block{i}_1x1")(y)
        y = layers.Conv2D(2, 3, padding="same", use_bias=False, name=f"block{i}_3x3")(y)
        h = layers.Concatenate(name=f"block{i}_concat")([h, y])
    model = keras.Model(x, h)
    report = analyze(model)
    rows = {s.name: s for s in report}
    # channels grow 4 -> 6 -> 8 -> 10; each 3x3 adds 2 to the receptive field at jump 1
    for i, (c_in, rf) in enumerate([(4, 3), (6, 5), (8, 7)], start=1):
        assert rows[f"block{i}_bn"].trainable_params == 2 * c_in
        assert rows[f"block{i}_bn"].non_trainable_params == 2 * c_in
        assert rows[f"block{i}_1x1"].params == c_in * 8
        assert rows[f"block{i}_1x1"].macs == 64 * 8 * c_in
        assert rows[f"block{i}_3x3"].params == 9 * 8 * 2 == 144
        assert rows[f"block{i}_3x3"].macs == 64 * 2 * 72 == 9216
        assert rows[f"block{i}_concat"].output_shape == (8, 8, c_in + 2)
        assert rows[f"block{i}_concat"].receptive_field == (rf, rf)
        assert rows[f"block{i}_concat"].jump == (1, 1)
        assert rows[f"block{i}_concat"].start == (0.0, 0.0)
    # 8+32+144 + 12+48+144 + 16+64+144 trainable; the BN moving statistics 8+12+16
    assert report.totals.trainable_params == 612
    assert report.totals.non_trainable_params == 36
    assert report.totals.params == model.count_params()
    assert report.totals.macs == 64 * 8 * (4 + 6 + 8) + 3 * 9216 == 36_864


def test_strided_residual_takes_the_start_of_the_widest_branch():
    """A 1x1/2 shortcut centres its first output on pixel 0, a 3x3/2 "same" conv (padding 0
    before, 1 after on an even input) on pixel 1: the merged window is the 3x3's, rows 0..2."""
    x = keras.Input((16, 16, 1))
    short = layers.Conv2D(1, 1, strides=2, kernel_initializer="ones", name="short")(x)
    main = layers.Conv2D(1, 3, strides=2, padding="same", kernel_initializer="ones",
                         name="main")(x)  # fmt: skip
    merged = layers.Add(name="add")([short, main])
    model = keras.Model(x, merged)
    rows = _rows(model)
    assert rows["short"].start == (0.0, 0.0) and rows["main"].start == (1.0, 1.0)
    assert rows["add"].receptive_field == (3, 3) and rows["add"].jump == (2, 2)
    assert rows["add"].start == (1.0, 1.0)
    # output 2 sits at 1 + 2*2 = 5 and sees rows 4..6
    assert _touched_span(model, 2) == (4, 6)


def test_squeeze_excitation_gate_keeps_the_local_receptive_field():
    x = keras.Input((8, 8, 4))
    c = layers.Conv2D(4, 3, padding="same", name="conv")(x)
    g = layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(c)
    g = layers.Conv2D(4, 1, activation="sigmoid", name="excite")(g)
    m = layers.Multiply(name="scale")([g, c])
    y = layers.Conv2D(4, 3, padding="same", name="next")(m)
    rows = _rows(keras.Model(x, y))
    assert rows["squeeze"].receptive_field == (3 + 7, 3 + 7)  # the whole 8x8 map
    assert rows["scale"].receptive_field == (3, 3) and rows["scale"].jump == (1, 1)
    assert rows["next"].receptive_field == (5, 5)
    assert rows["excite"].macs == 4 * 4 and rows["scale"].output_shape == (8, 8, 4)


# ------------------------------------------------------------------------- kerascnn summary


def _table_rows(text: str) -> list[list[str]]:
    """The per-layer rows of ``kerascnn summary``'s table (between the header rule and '===')."""
    lines = text.splitlines()
    body = lines[2 : next(i for i, line in enumerate(lines) if line.startswith("==="))]
    return [line.split() for line in body]


def _total(text: str, label: str) -> int:
    match = re.search(rf"{label}: ([\d,]+)", text)
    assert match, f"no {label!r} line in:\n{text}"
    return int(match.group(1).replace(",", ""))


def _check_summary(cli, name: str, *extra) -> None:
    proc = cli("summary", name, *extra)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    model = build(name)
    rows = _table_rows(out)
    # every layer, in a row of seven columns: name, type, output, params, MACs, RF, jump
    assert [row[0] for row in rows] == [layer.name for layer in model.layers]
    assert all(len(row) >= 7 for row in rows)
    info = get_model_info(name)
    assert _total(out, "trainable") == info.params
    assert _total(out, "total params") == model.count_params()
    assert f"({info.macs:,})" in out.splitlines()[-1]


def test_summary_of_a_branching_model_through_the_cli(cli):
    _check_summary(cli, "resnet20")  # residual branches merged by Add


@pytest.mark.parametrize("name", ["googlenet", "densenet121"])
def test_summary_of_the_concatenating_models(cli, name):
    _check_summary(cli, name)  # Inception's four-branch concat; DenseNet's concat chains
