"""Dataset specs -> batched, preprocessed ``tf.data`` train / validation / test pipelines.

One call, :func:`load_data`, turns a *spec* into a :class:`DataBundle`:

* ``"digits"`` - scikit-learn's bundled 8x8 handwritten digits (1,797 real images, offline);
* ``"tfds:NAME"`` - a TensorFlow Datasets dataset (``data_dir=``, ``split=``, ``download=``);
* a folder path laid out ``root/<class>/<image>``, optionally with ``train/``, ``val/``
  (or ``validation/``) and ``test/`` subfolders; PNG, JPEG, BMP and GIF files;
* a tuple ``(x, y)`` of NumPy arrays, ``x`` raw 0-255 pixels ``[N, h, w]`` or ``[N, h, w, c]``.

Splits the source does not provide are carved from its training part: seeded, stratified by
class, and identical on every run with the same seed. Each pipeline follows the tf.data
performance guide: decode in parallel (``AUTOTUNE``), apply the shared
:func:`kerascnn.preprocessing.preprocess` (the very function export puts in the serving
graph), ``cache()`` when the decoded split fits the memory budget, shuffle (seeded), batch,
augment whole batches with Keras preprocessing layers, ``prefetch``.

Example:
    >>> from kerascnn.data import load_data
    >>> bundle = load_data("digits", input_shape=(32, 32, 1), test_split=0.2)  # doctest: +SKIP
    >>> bundle.sizes  # doctest: +SKIP
    {'train': 1258, 'val': 179, 'test': 360}
    >>> x, y = next(iter(bundle.train))  # doctest: +SKIP
    >>> x.shape, y.dtype  # doctest: +SKIP
    (TensorShape([32, 32, 32, 1]), tf.int32)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn.errors import UsageError, unknown_name
from kerascnn.preprocessing import preprocess

AUTOTUNE = tf.data.AUTOTUNE

# cache="auto" keeps a split in memory when its preprocessed float32 tensors take at most this
# share of the available RAM (and never more than the hard cap): the guide's "cache when it
# fits", without letting a large folder push the machine into swap.
CACHE_RAM_FRACTION = 0.25
CACHE_HARD_CAP_BYTES = 4 << 30

# Shuffle buffer cap for sources too large to shuffle whole (file lists are shuffled whole
# before decoding, so this only limits in-memory element shuffling).
SHUFFLE_BUFFER_MAX = 20_000

SPLITS = ("train", "val", "test")


@dataclass
class DataBundle:
    """The batched pipelines and what a trainer needs to know about them.

    ``train`` yields shuffled, augmented batches; ``val`` and ``test`` are deterministic and
    unaugmented (None only when that split is empty). Every batch is ``(x, y)`` with
    ``x`` float32 ``[B, H, W, C]`` in 0..1 (already preprocessed) and ``y`` int32 ``[B]``.

    Example:
        >>> bundle = load_data("digits", input_shape=(16, 16, 1))  # doctest: +SKIP
        >>> bundle.num_classes, bundle.class_names[:3]  # doctest: +SKIP
        (10, ['0', '1', '2'])
    """

    train: tf.data.Dataset
    val: tf.data.Dataset | None
    test: tf.data.Dataset | None
    class_names: list[str]
    num_classes: int
    input_shape: tuple[int, int, int]
    sizes: dict[str, int]
    spec: str
    skipped: list[str] = field(default_factory=list)
    batch_size: int = 32
    augment: list[str] = field(default_factory=list)
    seed: int = 0

    def steps(self, split: str = "train") -> int:
        """Number of batches per pass over ``split`` (0 when the split is empty).

        Example:
            >>> bundle.steps("val")  # doctest: +SKIP
            6
        """
        return math.ceil(self.sizes.get(split, 0) / self.batch_size)


# --------------------------------------------------------------------------------------------
# Sources: each resolves to per-split "raw" data before pipelines are built.
# --------------------------------------------------------------------------------------------


@dataclass
class _ArraySplit:
    """Raw uint8 pixels ``[N, h, w, c]`` and int labels held in memory."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self):
        return len(self.y)

    def take(self, index):
        return _ArraySplit(self.x[index], self.y[index])


@dataclass
class _FileSplit:
    """Image paths and int labels, decoded inside the pipeline."""

    paths: np.ndarray
    y: np.ndarray

    def __len__(self):
        return len(self.y)

    def take(self, index):
        return _FileSplit(self.paths[index], self.y[index])


