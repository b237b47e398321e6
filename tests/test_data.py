"""kerascnn.data: specs -> tf.data pipelines, splits, augmentation, inspect (real data, real files)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kerascnn.data import (
    AUGMENT_PRESETS,
    augmentation_layers,
    inspect_data,
    load_data,
    stratified_split,
)
from kerascnn.errors import UsageError

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def collect(ds):
    """All (x, y) of a batched dataset as two NumPy arrays."""
    xs, ys = [], []
    for x, y in ds:
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def digest(array) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()).hexdigest()


# Solid colours per class so a decoded pixel can be checked against what was written.
CLASS_COLOURS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}
# (suffix, Pillow mode) combinations written for every class.
FORMATS = [
    ("png", "L"),
    ("png", "RGB"),
    ("png", "RGBA"),
    ("png", "P"),
    ("jpg", "RGB"),
    ("jpg", "L"),
    ("bmp", "RGB"),
    ("bmp", "P"),
    ("gif", "P"),
]


def write_image(path, colour, mode, size=(12, 10), noise_seed=None):
    """Write a solid-colour image (plus a little noise when noise_seed is set) in ``mode``."""
    w, h = size
    pixels = np.empty((h, w, 3), np.uint8)
    pixels[:] = colour
    if noise_seed is not None:  # distinct content per file (no accidental duplicates)
        pixels[0, 0] = np.random.default_rng(noise_seed).integers(0, 255, 3)
    image = Image.fromarray(pixels)
    if mode == "RGBA":
        image = image.convert("RGBA")
        image.putalpha(200)
    elif mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    else:
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def make_folder(root, per_format=1, classes=CLASS_COLOURS, sizes=((12, 10), (20, 16))):
    """root/<class>/<i>.<ext> in every format/mode, two sizes; returns the image count."""
    count = 0
    for c_index, (name, colour) in enumerate(classes.items()):
        for f_index, (suffix, mode) in enumerate(FORMATS):
            for k in range(per_format):
                size = sizes[(f_index + k) % len(sizes)]
                seed = c_index * 1000 + f_index * 10 + k
                write_image(root / name / f"{f_index}_{k}.{suffix}", colour, mode, size, seed)
                count += 1
    return count


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_bundle():
    return load_data("digits", input_shape=(32, 32, 1), test_split=0.2, val_split=0.1, seed=0)


def test_digits_sizes_shapes_and_classes(digits_bundle):
    b = digits_bundle
    assert b.sizes == {"train": 1257, "val": 180, "test": 360}
    assert b.class_names == [str(i) for i in range(10)] and b.num_classes == 10
    assert b.input_shape == (32, 32, 1) and b.spec == "digits" and b.skipped == []
    x, y = next(iter(b.train))
    assert x.shape == (32, 32, 32, 1) and x.dtype.name == "float32"
    assert y.shape == (32,) and y.dtype.name == "int32"
    tx, ty = collect(b.test)
    assert tx.shape == (360, 32, 32, 1)
    assert 0.0 <= tx.min() and tx.max() <= 1.0 and tx.max() > 0.9  # scaled raw 0..255
    assert b.steps("train") == 40 and b.steps("test") == 12


def test_digits_upscaled_images_keep_the_digit(digits_bundle):
    """8x8 -> 32x32 resize: block-averaging back identifies the original image and its label."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    originals = digits.images / 16.0
    tx, ty = collect(digits_bundle.test)
    small = tx[..., 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    distance = np.abs(small[:, None] - originals[None]).mean(axis=(2, 3))
    nearest = distance.argmin(axis=1)
    assert len(set(nearest.tolist())) == len(tx)  # each test image maps to its own original
    assert np.array_equal(digits.target[nearest], ty)  # ...and carries that original's label
    assert distance.min(axis=1).max() < 0.1  # bilinear blur only (0..1 scale)


def test_digits_split_is_stratified_and_disjoint(digits_bundle):
    _, train_y = collect(digits_bundle.train)
    _, val_y = collect(digits_bundle.val)
    tx, test_y = collect(digits_bundle.test)
    full = np.bincount(np.concatenate([train_y, val_y, test_y]), minlength=10)
    assert full.sum() == 1797
    expected = full * 360 / 1797
    assert np.all(np.abs(np.bincount(test_y, minlength=10) - expected) <= 1)
    expected_val = full * 180 / 1797
    assert np.all(np.abs(np.bincount(val_y, minlength=10) - expected_val) <= 1)
    # disjoint: no test image appears in train (digits has no exact duplicates)
    train_x, _ = collect(load_data("digits", input_shape=(8, 8, 1), test_split=0.2).train)
    test_small = collect(load_data("digits", input_shape=(8, 8, 1), test_split=0.2).test)[0]
    train_hashes = {digest(im) for im in train_x}
    assert not any(digest(im) in train_hashes for im in test_small)


def test_digits_split_same_seed_same_split_other_seed_differs():
    def test_set(seed):
        b = load_data("digits", input_shape=(8, 8, 1), test_split=0.2, seed=seed)
        x, y = collect(b.test)
        return digest(x), digest(y), b.sizes

    first, again, other = test_set(0), test_set(0), test_set(1)
    assert first == again
    assert first[0] != other[0] and first[2] == other[2]


def test_train_shuffle_is_seeded_and_reshuffles_each_epoch():
    def first_epochs(seed):
        b = load_data("digits", input_shape=(8, 8, 1), seed=seed, batch_size=64)
        return [collect(b.train)[1] for _ in range(2)]

    a, b, c = first_epochs(3), first_epochs(3), first_epochs(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])  # a new order every epoch
    assert not np.array_equal(a[0], c[0])
    assert np.array_equal(np.sort(a[0]), np.sort(a[1]))  # same images, new order


