"""The savings figure (kerascnn.visualize.savings) and `kerascnn visualize savings`: the numbers
it draws are kerascnn.arithmetic's formulas and what Keras counts for the same layers."""

from __future__ import annotations

import re

import keras
import pytest
from PIL import Image

from kerascnn import visualize as vis
from kerascnn.arithmetic import conv_macs, conv_params, separable_conv_macs, separable_conv_params
from kerascnn.errors import UsageError


def _keras_equivalent(design, in_channels: int, size: int) -> keras.Model:
    """The design's convolutions as Keras layers (stride 1, "same", no biases)."""
    x = keras.Input((size, size, in_channels))
    h = x
    for step in design.steps:
        if step.groups == step.in_channels and step.groups > 1:
            h = keras.layers.DepthwiseConv2D(step.kernel, padding="same", use_bias=False)(h)
        else:
            h = keras.layers.Conv2D(step.out_channels, step.kernel, padding="same",
                                    groups=step.groups, use_bias=False)(h)  # fmt: skip
    return keras.Model(x, h)


@pytest.mark.parametrize("c_in, c_out, size", [(256, 256, 56), (64, 128, 14), (3, 8, 5)])
def test_designs_are_the_formulas_and_what_keras_counts(c_in, c_out, size):
    from kerascnn.arithmetic import analyze

    standard, bottleneck, separable = vis.conv_designs(c_in, c_out, size=size)
    mid = max(c_in // 4, 1)
    hw = (size, size)
    assert standard.params == conv_params(3, c_in, c_out, use_bias=False) == 9 * c_in * c_out
    assert standard.macs == conv_macs(hw, 3, c_in, c_out) == size * size * 9 * c_in * c_out
    assert bottleneck.params == c_in * mid + 9 * mid * mid + mid * c_out
    assert bottleneck.macs == size * size * bottleneck.params
    assert separable.params == separable_conv_params(3, c_in, c_out, use_bias=False)
    assert separable.params == 9 * c_in + c_in * c_out
    assert separable.macs == separable_conv_macs(hw, 3, c_in, c_out) == size * size * separable.params
    for design in (standard, bottleneck, separable):
        model = _keras_equivalent(design, c_in, size)
        assert model.output_shape == (None, size, size, c_out)
        assert model.count_params() == design.params, design.name
        assert analyze(model).totals.macs == design.macs, design.name


def test_the_picture_decodes_has_its_size_and_reports_the_ratios(tmp_path):
    picture = vis.plot_savings(in_channels=256, size=56, out=tmp_path / "savings.png")
    with Image.open(picture.path) as image:
        image.load()
        assert image.size == picture.expected_size == (880, 480)
    designs = picture.data["designs"]
    assert [d.name for d in designs] == ["standard 3x3", "1x1 bottleneck", "depthwise separable"]
    # 9*256*256 against 256*64 + 9*64*64 + 64*256 and 9*256 + 256*256
    assert [d.params for d in designs] == [589_824, 69_632, 67_840]
    assert [d.macs for d in designs] == [56 * 56 * p for p in (589_824, 69_632, 67_840)]
    assert picture.data["param_ratios"] == pytest.approx([1.0, 589_824 / 69_632, 589_824 / 67_840])
    assert picture.data["mac_ratios"] == picture.data["param_ratios"]  # stride 1: MACs = H*W*weights
    assert "256 to 256 channels at 56x56" in picture.title


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="input channels"):
        vis.conv_designs(0)
    with pytest.raises(UsageError, match=r"\.png"):
        vis.plot_savings(out=tmp_path / "savings.jpg")


def test_cli_writes_the_figure_and_prints_the_counts(cli, tmp_path):
    out = tmp_path / "savings.png"
    proc = cli("visualize", "savings", "--channels", "128", "--out-channels", "64", "--size", "28",
               "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    with Image.open(out) as image:
        assert image.size == (880, 480)
    counts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) weights", proc.stderr)]
    assert counts == [d.params for d in vis.conv_designs(128, 64, size=28)]
    assert counts == [9 * 128 * 64, 128 * 32 + 9 * 32 * 32 + 32 * 64, 9 * 128 + 128 * 64]