@dataclass
class _TFDSSplit:
    """A prepared TFDS split: an un-batched ``(image, label)`` dataset and its size."""

    dataset: tf.data.Dataset
    size: int
    channels: int

    def __len__(self):
        return self.size


@dataclass
class _Source:
    splits: dict  # split name -> _ArraySplit | _FileSplit | _TFDSSplit (missing = absent)
    class_names: list[str]
    spec: str
    skipped: list[str] = field(default_factory=list)
    channels: int | None = None  # channel count of the raw pixels when known
    image_hw: tuple[int, int] | None = None  # common raw size when known
    natural_channels: int | None = None  # channels to use when input_shape is None


def _digits_source() -> _Source:
    from sklearn.datasets import load_digits

    digits = load_digits()
    # sklearn stores ink darkness 0..16; scale to the 0..255 raw pixels every source uses.
    x = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int32)
    return _Source(
        splits={"train": _ArraySplit(x, y)},
        class_names=[str(c) for c in range(10)],
        spec="digits",
        channels=1,
        image_hw=(8, 8),
    )


def _check_raw_pixels(x: np.ndarray) -> np.ndarray:
    """Validate an ``x`` array of raw pixels and return it as ``[N, h, w, c]`` uint8."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise UsageError(
            f"x has shape {tuple(x.shape)}; expected raw images [N, h, w] or [N, h, w, c] "
            "with c in 1, 3, 4"
        )
    if x.size and np.issubdtype(x.dtype, np.floating):
        lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
        if not np.isfinite(x).all():
            raise UsageError("x contains NaN or infinite values; expected raw 0-255 pixels")
        if hi <= 1.0 and lo >= 0.0 and hi > 0.0:
            raise UsageError(
                "x looks already scaled to 0..1; pass raw 0-255 pixels (e.g. x * 255) - "
                "scaling is part of the shared preprocessing"
            )
    elif x.size and not np.issubdtype(x.dtype, np.integer) and x.dtype != np.bool_:
        raise UsageError(f"x has dtype {x.dtype}; expected raw 0-255 pixel values")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise UsageError(f"x has values in [{x.min()}, {x.max()}]; expected raw pixels in 0..255")
    return np.rint(x).astype(np.uint8) if x.dtype != np.uint8 else x


def _array_source(spec: tuple, class_names=None) -> _Source:
    if len(spec) != 2:
        raise UsageError("an array spec must be a tuple (x, y)")
    x, y = (np.asarray(a) for a in spec)
    x = _check_raw_pixels(x)
    if y.ndim == 2 and y.shape[1] > 1:
        raise UsageError("y looks one-hot encoded; pass integer class ids [N]")
    y = y.reshape(-1) if y.ndim == 2 else y
    if y.ndim != 1 or len(y) != len(x):
        raise UsageError(
            f"x has {len(x)} images but y has shape {tuple(y.shape)}; expected [{len(x)}]"
        )
    if len(y) == 0:
        raise UsageError("the arrays hold no images")
    if np.issubdtype(y.dtype, np.integer) and y.min() >= 0:
        num_classes = int(y.max()) + 1
        labels = y.astype(np.int32)
        names = [str(i) for i in range(num_classes)]
    else:  # arbitrary labels (strings, negative ids): index their sorted unique values
        values, labels = np.unique(y, return_inverse=True)
        labels = labels.astype(np.int32)
        names = [str(v) for v in values]
    if class_names is not None:
        if len(class_names) < len(names):
            raise UsageError(f"class_names has {len(class_names)} names for {len(names)} classes")
        names = [str(n) for n in class_names]
    if len(np.unique(labels)) < 2:
        raise UsageError("the arrays hold a single class; a classifier needs at least two")
    return _Source(
        splits={"train": _ArraySplit(x, labels)},
        class_names=names,
        spec=f"arrays{tuple(x.shape)}",
        channels=int(x.shape[-1]),
        image_hw=(int(x.shape[1]), int(x.shape[2])),
    )


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def _count(fraction: float, n: int) -> int:
    """Images a fraction of ``n`` takes: rounded up (like scikit-learn) but never all of them."""
    if fraction <= 0:
        return 0
    return min(n, math.ceil(fraction * n - 1e-9))


def _quotas(total: int, class_sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` over classes in proportion to their sizes (largest remainder)."""
    exact = total * class_sizes / class_sizes.sum()
    quota = np.floor(exact).astype(int)
    remainder = exact - quota
    # Ties broken by a seeded draw so no class is always favoured.
    order = np.lexsort((rng.random(len(class_sizes)), -remainder))
    for c in order[: total - quota.sum()]:
        quota[c] += 1
    return np.minimum(quota, class_sizes)


