"""Augmentation: presets and layer names -> Keras preprocessing layers for training batches.

The pipeline applies them to whole batches after batching (vectorised, per the tf.data
performance guide), on values already preprocessed to 0..1. Keras - and with it TensorFlow -
loads only when layers are built, so importing this module stays cheap.

Example:
    >>> AUGMENT_PRESETS["digits"]
    ['translate', 'rotate', 'zoom']
    >>> augment_names("translate, zoom")
    ['translate', 'zoom']
"""

from __future__ import annotations

from kerascnn.errors import unknown_name

# Augmentation layer names -> builders of Keras preprocessing layers for an input (H, W, C)
# and a seed. Values are scaled 0..1 (augmentation runs after preprocess), hence
# value_range=(0, 1), and the layers run in float32 whatever the global mixed-precision
# policy: the pipeline's contract is float32 batches.
AUGMENT_LAYER_NAMES = ("flip", "crop", "translate", "rotate", "zoom", "contrast", "brightness")

# Presets are lists of those names. ``digits`` shifts, rotates and zooms a little but never
# flips: a mirrored 2 or 5 is not a 2 or 5.
AUGMENT_PRESETS = {
    "none": [],
    "light": ["flip", "crop"],
    "standard": ["flip", "crop", "rotate", "zoom", "contrast"],
    "digits": ["translate", "rotate", "zoom"],
}


def _build_augment_layer(name: str, shape, seed):
    import keras

    layers = keras.layers
    common = {"seed": seed, "dtype": "float32"}
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    if name == "flip":
        return layers.RandomFlip("horizontal", **common)
    if name == "crop":
        # Pad-and-crop, per image: a random shift of up to 1/8 of the size, zero fill, whole
        # pixels. (Keras' RandomCrop cuts the same window from every image of a batch.)
        return layers.RandomTranslation(0.125, 0.125, interpolation="nearest", **fill, **common)
    if name == "translate":  # up to 10 %, sub-pixel
        return layers.RandomTranslation(0.1, 0.1, **fill, **common)
    if name == "rotate":  # up to 0.03 turn, about 11 degrees
        return layers.RandomRotation(0.03, **fill, **common)
    if name == "zoom":  # in or out by up to 10 %
        return layers.RandomZoom((-0.1, 0.1), **fill, **common)
    if name == "contrast":
        return layers.RandomContrast(0.1, value_range=(0, 1), **common)
    if name == "brightness":
        return layers.RandomBrightness(0.1, value_range=(0, 1), **common)
    raise unknown_name("augmentation", name, [*AUGMENT_LAYER_NAMES, *AUGMENT_PRESETS])


def augment_names(augment) -> list:
    """The layer names (or already built layers) an ``augment`` option stands for.

    ``augment`` is None/False, a preset, a layer name, a comma-separated string of names (as
    the CLI's ``--augment`` flag passes it) or a list of names and Keras layers.

    Example:
        >>> augment_names("light"), augment_names(None)
        (['flip', 'crop'], [])
        >>> augment_names("standart")
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: unknown augmentation preset 'standart' (did you mean 'standard'?)
    """
    if augment is None or augment is False:
        return []
    if isinstance(augment, str):
        if augment in AUGMENT_PRESETS:
            return list(AUGMENT_PRESETS[augment])
        if "," in augment or augment in AUGMENT_LAYER_NAMES:  # "translate,zoom" from a CLI flag
            return [a.strip() for a in augment.split(",") if a.strip()]
        raise unknown_name("augmentation preset", augment, [*AUGMENT_PRESETS, *AUGMENT_LAYER_NAMES])
    return list(augment)


def augmentation_layers(preset="standard", input_shape=(32, 32, 3), seed: int | None = 0) -> list:
    """The Keras preprocessing layers for an augmentation preset or a list of layer names.

    Presets: ``none``; ``light`` = horizontal flip + pad-and-crop (a random shift of up to
    1/8); ``standard`` = light + small rotation (about 11 degrees), zoom (10 %) and contrast;
    ``digits`` = shift + rotation + zoom without flips (mirrored digits change meaning).
    ``preset`` may instead be a list (or comma-separated string) of names among ``flip``,
    ``crop``, ``translate``, ``rotate``, ``zoom``, ``contrast``, ``brightness``, or Keras
    layers. Every layer keeps the batch's shape and works on values scaled 0..1.

    Example:
        >>> [layer.__class__.__name__ for layer in augmentation_layers("light", (32, 32, 3))]
        ['RandomFlip', 'RandomTranslation']
    """
    layers = []
    for i, item in enumerate(augment_names(preset)):
        if not isinstance(item, str):
            layers.append(item)  # an already built Keras layer
            continue
        layers.append(_build_augment_layer(item, input_shape, None if seed is None else seed + i))
    return layers


def build_augmenter(augment, input_shape, seed):
    """``(model, names)``: one built Keras model applying the layers, and their names.

    ``model`` is None when ``augment`` asks for no layers. Layers are seeded ``seed``,
    ``seed + 1``... in order, so the same option and seed augment the same way.

    Example:
        >>> build_augmenter("none", (8, 8, 1), seed=0)
        (None, [])
        >>> model, names = build_augmenter("digits", (8, 8, 1), seed=0)
        >>> model.name, names
        ('augmentation', ['translate', 'rotate', 'zoom'])
    """
    layers = augmentation_layers(augment, input_shape, seed=seed)
    if not layers:
        return None, []
    import keras

    model = keras.Sequential(layers, name="augmentation")
    model.build((None, *input_shape))
    names = [a if isinstance(a, str) else a.name for a in augment_names(augment)]
    return model, names