def test_val_and_test_are_deterministic_and_unaugmented():
    b = load_data("digits", input_shape=(16, 16, 1), augment="standard", seed=0)
    first, second = collect(b.val), collect(b.val)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    plain = load_data("digits", input_shape=(16, 16, 1), augment="none", seed=0)
    assert np.array_equal(collect(plain.val)[0], first[0])


def test_digits_other_input_shapes_convert_channels():
    b = load_data("digits", input_shape=(28, 28, 3), batch_size=5)
    x, _ = next(iter(b.val))
    assert x.shape == (5, 28, 28, 3)
    assert np.allclose(x[..., 0], x[..., 2])  # gray repeated into RGB


def test_tiny_model_learns_digits():
    """Labels line up with images: a small CNN beats 90 % on the held-out split fast."""
    import keras

    keras.utils.set_random_seed(0)
    b = load_data("digits", input_shape=(16, 16, 1), test_split=0.2, batch_size=32)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(b.train, epochs=6, verbose=0)
    _, accuracy = model.evaluate(b.test, verbose=0)
    assert accuracy > 0.9


# --------------------------------------------------------------------------------------------
# stratified_split
# --------------------------------------------------------------------------------------------


def test_stratified_split_partitions_and_rounds_up():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])
    rest, val, test = stratified_split(labels, [0.1, 0.2], seed=7)
    together = np.concatenate([rest, val, test])
    assert sorted(together.tolist()) == list(range(100))  # a partition
    assert len(val) == 10 and len(test) == 20
    assert np.array_equal(np.bincount(labels[test], minlength=4), [10, 6, 3, 1])
    again = stratified_split(labels, [0.1, 0.2], seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(again, [rest, val, test]))


def test_stratified_split_keeps_every_class_in_training():
    labels = np.array([0] * 20 + [1] * 2)
    rest, test = stratified_split(labels, [0.5], seed=0)
    assert set(labels[rest]) == {0, 1} and len(test) == 11


