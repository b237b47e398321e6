"""How valid / same / circular / reflect padding, stride and dilation change a conv's output.

The amounts and output sizes come from :mod:`kerascnn.arithmetic`; this module only draws them.

Example:
    >>> [(c.label, c.output) for c in padding_cases(5, 3)][:2]
    [('valid', 3), ('same (zeros)', 5)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerascnn.arithmetic import (
    conv_output_size,
    effective_kernel_size,
    padding_amounts,
    source_index,
)
from kerascnn.errors import UsageError
from kerascnn.visualize.figure import Picture, new_figure, png_path, save_png

__all__ = ["PaddingCase", "padding_cases", "plot_padding"]

@dataclass
class PaddingCase:
    """One panel of the padding figure: a 1-axis setting and the output size it gives."""

    label: str
    padding: str
    stride: int
    dilation: int
    before: int
    after: int
    output: int


def padding_cases(size: int = 5, kernel_size: int = 3) -> list[PaddingCase]:
    """The settings the padding figure draws, with their output sizes from kerascnn.arithmetic.

    Example:
        >>> [(c.label, c.output) for c in padding_cases(5, 3)][:2]
        [('valid', 3), ('same (zeros)', 5)]
    """
    settings = [
        ("valid", "valid", 1, 1),
        ("same (zeros)", "same", 1, 1),
        ("circular (wrap)", "circular", 1, 1),
        ("reflect (mirror)", "reflect", 1, 1),
        ("valid, stride 2", "valid", 2, 1),
        ("same, stride 2", "same", 2, 1),
        ("valid, dilation 2", "valid", 1, 2),
        ("same, dilation 2", "same", 1, 2),
    ]
    cases = []
    for label, padding, stride, dilation in settings:
        before, after = padding_amounts(size, kernel_size, padding, stride, dilation)
        output = conv_output_size(
            size, kernel_size, stride=stride, padding=padding, dilation=dilation
        )
        cases.append(PaddingCase(label, padding, stride, dilation, before, after, int(output)))
    return cases


def plot_padding(*, size: int = 5, kernel_size: int = 3, out=None, tile_px: int = 200) -> Picture:
    """Draw how valid / same / circular / reflect padding, stride and dilation change the output.

    Each panel shows a ``size x size`` input (numbered cells), the padding around it (zeros in
    grey, wrapped cells in blue, mirrored cells in green), the kernel's footprint at the first
    position (red; gaps show dilation) and dots where the kernel lands (stride), with the output
    size computed by :mod:`kerascnn.arithmetic` as ``floor((n + p_total - d(k-1) - 1)/s) + 1``.

    Example:
        >>> plot_padding(out="padding.png").grid  # doctest: +SKIP
        (2, 4)
    """
    import matplotlib.patches as patches

    if not 2 <= size <= 12 or not 1 <= kernel_size <= size:
        raise UsageError("padding figure wants 2 <= size <= 12 and 1 <= kernel size <= size")
    cases = padding_cases(size, kernel_size)
    values = np.arange(1, size * size + 1).reshape(size, size)
    title = (
        f"One {size}x{size} input, a {kernel_size}x{kernel_size} kernel: output size "
        "= floor((n + p_before + p_after - d(k-1) - 1) / s) + 1"
    )
    fig, axes = new_figure(2, 4, title, tile_px)
    fills = {"valid": "#ffffff", "same": "#d9d9d9", "circular": "#c6dbef", "reflect": "#c7e9c0"}
    for ax, case in zip(axes.flat, cases):
        pad_b, pad_a = case.before, case.after
        padded = size + pad_b + pad_a
        index = source_index(np.arange(padded), size, pad_b, case.padding)
        fontsize = min(7.0, 40.0 / padded)
        for r in range(padded):
            for c in range(padded):
                inside = pad_b <= r < pad_b + size and pad_b <= c < pad_b + size
                src_r, src_c = index[r], index[c]
                if inside:
                    face, text = "#ffffff", str(values[src_r, src_c])
                elif case.padding in ("same", "valid") or src_r < 0 or src_c < 0:
                    face, text = fills["same"], "0"
                else:
                    face, text = fills[case.padding], str(values[src_r, src_c])
                ax.add_patch(
                    patches.Rectangle(
                        (c, r), 1, 1, facecolor=face, edgecolor="#888888", linewidth=0.4
                    )
                )
                ax.text(c + 0.5, r + 0.5, text, ha="center", va="center", fontsize=fontsize)
        span = effective_kernel_size(kernel_size, case.dilation)
        for u in range(kernel_size):  # the kernel's taps at the first output position
            for v in range(kernel_size):
                ax.add_patch(
                    patches.Rectangle(
                        (v * case.dilation, u * case.dilation),
                        1,
                        1,
                        fill=False,
                        edgecolor="red",
                        linewidth=1.2,
                    )
                )
        if case.stride > 1:  # the window centres: every output is one of these positions
            centres = np.arange(case.output) * case.stride + 0.5 * span
            for i in centres:
                for j in centres:
                    ax.add_patch(
                        patches.Circle(
                            (j, i),
                            0.42,
                            fill=False,
                            edgecolor="#d62728",
                            linewidth=0.9,
                            linestyle=":",
                        )
                    )
        ax.set_xlim(-0.2, padded + 0.2)
        ax.set_ylim(padded + 0.2, -0.2)
        ax.set_aspect("equal")
        ax.set_title(
            f"{case.label}\n{size}x{size} -> {case.output}x{case.output} "
            f"(p={pad_b}+{pad_a}, s={case.stride}, d={case.dilation})",
            fontsize=6.5,
            pad=2,
        )
    path = png_path(out, "padding.png")
    save_png(fig, path)
    return Picture(path, (2, 4), title, {"cases": cases}, tile_px)
