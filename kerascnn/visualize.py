"""Seeing inside a CNN: filters, feature maps, Grad-CAM, classic kernels and padding, as PNGs.

Every ``plot_*`` function writes one PNG (matplotlib's Agg backend, no display needed) and
returns a :class:`Picture`: the path, the tile grid it drew, and the numbers behind the picture
so they can be checked (tests do) or reused.

``model`` arguments accept a ``keras.Model``, a run folder, a ``.keras`` file, or a registered
model name (random weights); ``image`` arguments accept a path, raw bytes, or a ``[H, W, C]``
0-255 array.

Example:
    >>> from kerascnn import visualize
    >>> pic = visualize.plot_classic_kernels("photo.jpg", out="kernels.png")  # doctest: +SKIP
    >>> pic.path, pic.grid  # doctest: +SKIP
    (PosixPath('kernels.png'), (2, 4))
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.errors import KerasCNNError, UsageError, unknown_name

__all__ = [
    "CLASSIC_KERNELS",
    "PaddingCase",
    "Picture",
    "apply_kernel",
    "feature_maps",
    "gradcam",
    "load_image",
    "padding_cases",
    "plot_classic_kernels",
    "plot_conv_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_gradcam",
    "plot_padding",
    "sample_image_path",
    "stage_layers",
]

# Pictures are laid out in whole pixels so their size follows from the grid alone:
# width = cols * tile width, height = rows * tile height + HEADER_PX, tiles TILE_PX square
# unless the pictured maps are clearly not square (then the tile follows their aspect).
DPI = 100
TILE_PX = 160
HEADER_PX = 60
MAX_TILES = 64


@dataclass
class Picture:
    """One written PNG: where it is, its tile grid ``(rows, cols)``, and the numbers drawn."""

    path: Path
    grid: tuple[int, int]
    title: str
    data: dict = field(default_factory=dict)

    tile_px: int = TILE_PX
    tile_height: int | None = None  # None: square tiles

    @property
    def expected_size(self) -> tuple[int, int]:
        """Pixel ``(width, height)`` the PNG has for this grid."""
        rows, cols = self.grid
        return cols * self.tile_px, rows * (self.tile_height or self.tile_px) + HEADER_PX


# ----------------------------------------------------------------------------- inputs

SAMPLE_PREFIX = "sample:"


def sample_image_path(name: str) -> Path:
    """Path of a photo bundled with scikit-learn: ``china`` or ``flower`` (real, no download).

    Example:
        >>> sample_image_path("china").name
        'china.jpg'
    """
    import sklearn.datasets

    folder = Path(sklearn.datasets.__file__).parent / "images"
    choices = sorted(p.stem for p in folder.glob("*.jpg"))
    stem = name.removesuffix(".jpg")
    if stem not in choices:
        raise unknown_name("sample image", stem, choices)
    return folder / f"{stem}.jpg"


def load_image(image) -> np.ndarray:
    """Read an image into a ``uint8 [H, W, C]`` array (C = 1 for grayscale, else 3 RGB).

    Accepts a path, raw encoded bytes, a PIL image, or an array (``[H, W]`` or ``[H, W, C]``).

    Example:
        >>> load_image(np.zeros((4, 5), "uint8")).shape
        (4, 5, 1)
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, str) and image.startswith(SAMPLE_PREFIX):
        image = sample_image_path(image[len(SAMPLE_PREFIX) :])
    if isinstance(image, np.ndarray):
        array = image
    else:
        try:
            if isinstance(image, (bytes, bytearray)):
                pil = Image.open(io.BytesIO(image))
            elif isinstance(image, Image.Image):
                pil = image
            else:
                pil = Image.open(Path(image))
            pil.load()
        except FileNotFoundError:
            raise UsageError(f"image not found: {image}") from None
        except (UnidentifiedImageError, OSError) as exc:
            name = "<bytes>" if isinstance(image, (bytes, bytearray)) else str(image)
            raise UsageError(f"cannot read image {name}: {exc}") from None
        if pil.mode not in ("L", "RGB"):
            pil = pil.convert("L" if pil.mode in ("1", "I", "I;16", "F", "LA") else "RGB")
        array = np.asarray(pil)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise UsageError(f"image must be [H, W] or [H, W, 1|3|4], got shape {array.shape}")
    if array.shape[-1] == 4:
        array = array[..., :3]
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    return array


