"""Where images come from: a data spec resolved into a :class:`Source` of raw per-split data.

One module per kind of source, each returning the types of :mod:`.base`:

* :mod:`.arrays` - ``"digits"`` (scikit-learn's bundled digits) and ``(x, y)`` NumPy arrays;
* :mod:`.folder` - a folder laid out ``root/<class>/<image>``, scanned and checked up front;
* :mod:`.tfds` - ``"tfds:NAME"``, a TensorFlow Datasets dataset.

A new kind of source is one more module here and one more branch in :func:`resolve`.
Nothing in this package imports TensorFlow at import time: ``kerascnn data inspect`` resolves
folders, digits and arrays without it.

Example:
    >>> from kerascnn.data.sources import resolve
    >>> source = resolve("digits")
    >>> source.spec, source.class_names[:3], len(source.splits["train"])
    ('digits', ['0', '1', '2'], 1797)
"""

from __future__ import annotations

import os
from pathlib import Path

from kerascnn.data.sources.arrays import array_source, digits_source
from kerascnn.data.sources.base import ArraySplit, FileSplit, Source, Split, TFDSSplit
from kerascnn.data.sources.folder import folder_source
from kerascnn.data.sources.tfds import tfds_source
from kerascnn.errors import UsageError, unknown_name

__all__ = ["ArraySplit", "FileSplit", "Source", "Split", "TFDSSplit", "resolve"]


def resolve(
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
) -> Source:
    """Turn a data spec into a :class:`Source`.

    ``spec`` is ``"digits"``, ``"tfds:NAME"``, a folder path (str or PathLike) or a tuple
    ``(x, y)`` of arrays. ``data_dir``, ``download``, ``split`` and the fractions matter to
    TFDS only (it carves its missing splits while loading); ``skip_bad`` to folders;
    ``class_names`` to arrays. Other sources leave val/test to :mod:`kerascnn.data.split`.

    Example:
        >>> import numpy as np
        >>> resolve((np.zeros((4, 6, 6)), [0, 1, 0, 1])).spec
        'arrays(4, 6, 6, 1)'
        >>> resolve("digit")
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: unknown dataset 'digit' (did you mean 'digits'?)
    """
    if isinstance(spec, (tuple, list)) and not isinstance(spec, str):
        return array_source(tuple(spec), class_names=class_names)
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str):
        raise UsageError(
            f"unsupported data spec of type {type(spec).__name__}; use 'digits', 'tfds:NAME', "
            "a folder path or a tuple (x, y)"
        )
    if spec == "digits":
        return digits_source()
    if spec.startswith("tfds:"):
        return tfds_source(
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
        return folder_source(path, skip_bad=skip_bad)
    if path.exists():
        raise UsageError(
            f"data spec {spec!r} is a file; pass a folder laid out root/<class>/<image>"
        )
    if "/" in spec or os.sep in spec or spec.startswith("."):
        raise UsageError(f"data folder {spec!r} does not exist")
    raise unknown_name("dataset", spec, ["digits", "tfds:NAME", "a folder path"])
