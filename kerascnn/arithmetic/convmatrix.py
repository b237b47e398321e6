"""Convolution as a matrix: the lecture's "a conv layer is a sparse matrix with shared weights".

A 1-D or 2-D convolution is linear in its input, so it equals one matrix ``C`` applied to the
flattened input: ``C @ x.flatten() == conv(x).flatten()``. For 1-D this is a (block) Toeplitz
matrix; for 2-D a doubly-block Toeplitz matrix; with circular padding the blocks become circulant.
Most entries are zero (each output sees only ``k`` inputs) and the same kernel numbers repeat on
every row: that is weight sharing, made visible.

Conventions are those of Keras (and every deep learning library): the operation is
*cross-correlation* (the kernel is not flipped), tensors are channels-last, and the input is
flattened row-major, so ``x`` of shape ``(H, W, C_in)`` becomes ``x.reshape(-1)`` and the output
``(H_out, W_out, C_out)`` comes back as ``(C @ x.reshape(-1)).reshape(H_out, W_out, C_out)``.
Bias is not part of ``C`` (it is the affine ``+ b``).

Example:
    >>> import numpy as np
    >>> from kerascnn.arithmetic import conv_matrix
    >>> C = conv_matrix(np.array([1.0, 2.0, 3.0]), (5,), padding="valid")
    >>> C
    array([[1., 2., 3., 0., 0.],
           [0., 1., 2., 3., 0.],
           [0., 0., 1., 2., 3.]])
    >>> C @ np.arange(5.0)
    array([ 8., 14., 20.])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kerascnn.arithmetic.formulas import (
    PADDINGS,
    conv_output_size,
    padding_amounts,
    per_axis,
    source_index,
)
from kerascnn.errors import UsageError

__all__ = ["conv_matrix"]


def conv_matrix(
    kernel,
    input_shape: Sequence[int],
    padding: str | int = "valid",
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    *,
    sparse: bool = False,
):
    """Build the matrix ``C`` with ``C @ x.reshape(-1) == conv(x).reshape(-1)``.

    Args:
        kernel: a Keras kernel — ``(k, C_in, C_out)`` for Conv1D, ``(kh, kw, C_in, C_out)`` for
            Conv2D — or a bare single-channel kernel, ``(k,)`` (1-D) or ``(kh, kw)`` (2-D).
        input_shape: one example's input without the batch axis: ``(n,)`` / ``(n, C_in)`` for
            1-D, ``(h, w)`` / ``(h, w, C_in)`` for 2-D.
        padding: ``"valid"`` and ``"same"`` (zeros, exactly as Keras), ``"circular"`` (wrap
            around: ``C`` becomes block-circulant), ``"reflect"``, or an int of zeros per side.
            The padded variants use the ``same`` amounts, so their output has ``same``'s size.
        stride: an int or one per spatial axis.
        dilation: an int or one per spatial axis.
        sparse: return a ``scipy.sparse.csr_matrix`` instead of a dense array.

    Returns:
        ``(prod(out_spatial) * C_out, prod(in_spatial) * C_in)`` float array.

    Example:
        >>> import numpy as np
        >>> C = conv_matrix(np.ones((3, 3)), (4, 4), padding="circular")
        >>> C.shape, float(C.sum(axis=1).min())   # every output sums 9 inputs, wrapped
        ((16, 16), 9.0)
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim in (1, 2):  # a bare single-channel kernel
        kernel = kernel[..., None, None]
    if kernel.ndim not in (3, 4):
        raise UsageError(
            f"kernel must have 1-4 axes ((k,), (kh,kw), (k,Cin,Cout), (kh,kw,Cin,Cout)), got shape {kernel.shape}"
        )
    rank = kernel.ndim - 2
    taps, (in_channels, out_channels) = kernel.shape[:rank], kernel.shape[rank:]

    shape = tuple(int(d) for d in input_shape)
    if len(shape) == rank:
        shape = shape + (in_channels,)
    if len(shape) != rank + 1 or shape[-1] != in_channels:
        raise UsageError(
            f"input_shape {tuple(input_shape)} does not fit a {rank}-D kernel with {in_channels} input channels"
        )
    spatial = shape[:rank]
    strides = per_axis(stride, rank, "stride")
    dilations = per_axis(dilation, rank, "dilation")
    mode = padding if isinstance(padding, str) else "zeros"
    if isinstance(padding, str) and padding not in PADDINGS:
        raise UsageError(f"unknown padding {padding!r}; choose from: {', '.join(PADDINGS)} or an int")
    if mode == "reflect" and min(spatial) < 2:
        raise UsageError("reflect padding needs every spatial size >= 2")

    # Per axis: output positions, and for every (output, tap) pair the source input index.
    out_sizes, sources = [], []
    for axis in range(rank):
        n, k, s, d = spatial[axis], taps[axis], strides[axis], dilations[axis]
        before, after = padding_amounts(n, k, padding, s, d)
        if mode == "reflect" and max(before, after) > n - 1:
            raise UsageError(f"reflect padding of {max(before, after)} needs an input larger than {n}")
        out = conv_output_size(n, k, s, (before, after), d)
        padded = np.arange(out)[:, None] * s + np.arange(k)[None, :] * d  # [out, k]
        out_sizes.append(out)
        sources.append(source_index(padded, n, before, mode))

    # All combinations of (output position, tap) over the spatial axes, flattened row-major.
    out_grid = np.meshgrid(*[np.arange(o) for o in out_sizes], indexing="ij")
    tap_grid = np.meshgrid(*[np.arange(k) for k in taps], indexing="ij")
    out_pos = [g.reshape(-1, 1) for g in out_grid]  # [O, 1] per axis
    tap_pos = [g.reshape(1, -1) for g in tap_grid]  # [1, T] per axis
    src = [sources[a][out_pos[a], tap_pos[a]] for a in range(rank)]  # [O, T] per axis
    valid = np.logical_and.reduce([s >= 0 for s in src])

    out_flat = np.ravel_multi_index(tuple(np.broadcast_to(p, valid.shape) for p in out_pos), out_sizes)
    in_flat = np.ravel_multi_index(tuple(np.where(valid, s, 0) for s in src), spatial)
    tap_flat = np.broadcast_to(np.arange(math.prod(taps))[None, :], valid.shape)

    rows, cols, taps_used = out_flat[valid], in_flat[valid], tap_flat[valid]
    weights = kernel.reshape(-1, in_channels, out_channels)[taps_used]  # [M, Cin, Cout]

    n_out, n_in = math.prod(out_sizes), math.prod(spatial)
    # Expand each (row, col, Cin x Cout block) into scalar entries; duplicates (a wrapped or
    # reflected input reached by two taps) add up, as they do in the convolution itself.
    ci, co = np.meshgrid(np.arange(in_channels), np.arange(out_channels), indexing="ij")
    full_rows = (rows[:, None, None] * out_channels + co[None]).reshape(-1)
    full_cols = (cols[:, None, None] * in_channels + ci[None]).reshape(-1)
    values = weights.reshape(-1)

    if sparse:
        from scipy.sparse import coo_matrix

        return coo_matrix(
            (values, (full_rows, full_cols)), shape=(n_out * out_channels, n_in * in_channels)
        ).tocsr()
    matrix = np.zeros((n_out * out_channels, n_in * in_channels))
    np.add.at(matrix, (full_rows, full_cols), values)
    return matrix
