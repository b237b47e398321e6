"""What the figures read: images (path, bytes, PIL image, array, ``sample:NAME``) and models.

Examples that need a Keras model are skipped as doctests.

Images are decoded by :func:`kerascnn.images.load_image`, the project's one image loader (EXIF
orientation, first animation frame, 16-bit gray scaled to 8 bits); models load through
:func:`kerascnn.loading.load_keras_model`. The model helpers find the layers a figure can show
and run a model up to one of them.

Example:
    >>> import numpy as np
    >>> load_image(np.zeros((4, 5), "uint8")).shape
    (4, 5, 1)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kerascnn.errors import UsageError, unknown_name
from kerascnn.gradcam import feature_map_layers  # one home: the served Grad-CAM's
from kerascnn.images import load_image as decode_image

__all__ = [
    "SAMPLE_PREFIX",
    "feature_map_layers",
    "find_layer",
    "is_conv",
    "load_image",
    "model_input",
    "probe_model",
    "resolve_model",
    "sample_image_path",
    "with_static_input",
]

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

    Accepts a path, ``sample:NAME``, raw encoded bytes, a PIL image (all decoded by
    :func:`kerascnn.images.load_image`: 16-bit gray keeps its high byte), or an array
    (``[H, W]`` or ``[H, W, C]``, values clipped to 0..255).

    Example:
        >>> load_image(np.zeros((4, 5), "uint8")).shape
        (4, 5, 1)
    """
    if isinstance(image, str) and image.startswith(SAMPLE_PREFIX):
        image = sample_image_path(image[len(SAMPLE_PREFIX) :])
    if isinstance(image, np.ndarray):
        array = image
    else:
        if isinstance(image, (str, os.PathLike)) and not Path(image).exists():
            raise UsageError(f"image not found: {image}")  # the wording `visualize` users see
        array = np.asarray(decode_image(image))
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


def resolve_model(model):
    """Return ``(keras.Model, class_names or None)`` for a model, run folder, file or name.

    Example:
        >>> model, names = resolve_model("runs/exp")  # doctest: +SKIP
        >>> names  # doctest: +SKIP
        ['cat', 'dog']
    """
    import keras

    if isinstance(model, keras.Model):
        return model, None
    from kerascnn.loading import load_keras_model

    loaded = load_keras_model(model)  # a LoadedModel (say, with pretrained weights) passes through
    # Figures preprocess as the weights expect (model_input reads it back).
    loaded.model.kerascnn_input_spec = loaded.input_spec
    return loaded.model, list(loaded.class_names) if loaded.class_names else None


def with_static_input(model, image: np.ndarray):
    """``model`` itself, or for a ``None x None`` input a weight-sharing clone at the image's
    size, so every layer has a static shape (stages and receptive fields need them).

    Example:
        >>> with_static_input(model, np.zeros((40, 60, 3))).input_shape  # doctest: +SKIP
        (None, 40, 60, 3)
    """
    import keras

    height, width = model.input_shape[1:3]
    if height is not None and width is not None or len(model.inputs) != 1:
        return model
    shape = (height or image.shape[0], width or image.shape[1], model.input_shape[3])
    clone = keras.models.clone_model(model, input_tensors=keras.Input(shape))
    clone.set_weights(model.get_weights())
    return clone


def model_input(model, image: np.ndarray):
    """Preprocess one raw image to the model's input (the shared training/serving path).

    Example:
        >>> model_input(lenet, load_image("digit.png")).shape  # doctest: +SKIP
        TensorShape([1, 32, 32, 1])
    """
    from kerascnn.preprocessing import UNIT, preprocess

    height, width, channels = model.input_shape[1:4]
    height = height or image.shape[0]
    width = width or image.shape[1]
    pretrained = getattr(model, "pretrained", None)
    spec = getattr(model, "kerascnn_input_spec", None) or (
        pretrained.input_spec if pretrained is not None else UNIT
    )
    return preprocess(image[None], (height, width, channels), spec)


def probe_model(model, outputs):
    """A model from ``model``'s input to ``outputs`` (single input unwrapped, as Keras expects).

    Example:
        >>> probe_model(model, model.get_layer("conv1").output)  # doctest: +SKIP
    """
    import keras

    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, outputs)


def is_conv(layer) -> bool:
    """Whether ``layer`` is a convolution whose kernel a figure can draw (incl. depthwise).

    Example:
        >>> is_conv(keras.layers.Conv2D(8, 3))  # doctest: +SKIP
        True
    """
    import keras

    return isinstance(
        layer,
        keras.layers.Conv2D
        | keras.layers.DepthwiseConv2D
        | keras.layers.SeparableConv2D
        | keras.layers.Conv1D,
    )


def find_layer(model, layer, candidates, kind: str):
    """Pick ``layer`` (name or index into ``model.layers``) among ``candidates``.

    Example:
        >>> find_layer(model, "conv1", feature_map_layers(model), "feature map").name  # doctest: +SKIP
        'conv1'
    """
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