def _resolve_model(model):
    """Return ``(keras.Model, class_names or None)`` for a model, run folder, file or name."""
    import keras

    if isinstance(model, keras.Model):
        return model, None
    from kerascnn.loading import load_keras_model

    loaded = load_keras_model(model)
    return loaded.model, list(loaded.class_names) if loaded.class_names else None


def _concrete(model, image: np.ndarray):
    """``model`` itself, or for a ``None x None`` input a weight-sharing clone at the image's
    size, so every layer has a static shape (stages and receptive fields need them)."""
    import keras

    height, width = model.input_shape[1:3]
    if height is not None and width is not None or len(model.inputs) != 1:
        return model
    shape = (height or image.shape[0], width or image.shape[1], model.input_shape[3])
    clone = keras.models.clone_model(model, input_tensors=keras.Input(shape))
    clone.set_weights(model.get_weights())
    return clone


def _model_input(model, image: np.ndarray):
    """Preprocess one raw image to the model's input (the shared training/serving path)."""
    from kerascnn.preprocessing import preprocess

    height, width, channels = model.input_shape[1:4]
    height = height or image.shape[0]
    width = width or image.shape[1]
    return preprocess(image[None], (height, width, channels))


def _probe(model, outputs):
    """A model from ``model``'s input to ``outputs`` (single input unwrapped, as Keras expects)."""
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs)


def _four_d_layers(model):
    """Layers (not the input) whose output is a ``[B, H, W, C]`` feature map, in graph order."""
    found = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue  # a layer used more than once, or not called in this graph
        if len(shape) == 4:
            found.append(layer)
    return found


def _is_conv(layer) -> bool:
    import keras

    return isinstance(
        layer,
        keras.layers.Conv2D
        | keras.layers.DepthwiseConv2D
        | keras.layers.SeparableConv2D
        | keras.layers.Conv1D,
    )


def _find_layer(model, layer, candidates, kind: str):
    """Pick ``layer`` (name or index into ``model.layers``) among ``candidates``."""
    if isinstance(layer, int) or (isinstance(layer, str) and layer.lstrip("-").isdigit()):
        index = int(layer)
        try:
            chosen = model.layers[index]
        except IndexError:
            raise UsageError(
                f"layer index {index} out of range: {model.name!r} has {len(model.layers)} layers"
            ) from None
    else:
        names = [lyr.name for lyr in model.layers]
        if layer not in names:
            raise unknown_name("layer", layer, [c.name for c in candidates] or names)
        chosen = model.get_layer(layer)
    if chosen not in candidates:
        choices = ", ".join(c.name for c in candidates[:8])
        raise UsageError(f"layer {chosen.name!r} is not a {kind}; try one of: {choices}")
    return chosen


