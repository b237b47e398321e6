"""Grad-CAM (Selvaraju et al., 2017): where in the image the evidence for a class lies.

Example:
    >>> from kerascnn.visualize import plot_gradcam
    >>> plot_gradcam("resnet20", "cat.png", out="cam.png").grid  # doctest: +SKIP
    (1, 3)
"""

from __future__ import annotations

import numpy as np

from kerascnn.errors import UsageError, unknown_name
from kerascnn.visualize.figure import (
    TILE_PX,
    Picture,
    new_figure,
    png_path,
    save_png,
    tile_height_for,
)
from kerascnn.visualize.inputs import (
    feature_map_layers,
    find_layer,
    load_image,
    model_input,
    resolve_model,
    with_static_input,
)

__all__ = ["gradcam", "plot_gradcam"]


def gradcam(model, image, class_index: int | None = None, layer=None) -> dict:
    """Grad-CAM (Selvaraju et al., 2017) for one image.

    The class score's gradient with respect to the last conv feature maps, averaged over space,
    weights each map; the ReLU of the weighted sum, upsampled to the image, shows where the
    evidence for the class lies. The computation is :class:`kerascnn.gradcam.GradCam`, the very
    code an export's ``serving_gradcam`` signature runs, so a served heatmap equals this one.

    Returns a dict: ``heatmap`` (``[H, W]`` in 0..1 at the image's size), ``layer_heatmap``
    (the same at the layer's resolution: what ``serving_gradcam`` answers as ``heatmap``),
    ``cam`` (the raw map at the layer's resolution), ``class_index``, ``probabilities``,
    ``layer`` (name).

    Example:
        >>> result = gradcam("runs/exp", "cat.jpg")  # doctest: +SKIP
        >>> result["heatmap"].shape  # doctest: +SKIP
        (224, 224)
    """
    import tensorflow as tf

    from kerascnn.gradcam import GradCam

    model, _ = resolve_model(model)
    raw = load_image(image)
    model = with_static_input(model, raw)
    target = (
        None
        if layer is None
        else find_layer(model, layer, feature_map_layers(model), "layer with a 2-D feature map")
    )
    explainer = GradCam(model, target)
    if class_index is not None and not 0 <= class_index < explainer.num_classes:
        raise UsageError(
            f"class {class_index} out of range: the model has {explainer.num_classes} classes"
        )
    wanted = -1 if class_index is None else int(class_index)
    result = explainer(model_input(model, raw), [wanted])
    layer_heatmap = result["heatmap"][0]
    heatmap = tf.image.resize(layer_heatmap[..., None], raw.shape[:2], method="bilinear")
    return {
        "heatmap": np.clip(heatmap.numpy()[..., 0], 0.0, 1.0),
        "layer_heatmap": layer_heatmap.numpy(),
        "cam": result["cam"][0].numpy(),
        "class_index": int(result["class_id"][0]),
        "probabilities": result["probabilities"][0].numpy(),
        "layer": explainer.layer.name,
    }


def _class_index(value, class_names) -> int | None:
    """A class given as an index (int or digits) or as one of the model's class names."""
    if value is None or isinstance(value, (int, np.integer)):
        return value
    text = str(value)
    if class_names and text in class_names:
        return class_names.index(text)
    if text.lstrip("-").isdigit():
        return int(text)
    raise unknown_name("class", text, class_names or [])


def plot_gradcam(model, image, class_index=None, *, layer=None, out=None) -> Picture:
    """Draw the image, its Grad-CAM heatmap, and the overlay side by side.

    ``class_index`` is an index, a class name (from the run's labels), or None for the
    predicted class.

    Example:
        >>> plot_gradcam("resnet20", "cat.png", out="cam.png").data["class_index"]  # doctest: +SKIP
        3
    """
    import matplotlib

    model, class_names = resolve_model(model)
    raw = load_image(image)
    result = gradcam(model, raw, _class_index(class_index, class_names), layer)
    index = result["class_index"]
    name = class_names[index] if class_names and index < len(class_names) else str(index)
    prob = float(result["probabilities"][index])
    title = f"Grad-CAM {model.name} at {result['layer']}: class {name!r} (p={prob:.2f})"
    tile_height = tile_height_for(TILE_PX, *raw.shape[:2])
    fig, axes = new_figure(1, 3, title, TILE_PX, tile_height)
    shown = raw[..., 0] if raw.shape[-1] == 1 else raw
    cmap = "gray" if raw.shape[-1] == 1 else None
    axes[0, 0].imshow(shown, cmap=cmap)
    axes[0, 0].set_title("image", fontsize=8)
    axes[0, 1].imshow(result["heatmap"], cmap="jet", vmin=0, vmax=1)
    axes[0, 1].set_title("heatmap", fontsize=8)
    colours = matplotlib.colormaps["jet"](result["heatmap"])[..., :3]
    base = np.repeat(raw, 3, axis=-1) if raw.shape[-1] == 1 else raw
    overlay = 0.55 * base / 255.0 + 0.45 * colours
    axes[0, 2].imshow(np.clip(overlay, 0, 1))
    axes[0, 2].set_title("overlay", fontsize=8)
    path = png_path(out, f"gradcam_{model.name}.png")
    save_png(fig, path)
    return Picture(path, (1, 3), title, {**result, "class_name": name}, TILE_PX, tile_height)