def stratified_split(
    labels: Sequence[int], fractions: Sequence[float], seed: int = 0
) -> list[np.ndarray]:
    """Split indices into a rest part plus one part per fraction, stratified and seeded.

    Each part's size is ``ceil(fraction * N)``, shared across classes in proportion to their
    sizes; which members of a class go where is a seeded permutation, so the same labels and
    seed always give the same parts. Returns ``[rest, part_1, ...]`` as sorted index arrays.

    Example:
        >>> rest, test = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], [0.25], seed=1)
        >>> len(rest), len(test), sorted(np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[test])
        (6, 2, [0, 1])
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    sizes = np.array([len(m) for m in members])
    taken = np.zeros(len(classes), dtype=int)
    parts = []
    for fraction in fractions:
        want = _count(fraction, len(labels))
        # Keep at least one image of every class in the rest (the training part) when possible.
        room = np.maximum(sizes - taken - 1, 0)
        quota = _quotas(want, sizes, rng)
        quota = np.minimum(quota, room)
        short = want - quota.sum()
        while short > 0 and (room - quota).sum() > 0:  # give the shortfall to classes with room
            spare = np.flatnonzero(room - quota > 0)
            c = spare[np.argmax((room - quota)[spare])]
            quota[c] += 1
            short -= 1
        parts.append(
            np.sort(np.concatenate([m[t : t + q] for m, t, q in zip(members, taken, quota)]))
        )
        taken += quota
    rest = np.sort(np.concatenate([m[t:] for m, t in zip(members, taken)]))
    return [rest.astype(np.int64)] + [p.astype(np.int64) for p in parts]


def _split_source(source: _Source, val_split: float, test_split: float, seed: int) -> dict:
    """Carve the splits the source lacks out of its training part (stratified, seeded)."""
    splits = dict(source.splits)
    wanted = [
        (name, frac)
        for name, frac in (("test", test_split), ("val", val_split))
        if name not in splits and frac > 0
    ]
    if not wanted:
        return splits
    train = splits["train"]
    if isinstance(train, _TFDSSplit):  # TFDS carves with split strings instead
        return splits
    n = len(train)
    # Fractions are of the whole source, as users read "test_split=0.2" on digits.
    parts = stratified_split(train.y, [frac for _, frac in wanted], seed=seed)
    splits["train"] = train.take(parts[0])
    for (name, _), index in zip(wanted, parts[1:]):
        splits[name] = train.take(index)
    if len(splits["train"]) == 0:
        raise UsageError(f"no training images left after splitting {n} images")
    return splits


# --------------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------------


def _check_input_shape(input_shape, source: _Source) -> tuple[int, int, int]:
    if input_shape is None:
        channels = source.channels or source.natural_channels
        if source.image_hw is None or channels is None:
            raise UsageError(f"pass input_shape for {source.spec} (its images vary in size)")
        return (*source.image_hw, channels)
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise UsageError(f"input_shape {input_shape!r} is not (height, width, channels)") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise UsageError(f"input_shape {input_shape!r} is not (height, width, channels)")
    channels = shape[-1]
    if channels not in (1, 3, 4):
        raise UsageError(
            f"input_shape {shape} has {channels} channels; images convert only to 1 "
            "(grayscale), 3 (RGB) or 4 (RGBA)"
        )
    have = source.channels
    if have is not None and have != channels and (have, channels) in ((3, 4),):
        raise UsageError(
            f"{source.spec} has {have}-channel images that cannot be converted to "
            f"input_shape {shape}; use {shape[0]},{shape[1]},3"
        )
    return shape


def _memory_budget() -> int:
    try:
        import psutil

        available = psutil.virtual_memory().available
    except Exception:  # psutil missing or unsupported platform: assume a small machine
        available = 4 << 30
    return int(min(available * CACHE_RAM_FRACTION, CACHE_HARD_CAP_BYTES))


def _should_cache(cache, n: int, input_shape) -> bool:
    if cache is True or cache is False:
        return cache
    if cache != "auto":
        raise UsageError(f"cache must be 'auto', True or False, not {cache!r}")
    return n * int(np.prod(input_shape)) * 4 <= _memory_budget()


def _decode_file(path, input_shape):
    """Read and decode one image file to uint8 ``[h, w, c]`` matching the model's channels."""
    data = tf.io.read_file(path)
    # Decode every format to RGB so elements agree on channels; preprocess turns RGB into
    # gray, and alpha (dropped here, as preprocess drops it) is re-added as opaque for C=4.
    image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    if input_shape[-1] == 4:
        image = tf.concat(
            [image, tf.fill(tf.shape(image[..., :1]), tf.constant(255, tf.uint8))], -1
        )
    return image


