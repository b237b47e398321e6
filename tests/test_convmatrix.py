"""Convolution as a matrix: C @ x.flatten() must equal what Keras' Conv1D/Conv2D compute."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
from _precision import full_float32

from kerascnn.arithmetic import conv_matrix, padding_amounts, source_index
from kerascnn.errors import UsageError

RNG = np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="module")
def _full_float32():
    """The comparisons here are float32-exact: no TF32 on GPUs that default to it."""
    with full_float32():
        yield


def _keras_conv(rank, x, kernel_shape, out_channels, padding, stride, dilation):
    """Run a bias-free Keras conv with random weights; return (kernel, output without batch)."""
    layer_cls = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D
    layer = layer_cls(
        out_channels, kernel_shape, strides=stride, dilation_rate=dilation,
        padding=padding, use_bias=False,
    )
    y = np.asarray(layer(x[None].astype("float32")))[0]
    return np.asarray(layer.kernel), y


CASES_2D = [
    # (input h, w, cin), kernel (kh, kw), cout, padding, stride, dilation
    ((7, 7, 1), (3, 3), 1, "valid", 1, 1),
    ((9, 8, 2), (3, 2), 3, "valid", 2, 1),
    ((9, 8, 2), (3, 3), 3, "same", 1, 1),
    ((10, 7, 3), (3, 3), 2, "same", 2, 1),
    ((8, 9, 2), (4, 4), 2, "same", 3, 1),  # even kernel: TF puts the odd pixel after
    ((9, 9, 1), (3, 3), 2, "valid", 1, 2),
    ((9, 10, 2), (3, 2), 2, "same", 1, 2),
    ((6, 6, 3), (1, 1), 4, "valid", 1, 1),
    ((11, 6, 1), (5, 3), 1, "valid", (2, 1), 1),
]


@pytest.mark.parametrize("shape,kernel,cout,padding,stride,dilation", CASES_2D)
def test_2d_matrix_equals_keras_conv2d(shape, kernel, cout, padding, stride, dilation):
    x = RNG.normal(size=shape)
    weights, y = _keras_conv(2, x, kernel, cout, padding, stride, dilation)
    C = conv_matrix(weights, shape, padding, stride, dilation)
    assert C.shape == (y.size, x.size)
    np.testing.assert_allclose(C @ x.reshape(-1), y.reshape(-1), atol=1e-4)


@pytest.mark.parametrize(
    "n,cin,k,cout,padding,stride,dilation",
    [
        (10, 1, 3, 1, "valid", 1, 1),
        (11, 2, 4, 3, "valid", 2, 1),
        (11, 2, 3, 3, "same", 1, 1),
        (12, 3, 5, 2, "same", 3, 1),
        (13, 1, 3, 2, "same", 1, 3),
        (9, 2, 2, 2, "valid", 1, 2),
    ],
)
def test_1d_matrix_equals_keras_conv1d(n, cin, k, cout, padding, stride, dilation):
    x = RNG.normal(size=(n, cin))
    weights, y = _keras_conv(1, x, k, cout, padding, stride, dilation)
    C = conv_matrix(weights, (n, cin), padding, stride, dilation)
    np.testing.assert_allclose(C @ x.reshape(-1), y.reshape(-1), atol=1e-4)


@pytest.mark.parametrize("mode,np_mode", [("circular", "wrap"), ("reflect", "reflect")])
@pytest.mark.parametrize("stride", [1, 2])
def test_2d_circular_and_reflect_equal_padded_keras_conv(mode, np_mode, stride):
    """Circular/reflect padding = np.pad(wrap/reflect) by the 'same' amounts, then Keras 'valid'."""
    shape, kernel, cout = (7, 8, 2), (3, 3), 3
    x = RNG.normal(size=shape)
    pads = [padding_amounts(n, k, "same", stride) for n, k in zip(shape[:2], kernel)]
    padded = np.pad(x, [*pads, (0, 0)], mode=np_mode)
    weights, y = _keras_conv(2, padded, kernel, cout, "valid", stride, 1)
    C = conv_matrix(weights, shape, mode, stride)
    np.testing.assert_allclose(C @ x.reshape(-1), y.reshape(-1), atol=1e-4)
    assert y.shape[:2] == tuple(-(-n // stride) for n in shape[:2])  # 'same' sized output


def test_1d_circular_matrix_is_circulant_and_equals_wrapped_keras_conv():
    n, kernel = 8, np.array([1.0, -2.0, 3.0])
    C = conv_matrix(kernel, (n,), "circular")
    # A circulant matrix: every row is the row above shifted right by one, wrapping around.
    for i in range(1, n):
        np.testing.assert_array_equal(C[i], np.roll(C[i - 1], 1))
    x = RNG.normal(size=(n, 1))
    layer = keras.layers.Conv1D(1, 3, padding="valid", use_bias=False)
    layer.build((1, n + 2, 1))
    layer.set_weights([kernel[:, None, None].astype("float32")])
    y = np.asarray(layer(np.pad(x, [(1, 1), (0, 0)], mode="wrap")[None].astype("float32")))[0]
    np.testing.assert_allclose(C @ x.reshape(-1), y.reshape(-1), atol=1e-5)


def test_matrix_is_sparse_with_shared_weights():
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    C = conv_matrix(kernel, (6, 6), "valid")
    assert C.shape == (16, 36)
    # Each output reads exactly k*k inputs, and every row holds the same nine numbers.
    assert ((C != 0).sum(axis=1) == 9).all()
    for row in C:
        assert sorted(row[row != 0]) == list(kernel.reshape(-1))
    # The 2-D matrix is doubly-block Toeplitz: block (i, j) depends only on j - i.
    blocks = C.reshape(4, 4, 6, 6).transpose(0, 2, 1, 3)  # [out row, in row, out col, in col]
    for i, j in itertools.product(range(3), range(5)):
        np.testing.assert_array_equal(blocks[i, j], blocks[i + 1, j + 1])


def test_sparse_matches_dense():
    kernel = RNG.normal(size=(3, 3, 2, 4))
    dense = conv_matrix(kernel, (6, 5, 2), "circular", 2)
    sparse = conv_matrix(kernel, (6, 5, 2), "circular", 2, sparse=True)
    np.testing.assert_allclose(sparse.toarray(), dense)
    assert sparse.nnz <= 9 * 2 * 4 * 3 * 3  # at most k*k*Cin*Cout per output position


def test_explicit_int_padding_matches_zero_padded_conv():
    x = RNG.normal(size=(6, 6, 1))
    weights, y = _keras_conv(2, np.pad(x, [(2, 2), (2, 2), (0, 0)]), (3, 3), 1, "valid", 1, 1)
    C = conv_matrix(weights, (6, 6, 1), 2)
    np.testing.assert_allclose(C @ x.reshape(-1), y.reshape(-1), atol=1e-5)


def test_source_index_modes():
    assert source_index(np.arange(8), 5, 2, "circular").tolist() == [3, 4, 0, 1, 2, 3, 4, 0]
    assert source_index(np.arange(8), 5, 2, "reflect").tolist() == [2, 1, 0, 1, 2, 3, 4, 3]
    assert source_index(np.arange(8), 5, 2, "same").tolist() == [-1, -1, 0, 1, 2, 3, 4, -1]


def test_available_from_arithmetic():
    from kerascnn import arithmetic

    assert arithmetic.conv_matrix is conv_matrix


@pytest.mark.parametrize(
    "kernel,shape,kwargs,message",
    [
        (np.ones((2, 2, 2, 2, 2)), (4, 4), {}, "kernel must have"),
        (np.ones((3, 3, 2, 1)), (5, 5, 3), {}, "does not fit"),
        (np.ones((5, 5)), (3, 3), {}, "does not fit input size"),
        (np.ones((3, 3)), (5, 5), {"padding": "zeros"}, "unknown padding"),
        (np.ones((3, 3)), (5, 5), {"stride": 0}, "stride"),
        (np.ones((9,)), (4,), {"padding": "reflect"}, "reflect padding"),
    ],
)
def test_bad_arguments_raise_one_line_usage_errors(kernel, shape, kwargs, message):
    with pytest.raises(UsageError, match=message):
        conv_matrix(kernel, shape, **kwargs)
