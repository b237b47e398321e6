"""``tfds:NAME`` specs: TensorFlow Datasets splits as a source.

Nothing is downloaded unless asked (``download=True`` / ``--download``): offline, a dataset that
was not prepared fails at once with one line saying how to prepare it. Splits the dataset lacks
are carved from ``train`` with TFDS split slicing (contiguous, not stratified: TFDS stores
examples already shuffled). TensorFlow and TFDS load only when a dataset is.

Examples that read a dataset need it prepared in ``data_dir``, so they do not run as doctests.

Example:
    >>> from kerascnn.data import load_data
    >>> bundle = load_data("tfds:mnist", input_shape=(32, 32, 1), data_dir="~/tfds")  # doctest: +SKIP
    >>> load_data("tfds:cifar10", input_shape=(32, 32, 3),
    ...           split={"train": "train[:90%]", "val": "train[90%:]", "test": "test"})  # doctest: +SKIP
"""

from __future__ import annotations

import os

from kerascnn.data.sources.base import Source, TFDSSplit
from kerascnn.errors import KerasCNNError, UsageError, unknown_name

VAL_NAMES = ("validation", "val", "valid")

# Image-classification datasets people name without the ``tfds:`` prefix. A bare spec is checked
# against this fixed list, not ``tfds.list_builders()``: the check runs on the error path of
# every mistyped spec (``kerascnn data inspect``, ``train --data``), which must stay one quick,
# TensorFlow-free line, and importing TensorFlow Datasets takes seconds and loads TensorFlow.
# A name missing here still works as ``tfds:NAME``; only the hint is limited. A test checks
# that every name is a real TFDS dataset.
WELL_KNOWN_TFDS = (
    "beans",
    "binary_alpha_digits",
    "caltech101",
    "caltech_birds2011",
    "cars196",
    "cassava",
    "cats_vs_dogs",
    "cifar10",
    "cifar100",
    "cmaterdb",
    "colorectal_histology",
    "deep_weeds",
    "dtd",
    "emnist",
    "eurosat",
    "fashion_mnist",
    "food101",
    "horses_or_humans",
    "imagenet2012",
    "imagenette",
    "kmnist",
    "malaria",
    "mnist",
    "omniglot",
    "oxford_flowers102",
    "oxford_iiit_pet",
    "patch_camelyon",
    "plant_village",
    "quickdraw_bitmap",
    "resisc45",
    "rock_paper_scissors",
    "stanford_dogs",
    "stl10",
    "svhn_cropped",
    "tf_flowers",
)


def _prepare_hint(name: str, data_dir) -> str:
    where = f" --data_dir {data_dir}" if data_dir else ""
    return (
        f"prepare it on a machine with network access with 'tfds build {name}{where}' "
        f"(or pass download=True / --download there) and point data_dir / --data-dir at it"
    )


def _builder(name: str, data_dir):
    import tensorflow_datasets as tfds

    base = name.split("/")[0].split(":")[0]
    if ":" not in name:  # a catalogue name: check it locally, without asking any server
        try:
            choices = tfds.list_builders(with_community_datasets=False)
        except Exception:
            choices = []
        if choices and base not in choices:
            raise unknown_name("TFDS dataset", base, choices)
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        try:
            choices = tfds.list_builders()
        except Exception:  # the catalogue itself unavailable: say so without suggestions
            choices = []
        if choices:
            raise unknown_name("TFDS dataset", name, choices) from None
        raise UsageError(f"unknown TFDS dataset {name!r}") from None


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100, 4):g}%"


def default_splits(info_splits, val_split: float, test_split: float) -> dict:
    """Split strings for train/val/test from the dataset's own splits and the fractions.

    Example:
        >>> default_splits({"train": 1, "test": 1}, 0.1, 0.1)
        {'train': 'train[:90%]', 'val': 'train[90%:100%]', 'test': 'test'}
    """
    known = set(info_splits or ())
    plan = {}
    val_name = next((v for v in VAL_NAMES if v in known), None)
    carve_val = val_name is None and val_split > 0
    carve_test = "test" not in known and test_split > 0
    # Carve from the end of train: [ train | val | test ].
    end = 1.0
    test = None
    if carve_test:
        test = f"train[-{_percent(test_split)}:]"
        end -= test_split
    elif "test" in known:
        test = "test"
    val = val_name
    if carve_val:
        start = end - val_split
        val = f"train[{_percent(start)}:{_percent(end)}]"
        end = start
    plan["train"] = "train" if end >= 1.0 else f"train[:{_percent(end)}]"
    if val:
        plan["val"] = val
    if test:
        plan["test"] = test
    return plan