def _element_dataset(part, input_shape, *, shuffle_files_seed=None) -> tf.data.Dataset:
    """Un-batched ``(x float32 [H, W, C], y int32)`` elements, decoded and preprocessed.

    ``shuffle_files_seed`` (file splits): shuffle the file list, anew each epoch, before
    decoding - a full shuffle for the price of shuffling strings.
    """

    def prep(image, label):
        x = preprocess(image[None], input_shape)[0]
        x.set_shape(input_shape)
        return x, tf.cast(label, tf.int32)

    if isinstance(part, _ArraySplit):
        ds = tf.data.Dataset.from_tensor_slices((part.x, part.y))
    elif isinstance(part, _FileSplit):
        ds = tf.data.Dataset.from_tensor_slices((part.paths.astype(str), part.y))
        if shuffle_files_seed is not None:
            ds = ds.shuffle(len(part), seed=shuffle_files_seed, reshuffle_each_iteration=True)
        ds = ds.map(lambda p, y: (_decode_file(p, input_shape), y), num_parallel_calls=AUTOTUNE)
    elif isinstance(part, _TFDSSplit):
        ds = part.dataset
    else:  # pragma: no cover - internal invariant
        raise TypeError(type(part))
    return ds.map(prep, num_parallel_calls=AUTOTUNE)


