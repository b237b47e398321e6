"""In-memory sources: scikit-learn's bundled digits and user ``(x, y)`` NumPy arrays.

Both hand over raw 0-255 uint8 pixels ``[N, h, w, c]``, like every other source: scaling is
part of the shared preprocessing, so already-scaled arrays are refused rather than guessed at.

Example:
    >>> import numpy as np
    >>> x, y = np.zeros((6, 8, 8), np.uint8), np.array(["cat", "dog"] * 3)
    >>> source = array_source((x, y))
    >>> source.spec, source.class_names, source.channels
    ('arrays(6, 8, 8, 1)', ['cat', 'dog'], 1)
"""

from __future__ import annotations

import numpy as np

from kerascnn.data.sources.base import ArraySplit, Source
from kerascnn.errors import UsageError


def digits_source() -> Source:
    """scikit-learn's 1,797 8x8 handwritten digits, offline, as raw 0-255 pixels.

    Example:
        >>> source = digits_source()
        >>> x = source.splits["train"].x
        >>> x.shape, x.dtype.name, int(x.max())
        ((1797, 8, 8, 1), 'uint8', 255)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    # sklearn stores ink darkness 0..16; scale to the 0..255 raw pixels every source uses.
    x = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[..., None]
    y = digits.target.astype(np.int32)
    return Source(
        splits={"train": ArraySplit(x, y)},
        class_names=[str(c) for c in range(10)],
        spec="digits",
        channels=1,
        image_hw=(8, 8),
    )


def check_raw_pixels(x: np.ndarray) -> np.ndarray:
    """Validate an ``x`` array of raw pixels and return it as ``[N, h, w, c]`` uint8.

    Example:
        >>> check_raw_pixels(np.full((2, 4, 4), 200.0)).shape
        (2, 4, 4, 1)
        >>> check_raw_pixels(np.full((2, 4, 4), 0.5))
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: x looks already scaled to 0..1; pass raw 0-255 pixels (e.g. x * 255) - scaling is part of the shared preprocessing
    """
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


def array_source(spec: tuple, class_names=None) -> Source:
    """A ``(x, y)`` tuple as a source: ``x`` raw pixels, ``y`` class ids or any sortable labels.

    Integer labels 0..K-1 keep their ids (named ``"0"``... unless ``class_names`` is given);
    other labels (strings, negative ids) are numbered in sorted order.

    Example:
        >>> x = np.zeros((4, 5, 5, 3), np.uint8)
        >>> array_source((x, [0, 1, 1, 0]), class_names=["no", "yes"]).class_names
        ['no', 'yes']
    """
    if len(spec) != 2:
        raise UsageError("an array spec must be a tuple (x, y)")
    x, y = (np.asarray(a) for a in spec)
    x = check_raw_pixels(x)
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
    return Source(
        splits={"train": ArraySplit(x, labels)},
        class_names=names,
        spec=f"arrays{tuple(x.shape)}",
        channels=int(x.shape[-1]),
        image_hw=(int(x.shape[1]), int(x.shape[2])),
    )
