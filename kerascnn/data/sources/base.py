"""The types every source returns: raw per-split data plus what is known about its images.

A source stops at *raw* data - uint8 pixels, file paths or an un-batched TFDS dataset - so that
everything after it (splitting, decoding, preprocessing, batching) is shared by all sources.
These types hold a ``tf.data.Dataset`` at most; defining them needs no TensorFlow.

Example:
    >>> import numpy as np
    >>> part = ArraySplit(np.zeros((4, 8, 8, 1), np.uint8), np.array([0, 1, 0, 1]))
    >>> source = Source(splits={"train": part}, class_names=["a", "b"], spec="arrays")
    >>> len(source.splits["train"]), source.skipped
    (4, [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the types themselves never touch TensorFlow
    import tensorflow as tf


@dataclass
class ArraySplit:
    """Raw uint8 pixels ``[N, h, w, c]`` and int labels held in memory.

    Example:
        >>> part = ArraySplit(np.zeros((5, 2, 2, 1), np.uint8), np.arange(5))
        >>> len(part.take([0, 3])), part.take([0, 3]).y.tolist()
        (2, [0, 3])
    """

    x: np.ndarray
    y: np.ndarray

    def __len__(self):
        return len(self.y)

    def take(self, index) -> ArraySplit:
        """The images at ``index`` (an index array), as a new split."""
        return ArraySplit(self.x[index], self.y[index])


@dataclass
class FileSplit:
    """Image paths and int labels; the pipeline decodes the files.

    ``pillow`` flags the files TensorFlow cannot decode in a graph (WebP, TIFF, ...), which the
    pipeline decodes with Pillow instead; None means none of them.

    Example:
        >>> part = FileSplit(np.array(["a.png", "b.webp"], dtype=object), np.array([0, 1]),
        ...                  pillow=np.array([False, True]))
        >>> part.take([1]).paths.tolist(), part.take([1]).pillow.tolist()
        (['b.webp'], [True])
    """

    paths: np.ndarray
    y: np.ndarray
    pillow: np.ndarray | None = None

    def __len__(self):
        return len(self.y)

    def take(self, index) -> FileSplit:
        """The files at ``index`` (an index array), as a new split."""
        pillow = None if self.pillow is None else self.pillow[index]
        return FileSplit(self.paths[index], self.y[index], pillow)


@dataclass
class TFDSSplit:
    """A prepared TFDS split: an un-batched ``(image, label)`` dataset and its size.

    TFDS splits are carved with split strings when loaded, so this type has no ``take``.

    Example:
        >>> len(TFDSSplit(dataset=None, size=60000, channels=1))
        60000
    """

    dataset: tf.data.Dataset
    size: int
    channels: int

    def __len__(self):
        return self.size


Split = ArraySplit | FileSplit | TFDSSplit
"""Any one split a source can hand over."""


@dataclass
class Source:
    """A resolved data spec: its splits (a missing name = the source lacks that split),
    class names and what is known about its raw images.

    Example:
        >>> Source(splits={}, class_names=["cat", "dog"], spec="photos").natural_channels is None
        True
    """

    splits: dict[str, Split]
    class_names: list[str]
    spec: str
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (skip_bad)
    skip_reasons: dict[str, str] = field(default_factory=dict)  # skipped path -> why
    channels: int | None = None  # channel count of the raw pixels when known
    image_hw: tuple[int, int] | None = None  # common raw size when known
    natural_channels: int | None = None  # channels to use when input_shape is None