def _out_path(out, default_name: str) -> Path:
    path = Path(out) if out else Path(default_name)
    if path.suffix.lower() != ".png":
        raise UsageError(f"output must be a .png file, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def _tile_height(tile_px: int, height: int, width: int) -> int:
    """Tile height for pictures of ``height x width``: square unless clearly not square."""
    aspect = height / width
    if abs(aspect - 1) < 0.1:
        return tile_px
    return round(tile_px * min(max(aspect, 0.4), 1.6)) + 18  # + room for the tile's caption


def _figure(rows: int, cols: int, title: str, tile_px: int = TILE_PX, tile_height=None):
    """A figure sized in whole pixels (see TILE_PX / HEADER_PX) with rows x cols axes."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    width, height = cols * tile_px, rows * (tile_height or tile_px) + HEADER_PX
    fig, axes = plt.subplots(
        rows, cols, figsize=(width / DPI, height / DPI), dpi=DPI, squeeze=False
    )
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - (HEADER_PX - 6) / height,
        wspace=0.08,
        hspace=0.3,
    )
    # ~7 px per character at 9 pt: wrap long titles onto a second line within the header.
    wrapped = "\n".join(textwrap.wrap(title, max(30, width // 7))[:2])
    fig.suptitle(wrapped, fontsize=9, y=1 - 4 / height, va="top")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig, axes


def _save(fig, path: Path):
    """Write the figure as a palette PNG: the same picture at a fraction of the bytes."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as picture:
        palette = picture.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    try:
        palette.save(path, format="PNG", optimize=True)
    except OSError as exc:
        raise KerasCNNError(f"cannot write {path}: {exc}") from None


# ----------------------------------------------------------------------------- filters


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
    model, _ = _resolve_model(model)
    convs = [lyr for lyr in model.layers if _is_conv(lyr)]
    if not convs:
        raise UsageError(f"model {model.name!r} has no conv layer")
    chosen = convs[0] if layer is None else _find_layer(model, layer, convs, "conv layer")
    kernel = np.asarray(chosen.get_weights()[0])
    if kernel.ndim == 3:  # Conv1D: (k, cin, cout) -> (1, k, cin, cout)
        kernel = kernel[None]
    if chosen.__class__.__name__ == "DepthwiseConv2D":  # (kh, kw, cin, mult) -> one per map
        kh, kw, cin, mult = kernel.shape
        kernel = kernel.reshape(kh, kw, 1, cin * mult)
    count = kernel.shape[-1]
    shown = min(count, max_filters)
    rows, cols = _grid(shown)
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
    fig, axes = _figure(rows, cols, title)
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
    path = _out_path(out, f"filters_{chosen.name}.png")
    _save(fig, path)
    return Picture(
        path,
        (rows, cols),
        title,
        {"layer": chosen.name, "kernel": kernel, "tiles": np.stack(tiles)},
    )


# ----------------------------------------------------------------------------- feature maps


def stage_layers(model) -> list:
    """The last layer at each spatial resolution: one per stage, input side first.

    Example:
        >>> [lyr.name for lyr in stage_layers(kerascnn.build("lenet5"))]  # doctest: +SKIP
        ['conv1', 'pool1', 'conv2', 'pool2']
    """
    stages, last_size = [], None
    for layer in _four_d_layers(model):
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

    model, _ = _resolve_model(model)
    raw = load_image(image)
    model = _concrete(model, raw)
    name = getattr(layer, "name", layer)
    layer = _find_layer(model, name, _four_d_layers(model), "layer with a 2-D feature map")
    probe = _probe(model, layer.output)
    return np.asarray(probe(_model_input(model, raw), training=False))[0]


def _receptive_fields(model) -> dict:
    """``{layer name: (receptive field, jump)}`` from kerascnn.arithmetic; {} if unavailable."""
    try:
        from kerascnn.arithmetic import analyze
    except ImportError:
        return {}
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
    model, _ = _resolve_model(model)
    raw = load_image(image)
    model = _concrete(model, raw)
    candidates = _four_d_layers(model)
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
        convs = [c for c in candidates if _is_conv(c)]
        chosen = convs[0] if convs else candidates[0]
    else:
        chosen = _find_layer(model, layer, candidates, "layer with a 2-D feature map")
    return _feature_sheet(
        model, raw, chosen, _out_path(out, f"features_{chosen.name}.png"), max_maps, fields, ""
    )


def _feature_sheet(model, raw, layer, path, max_maps, fields, prefix) -> Picture:

    probe = _probe(model, layer.output)
    maps = np.asarray(probe(_model_input(model, raw), training=False))[0]
    channels = maps.shape[-1]
    shown = min(channels, max_maps)
    rows, cols = _grid(shown)
    rf = fields.get(layer.name)
    rf_text = f", receptive field {_fmt_rf(rf[0])} px" if rf else ""
    if rf and rf[1] is not None:
        rf_text += f" (jump {_fmt_rf(rf[1])})"
    shape = "x".join(str(d) for d in maps.shape)
    title = f"{prefix}{model.name} / {layer.name}: output {shape}{rf_text}" + (
        "" if shown == channels else f"; first {shown} of {channels} maps"
    )
    tile_height = _tile_height(TILE_PX, *maps.shape[:2])
    fig, axes = _figure(rows, cols, title, TILE_PX, tile_height)
    for i, ax in enumerate(axes.flat):
        if i >= shown:
            ax.set_visible(False)
            continue
        ax.imshow(maps[..., i], cmap="viridis", interpolation="nearest")
        ax.set_title(str(i), fontsize=7, pad=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path)
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


# ----------------------------------------------------------------------------- Grad-CAM


def _last_conv_layer(model):
    """The layer Grad-CAM explains: the output of the last conv that still has a spatial map.

    That is the last conv with more than 1x1 outputs (LeNet-5's C5 is a conv with a 1x1 map:
    nothing to localise), followed through the layers that keep its resolution (BN,
    activation, residual add) up to the pooling that would coarsen it.
    """
    four_d = _four_d_layers(model)
    convs = [i for i, lyr in enumerate(four_d) if _is_conv(lyr)]
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

    model, _ = _resolve_model(model)
    raw = load_image(image)
    model = _concrete(model, raw)
    target = (
        _last_conv_layer(model)
        if layer is None
        else _find_layer(model, layer, _four_d_layers(model), "layer with a 2-D feature map")
    )
    if len(model.outputs[0].shape) != 2:
        raise UsageError(
            f"Grad-CAM needs a classifier (output [batch, classes]); {model.name!r} outputs "
            f"{tuple(model.outputs[0].shape)[1:]} (built with include_top=False?)"
        )
    score_input, finish = _logits_tensor(model)
    probe = _probe(model, [target.output, score_input, model.outputs[0]])
    x = tf.convert_to_tensor(_model_input(model, raw))
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

    model, class_names = _resolve_model(model)
    raw = load_image(image)
    result = gradcam(model, raw, _class_index(class_index, class_names), layer)
    index = result["class_index"]
    name = class_names[index] if class_names and index < len(class_names) else str(index)
    prob = float(result["probabilities"][index])
    title = f"Grad-CAM {model.name} at {result['layer']}: class {name!r} (p={prob:.2f})"
    tile_height = _tile_height(TILE_PX, *raw.shape[:2])
    fig, axes = _figure(1, 3, title, TILE_PX, tile_height)
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
    path = _out_path(out, f"gradcam_{model.name}.png")
    _save(fig, path)
    return Picture(path, (1, 3), title, {**result, "class_name": name}, TILE_PX, tile_height)


# ----------------------------------------------------------------------------- classic kernels

_GAUSS = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0  # binomial approximation, sigma ~ 1

CLASSIC_KERNELS: dict[str, np.ndarray] = {
    "box blur": np.full((3, 3), 1 / 9),
    "gaussian blur": _GAUSS,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float),
    "laplacian edge": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float),
    "sobel x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),
    "sobel y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),
}
"""The classic fixed kernels, written as Keras applies them (cross-correlation, not flipped):
``sobel x`` is positive where brightness rises left to right, ``sobel y`` top to bottom."""


