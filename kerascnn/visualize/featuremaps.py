"""Feature maps: what one image looks like at a layer (or at every stage) of a model.

Titles carry each layer's receptive field and jump from :func:`kerascnn.arithmetic.analyze`.

Example:
    >>> from kerascnn.visualize import plot_feature_maps
    >>> plot_feature_maps("lenet5", "7.png", "conv1", out="maps.png").grid  # doctest: +SKIP
    (2, 3)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.arithmetic import analyze
from kerascnn.errors import UsageError
from kerascnn.visualize.figure import (
    MAX_TILES,
    TILE_PX,
    Picture,
    grid_shape,
    new_figure,
    png_path,
    save_png,
    tile_height_for,
)
from kerascnn.visualize.inputs import (
    feature_map_layers,
    find_layer,
    is_conv,
    load_image,
    model_input,
    probe_model,
    resolve_model,
    with_static_input,
)

__all__ = ["feature_maps", "plot_feature_maps", "stage_layers"]

def stage_layers(model) -> list:
    """The last layer at each spatial resolution: one per stage, input side first.

    Example:
        >>> [lyr.name for lyr in stage_layers(kerascnn.build("lenet5"))]  # doctest: +SKIP
        ['conv1', 'pool1', 'conv2', 'pool2']
    """
    stages, last_size = [], None
    for layer in feature_map_layers(model):
        size = tuple(layer.output.shape[1:3])
        if stages and size == last_size:
            stages[-1] = layer
        else:
            stages.append(layer)
        last_size = size
    return stages


def feature_maps(model, image, layer) -> np.ndarray:
    """The ``[H, W, C]`` activations ``image`` produces at ``layer`` (name, index or layer).

    Example:
        >>> feature_maps(model, "digit.png", "conv1").shape  # doctest: +SKIP
        (28, 28, 6)
    """

    model, _ = resolve_model(model)
    raw = load_image(image)
    model = with_static_input(model, raw)
    name = getattr(layer, "name", layer)
    layer = find_layer(model, name, feature_map_layers(model), "layer with a 2-D feature map")
    probe = probe_model(model, layer.output)
    return np.asarray(probe(model_input(model, raw), training=False))[0]


def _receptive_fields(model) -> dict:
    """``{layer name: (receptive field, jump)}`` from kerascnn.arithmetic; {} if unavailable."""
    try:
        rows = analyze(model)
    except Exception:  # a layer arithmetic cannot describe must not stop the picture
        return {}
    fields = {}
    for row in rows:
        name = getattr(row, "name", None)
        rf = getattr(row, "receptive_field", None)
        if name is not None and rf is not None:
            fields[name] = (rf, getattr(row, "jump", None))
    return fields


def _fmt_rf(value) -> str:
    if isinstance(value, (tuple, list)):
        return "x".join(str(v) for v in value) if len(set(value)) > 1 else str(value[0])
    return str(value)


def plot_feature_maps(model, image, layer=None, *, out=None, max_maps: int = MAX_TILES):
    """Draw the feature maps ``image`` produces at ``layer`` as a grid.

    The title gives the layer's output shape and its receptive field (how many input pixels
    one activation sees, from :mod:`kerascnn.arithmetic`). ``layer="all"`` writes one sheet per
    stage (:func:`stage_layers`) and returns a list of Pictures: early sheets respond to edges
    and colours, later ones to larger parts.

    Args:
        model: a keras.Model, run folder, ``.keras`` file or registered model name.
        image: path, bytes or array.
        layer: name, index, or ``"all"``; default: the first conv layer.
        out: PNG path (a folder for ``"all"``); default ``features_<layer>.png`` in the cwd.
        max_maps: draw at most this many channels.

    Example:
        >>> [p.path.name for p in plot_feature_maps("lenet5", "7.png", "all", out="maps")]  # doctest: +SKIP
        ['features_1_conv1.png', 'features_2_pool1.png', ...]
    """
    model, _ = resolve_model(model)
    raw = load_image(image)
    model = with_static_input(model, raw)
    candidates = feature_map_layers(model)
    if not candidates:
        raise UsageError(f"model {model.name!r} has no layer with a 2-D feature map")
    fields = _receptive_fields(model)
    if layer == "all":
        folder = Path(out) if out else Path("features")
        if folder.suffix.lower() == ".png":
            raise UsageError(f"--layer all writes one PNG per stage: give a folder, not {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        stages = stage_layers(model)
        return [
            _feature_sheet(
                model,
                raw,
                stage,
                folder / f"features_{i}_{stage.name}.png",
                max_maps,
                fields,
                f"{i}/{len(stages)}: ",
            )
            for i, stage in enumerate(stages, start=1)
        ]
    if layer is None:
        convs = [c for c in candidates if is_conv(c)]
        chosen = convs[0] if convs else candidates[0]
    else:
        chosen = find_layer(model, layer, candidates, "layer with a 2-D feature map")
    return _feature_sheet(
        model, raw, chosen, png_path(out, f"features_{chosen.name}.png"), max_maps, fields, ""
    )


def _feature_sheet(model, raw, layer, path, max_maps, fields, prefix) -> Picture:

    probe = probe_model(model, layer.output)
    maps = np.asarray(probe(model_input(model, raw), training=False))[0]
    channels = maps.shape[-1]
    shown = min(channels, max_maps)
    rows, cols = grid_shape(shown)
    rf = fields.get(layer.name)
    rf_text = f", receptive field {_fmt_rf(rf[0])} px" if rf else ""
    if rf and rf[1] is not None:
        rf_text += f" (jump {_fmt_rf(rf[1])})"
    shape = "x".join(str(d) for d in maps.shape)
    title = f"{prefix}{model.name} / {layer.name}: output {shape}{rf_text}" + (
        "" if shown == channels else f"; first {shown} of {channels} maps"
    )
    tile_height = tile_height_for(TILE_PX, *maps.shape[:2])
    fig, axes = new_figure(rows, cols, title, TILE_PX, tile_height)
    for i, ax in enumerate(axes.flat):
        if i >= shown:
            ax.set_visible(False)
            continue
        ax.imshow(maps[..., i], cmap="viridis", interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(fig, path)
    return Picture(
        path,
        (rows, cols),
        title,
        {
            "layer": layer.name,
            "maps": maps,
            "receptive_field": rf[0] if rf else None,
            "jump": rf[1] if rf else None,
        },
        TILE_PX,
        tile_height,
    )