def _plan(split, info_splits, val_split, test_split) -> dict:
    if split is None:
        return default_splits(info_splits, val_split, test_split)
    if isinstance(split, str):
        # Only the training split given: val / test still come from the dataset's own splits.
        plan = {k: v for k, v in default_splits(info_splits, 0.0, 0.0).items() if k != "train"}
        plan["train"] = split
        return plan
    if isinstance(split, dict):
        unknown = set(split) - {"train", "val", "test"}
        if unknown or "train" not in split:
            raise UsageError(
                f"split must be a split string or a dict with keys train, val, test; got {sorted(split)}"
            )
        return {k: v for k, v in split.items() if v}
    raise UsageError(f"split must be a string like 'train[:90%]' or a dict, not {split!r}")


def tfds_source(
    name: str, *, data_dir=None, download=False, split=None, val_split=0.1, test_split=0.1, seed=0
) -> Source:
    """Resolve ``tfds:NAME`` (``name`` without the prefix) into a source of un-batched
    ``(image, label)`` datasets, one per split of the plan.

    Example:
        >>> source = tfds_source("mnist", data_dir="~/tensorflow_datasets")  # doctest: +SKIP
        >>> source.spec, {k: len(v) for k, v in source.splits.items()}  # doctest: +SKIP
        ('tfds:mnist', {'train': 48000, 'val': 6000, 'test': 10000})
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    if not name:
        raise UsageError("tfds: needs a dataset name, e.g. tfds:mnist")
    if data_dir is not None:
        data_dir = os.path.expanduser(os.fspath(data_dir))
    builder = _builder(name, data_dir)
    where = data_dir or "the default TFDS data_dir (~/tensorflow_datasets)"
    if download:
        try:
            builder.download_and_prepare()
        except Exception as exc:  # network / checksum / disk failures: one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise KerasCNNError(f"could not download and prepare tfds:{name}: {first}") from None

    info = builder.info
    supervised = info.supervised_keys
    if not supervised or len(supervised) != 2:
        raise UsageError(f"tfds:{name} has no (image, label) supervised keys to train on")
    image_key, label_key = supervised
    image_feature = info.features[image_key]
    label_feature = info.features[label_key]
    image_shape = tuple(getattr(image_feature, "shape", ()) or ())
    if len(image_shape) != 3 or image_shape[-1] not in (1, 3, 4, None):
        raise UsageError(
            f"tfds:{name} is not an image classification dataset (features {image_shape})"
        )
    names = list(getattr(label_feature, "names", None) or [])
    if not names:
        num = getattr(label_feature, "num_classes", None)
        if not num:
            raise UsageError(f"tfds:{name} labels are not class labels")
        names = [str(i) for i in range(num)]

    try:
        info_splits = dict(info.splits)
    except Exception:  # metadata not available (e.g. mocked datasets)
        info_splits = {}
    plan = _plan(split, info_splits, val_split, test_split)
    splits = {}
    for part, split_name in plan.items():
        try:
            ds = builder.as_dataset(
                split=split_name,
                as_supervised=True,
                shuffle_files=(part == "train"),
                read_config=tfds.ReadConfig(shuffle_seed=seed),
            )
        except AssertionError as exc:  # TFDS's way of saying "not prepared"
            if "download_and_prepare" in str(exc) or "could not find data" in str(exc).lower():
                raise UsageError(
                    f"tfds:{name} is not prepared in {where}; {_prepare_hint(name, data_dir)}"
                ) from None
            raise UsageError(f"tfds:{name}: {str(exc).splitlines()[0]}") from None
        except (ValueError, KeyError) as exc:
            raise UsageError(
                f"tfds:{name} has no split {split_name!r} ({str(exc).splitlines()[0]})"
            ) from None
        except tf.errors.NotFoundError:
            raise UsageError(
                f"tfds:{name} is not prepared in {where}; {_prepare_hint(name, data_dir)}"
            ) from None
        size = int(ds.cardinality().numpy())
        if size < 0:
            try:
                size = int(info.splits[split_name].num_examples)
            except Exception:
                size = sum(1 for _ in ds)
        ds = ds.map(lambda x, y: (x, tf.cast(y, tf.int32)))
        splits[part] = TFDSSplit(dataset=ds, size=size, channels=image_shape[-1] or 3)
    hw = image_shape[:2]
    return Source(
        splits=splits,
        class_names=names,
        spec=f"tfds:{name}",
        channels=image_shape[-1],
        image_hw=hw if None not in hw else None,
    )