def apply_kernel(plane: np.ndarray, kernel: np.ndarray, padding: str = "reflect") -> np.ndarray:
    """Apply ``kernel`` to a 2-D ``plane`` with a Keras ``Conv2D`` whose weights are the kernel.

    Keras (like every deep learning library) computes cross-correlation, ``y[i, j] =
    sum_uv k[u, v] x[i + u, j + v]``, without flipping the kernel as textbook convolution does;
    for the symmetric blur/sharpen/Laplacian kernels it makes no difference, for Sobel it fixes
    the sign. ``padding="reflect"`` mirrors the border (no dark frame), ``"same"`` pads zeros as
    Keras' ``padding="same"``, ``"valid"`` shrinks the output. The output has the input's size
    except for ``valid``.

    Example:
        >>> apply_kernel(np.full((5, 5), 7.0), CLASSIC_KERNELS["box blur"])[2, 2]  # doctest: +SKIP
        7.0
    """
    import keras

    kernel = np.asarray(kernel, dtype="float32")
    plane = np.asarray(plane, dtype="float32")
    if plane.ndim != 2 or kernel.ndim != 2:
        raise UsageError(
            f"apply_kernel wants a 2-D plane and a 2-D kernel, got {plane.shape}, {kernel.shape}"
        )
    conv_padding = "same" if padding == "same" else "valid"
    if padding == "reflect":
        kh, kw = kernel.shape
        plane = np.pad(plane, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)), mode="reflect")
    elif padding not in ("same", "valid"):
        raise UsageError(f"unknown padding {padding!r}; choose from: reflect, same, valid")
    conv = keras.layers.Conv2D(1, kernel.shape, padding=conv_padding, use_bias=False)
    conv.build((1, *plane.shape, 1))
    conv.set_weights([kernel[:, :, None, None]])
    return np.asarray(conv(plane[None, :, :, None]))[0, :, :, 0]


def _luma(image: np.ndarray) -> np.ndarray:
    if image.shape[-1] == 1:
        return image[..., 0].astype("float32")
    return image[..., :3].astype("float32") @ np.array([0.299, 0.587, 0.114], "float32")


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    from PIL import Image

    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    return load_image(pil.resize(size, Image.LANCZOS))


