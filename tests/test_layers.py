"""kerascnn.layers: padding vs np.pad, option-A shortcut, adaptive pooling vs torch's windows."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerascnn.errors import UsageError
from kerascnn.layers import (
    AdaptivePooling2D,
    CircularPadding2D,
    Padding2D,
    ReflectPadding2D,
    ZeroPadShortcut,
    adaptive_windows,
    normalize_padding,
    pad_indices,
)

NP_MODE = {
    "circular": "wrap",
    "reflect": "reflect",
    "symmetric": "symmetric",
    "constant": "constant",
}


def _np_pad(x, pads, mode, value=0.0):
    (top, bottom), (left, right) = pads
    width = ((0, 0), (top, bottom), (left, right), (0, 0))
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=value)
    return np.pad(x, width, mode=NP_MODE[mode])


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 6),
    width=st.integers(1, 6),
    pads=st.tuples(*[st.integers(0, 9)] * 4),
    mode=st.sampled_from(["circular", "reflect", "symmetric", "constant"]),
)
def test_padding_matches_numpy_pad(height, width, pads, mode):
    x = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype("float32")
    layer_pads = ((pads[0], pads[1]), (pads[2], pads[3]))
    got = keras.ops.convert_to_numpy(Padding2D(layer_pads, mode=mode, value=-2.5)(x))
    np.testing.assert_array_equal(got, _np_pad(x, layer_pads, mode, -2.5))


@pytest.mark.parametrize("mode", ["circular", "reflect", "symmetric"])
def test_padding_with_unknown_height_and_width_matches_numpy(mode):
    """A model with (None, None, C) input takes the dynamic-index path."""
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, Padding2D(((2, 1), (0, 3)), mode=mode)(inputs))
    for height, width in [(3, 4), (5, 2), (1, 1)]:
        x = np.arange(height * width * 2, dtype="float32").reshape(1, height, width, 2)
        np.testing.assert_array_equal(
            model.predict(x, verbose=0), _np_pad(x, ((2, 1), (0, 3)), mode)
        )


def test_shorthand_layers_are_circular_and_reflect():
    x = np.random.default_rng(1).normal(size=(1, 4, 5, 2)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(CircularPadding2D(2)(x)),
        _np_pad(x, ((2, 2), (2, 2)), "circular"),
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ReflectPadding2D((1, 3))(x)),
        _np_pad(x, ((1, 1), (3, 3)), "reflect"),
    )
    restored = ReflectPadding2D.from_config(ReflectPadding2D((1, 3), name="r").get_config())
    assert (restored.mode, restored.padding, restored.name) == ("reflect", ((1, 1), (3, 3)), "r")


def test_pad_indices_and_normalize_padding():
    assert pad_indices(3, 2, 2, "circular").tolist() == [1, 2, 0, 1, 2, 0, 1]
    assert pad_indices(1, 2, 1, "reflect").tolist() == [0, 0, 0, 0]
    assert normalize_padding(((1, 2), 3)) == ((1, 2), (3, 3))
    with pytest.raises(UsageError, match="amounts must be >= 0"):
        normalize_padding(-1)
    with pytest.raises(UsageError, match="bad padding"):
        normalize_padding("lots")
    with pytest.raises(UsageError, match="unknown padding mode 'wrap'"):
        Padding2D(1, mode="wrap")


def test_zero_pad_shortcut_is_strided_identity_with_zero_channels():
    x = np.random.default_rng(2).normal(size=(2, 8, 7, 16)).astype("float32")
    layer = ZeroPadShortcut(strides=2, out_channels=32)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 4, 4, 32) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y[..., 8:24], x[:, ::2, ::2, :])
    assert not y[..., :8].any() and not y[..., 24:].any()
    assert layer.count_params() == 0
    odd = keras.ops.convert_to_numpy(ZeroPadShortcut(1, 19)(x))
    np.testing.assert_array_equal(odd[..., 1:17], x)
    with pytest.raises(UsageError, match="cannot shrink 16 channels to 8"):
        ZeroPadShortcut(1, 8)(x)


def _torch_adaptive_reference(x, out_h, out_w, reduce):
    """Direct transcription of torch's adaptive pooling definition (one window per cell)."""
    _, height, width, _ = x.shape
    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]), x.dtype)
    for i in range(out_h):
        h0, h1 = math.floor(i * height / out_h), math.ceil((i + 1) * height / out_h)
        for j in range(out_w):
            w0, w1 = math.floor(j * width / out_w), math.ceil((j + 1) * width / out_w)
            out[:, i, j] = reduce(x[:, h0:h1, w0:w1], axis=(1, 2))
    return out


@settings(max_examples=25, deadline=None)
@given(
    size=st.tuples(st.integers(1, 15), st.integers(1, 15)),
    out=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    mode=st.sampled_from(["avg", "max"]),
)
def test_adaptive_pooling_matches_torch_definition(size, out, mode):
    x = np.random.default_rng(3).normal(size=(2, *size, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(AdaptivePooling2D(out, mode=mode)(x))
    want = _torch_adaptive_reference(x, *out, np.mean if mode == "avg" else np.max)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_adaptive_windows_and_divisible_case_equals_average_pooling():
    assert adaptive_windows(13, 6)[:2] == [(0, 3), (2, 5)]
    x = np.random.default_rng(4).normal(size=(1, 14, 14, 2)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(AdaptivePooling2D(7)(x)),
        keras.ops.convert_to_numpy(keras.layers.AveragePooling2D(2)(x)),
        rtol=1e-6,
    )
    with pytest.raises(UsageError, match="needs a known input height and width"):
        AdaptivePooling2D(2)(keras.Input((None, None, 3)))
    with pytest.raises(UsageError, match="mode must be"):
        AdaptivePooling2D(2, mode="median")


def test_custom_layers_round_trip_through_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((9, 9, 4), name="input")
    x = CircularPadding2D(1, name="circ")(inputs)
    x = keras.layers.Conv2D(8, 3, name="conv")(x)
    x = ReflectPadding2D(((0, 2), (1, 1)), name="refl")(x)
    x = Padding2D(1, mode="constant", value=-1.0, name="const")(x)
    x = ZeroPadShortcut(2, 12, name="shortcut")(x)
    x = AdaptivePooling2D((3, 2), mode="max", name="adaptive")(x)
    model = keras.Model(inputs, x, name="layers_model")
    path = tmp_path / "layers.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    x = np.random.default_rng(5).normal(size=(2, 9, 9, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("mode", ["circular", "reflect", "symmetric"])
def test_padding_gradient_counts_how_often_each_pixel_is_copied(mode):
    import tensorflow as tf

    x = tf.Variable(np.zeros((1, 4, 3, 1), "float32"))
    pads = ((3, 1), (2, 4))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(Padding2D(pads, mode=mode)(x))
    grad = tape.gradient(total, x).numpy()[0, :, :, 0]
    rows = np.bincount(pad_indices(4, *pads[0], mode), minlength=4)
    cols = np.bincount(pad_indices(3, *pads[1], mode), minlength=3)
    np.testing.assert_array_equal(grad, np.outer(rows, cols))
