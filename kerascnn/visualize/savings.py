"""Why 1x1 convolutions and depthwise separation save parameters: three ways to map C_in -> C_out.

For one ``C_in -> C_out`` step at ``H x W`` (stride 1, "same" padding, no biases: batch norm
follows each convolution in the networks that use these designs), the figure compares

* **standard** — one 3x3 convolution (VGG, ResNet-18/34);
* **bottleneck** — 1x1 down to ``C_in / reduction``, 3x3 there, 1x1 up to ``C_out`` (the 1x1
  trick of Inception's reduce branches and ResNet-50's bottleneck blocks);
* **depthwise separable** — a 3x3 per channel (``groups = C_in``), then a 1x1 mixing channels
  (MobileNet).

Every number comes from :func:`kerascnn.arithmetic.conv_params` and
:func:`kerascnn.arithmetic.conv_macs`; this module only lists the layers and draws them. The
three are not equal in what they compute — the bottleneck is deeper, the separable one mixes
channels and space in separate steps — which is exactly the trade those networks make.

Example:
    >>> [d.params for d in conv_designs(256)]
    [589824, 69632, 67840]
    >>> round(conv_designs(256)[0].params / conv_designs(256)[2].params, 2)
    8.69
"""

from __future__ import annotations

from dataclasses import dataclass

from kerascnn.arithmetic import conv_macs, conv_params, format_count, positive_int
from kerascnn.errors import UsageError
from kerascnn.visualize.figure import Picture, new_figure, png_path, save_png

__all__ = ["ConvDesign", "ConvStep", "conv_designs", "plot_savings"]


@dataclass(frozen=True)
class ConvStep:
    """One convolution of a design: ``kernel x kernel``, ``in_channels -> out_channels``.

    Example:
        >>> ConvStep("depthwise 3x3", 3, 8, 8, groups=8, params=72, macs=72 * 16).text
        'depthwise 3x3 8->8'
    """

    label: str
    kernel: int
    in_channels: int
    out_channels: int
    groups: int
    params: int
    macs: int

    @property
    def text(self) -> str:
        """``label in->out``, as the figure writes it."""
        return f"{self.label} {self.in_channels}->{self.out_channels}"


@dataclass(frozen=True)
class ConvDesign:
    """A way to map ``C_in -> C_out``: its convolutions and their summed weights and MACs.

    Example:
        >>> standard = conv_designs(64, size=8)[0]
        >>> standard.name, standard.params, standard.macs
        ('standard 3x3', 36864, 2359296)
    """

    name: str
    steps: tuple[ConvStep, ...]

    @property
    def params(self) -> int:
        """Weights of every step (no biases)."""
        return sum(step.params for step in self.steps)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of every step at the design's ``H x W``."""
        return sum(step.macs for step in self.steps)


def _step(label: str, kernel: int, c_in: int, c_out: int, size: tuple[int, int], groups: int = 1):
    return ConvStep(
        label,
        kernel,
        c_in,
        c_out,
        groups,
        params=conv_params(kernel, c_in, c_out, groups=groups, use_bias=False),
        macs=conv_macs(size, kernel, c_in, c_out, groups=groups),
    )


