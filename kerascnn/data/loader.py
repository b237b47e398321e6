"""Dataset specs -> batched, preprocessed ``tf.data`` train / validation / test pipelines.

One call, :func:`load_data`, turns a *spec* into a :class:`DataBundle`:

* ``"digits"`` - scikit-learn's bundled 8x8 handwritten digits (1,797 real images, offline);
* ``"tfds:NAME"`` - a TensorFlow Datasets dataset (``data_dir=``, ``split=``, ``download=``);
* a folder path laid out ``root/<class>/<image>``, optionally with ``train/``, ``val/``
  (or ``validation/``) and ``test/`` subfolders; every image Pillow reads (PNG, JPEG, BMP, GIF,
  WebP, TIFF, PPM/PGM), as ``predict`` does;
* a tuple ``(x, y)`` of NumPy arrays, ``x`` raw 0-255 pixels ``[N, h, w]`` or ``[N, h, w, c]``.

The steps, one module each: :mod:`.sources` resolves the spec to raw per-split data;
:mod:`.split` carves the splits the source does not provide from its training part (seeded,
stratified by class, identical on every run with the same seed); :mod:`.augment` builds the
augmentation layers; :mod:`.pipeline` turns each split into a batched ``tf.data`` pipeline.
This module checks the options and ties the steps together. It imports TensorFlow only when
pipelines are built, so ``import kerascnn.data`` stays cheap for the CLI.

The examples build pipelines from real data and are slow, so they do not run as doctests.

Example:
    >>> from kerascnn.data import load_data
    >>> bundle = load_data("digits", input_shape=(32, 32, 1), test_split=0.2)  # doctest: +SKIP
    >>> bundle.sizes  # doctest: +SKIP
    {'train': 1257, 'val': 180, 'test': 360}
    >>> x, y = next(iter(bundle.train))  # doctest: +SKIP
    >>> x.shape, y.dtype  # doctest: +SKIP
    (TensorShape([32, 32, 32, 1]), tf.int32)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kerascnn.arithmetic import image_shape
from kerascnn.data.augment import build_augmenter
from kerascnn.data.sources import Source, resolve
from kerascnn.data.split import split_source
from kerascnn.errors import UsageError, positive_int
from kerascnn.preprocessing import UNIT, InputSpec

if TYPE_CHECKING:  # annotations only; load_data imports TensorFlow when it builds pipelines
    import tensorflow as tf

SPLITS = ("train", "val", "test")


@dataclass
class DataBundle:
    """The batched pipelines and what a trainer needs to know about them.

    ``train`` yields shuffled, augmented batches; ``val`` and ``test`` are deterministic and
    unaugmented (None only when that split is empty). Every batch is ``(x, y)`` with
    ``x`` float32 ``[B, H, W, C]`` already preprocessed as ``input_spec`` says (0..1 for
    :data:`~kerascnn.preprocessing.UNIT`) and ``y`` int32 ``[B]``.

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
    skip_reasons: dict[str, str] = field(default_factory=dict)
    batch_size: int = 32
    augment: list[str] = field(default_factory=list)
    seed: int = 0
    input_spec: InputSpec = UNIT

    def steps(self, split: str = "train") -> int:
        """Number of batches per pass over ``split`` (0 when the split is empty).

        Example:
            >>> bundle.steps("val")  # doctest: +SKIP
            6
        """
        return math.ceil(self.sizes.get(split, 0) / self.batch_size)

    def skipped_report(self) -> str:
        """The files ``skip_bad`` left out, one ``path<TAB>reason`` line each ("" for none);
        training writes it to the run folder's ``skipped_files.txt``.

        Example:
            >>> bundle.skipped_report()  # doctest: +SKIP
            'photos/cat/broken.jpg\\ttruncated JPEG (no end-of-image marker)\\n'
        """
        return "".join(
            f"{path}\t{self.skip_reasons.get(path, 'unreadable')}\n" for path in self.skipped
        )

    def skipped_summary(self, listing=None) -> str:
        """One line saying how many files ``skip_bad`` left out, and where they are listed.

        Example:
            >>> bundle.skipped_summary("runs/pets/skipped_files.txt")  # doctest: +SKIP
            'Skipped 2 unreadable images (--skip-bad), listed in runs/pets/skipped_files.txt'
        """
        count = len(self.skipped)
        line = f"Skipped {count} unreadable image{'' if count == 1 else 's'} (--skip-bad)"
        return f"{line}, listed in {listing}" if listing is not None else line


def check_input_shape(input_shape, source: Source) -> tuple[int, int, int]:
    """The model's ``(H, W, C)`` for ``source``: ``input_shape`` checked, or the source's own.

    Example:
        >>> from kerascnn.data.sources import resolve
        >>> check_input_shape(None, resolve("digits")), check_input_shape([28, 28, 3], resolve("digits"))
        ((8, 8, 1), (28, 28, 3))
    """
    if input_shape is None:
        channels = source.channels or source.natural_channels
        if source.image_hw is None or channels is None:
            raise UsageError(f"pass input_shape for {source.spec} (its images vary in size)")
        return (*source.image_hw, channels)
    shape = image_shape(input_shape)
    if shape is None:
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
    input_spec=None,
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
        input_spec: the :class:`~kerascnn.preprocessing.InputSpec` the model's weights expect
            (pretrained models); default: pixels / 255, what models trained here use.

    Raises:
        UsageError: a bad spec, an empty or single-class source, a corrupt image (without
            ``skip_bad``), data that cannot be converted to ``input_shape``.

    Example:
        >>> bundle = load_data("digits", input_shape=(32, 32, 1), augment="digits")  # doctest: +SKIP
        >>> model.fit(bundle.train, validation_data=bundle.val)  # doctest: +SKIP
    """
    positive_int(batch_size, "batch_size")
    for name, value in (("val_split", val_split), ("test_split", test_split)):
        if not 0.0 <= float(value) < 1.0:
            raise UsageError(f"{name} must be in [0, 1), not {value!r}")
    if float(val_split) + float(test_split) >= 1.0:
        raise UsageError(
            f"val_split + test_split = {val_split + test_split:g} leaves no training data"
        )
    source = resolve(
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
    shape = check_input_shape(input_shape, source)
    splits = split_source(source, float(val_split), float(test_split), seed)
    augmenter, augment_names = build_augmenter(augment, shape, seed)
    from kerascnn.data.pipeline import build_pipeline  # TensorFlow loads here, not at import

    datasets = {}
    for name in SPLITS:
        part = splits.get(name)
        if part is None or len(part) == 0:
            datasets[name] = None
            continue
        datasets[name] = build_pipeline(
            part,
            shape,
            batch_size=int(batch_size),
            training=(name == "train"),
            seed=seed,
            cache=cache,
            augmenter=augmenter,
            input_spec=input_spec or UNIT,
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
        skip_reasons=dict(source.skip_reasons),
        batch_size=int(batch_size),
        augment=augment_names,
        seed=seed,
        input_spec=input_spec or UNIT,
    )
