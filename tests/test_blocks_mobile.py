"""The mobile blocks on their own: shapes, parameter counts, names, shortcuts, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascnn import blocks
from kerascnn.errors import UsageError


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def _model(fn, shape):
    inputs = keras.Input(shape, name="input")
    return keras.Model(inputs, fn(inputs))


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "value,divisor,expected",
    [(32, 8, 32), (32 * 0.35, 8, 16), (16 * 0.25, 8, 8), (1280 * 1.4, 8, 1792), (20, 8, 24),
     (11, 8, 16), (96 * 0.75, 8, 72), (3, 4, 4)],
)
def test_make_divisible_rounds_to_the_nearest_multiple_never_losing_over_ten_percent(
    value, divisor, expected
):
    assert blocks.make_divisible(value, divisor) == expected
    assert blocks.make_divisible(value, divisor) % divisor == 0
    assert blocks.make_divisible(value, divisor) >= 0.9 * value


def test_depthwise_conv_multiplier_stride_dilation_bn_relu6():
    model = _model(
        lambda x: blocks.depthwise_conv_bn_act(x, depth_multiplier=2, name="dw"), (16, 16, 8)
    )
    assert model.output_shape == (None, 16, 16, 16)
    assert [layer.name for layer in model.layers] == ["input", "dw_conv", "dw_bn", "dw_relu6"]
    assert _trainable(model) == 3 * 3 * 8 * 2 + 2 * 16  # kernel (no bias) + gamma, beta
    bn = model.get_layer("dw_bn")
    assert (bn.epsilon, bn.momentum) == (1e-3, 0.999)
    out = model.predict(np.full((1, 16, 16, 8), 100.0, "float32"), verbose=0)
    assert out.max() <= 6.0  # ReLU6
    strided = _model(lambda x: blocks.depthwise_conv_bn_act(x, strides=2, name="dw"), (15, 15, 4))
    assert strided.output_shape == (None, 8, 8, 4)  # Keras "same"
    padded = _model(
        lambda x: blocks.depthwise_conv_bn_act(
            x, strides=2, padding=((0, 1), (0, 1)), activation=None, name="dw"
        ),
        (15, 15, 4),
    )
    assert padded.output_shape == (None, 7, 7, 4)  # keras.applications MobileNet's pads
    assert [layer.name for layer in padded.layers] == ["input", "dw_pad", "dw_conv", "dw_bn"]
    dilated = _model(
        lambda x: blocks.depthwise_conv_bn_act(x, dilation=2, padding="valid", name="dw"),
        (9, 9, 4),
    )
    assert dilated.output_shape == (None, 5, 5, 4)  # effective kernel 5
    plain = _model(
        lambda x: blocks.depthwise_conv_bn_act(x, batch_norm=False, activation=None, name="dw"),
        (9, 9, 4),
    )
    assert _trainable(plain) == 3 * 3 * 4 + 4  # with bias when not batch-normed
    with pytest.raises(UsageError, match="both a stride and a dilation"):
        _model(lambda x: blocks.depthwise_conv_bn_act(x, strides=2, dilation=2, name="dw"),
               (9, 9, 4))
    with pytest.raises(UsageError, match="depth_multiplier"):
        _model(lambda x: blocks.depthwise_conv_bn_act(x, depth_multiplier=0, name="dw"),
               (9, 9, 4))


def test_separable_block_is_depthwise_then_pointwise():
    model = _model(lambda x: blocks.separable_block(x, 64, strides=2, name="b"), (32, 32, 32))
    assert model.output_shape == (None, 16, 16, 64)
    assert [layer.name for layer in model.layers[1:]] == [
        "b_depthwise_conv", "b_depthwise_bn", "b_depthwise_relu6",
        "b_pointwise_conv", "b_pointwise_bn", "b_pointwise_relu6",
    ]
    assert _trainable(model) == 3 * 3 * 32 + 2 * 32 + 32 * 64 + 2 * 64


def test_inverted_residual_expands_projects_linearly_and_adds_when_shapes_allow():
    model = _model(lambda x: blocks.inverted_residual_block(x, 24, expansion=6, name="b"),
                   (8, 8, 24))
    names = [layer.name for layer in model.layers[1:]]
    assert names == [
        "b_expand_conv", "b_expand_bn", "b_expand_relu6",
        "b_depthwise_conv", "b_depthwise_bn", "b_depthwise_relu6",
        "b_project_conv", "b_project_bn", "b_add",
    ]
    assert _trainable(model) == (24 * 144 + 2 * 144) + (9 * 144 + 2 * 144) + (144 * 24 + 2 * 24)
    # With zero projection weights the block is the identity: the shortcut is the input.
    model.get_layer("b_project_bn").set_weights(
        [np.zeros(24), np.zeros(24), np.zeros(24), np.ones(24)]
    )
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 24)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), x, atol=1e-6)
    # Stride 2 or other channels: no shortcut. Expansion 1: no expand conv.
    for kwargs, shape in (({"strides": 2}, (None, 4, 4, 24)), ({}, (None, 8, 8, 32))):
        filters = shape[-1]
        other = _model(lambda x, k=kwargs, f=filters: blocks.inverted_residual_block(
            x, f, name="b", **k), (8, 8, 24))
        assert other.output_shape == shape
        assert "b_add" not in [layer.name for layer in other.layers]
    first = _model(lambda x: blocks.inverted_residual_block(x, 16, expansion=1, name="b"),
                   (8, 8, 32))
    assert "b_expand_conv" not in [layer.name for layer in first.layers]


def test_inverted_residual_with_squeeze_excite_and_hard_swish():
    model = _model(
        lambda x: blocks.inverted_residual_block(
            x, 40, expanded_channels=120, kernel_size=5, se_ratio=0.25,
            activation="hard_swish", name="b",
        ),
        (8, 8, 40),
    )
    names = [layer.name for layer in model.layers[1:]]
    assert names[:6] == [
        "b_expand_conv", "b_expand_bn", "b_expand_hard_swish",
        "b_depthwise_conv", "b_depthwise_bn", "b_depthwise_hard_swish",
    ]
    assert names[6:12] == [
        "b_se_pool", "b_se_reduce_conv", "b_se_relu", "b_se_expand_conv", "b_se_hard_sigmoid",
        "b_se_scale",
    ]
    assert model.get_layer("b_se_reduce_conv").filters == 32  # make_divisible(120 * 0.25)
    assert model.get_layer("b_depthwise_conv").kernel.shape == (5, 5, 120, 1)
    assert names[-1] == "b_add"


def test_squeeze_excite_gates_each_channel_between_zero_and_one():
    model = _model(lambda x: blocks.squeeze_excite(x, 4, name="se"), (6, 6, 16))
    assert _trainable(model) == 16 * 4 + 4 + 4 * 16 + 16
    x = np.abs(np.random.default_rng(1).normal(size=(2, 6, 6, 16))).astype("float32")
    y = model.predict(x, verbose=0)
    ratio = y / x
    assert np.all(ratio >= 0) and np.all(ratio <= 1)
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :].repeat(6, 1).repeat(6, 2), rtol=1e-5)


def test_mobile_activations():
    x = np.array([[-4.0, -1.0, 0.0, 1.0, 4.0, 8.0]], "float32")
    expected = {
        "relu": np.maximum(x, 0),
        "relu6": np.clip(x, 0, 6),
        "hard_sigmoid": np.clip(x + 3, 0, 6) / 6,
        "hard_swish": x * np.clip(x + 3, 0, 6) / 6,
    }
    for kind, want in expected.items():
        model = _model(lambda t, k=kind: blocks.mobile_activation(t, k, name="a"), (6,))
        assert model.layers[-1].name == f"a_{kind}"
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(UsageError, match="activation"):
        _model(lambda t: blocks.mobile_activation(t, "mish", name="a"), (6,))