def conv_designs(
    in_channels: int,
    out_channels: int | None = None,
    *,
    size: int | tuple[int, int] = 56,
    reduction: int = 4,
) -> list[ConvDesign]:
    """The standard, bottleneck and depthwise-separable ways to map ``in -> out`` channels.

    ``out_channels`` defaults to ``in_channels``; ``size`` is ``H`` (square) or ``(H, W)``; the
    bottleneck works at ``in_channels // reduction`` channels (at least 1).

    Example:
        >>> for design in conv_designs(256, size=56):
        ...     print(f"{design.name}: {design.params:,} weights, {design.macs:,} MACs")
        standard 3x3: 589,824 weights, 1,849,688,064 MACs
        1x1 bottleneck: 69,632 weights, 218,365,952 MACs
        depthwise separable: 67,840 weights, 212,746,240 MACs
    """
    c_in = positive_int(in_channels, "input channels")
    c_out = c_in if out_channels is None else positive_int(out_channels, "output channels")
    positive_int(reduction, "reduction")
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    hw = (positive_int(height, "height"), positive_int(width, "width"))
    mid = max(c_in // reduction, 1)
    return [
        ConvDesign("standard 3x3", (_step("3x3", 3, c_in, c_out, hw),)),
        ConvDesign(
            "1x1 bottleneck",
            (
                _step("1x1", 1, c_in, mid, hw),
                _step("3x3", 3, mid, mid, hw),
                _step("1x1", 1, mid, c_out, hw),
            ),
        ),
        ConvDesign(
            "depthwise separable",
            (
                _step("depthwise 3x3", 3, c_in, c_in, hw, groups=c_in),
                _step("pointwise 1x1", 1, c_in, c_out, hw),
            ),
        ),
    ]


_COLOURS = ("#4c72b0", "#dd8452", "#55a868")
_SHADES = (1.0, 0.72, 0.5)  # one shade per step of a design, darkest first


def _shade(colour: str, factor: float) -> tuple[float, float, float]:
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return tuple(1 - (1 - c) * factor for c in rgb)


def plot_savings(
    *,
    in_channels: int = 256,
    out_channels: int | None = None,
    size: int = 56,
    reduction: int = 4,
    out=None,
    tile_px: int = 440,
    tile_height: int = 420,
) -> Picture:
    """Draw weights and MACs of a standard 3x3, a 1x1 bottleneck and a depthwise-separable conv.

    Two panels (weights, MACs at ``size x size``), one bar per design, stacked by its
    convolutions (darker: earlier), with the count on top and how many times fewer than the
    standard 3x3 it needs. ``Picture.data`` holds the :class:`ConvDesign` list and the ratios.

    Example:
        >>> picture = plot_savings(in_channels=256, out="savings.png")  # doctest: +SKIP
        >>> picture.data["param_ratios"]  # doctest: +SKIP
        [1.0, 8.470588235294118, 8.69433962264151]
    """
    if not 1 <= size <= 4096:
        raise UsageError(f"savings figure wants 1 <= size <= 4096, got {size}")
    designs = conv_designs(in_channels, out_channels, size=size, reduction=reduction)
    c_in, c_out = designs[0].steps[0].in_channels, designs[0].steps[0].out_channels
    mid = designs[1].steps[0].out_channels
    title = (
        f"Why 1x1 and depthwise convolutions save: three ways from {c_in} to {c_out} channels "
        f"at {size}x{size}"
    )
    fig, axes = new_figure(1, 2, title, tile_px, tile_height)
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.2, wspace=0.12)
    standard = designs[0]
    param_ratios = [standard.params / d.params for d in designs]
    mac_ratios = [standard.macs / d.macs for d in designs]
    panels = [
        (axes[0, 0], "weights (no biases)", [d.params for d in designs], param_ratios, "params"),
        (axes[0, 1], f"MACs, one {size}x{size} image", [d.macs for d in designs], mac_ratios,
         "macs"),
    ]
    for ax, label, totals, ratios, attribute in panels:
        top = max(totals)
        for x, (design, total, ratio, colour) in enumerate(zip(designs, totals, ratios, _COLOURS)):
            bottom = 0
            for step, shade in zip(design.steps, _SHADES):
                value = getattr(step, attribute)
                ax.bar(x, value, bottom=bottom, width=0.62, color=_shade(colour, shade),
                       edgecolor="white", linewidth=0.6)  # fmt: skip
                bottom += value
            ax.text(x, total + top * 0.02, format_count(total), ha="center", va="bottom",
                    fontsize=8.5, fontweight="bold")  # fmt: skip
            if x:
                ax.text(x, total + top * 0.1, f"{ratio:.1f}x fewer", ha="center", va="bottom",
                        fontsize=8.5, color="#b22222")  # fmt: skip
        ax.set_ylim(0, top * 1.22)
        ax.set_xlim(-0.5, len(designs) - 0.5)
        ax.set_title(label, fontsize=9, pad=3)
        ax.spines["bottom"].set_visible(True)
        ax.set_xticks(range(len(designs)))
        ax.set_xticklabels(
            [d.name + "\n" + "\n".join(s.text for s in d.steps) for d in designs], fontsize=7
        )
        ax.tick_params(axis="x", length=0)
    fig.text(
        0.5,
        0.012,
        f"conv weights = k*k*C_in/groups*C_out; MACs = H*W*weights (stride 1, same padding).  "
        f"Bottleneck width {c_in}/{reduction} = {mid}; depthwise: groups = {c_in}.",
        ha="center",
        va="bottom",
        fontsize=7,
        color="#444444",
    )
    path = png_path(out, "savings.png")
    save_png(fig, path)
    data = {"designs": designs, "param_ratios": param_ratios, "mac_ratios": mac_ratios}
    return Picture(path, (1, 2), title, data, tile_px, tile_height)
