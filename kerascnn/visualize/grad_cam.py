"""Grad-CAM (Selvaraju et al., 2017): where in the image the evidence for a class lies.

Example:
    >>> from kerascnn.visualize import plot_gradcam
    >>> plot_gradcam("resnet20", "cat.png", out="cam.png").grid  # doctest: +SKIP
    (1, 3)
"""

from __future__ import annotations

import math

import numpy as np

from kerascnn.errors import KerasCNNError, UsageError, unknown_name
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
    is_conv,
    load_image,
    model_input,
    probe_model,
    resolve_model,
    with_static_input,
)

__all__ = ["gradcam", "plot_gradcam"]

def _last_conv_layer(model):
    """The layer Grad-CAM explains: the output of the last conv that still has a spatial map.

    That is the last conv with more than 1x1 outputs (LeNet-5's C5 is a conv with a 1x1 map:
    nothing to localise), followed through the layers that keep its resolution (BN,
    activation, residual add) up to the pooling that would coarsen it.
    """
    four_d = feature_map_layers(model)
    convs = [i for i, lyr in enumerate(four_d) if is_conv(lyr)]
    if not convs:
        raise UsageError(f"model {model.name!r} has no conv layer for Grad-CAM")
    spatial = [i for i in convs if math.prod(d or 2 for d in four_d[i].output.shape[1:3]) > 1]
    convs = spatial or convs
    # After the last conv, later 4-D layers (BN, activation, add) still carry its map at the
    # same resolution; pooling would coarsen it, so stop at the resolution change.
    index = convs[-1]
    size = tuple(four_d[index].output.shape[1:3])
    while index + 1 < len(four_d) and tuple(four_d[index + 1].output.shape[1:3]) == size:
        index += 1
    return four_d[index]


def _logits_tensor(model):
    """The symbolic pre-softmax scores when the model ends in softmax, else the output.

    Grad-CAM on saturated probabilities gives vanishing gradients; the scores before softmax
    do not saturate. Returns ``(tensor, finish)`` where ``finish`` maps the tensor to scores.
    """
    import keras

    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    is_softmax = (
        activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"
    )
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and is_softmax
    ):
        return last.input, lambda t: t
    if isinstance(last, keras.layers.Dense) and is_softmax:

        def finish(t):
            scores = keras.ops.matmul(t, last.kernel)
            return scores + last.bias if last.use_bias else scores

        return last.input, finish
    return model.outputs[0], lambda t: t


def gradcam(model, image, class_index: int | None = None, layer=None) -> dict:
    """Grad-CAM (Selvaraju et al., 2017) for one image.

    The class score's gradient with respect to the last conv feature maps, averaged over space,
    weights each map; the ReLU of the weighted sum, upsampled to the image, shows where the
    evidence for the class lies.

    Returns a dict: ``heatmap`` (``[H, W]`` in 0..1 at the image's size), ``cam`` (the raw map
    at the layer's resolution), ``class_index``, ``probabilities``, ``layer`` (name).

    Example:
        >>> result = gradcam("runs/exp", "cat.jpg")  # doctest: +SKIP
        >>> result["heatmap"].shape  # doctest: +SKIP
        (224, 224)
    """
    import tensorflow as tf

    model, _ = resolve_model(model)
    raw = load_image(image)
    model = with_static_input(model, raw)
    target = (
        _last_conv_layer(model)
        if layer is None
        else find_layer(model, layer, feature_map_layers(model), "layer with a 2-D feature map")
    )
    if len(model.outputs[0].shape) != 2:
        raise UsageError(
            f"Grad-CAM needs a classifier (output [batch, classes]); {model.name!r} outputs "
            f"{tuple(model.outputs[0].shape)[1:]} (built with include_top=False?)"
        )
    score_input, finish = _logits_tensor(model)
    probe = probe_model(model, [target.output, score_input, model.outputs[0]])
    x = tf.convert_to_tensor(model_input(model, raw))
    with tf.GradientTape() as tape:
        maps, pre_scores, probabilities = probe(x, training=False)
        tape.watch(maps)
        scores = finish(pre_scores)
        num_classes = scores.shape[-1]
        if class_index is None:
            class_index = int(tf.argmax(probabilities[0]))
        elif not 0 <= class_index < num_classes:
            raise UsageError(
                f"class {class_index} out of range: the model has {num_classes} classes"
            )
        score = scores[:, class_index]
    grads = tape.gradient(score, maps)
    if grads is None:
        raise KerasCNNError(f"no gradient flows from the output to layer {target.name!r}")
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))[0].numpy()
    peak = float(cam.max())
    normalized = cam / peak if peak > 0 else cam
    heatmap = tf.image.resize(normalized[..., None], raw.shape[:2], method="bilinear")
    return {
        "heatmap": np.clip(heatmap.numpy()[..., 0], 0.0, 1.0),
        "cam": cam,
        "class_index": int(class_index),
        "probabilities": np.asarray(probabilities[0]),
        "layer": target.name,
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
