"""Datasets: a spec (``"digits"``, ``"tfds:NAME"``, a folder, ``(x, y)`` arrays) -> batched,
preprocessed ``tf.data`` pipelines, and a look at a dataset before training on it.

The package, lowest layer first (a module imports only those above it in this list)::

    sources/     spec -> Source: raw per-split data (arrays, folder, tfds; resolve())
    split.py     carve the splits a source lacks: stratified, seeded
    augment.py   augmentation presets -> Keras preprocessing layers
    pipeline.py  one split -> a batched tf.data pipeline (the only TensorFlow module)
    loader.py    load_data() and DataBundle: the steps above, tied together
    inspect.py   inspect_data(): counts, sizes, corrupt and duplicate files, a sample grid

Importing this package, :mod:`.inspect` or :mod:`.sources` does not import TensorFlow:
``load_data`` loads it when it builds pipelines, and the pipeline constants below
(``AUTOTUNE``, ``CACHE_*``, ``SHUFFLE_BUFFER_MAX``) resolve on first access (PEP 562).

Example:
    >>> from kerascnn.data import inspect_data, load_data, stratified_split
    >>> inspect_data("digits", out=None).total
    1797
    >>> bundle = load_data("digits", input_shape=(32, 32, 1), test_split=0.2)  # doctest: +SKIP
    >>> bundle.sizes  # doctest: +SKIP
    {'train': 1257, 'val': 180, 'test': 360}
"""

from __future__ import annotations

import importlib

from kerascnn.data.augment import AUGMENT_LAYER_NAMES, AUGMENT_PRESETS, augmentation_layers
from kerascnn.data.inspect import DataReport, format_report, inspect_data
from kerascnn.data.loader import SPLITS, DataBundle, load_data
from kerascnn.data.split import stratified_split

# Names that live in the TensorFlow module: resolved on first access, not at import.
_LAZY = {
    "AUTOTUNE": "kerascnn.data.pipeline",
    "CACHE_RAM_FRACTION": "kerascnn.data.pipeline",
    "CACHE_HARD_CAP_BYTES": "kerascnn.data.pipeline",
    "SHUFFLE_BUFFER_MAX": "kerascnn.data.pipeline",
}

__all__ = [
    "AUGMENT_LAYER_NAMES",
    "AUGMENT_PRESETS",
    "SPLITS",
    "DataBundle",
    "DataReport",
    "augmentation_layers",
    "format_report",
    "inspect_data",
    "load_data",
    "stratified_split",
]


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'kerascnn.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})