def plot_classic_kernels(
    image, *, out=None, max_side: int = 400, padding: str = "reflect", tile_px: int = 200
) -> Picture:
    """Apply box blur, Gaussian blur, sharpen, Laplacian and Sobel x/y to a real image.

    Each result comes from a Keras ``Conv2D`` whose single kernel is set to the classic matrix
    (cross-correlation, as deep learning libraries compute it) on the image's grayscale.
    Edge responses are shown as magnitudes. The image is first shrunk to ``max_side`` pixels.

    Example:
        >>> from sklearn.datasets import load_sample_images
        >>> photo = load_sample_images().images[0]
        >>> plot_classic_kernels(photo, out="kernels.png").grid  # doctest: +SKIP
        (2, 4)
    """
    raw = _shrink(load_image(image), max_side)
    gray = _luma(raw)
    outputs = {name: apply_kernel(gray, k, padding) for name, k in CLASSIC_KERNELS.items()}
    height, width = gray.shape
    title = (
        "Classic kernels applied with a Keras Conv2D (cross-correlation, as DL libraries "
        f"compute it; {padding} padding) to a {width}x{height} image"
    )
    tile_height = _tile_height(tile_px, *gray.shape)
    fig, axes = _figure(2, 4, title, tile_px, tile_height)
    axes[0, 0].imshow(raw[..., 0] if raw.shape[-1] == 1 else raw, cmap="gray")
    axes[0, 0].set_title("original", fontsize=8)
    axes[0, 1].imshow(gray, cmap="gray", vmin=0, vmax=255)
    axes[0, 1].set_title("grayscale input", fontsize=8)
    for ax, (name, result) in zip(list(axes.flat)[2:], outputs.items()):
        kernel = CLASSIC_KERNELS[name]
        if name in ("laplacian edge", "sobel x", "sobel y"):
            ax.imshow(np.abs(result), cmap="gray", vmin=0, vmax=np.percentile(np.abs(result), 99.5))
            label = f"{name} (|response|)"
        else:
            ax.imshow(np.clip(result, 0, 255), cmap="gray", vmin=0, vmax=255)
            label = name
        if kernel.shape == (3, 3):
            rows = ["[" + " ".join(_short(v) for v in row) + "]" for row in kernel]
            label += "\n" + " ".join(rows)
        else:
            label += "\n5x5 binomial / 256"
        ax.set_title(label, fontsize=6.5, pad=2)
    path = _out_path(out, "kernels.png")
    _save(fig, path)
    return Picture(path, (2, 4), title, {"gray": gray, "outputs": outputs}, tile_px, tile_height)


def _short(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    if abs(value - 1 / 9) < 1e-9:
        return "1/9"
    return f"{value:.2f}"


# ----------------------------------------------------------------------------- padding


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
        >>> [(c.label, c.output) for c in padding_cases(5, 3)][:2]  # doctest: +SKIP
        [('valid', 3), ('same (zeros)', 5)]
    """
    from kerascnn.arithmetic import conv_output_size
    from kerascnn.convmatrix import padding_amounts

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
        # circular/reflect pad by the same amounts as "same": the size arithmetic is identical.
        formula_padding = "valid" if padding == "valid" else "same"
        output = conv_output_size(
            size, kernel_size, stride=stride, padding=formula_padding, dilation=dilation
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

    from kerascnn.convmatrix import source_index

    if not 2 <= size <= 12 or not 1 <= kernel_size <= size:
        raise UsageError("padding figure wants 2 <= size <= 12 and 1 <= kernel size <= size")
    cases = padding_cases(size, kernel_size)
    values = np.arange(1, size * size + 1).reshape(size, size)
    title = (
        f"One {size}x{size} input, a {kernel_size}x{kernel_size} kernel: output size "
        "= floor((n + p_before + p_after - d(k-1) - 1) / s) + 1"
    )
    fig, axes = _figure(2, 4, title, tile_px)
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
        span = (kernel_size - 1) * case.dilation + 1
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
    path = _out_path(out, "padding.png")
    _save(fig, path)
    return Picture(path, (2, 4), title, {"cases": cases}, tile_px)


# ----------------------------------------------------------------------------- conv as a matrix


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
    The matrices come from :func:`kerascnn.convmatrix.conv_matrix` (tested against Keras).

    Example:
        >>> plot_conv_matrix(padding="circular", out="matrix.png").data["2d"].shape  # doctest: +SKIP
        (16, 16)
    """
    from kerascnn.convmatrix import conv_matrix

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
    fig, axes = _figure(1, 2, title, tile_px)
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
    path = _out_path(out, "conv_matrix.png")
    _save(fig, path)
    return Picture(path, (1, 2), title, {"1d": matrix_1d, "2d": matrix_2d}, tile_px)
