"""Convolution as a matrix, drawn: the Toeplitz band of :func:`kerascnn.arithmetic.conv_matrix`.

Example:
    >>> from kerascnn.visualize import plot_conv_matrix
    >>> plot_conv_matrix(padding="circular", out="matrix.png").grid  # doctest: +SKIP
    (1, 2)
"""

from __future__ import annotations

import numpy as np

from kerascnn.arithmetic import conv_matrix
from kerascnn.errors import UsageError
from kerascnn.visualize.figure import Picture, new_figure, png_path, save_png

__all__ = ["plot_conv_matrix"]

def plot_conv_matrix(
    *,
    size: int = 4,
    kernel_size: int = 3,
    padding: str = "same",
    stride: int = 1,
    out=None,
    tile_px: int = 320,
) -> Picture:
    """Draw convolution as a matrix: ``C`` with ``C @ x.flatten() == conv(x).flatten()``.

    Left: a 1-D kernel ``[1 2 3 ...]`` over ``2 * size`` inputs (a Toeplitz band; circulant with
    ``padding="circular"``). Right: a 2-D kernel with taps numbered ``1 .. k*k`` over a
    ``size x size`` input (doubly-block Toeplitz). Every row holds the same numbers - the shared
    weights - and most entries are zero: a conv layer is a sparse matrix with tied weights.
    The matrices come from :func:`kerascnn.arithmetic.conv_matrix` (tested against Keras).

    Example:
        >>> plot_conv_matrix(padding="circular", out="matrix.png").data["2d"].shape  # doctest: +SKIP
        (16, 16)
    """
    if not 2 <= size <= 6 or not 1 <= kernel_size <= 2 * size:
        raise UsageError("conv-matrix figure wants 2 <= size <= 6 and 1 <= kernel <= 2*size")
    taps_1d = np.arange(1, kernel_size + 1, dtype=float)
    taps_2d = np.arange(1, kernel_size * kernel_size + 1, dtype=float).reshape(kernel_size, -1)
    matrix_1d = conv_matrix(taps_1d, (2 * size,), padding, stride)
    matrix_2d = conv_matrix(taps_2d, (size, size), padding, stride)
    title = (
        f"Convolution as a matrix: C @ x.flatten() = conv(x).flatten() ({padding} padding, "
        f"stride {stride}); every row reuses the kernel's numbers"
    )
    fig, axes = new_figure(1, 2, title, tile_px)
    panels = [
        (matrix_1d, f"1-D: kernel {taps_1d.astype(int).tolist()} on {2 * size} inputs"),
        (
            matrix_2d,
            f"2-D: {kernel_size}x{kernel_size} kernel 1..{kernel_size**2} on {size}x{size}",
        ),
    ]
    for ax, (matrix, label) in zip(axes.flat, panels):
        ax.imshow(np.where(matrix == 0, np.nan, matrix), cmap="viridis", interpolation="nearest")
        rows, cols = matrix.shape
        fontsize = min(8.0, 150.0 / max(rows, cols))
        for r, c in zip(*np.nonzero(matrix)):
            ax.text(
                c,
                r,
                f"{matrix[r, c]:g}",
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white",
            )
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax.grid(which="minor", color="#dddddd", linewidth=0.3)
        ax.tick_params(which="minor", length=0)
        ax.set_title(f"{label}: C is {rows}x{cols}", fontsize=8)
    path = png_path(out, "conv_matrix.png")
    save_png(fig, path)
    return Picture(path, (1, 2), title, {"1d": matrix_1d, "2d": matrix_2d}, tile_px)