# --------------------------------------------------------------------------------------------
# arrays
# --------------------------------------------------------------------------------------------


def test_arrays_grayscale_and_rgb():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 10, 12), dtype=np.uint8)
    y = np.arange(60) % 3
    b = load_data((x, y), input_shape=(16, 16, 1), batch_size=8, val_split=0.2, test_split=0.2)
    assert b.sizes == {"train": 36, "val": 12, "test": 12}
    assert b.class_names == ["0", "1", "2"]
    xb, yb = next(iter(b.test))
    assert xb.shape == (8, 16, 16, 1)
    rgb = load_data((np.repeat(x[..., None], 3, -1), y), input_shape=(10, 12, 3), test_split=0.0)
    assert rgb.test is None and rgb.sizes["test"] == 0
    vx, _ = collect(rgb.val)
    assert vx.shape[1:] == (10, 12, 3)
    # Same size in and out: the pixels come through exactly, scaled to 0..1.
    assert np.allclose(vx * 255, np.rint(vx * 255), atol=1e-3)


def test_arrays_input_shape_none_keeps_native_size():
    x = np.zeros((20, 9, 7, 3), np.uint8)
    y = np.arange(20) % 2
    assert load_data((x, y)).input_shape == (9, 7, 3)


def test_arrays_string_labels_become_sorted_class_names():
    x = np.zeros((12, 8, 8), np.uint8)
    y = np.array(["dog", "cat", "emu"] * 4)
    b = load_data((x, y), input_shape=(8, 8, 1), val_split=0.0, test_split=0.0)
    assert b.class_names == ["cat", "dog", "emu"]
    _, labels = collect(b.train)
    assert sorted(np.bincount(labels).tolist()) == [4, 4, 4]


@pytest.mark.parametrize(
    "x, y, shape, message",
    [
        (np.zeros((10, 8, 8), np.uint8), np.zeros(9, int), (8, 8, 1), "y has shape"),
        (np.zeros((10, 8, 8, 2), np.uint8), np.arange(10) % 2, (8, 8, 1), "c in 1, 3, 4"),
        (np.full((10, 8, 8), 0.5), np.arange(10) % 2, (8, 8, 1), "already scaled"),
        (np.full((10, 8, 8), 300.0), np.arange(10) % 2, (8, 8, 1), "0..255"),
        (np.zeros((10, 8, 8, 3), np.uint8), np.arange(10) % 2, (8, 8, 4), "cannot be converted"),
        (np.zeros((10, 8, 8), np.uint8), np.arange(10) % 2, (8, 8, 2), "2 channels"),
        (np.zeros((10, 8, 8), np.uint8), np.zeros(10, int), (8, 8, 1), "single class"),
        (np.zeros((10, 8, 8), np.uint8), np.eye(10)[np.arange(10) % 2], (8, 8, 1), "one-hot"),
    ],
)
def test_arrays_bad_input_gives_one_line(x, y, shape, message):
    with pytest.raises(UsageError) as info:
        load_data((x, y), input_shape=shape)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val_split": 0.6, "test_split": 0.5}, "leaves no training data"),
        ({"test_split": -0.1}, "test_split must be in [0, 1)"),
        ({"batch_size": 0}, "batch_size"),
        ({"cache": "sometimes"}, "cache must be"),
        ({"input_shape": (32, 32)}, "is not (height, width, channels)"),
        ({"augment": "standart"}, "did you mean 'standard'"),
    ],
)
def test_bad_options_give_one_line(kwargs, message):
    kwargs = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(UsageError, match=None) as info:
        load_data("digits", **kwargs)
    assert message in str(info.value)


def test_unknown_spec_suggests():
    with pytest.raises(UsageError, match="did you mean 'digits'"):
        load_data("digit", input_shape=(8, 8, 1))


