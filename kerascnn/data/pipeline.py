"""One split -> a batched, preprocessed ``tf.data`` pipeline (the package's TensorFlow part).

Each pipeline follows the tf.data performance guide: decode in parallel (``AUTOTUNE``), apply
the shared :func:`kerascnn.preprocessing.preprocess` (the very function export puts in the
serving graph), ``cache()`` when the decoded split fits the memory budget, shuffle (seeded),
batch, augment whole batches with Keras preprocessing layers, ``prefetch``.

Example:
    >>> import numpy as np
    >>> from kerascnn.data.sources import ArraySplit
    >>> part = ArraySplit(np.zeros((5, 8, 8, 1), np.uint8), np.arange(5) % 2)
    >>> ds = build_pipeline(part, (4, 4, 1), batch_size=2, training=False, seed=0,
    ...                     cache="auto", augmenter=None)
    >>> [tuple(x.shape) for x, _ in ds]
    [(2, 4, 4, 1), (2, 4, 4, 1), (1, 4, 4, 1)]
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerascnn.data.sources.base import ArraySplit, FileSplit, Split, TFDSSplit
from kerascnn.errors import UsageError
from kerascnn.images import load_image
from kerascnn.preprocessing import UNIT, in_unit_range, normalize, preprocess

AUTOTUNE = tf.data.AUTOTUNE

# cache="auto" keeps a split in memory when its preprocessed float32 tensors take at most this
# share of the available RAM (and never more than the hard cap): the guide's "cache when it
# fits", without letting a large folder push the machine into swap.
CACHE_RAM_FRACTION = 0.25
CACHE_HARD_CAP_BYTES = 4 << 30

# Shuffle buffer cap for sources too large to shuffle whole (file lists are shuffled whole
# before decoding, so this only limits in-memory element shuffling).
SHUFFLE_BUFFER_MAX = 20_000


def memory_budget() -> int:
    """Bytes a cached split may take: a share of the available RAM, capped.

    Example:
        >>> 0 < memory_budget() <= CACHE_HARD_CAP_BYTES
        True
    """
    try:
        import psutil

        available = psutil.virtual_memory().available
    except Exception:  # psutil missing or unsupported platform: assume a small machine
        available = 4 << 30
    return int(min(available * CACHE_RAM_FRACTION, CACHE_HARD_CAP_BYTES))


def should_cache(cache, n: int, input_shape) -> bool:
    """Whether to ``cache()`` a split of ``n`` images of ``input_shape`` (float32).

    Example:
        >>> should_cache("auto", 1000, (32, 32, 3)), should_cache(False, 10, (8, 8, 1))
        (True, False)
    """
    if cache is True or cache is False:
        return cache
    if cache != "auto":
        raise UsageError(f"cache must be 'auto', True or False, not {cache!r}")
    return n * int(np.prod(input_shape)) * 4 <= memory_budget()


def _pillow_rgb(path) -> np.ndarray:
    """uint8 RGB pixels of a file through predict's own reader (EXIF, 16-bit gray, first frame)."""
    path = path.decode() if isinstance(path, bytes) else str(path)
    return np.asarray(load_image(path).convert("RGB"), dtype=np.uint8)


def decode_file(path, input_shape, pillow=None):
    """Read and decode one image file to uint8 ``[h, w, c]`` matching the model's channels.

    ``pillow`` (a bool tensor): decode with Pillow, for formats TensorFlow cannot decode in a
    graph (WebP, TIFF...); the scan checked every file already, so this never meets a surprise.

    Example:
        >>> decode_file("photos/cat/1.png", (32, 32, 4)).shape  # doctest: +SKIP
        TensorShape([48, 64, 4])
    """

    def in_graph():
        data = tf.io.read_file(path)
        return tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)

    def with_pillow():
        return tf.numpy_function(_pillow_rgb, [path], tf.uint8, stateful=False)

    # Decode every format to RGB so elements agree on channels; preprocess turns RGB into
    # gray, and alpha (dropped here, as preprocess drops it) is re-added as opaque for C=4.
    image = in_graph() if pillow is None else tf.cond(pillow, with_pillow, in_graph)
    image.set_shape([None, None, 3])
    if input_shape[-1] == 4:
        image = tf.concat(
            [image, tf.fill(tf.shape(image[..., :1]), tf.constant(255, tf.uint8))], -1
        )
    return image


def element_dataset(
    part: Split, input_shape, *, shuffle_files_seed=None, input_spec=UNIT
) -> tf.data.Dataset:
    """Un-batched ``(x float32 [H, W, C], y int32)`` elements, decoded and preprocessed.

    ``shuffle_files_seed`` (file splits): shuffle the file list, anew each epoch, before
    decoding - a full shuffle for the price of shuffling strings. ``input_spec``: its
    geometry (channel order, resize, crop) is applied here, with values in 0..1;
    :func:`build_pipeline` normalizes after augmentation.

    Example:
        >>> part = ArraySplit(np.full((3, 2, 2, 1), 255, np.uint8), np.array([0, 1, 0]))
        >>> x, y = next(iter(element_dataset(part, (2, 2, 1))))
        >>> float(x.numpy().max()), y.dtype.name
        (1.0, 'int32')
    """

    geometry = in_unit_range(input_spec)

    def prep(image, label):
        x = preprocess(image[None], input_shape, geometry)[0]
        x.set_shape(input_shape)
        return x, tf.cast(label, tf.int32)

    if isinstance(part, ArraySplit):
        ds = tf.data.Dataset.from_tensor_slices((part.x, part.y))
    elif isinstance(part, FileSplit):
        # Only a split holding Pillow-decoded files pays for the per-file flag and the branch.
        pillow = part.pillow if part.pillow is not None and part.pillow.any() else None
        columns = (part.paths.astype(str), part.y) + (() if pillow is None else (pillow,))
        ds = tf.data.Dataset.from_tensor_slices(columns)
        if shuffle_files_seed is not None:
            ds = ds.shuffle(len(part), seed=shuffle_files_seed, reshuffle_each_iteration=True)
        ds = ds.map(
            lambda p, y, *flag: (decode_file(p, input_shape, *flag), y),
            num_parallel_calls=AUTOTUNE,
        )
    elif isinstance(part, TFDSSplit):
        ds = part.dataset
    else:  # pragma: no cover - internal invariant
        raise TypeError(type(part))
    return ds.map(prep, num_parallel_calls=AUTOTUNE)


def build_pipeline(
    part: Split, input_shape, *, batch_size, training, seed, cache, augmenter, input_spec=UNIT
) -> tf.data.Dataset:
    """The batched pipeline for one split; ``training`` shuffles (seeded) and augments.

    ``augmenter`` is a Keras model applied to whole training batches, or None.
    ``input_spec`` is what the model's weights expect (:data:`UNIT` for a model trained from
    scratch): augmentation sees 0..1 images, the model the spec's values.
    """
    n = len(part)
    cached = should_cache(cache, n, input_shape)
    # A split too big to cache is shuffled as a file list before decoding (full shuffle, no
    # big buffer of decoded images); a cached one is shuffled after the cache, every epoch.
    shuffle_files = training and not cached and isinstance(part, FileSplit)
    ds = element_dataset(
        part,
        input_shape,
        shuffle_files_seed=seed if shuffle_files else None,
        input_spec=input_spec,
    )
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
    if in_unit_range(input_spec) != input_spec:
        ds = ds.map(lambda x, y: (normalize(x, input_spec), y), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