def _pipeline(part, input_shape, *, batch_size, training, seed, cache, augmenter):
    n = len(part)
    cached = _should_cache(cache, n, input_shape)
    # A split too big to cache is shuffled as a file list before decoding (full shuffle, no
    # big buffer of decoded images); a cached one is shuffled after the cache, every epoch.
    shuffle_files = training and not cached and isinstance(part, _FileSplit)
    ds = _element_dataset(part, input_shape, shuffle_files_seed=seed if shuffle_files else None)
    if cached:
        ds = ds.cache()
    if training and not shuffle_files:
        ds = ds.shuffle(min(n, SHUFFLE_BUFFER_MAX), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augmenter is not None:
        # Vectorised: one call per batch, after batching (tf.data performance guide).
        # The cast keeps user-supplied layers honest under a mixed-precision policy.
        ds = ds.map(
            lambda x, y: (tf.cast(augmenter(x, training=True), tf.float32), y),
            num_parallel_calls=AUTOTUNE,
        )
    return ds.prefetch(AUTOTUNE)


# --------------------------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------------------------

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


def _augment_names(augment) -> list:
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
    for i, item in enumerate(_augment_names(preset)):
        if not isinstance(item, str):
            layers.append(item)  # an already built Keras layer
            continue
        layers.append(_build_augment_layer(item, input_shape, None if seed is None else seed + i))
    return layers


def _augmenter(augment, input_shape, seed):
    layers = augmentation_layers(augment, input_shape, seed=seed)
    if not layers:
        return None, []
    import keras

    model = keras.Sequential(layers, name="augmentation")
    model.build((None, *input_shape))
    names = [a if isinstance(a, str) else a.name for a in _augment_names(augment)]
    return model, names


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _resolve_source(
    spec,
    *,
    data_dir=None,
    download=False,
    split=None,
    skip_bad=False,
    class_names=None,
    val_split=0.1,
    test_split=0.1,
    seed=0,
) -> _Source:
    if isinstance(spec, (tuple, list)) and not isinstance(spec, str):
        return _array_source(tuple(spec), class_names=class_names)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise UsageError(
            f"unsupported data spec of type {type(spec).__name__}; use 'digits', 'tfds:NAME', "
            "a folder path or a tuple (x, y)"
        )
    if spec == "digits":
        return _digits_source()
    if spec.startswith("tfds:"):
        from kerascnn import _tfds_source

        return _tfds_source.load(
            spec[5:],
            data_dir=data_dir,
            download=download,
            split=split,
            val_split=val_split,
            test_split=test_split,
            seed=seed,
        )
    path = Path(spec).expanduser()
    if path.is_dir():
        from kerascnn import _imagefiles

        return _imagefiles.folder_source(path, skip_bad=skip_bad)
    if path.exists():
        raise UsageError(
            f"data spec {spec!r} is a file; pass a folder laid out root/<class>/<image>"
        )
    if "/" in spec or os.sep in spec or spec.startswith("."):
        raise UsageError(f"data folder {spec!r} does not exist")
    raise unknown_name("dataset", spec, ["digits", "tfds:NAME", "a folder path"])


def load_data(
    spec,
    *,
    input_shape=None,
    batch_size: int = 32,
    val_split: float = 0.1,
    test_split: float = 0.1,
    seed: int = 0,
    augment="none",
    data_dir=None,
    download: bool = False,
    skip_bad: bool = False,
    cache="auto",
    split=None,
    class_names=None,
) -> DataBundle:
    """Build train / val / test pipelines for a dataset spec.

    Args:
        spec: ``"digits"``, ``"tfds:NAME"``, a folder path, or a tuple ``(x, y)``.
        input_shape: the model's ``(H, W, C)``; images are resized and their channels
            converted to it. None keeps the source's own size (arrays, digits).
        batch_size: images per batch.
        val_split, test_split: fractions of the whole source carved (stratified, seeded)
            for validation and test when the source does not provide those splits.
        seed: seeds the split, the shuffle and the augmentation.
        augment: a preset (``none``, ``light``, ``standard``, ``digits``), a list or
            comma-separated string of layer names, or a list of Keras layers; training only.
        data_dir, download, split: TFDS options. ``split`` is a split string for training
            (``"train[:90%]"``) or a dict ``{"train": ..., "val": ..., "test": ...}``.
        skip_bad: skip unreadable images (listed in ``bundle.skipped``) instead of failing.
        cache: ``"auto"`` (cache decoded splits that fit the memory budget), True or False.
        class_names: names for integer labels of an array spec.

    Raises:
        UsageError: a bad spec, an empty or single-class source, a corrupt image (without
            ``skip_bad``), data that cannot be converted to ``input_shape``.

    Example:
        >>> bundle = load_data("digits", input_shape=(32, 32, 1), augment="digits")  # doctest: +SKIP
        >>> model.fit(bundle.train, validation_data=bundle.val)  # doctest: +SKIP
    """
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, not {batch_size!r}")
    for name, value in (("val_split", val_split), ("test_split", test_split)):
        if not 0.0 <= float(value) < 1.0:
            raise UsageError(f"{name} must be in [0, 1), not {value!r}")
    if float(val_split) + float(test_split) >= 1.0:
        raise UsageError(
            f"val_split + test_split = {val_split + test_split:g} leaves no training data"
        )
    source = _resolve_source(
        spec,
        data_dir=data_dir,
        download=download,
        split=split,
        skip_bad=skip_bad,
        class_names=class_names,
        val_split=float(val_split),
        test_split=float(test_split),
        seed=seed,
    )
    shape = _check_input_shape(input_shape, source)
    splits = _split_source(source, float(val_split), float(test_split), seed)
    augmenter, augment_names = _augmenter(augment, shape, seed)
    datasets = {}
    for name in SPLITS:
        part = splits.get(name)
        if part is None or len(part) == 0:
            datasets[name] = None
            continue
        datasets[name] = _pipeline(
            part,
            shape,
            batch_size=int(batch_size),
            training=(name == "train"),
            seed=seed,
            cache=cache,
            augmenter=augmenter,
        )
    if datasets["train"] is None:
        raise UsageError(f"{source.spec} has no training images")
    return DataBundle(
        train=datasets["train"],
        val=datasets["val"],
        test=datasets["test"],
        class_names=list(source.class_names),
        num_classes=len(source.class_names),
        input_shape=shape,
        sizes={name: (len(splits[name]) if splits.get(name) is not None else 0) for name in SPLITS},
        spec=source.spec,
        skipped=list(source.skipped),
        batch_size=int(batch_size),
        augment=augment_names,
        seed=seed,
    )


from kerascnn._inspect import DataReport, format_report, inspect_data  # noqa: E402

__all__ = [
    "DataReport",
    "format_report",
    "inspect_data",
    "AUGMENT_LAYER_NAMES",
    "AUGMENT_PRESETS",
    "DataBundle",
    "augmentation_layers",
    "load_data",
    "stratified_split",
]