# --------------------------------------------------------------------------------------------
# cache modes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", [True, False, "auto"])
def test_cache_modes_give_identical_data(cache):
    b = load_data("digits", input_shape=(8, 8, 1), cache=cache, seed=2)
    reference = load_data("digits", input_shape=(8, 8, 1), cache=False, seed=2)
    assert digest(collect(b.test)[0]) == digest(collect(reference.test)[0])
    assert digest(collect(b.train)[1]) == digest(collect(reference.train)[1])


# --------------------------------------------------------------------------------------------
# image folders
# --------------------------------------------------------------------------------------------


@pytest.fixture
def image_folder(tmp_path):
    root = tmp_path / "shapes"
    count = make_folder(root, per_format=2)
    return root, count


def test_folder_all_formats_and_modes(image_folder):
    root, count = image_folder
    b = load_data(root, input_shape=(16, 16, 3), batch_size=4, val_split=0.2, test_split=0.2)
    assert b.class_names == ["blue", "green", "red"] and b.num_classes == 3
    assert sum(b.sizes.values()) == count == 54
    assert b.sizes["test"] == 11 and b.sizes["val"] == 11
    x, y = collect(b.train)
    assert x.shape == (32, 16, 16, 3) and set(y.tolist()) == {0, 1, 2}
    # Every image is a solid colour: the decoded mean colour must match its class label.
    # (L-mode images hold the gray of the class colour, so compare colour images only.)
    for split in (b.train, b.val, b.test):
        xs, ys = collect(split)
        for image, label in zip(xs, ys):
            mean = image.reshape(-1, 3).mean(axis=0)
            if np.ptp(mean) > 0.2:  # a coloured (not gray) image
                assert int(np.argmax(mean)) == {0: 2, 1: 1, 2: 0}[int(label)], (mean, label)


def test_folder_grayscale_model_and_native_size(tmp_path):
    root = tmp_path / "gray"
    for name, value in (("dark", 30), ("light", 220)):
        for i in range(6):
            write_image(root / name / f"{i}.png", (value,) * 3, "L", size=(9, 7), noise_seed=i)
    b = load_data(root, input_shape=None, val_split=0.0, test_split=0.0, batch_size=12)
    assert b.input_shape == (7, 9, 1)
    x, y = collect(b.train)
    # Pixels come through unchanged (same size, gray in, gray out).
    for image, label in zip(x, y):
        assert abs(np.median(image) * 255 - (30, 220)[label]) < 1.5


def test_folder_with_train_val_test_subfolders(tmp_path):
    root = tmp_path / "split"
    layout = {"train": 5, "val": 2, "test": 3}
    for split, n in layout.items():
        for name, colour in CLASS_COLOURS.items():
            for i in range(n):
                write_image(root / split / name / f"{i}.png", colour, "RGB", noise_seed=i)
    b = load_data(root, input_shape=(8, 8, 3), batch_size=4)
    assert b.sizes == {"train": 15, "val": 6, "test": 9}
    assert b.class_names == sorted(CLASS_COLOURS)
    _, test_y = collect(b.test)
    assert np.bincount(test_y).tolist() == [3, 3, 3]


def test_folder_with_train_only_subfolder_carves_val_and_test(tmp_path):
    root = tmp_path / "trainonly"
    for name, colour in CLASS_COLOURS.items():
        for i in range(10):
            write_image(root / "train" / name / f"{i}.png", colour, "RGB", noise_seed=i)
    b = load_data(root, input_shape=(8, 8, 3), val_split=0.2, test_split=0.1)
    assert b.sizes == {"train": 21, "val": 6, "test": 3}
    assert b.class_names == sorted(CLASS_COLOURS)


def test_folder_split_is_deterministic(image_folder):
    root, _ = image_folder

    def labels(seed):
        b = load_data(root, input_shape=(8, 8, 3), seed=seed, val_split=0.2, test_split=0.2)
        return digest(collect(b.test)[0])

    assert labels(5) == labels(5)
    assert labels(5) != labels(6)


