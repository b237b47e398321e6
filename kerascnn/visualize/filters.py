"""The learned kernels of one conv layer, drawn as a grid of small images.

Example:
    >>> from kerascnn.visualize import plot_filters
    >>> plot_filters("lenet5", "conv1", out="f.png").grid  # doctest: +SKIP
    (2, 3)
"""

from __future__ import annotations

import numpy as np

from kerascnn.errors import UsageError
from kerascnn.visualize.figure import (
    MAX_TILES,
    Picture,
    grid_shape,
    new_figure,
    png_path,
    save_png,
)
from kerascnn.visualize.inputs import find_layer, is_conv, resolve_model

__all__ = ["plot_filters"]

def plot_filters(model, layer=None, *, out=None, max_filters: int = MAX_TILES) -> Picture:
    """Draw the learned kernels of one conv layer as a grid; the first layer in colour.

    A first-layer kernel over RGB input is shown as a small colour image (each filter scaled to
    0..1 on its own); deeper kernels, which have many input channels, are shown as their mean
    over input channels on a blue-white-red scale centred on zero.

    Args:
        model: a keras.Model, run folder, ``.keras`` file or registered model name.
        layer: layer name or index; default: the first conv layer.
        out: PNG path (default ``filters_<layer>.png``).
        max_filters: draw at most this many filters.

    Example:
        >>> plot_filters("lenet5", "conv1", out="f.png").grid  # doctest: +SKIP
        (2, 3)
    """
    model, _ = resolve_model(model)
    convs = [lyr for lyr in model.layers if is_conv(lyr)]
    if not convs:
        raise UsageError(f"model {model.name!r} has no conv layer")
    chosen = convs[0] if layer is None else find_layer(model, layer, convs, "conv layer")
    kernel = np.asarray(chosen.get_weights()[0])
    if kernel.ndim == 3:  # Conv1D: (k, cin, cout) -> (1, k, cin, cout)
        kernel = kernel[None]
    if chosen.__class__.__name__ == "DepthwiseConv2D":  # (kh, kw, cin, mult) -> one per map
        kh, kw, cin, mult = kernel.shape
        kernel = kernel.reshape(kh, kw, 1, cin * mult)
    count = kernel.shape[-1]
    shown = min(count, max_filters)
    rows, cols = grid_shape(shown)
    in_channels = kernel.shape[2]
    colour = in_channels == 3
    title = (
        f"{model.name} / {chosen.name}: {count} filters of {kernel.shape[0]}x{kernel.shape[1]}"
        f"x{in_channels}"
        + ("" if shown == count else f" (first {shown})")
        + (
            "  (RGB, each filter min-max scaled)"
            if colour
            else f"  (mean over {in_channels} input channels; red +, blue -)"
            if in_channels > 1
            else "  (red +, blue -)"
        )
    )
    fig, axes = new_figure(rows, cols, title)
    tiles = []
    for i, ax in enumerate(axes.flat):
        if i >= shown:
            ax.set_visible(False)
            continue
        weights = kernel[..., i]
        if colour:
            low, high = weights.min(), weights.max()
            tile = (weights - low) / (high - low) if high > low else np.zeros_like(weights)
            ax.imshow(tile, interpolation="nearest")
        else:
            tile = weights.mean(axis=-1)
            limit = float(np.abs(tile).max()) or 1.0
            ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
        tiles.append(tile)
    path = png_path(out, f"filters_{chosen.name}.png")
    save_png(fig, path)
    return Picture(
        path,
        (rows, cols),
        title,
        {"layer": chosen.name, "kernel": kernel, "tiles": np.stack(tiles)},
    )
