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

import difflib
import os
from pathlib import Path

from kerascnn.data.sources.arrays import array_source, digits_source
from kerascnn.data.sources.base import ArraySplit, FileSplit, Source, Split, TFDSSplit
from kerascnn.data.sources.folder import folder_source
from kerascnn.data.sources.tfds import WELL_KNOWN_TFDS, tfds_source
from kerascnn.errors import UsageError, did_you_mean, unknown_name

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
    raise missing_spec_error(spec)


def looks_like_path(spec: str) -> bool:
    """Whether a spec is written as a path (a separator, or a leading ``.`` or ``~``).

    Example:
        >>> [looks_like_path(s) for s in ("mydigits", "mydigits/", "./x", "~/x", "a/b")]
        [False, True, True, True, True]
    """
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(sep in spec for sep in separators) or spec.startswith((".", "~"))


def _closeness(typed: str, choice: str) -> float:
    return difflib.SequenceMatcher(None, typed.lower(), choice.lower()).ratio()


def _near_folder(spec: str) -> str | None:
    """A folder next to where ``spec`` points whose name is close to it, spelled as the user
    spelled the rest of the path (``./data/mydigts/`` -> ``./data/mydigits/``)."""
    stripped = spec.rstrip("/" + os.sep) or spec
    trailing = spec[len(stripped) :]
    path = Path(stripped).expanduser()
    try:
        names = [
            p.name
            for p in path.parent.iterdir()
            if p.is_dir() and (path.name.startswith(".") or not p.name.startswith("."))
        ]
    except OSError:  # the parent is missing too, or unreadable: nothing to suggest
        return None
    guess = did_you_mean(path.name, names)
    if guess is None:
        return None
    head = os.path.dirname(stripped)
    return (os.path.join(head, guess) if head else guess) + trailing


def missing_spec_error(spec: str) -> UsageError:
    """The one-line error for a string spec that names no dataset and no existing folder.

    A spec written as a path (:func:`looks_like_path`) is a missing folder: the error names it
    and a folder with a close name beside it, never a built-in dataset (a typo of a folder must
    not end in training on other data). A bare name is compared with the folders of the working
    directory and with the datasets it may mean: ``digits`` and well-known TFDS names, which are
    suggested with their ``tfds:`` prefix. The closest wins; a folder wins a tie.

    Example:
        >>> str(missing_spec_error("mnist"))
        "unknown dataset 'mnist' (did you mean 'tfds:mnist'?)"
        >>> str(missing_spec_error("no/such/folder"))
        "data folder 'no/such/folder' does not exist"
    """
    folder = _near_folder(spec)
    if looks_like_path(spec):
        hint = f" (did you mean {folder!r}?)" if folder else ""
        return UsageError(f"data folder {spec!r} does not exist{hint}")
    dataset = did_you_mean(spec, ["digits", *WELL_KNOWN_TFDS])
    if folder and (dataset is None or _closeness(spec, folder) >= _closeness(spec, dataset)):
        return UsageError(f"data folder {spec!r} does not exist (did you mean {folder!r}?)")
    if dataset:
        suggestion = dataset if dataset == "digits" else f"tfds:{dataset}"
        return UsageError(f"unknown dataset {spec!r} (did you mean {suggestion!r}?)")
    return unknown_name("dataset", spec, ["digits", "tfds:NAME", "a folder path"])