@pytest.mark.parametrize("cache", [True, False])
def test_folder_training_order_is_seeded_and_new_every_epoch(image_folder, cache):
    root, _ = image_folder

    def epochs(seed):
        b = load_data(
            root,
            input_shape=(8, 8, 3),
            seed=seed,
            cache=cache,
            batch_size=64,
            val_split=0.0,
            test_split=0.0,
        )
        return [digest(collect(b.train)[0]) for _ in range(2)]

    first = epochs(1)
    assert first == epochs(1) and first[0] != first[1]


def test_corrupt_image_fails_with_one_line_naming_it(image_folder):
    root, count = image_folder
    bad = root / "red" / "broken.png"
    good = (root / "red" / "0_0.png").read_bytes()
    bad.write_bytes(good[: len(good) // 2])  # a truncated download
    with pytest.raises(UsageError) as info:
        load_data(root, input_shape=(8, 8, 3))
    message = str(info.value)
    assert str(bad) in message and "skip-bad" in message and "\n" not in message
    b = load_data(root, input_shape=(8, 8, 3), skip_bad=True)
    assert b.skipped == [str(bad)]
    assert sum(b.sizes.values()) == count


def test_truncated_jpeg_and_garbage_are_caught(tmp_path):
    root = tmp_path / "bad"
    make_folder(root, per_format=1)
    jpeg = root / "blue" / "4_0.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:-40])
    garbage = root / "green" / "noise.gif"
    garbage.write_bytes(b"GIF89a" + bytes(range(50)))
    text = root / "green" / "notes.txt"  # not an image: ignored, not an error
    text.write_text("hello")
    b = load_data(root, input_shape=(8, 8, 1), skip_bad=True)
    assert sorted(b.skipped) == sorted([str(jpeg), str(garbage)])
    assert sum(b.sizes.values()) == 3 * len(FORMATS) - 1


def test_empty_folder_and_single_class_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="holds no images"):
        load_data(empty, input_shape=(8, 8, 3))
    (empty / "cats").mkdir()
    (empty / "cats" / "readme.txt").write_text("no images here")
    with pytest.raises(UsageError, match="holds no images"):
        load_data(empty, input_shape=(8, 8, 3))
    single = tmp_path / "single"
    write_image(single / "cat" / "a.png", (1, 2, 3), "RGB")
    with pytest.raises(UsageError, match="single class 'cat'"):
        load_data(single, input_shape=(8, 8, 3))
    with pytest.raises(UsageError, match="does not exist"):
        load_data(str(tmp_path / "missing" / "folder"), input_shape=(8, 8, 3))


# --------------------------------------------------------------------------------------------
# TFDS (offline only)
# --------------------------------------------------------------------------------------------


def test_tfds_mock_data_offline(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        b = load_data(
            "tfds:mnist", input_shape=(32, 32, 1), data_dir=tmp_path, batch_size=8, seed=1
        )
        assert b.spec == "tfds:mnist" and b.num_classes == 10
        assert b.class_names == [str(i) for i in range(10)]
        x, y = next(iter(b.train))
        assert x.shape == (8, 32, 32, 1) and y.dtype.name == "int32"
        assert set(b.sizes) == {"train", "val", "test"} and b.sizes["train"] == 24
        tx, ty = collect(b.test)
        assert tx.shape == (24, 32, 32, 1) and 0 <= ty.min() and ty.max() < 10

        custom = load_data(
            "tfds:mnist",
            input_shape=(16, 16, 3),
            data_dir=tmp_path,
            split={"train": "train[:90%]", "test": "test"},
        )
        assert custom.val is None and custom.sizes["val"] == 0
        assert next(iter(custom.test))[0].shape[1:] == (16, 16, 3)


def test_tfds_not_prepared_says_how_to_prepare(tmp_path):
    with pytest.raises(UsageError) as info:
        load_data("tfds:mnist", input_shape=(28, 28, 1), data_dir=tmp_path)
    message = str(info.value)
    assert "not prepared" in message and f"tfds build mnist --data_dir {tmp_path}" in message
    assert "\n" not in message


def test_tfds_unknown_name_suggests_without_network(tmp_path):
    with pytest.raises(UsageError, match="did you mean 'mnist'"):
        load_data("tfds:mnits", input_shape=(28, 28, 1), data_dir=tmp_path)


def test_tfds_default_split_plan():
    from kerascnn.data.sources.tfds import default_splits

    assert default_splits({"train": 1, "test": 1}, 0.1, 0.1) == {
        "train": "train[:90%]",
        "val": "train[90%:100%]",
        "test": "test",
    }
    assert default_splits({"train": 1, "validation": 1, "test": 1}, 0.1, 0.1) == {
        "train": "train",
        "val": "validation",
        "test": "test",
    }
    assert default_splits({"train": 1}, 0.1, 0.2) == {
        "train": "train[:70%]",
        "val": "train[70%:80%]",
        "test": "train[-20%:]",
    }


# --------------------------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(AUGMENT_PRESETS))
@pytest.mark.parametrize("shape", [(32, 32, 1), (24, 20, 3)])
def test_augmentation_presets_preserve_shape_and_range(preset, shape):
    import keras

    layers = augmentation_layers(preset, shape, seed=0)
    batch = np.random.default_rng(0).random((4, *shape)).astype("float32")
    out = keras.Sequential(layers)(batch, training=True) if layers else batch
    out = np.asarray(out)
    assert out.shape == batch.shape
    assert out.min() >= -1e-4 and out.max() <= 1 + 1e-4


def test_digits_preset_never_flips_and_light_does():
    names = lambda preset: [type(layer).__name__ for layer in augmentation_layers(preset)]  # noqa: E731
    assert "RandomFlip" not in names("digits")
    assert names("light") == ["RandomFlip", "RandomTranslation"]  # flip + pad-and-crop
    assert {"RandomRotation", "RandomZoom", "RandomContrast"} <= set(names("standard"))
    assert names("none") == []


@pytest.mark.parametrize("name", ["flip", "crop", "translate", "rotate", "zoom", "contrast"])
def test_augmentation_is_per_image_and_new_every_epoch(name):
    """One image repeated: the augmented batch must hold different versions of it."""
    image = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    x, y = np.repeat(image[None], 32, axis=0), np.arange(32) % 2

    def augmented():
        return load_data(
            (x, y),
            input_shape=(16, 16, 1),
            augment=[name],
            val_split=0,
            test_split=0,
            batch_size=32,
            seed=0,
        ).train

    train = augmented()
    first, second = (next(iter(train))[0].numpy() for _ in range(2))
    assert len({im.tobytes() for im in first}) >= 2  # not one transform for the whole batch
    assert not np.allclose(first, second)
    assert np.allclose(next(iter(augmented()))[0].numpy(), first)  # seeded


def test_batches_stay_float32_under_mixed_precision():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        b = load_data("digits", input_shape=(16, 16, 1), augment="standard")
        x, _ = next(iter(b.train))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert x.dtype.name == "float32"


def test_augment_accepts_layer_names_and_changes_training_batches_only():
    plain = load_data("digits", input_shape=(16, 16, 1), seed=0)
    augmented = load_data("digits", input_shape=(16, 16, 1), seed=0, augment="translate,zoom")
    assert augmented.augment == ["translate", "zoom"]
    x_plain, y_plain = next(iter(plain.train))
    x_aug, y_aug = next(iter(augmented.train))
    assert np.array_equal(y_plain, y_aug)  # same shuffle
    assert x_aug.shape == x_plain.shape and not np.allclose(x_aug, x_plain)
    assert np.array_equal(collect(plain.test)[0], collect(augmented.test)[0])
    listed = load_data("digits", input_shape=(16, 16, 1), augment=["rotate", "brightness"])
    assert listed.augment == ["rotate", "brightness"]
    with pytest.raises(UsageError, match="did you mean 'rotate'"):
        load_data("digits", input_shape=(16, 16, 1), augment=["rotat"])


# --------------------------------------------------------------------------------------------
# inspect (API and CLI)
# --------------------------------------------------------------------------------------------


def test_inspect_digits_report(tmp_path):
    report = inspect_data("digits", out=tmp_path, samples_per_class=4)
    assert report.total == 1797 and sum(report.counts["all"].values()) == 1797
    assert report.counts["all"]["0"] == 178
    assert report.sizes == {"8x8": 1797} and report.modes == {"L": 1797}
    with Image.open(report.grid) as grid:
        from kerascnn.data.inspect import grid_pixel_size

        assert grid.size == grid_pixel_size(10, 4)


def test_inspect_arrays_finds_duplicates(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 6, 6), dtype=np.uint8)
    x[7] = x[2]
    y = np.arange(10) % 2
    report = inspect_data((x, y), out=None)
    assert report.duplicates == [["0/#2", "1/#7"]] and report.grid is None


def test_inspect_tfds_offline(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        report = inspect_data("tfds:mnist", data_dir=tmp_path, out=tmp_path, samples_per_class=2)
    assert report.kind == "tfds" and report.class_names == [str(i) for i in range(10)]
    assert report.total == sum(sum(c.values()) for c in report.counts.values())
    assert report.sizes == {"28x28": report.total} and report.modes == {"L": report.total}
    with Image.open(report.grid) as grid:
        assert grid.format == "PNG"


def test_cli_data_inspect_folder(cli, tmp_path):
    root = tmp_path / "photos"
    make_folder(root, per_format=1)
    bad = root / "green" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    dup = root / "red" / "copy.png"
    dup.write_bytes((root / "red" / "0_0.png").read_bytes())
    out = tmp_path / "report"
    proc = cli("data", "inspect", root, "--out", out, "--samples", "5")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "3 classes" in text
    # per-class table: red has its 9 formats plus the copy
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    assert rows["blue"] == ["9"] and rows["red"] == ["10"] and rows["green"] == ["9"]
    assert "Corrupt files: 1" in text and str(bad) in text
    assert "Duplicate files: 1 in 1 groups" in text and "red/0_0.png = red/copy.png" in text
    assert "Formats:" in text and "GIF" in text and "BMP" in text
    grid_line = [line for line in text.splitlines() if line.startswith("Sample grid: ")][0]
    grid_path = grid_line.removeprefix("Sample grid: ")
    from kerascnn.data.inspect import grid_pixel_size

    with Image.open(grid_path) as grid:
        assert grid.format == "PNG" and grid.size == grid_pixel_size(3, 5)
        assert Path(grid_path).parent == out and Path(grid_path).name == "photos_samples.png"
        # Not blank: the solid class colours are drawn.
        colours = np.asarray(grid.convert("RGB")).reshape(-1, 3)
        assert (colours == [255, 0, 0]).all(axis=1).sum() > 100

    as_json = cli("data", "inspect", root, "--out", out, "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["class_names"] == ["blue", "green", "red"]
    assert report["counts"]["train"]["red"] == 10
    assert report["corrupt"][0]["path"] == str(bad)


def test_cli_data_inspect_bad_specs_exit_2(cli, tmp_path):
    missing = cli("data", "inspect", tmp_path / "nowhere")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    single = tmp_path / "one"
    write_image(single / "only" / "a.png", (0, 0, 0), "RGB")
    proc = cli("data", "inspect", single)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "single class 'only'" in errors[0]
    # Folder inspection never needs TensorFlow, so its errors come without TF's start-up noise.
    assert proc.stderr.strip() == errors[0]
