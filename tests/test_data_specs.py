"""Data specs a new user gets wrong, and what they are told: a mistyped folder names the folder
(never a built-in dataset), a TFDS name without its prefix suggests ``tfds:NAME``; what
``--skip-bad`` skipped is counted and listed; every image Pillow reads trains (WebP, TIFF...)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kerascnn.data import inspect_data, load_data
from kerascnn.data.sources import resolve
from kerascnn.errors import UsageError


def write_class_folder(root, classes=("cat", "dog"), per_class=3, suffix="png", size=(10, 8)):
    """root/<class>/<i>.<suffix>, a solid colour per class (different per file)."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            pixels = np.full((size[1], size[0], 3), 40 + 100 * c, np.uint8)
            pixels[0, 0] = i
            path = root / name / f"{i}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
    return root


# --------------------------------------------------------------------------------------------
# item 3: a mistyped folder, a TFDS name without its prefix
# --------------------------------------------------------------------------------------------


def error_of(spec) -> str:
    with pytest.raises(UsageError) as info:
        resolve(spec)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_typo_of_a_folder_in_the_working_directory_names_the_folder(tmp_path, monkeypatch):
    write_class_folder(tmp_path / "mydigits")
    monkeypatch.chdir(tmp_path)
    message = error_of("mydigts")
    assert "data folder 'mydigts' does not exist" in message
    assert "did you mean 'mydigits'?" in message
    assert "'digits'" not in message  # never steer a folder typo to the built-in dataset


@pytest.mark.parametrize(
    "spec, suggestion",
    [
        ("./mydigts", "./mydigits"),
        ("data/mydigts/", "data/mydigits/"),
        ("./data/mydigts/", "./data/mydigits/"),
    ],
)
def test_path_like_spec_names_the_missing_folder_and_a_near_one(
    tmp_path, monkeypatch, spec, suggestion
):
    write_class_folder(tmp_path / "mydigits")
    write_class_folder(tmp_path / "data" / "mydigits")
    monkeypatch.chdir(tmp_path)
    message = error_of(spec)
    assert f"data folder {spec!r} does not exist" in message
    assert f"did you mean {suggestion!r}?" in message


@pytest.mark.parametrize("spec", ["digits/", "./digit", "~/no_such_kerascnn_folder", "a/b/c"])
def test_path_like_spec_without_a_near_folder_never_suggests_digits(tmp_path, monkeypatch, spec):
    monkeypatch.chdir(tmp_path)
    message = error_of(spec)
    assert f"data folder {spec!r} does not exist" in message
    assert "did you mean" not in message


@pytest.mark.parametrize(
    "spec, suggestion",
    [("mnist", "tfds:mnist"), ("cifar10", "tfds:cifar10"), ("fashion_mnist", "tfds:fashion_mnist"),
     ("mnsit", "tfds:mnist"), ("Cifar100", "tfds:cifar100"), ("digit", "digits")],
)
def test_bare_name_suggests_the_dataset_it_is_near(tmp_path, monkeypatch, spec, suggestion):
    monkeypatch.chdir(tmp_path)
    message = error_of(spec)
    assert message == f"unknown dataset {spec!r} (did you mean {suggestion!r}?)"


def test_unrelated_bare_name_lists_the_kinds_of_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = error_of("zzqx")
    assert message.startswith("unknown dataset 'zzqx'; choose from:")
    assert "digits" in message and "tfds:NAME" in message and "a folder path" in message


def test_well_known_tfds_names_are_real_tfds_datasets():
    """The TF-free list the error suggests from names only datasets TFDS really has."""
    import tensorflow_datasets as tfds

    from kerascnn.data.sources.tfds import WELL_KNOWN_TFDS

    assert set(WELL_KNOWN_TFDS) <= set(tfds.list_builders(with_community_datasets=False))


def test_cli_folder_typo_and_tfds_name_one_line_without_tensorflow(cli, tmp_path):
    write_class_folder(tmp_path / "mydigits")
    typo = cli("data", "inspect", "mydigts", cwd=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr.strip() == (
        "Error: data folder 'mydigts' does not exist (did you mean 'mydigits'?)"
    )
    bare = cli("data", "inspect", "mnist", cwd=tmp_path)
    assert bare.returncode == 2
    # The suggestion comes without importing TensorFlow (Datasets): no start-up noise.
    assert bare.stderr.strip() == "Error: unknown dataset 'mnist' (did you mean 'tfds:mnist'?)"
    train = cli("train", "--data", "mydigts", "--epochs", "1", cwd=tmp_path)
    assert train.returncode == 2
    errors = [line for line in train.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: data folder 'mydigts' does not exist (did you mean 'mydigits'?)"]
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------------------------
# item 10: every image Pillow reads trains, not only what TensorFlow decodes in a graph
# --------------------------------------------------------------------------------------------


def collect(ds):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(xs), np.concatenate(ys)


# Per class: a solid colour and the formats its images come in. "tiff" holds only formats
# TensorFlow cannot decode in a graph, so before the fix the class vanished without a word.
POLYGLOT = {
    "png": ((255, 0, 0), ["png", "jpg"]),
    "webp": ((0, 255, 0), ["webp", "webp"]),
    "tiff": ((0, 0, 255), ["tif", "tiff", "ppm"]),
}


def write_polyglot_folder(root):
    count = 0
    for name, (colour, suffixes) in POLYGLOT.items():
        for i, suffix in enumerate(suffixes):
            pixels = np.empty((10, 12, 3), np.uint8)
            pixels[:] = colour
            pixels[0, 0] = (i, i, i)  # distinct files
            path = root / name / f"{i}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            options = {"lossless": True} if suffix == "webp" else {}
            Image.fromarray(pixels).save(path, **options)
            count += 1
    return count


@pytest.mark.parametrize("cache", [True, False])
def test_webp_tiff_and_ppm_images_train_with_their_pixels(tmp_path, cache):
    root = tmp_path / "photos"
    count = write_polyglot_folder(root)
    bundle = load_data(
        root, input_shape=(10, 12, 3), val_split=0.0, test_split=0.0, cache=cache, seed=1
    )
    assert bundle.class_names == sorted(POLYGLOT) and bundle.skipped == []
    assert bundle.sizes["train"] == count
    x, y = collect(bundle.train)
    assert x.shape == (count, 10, 12, 3)
    for index, name in enumerate(bundle.class_names):
        colour = np.array(POLYGLOT[name][0]) / 255.0
        centre = x[y == index][:, 5, 6, :]  # away from the marked corner pixel
        assert len(centre) == len(POLYGLOT[name][1])
        np.testing.assert_allclose(centre, np.broadcast_to(colour, centre.shape), atol=0.02)


def test_sixteen_bit_tiff_trains_as_gray_like_predict_reads_it(tmp_path):
    root = tmp_path / "scans"
    ramp = (np.arange(64, dtype=np.uint32).reshape(8, 8) * 1000).astype(np.uint16)
    for name, image in (("ramp", ramp), ("flat", np.full((8, 8), 30000, np.uint16))):
        (root / name).mkdir(parents=True)
        Image.fromarray(image).save(root / name / "a.tif")
        Image.fromarray(image).save(root / name / "b.tiff")
    bundle = load_data(root, val_split=0.0, test_split=0.0, cache=False)
    assert bundle.input_shape == (8, 8, 1)  # 16-bit gray is gray
    x, y = collect(bundle.train)
    ramp_index = bundle.class_names.index("ramp")
    # The high byte, as kerascnn.images.load_image (predict's reader) keeps it.
    expected = (ramp.astype(np.uint32) >> 8).astype(np.float32) / 255.0
    for image in x[y == ramp_index]:
        np.testing.assert_allclose(image[..., 0], expected, atol=1e-3)


def test_inspect_counts_webp_and_tiff_images(tmp_path):
    root = tmp_path / "photos"
    count = write_polyglot_folder(root)
    report = inspect_data(root, out=None)
    assert report.total == count and report.ignored == []
    assert {"WEBP", "TIFF", "PPM"} <= set(report.formats)


# --------------------------------------------------------------------------------------------
# item 4: --skip-bad says how many files it skipped and lists them in the run folder
# --------------------------------------------------------------------------------------------


def break_two_files(root):
    """A truncated PNG and a text file named .jpg; returns {path: part of its reason}."""
    truncated = root / "cat" / "0.png"
    truncated.write_bytes(truncated.read_bytes()[:40])
    not_an_image = root / "dog" / "notes.jpg"
    not_an_image.write_text("not a picture")
    return {str(truncated): "", str(not_an_image): "not a readable image"}


def test_load_data_gives_each_skipped_file_with_its_reason(tmp_path):
    root = write_class_folder(tmp_path / "pets", per_class=4)
    broken = break_two_files(root)
    bundle = load_data(root, input_shape=(8, 8, 3), skip_bad=True, val_split=0.0, test_split=0.0)
    assert sorted(bundle.skipped) == sorted(broken)
    assert set(bundle.skip_reasons) == set(broken)
    for path, reason in broken.items():
        assert reason in bundle.skip_reasons[path] and bundle.skip_reasons[path]
    assert bundle.sizes["train"] == 7  # 8 written, 1 truncated (notes.jpg is extra)
    lines = bundle.skipped_report().splitlines()
    assert len(lines) == 2
    for line in lines:
        path, reason = line.split("\t")
        assert path in broken and reason == bundle.skip_reasons[path]
    assert bundle.skipped_summary() == "Skipped 2 unreadable images (--skip-bad)"


def test_cli_train_skip_bad_counts_and_lists_what_it_skipped(cli, tmp_path):
    root = write_class_folder(tmp_path / "pets", per_class=4)
    broken = break_two_files(root)
    project = tmp_path / "runs"
    proc = cli("train", "--model", "lenet5", "--data", root, "--input-shape", "32,32,3",
               "--epochs", "1", "--batch-size", "4", "--val-split", "0", "--test-split", "0",
               "--skip-bad", "--project", project, "--name", "pets")
    assert proc.returncode == 0, proc.stderr
    listing = project / "pets" / "skipped_files.txt"
    said = [line for line in proc.stdout.splitlines() if line.startswith("Skipped ")]
    assert said == [f"Skipped 2 unreadable images (--skip-bad), listed in {listing}"]
    rows = [line.split("\t") for line in listing.read_text().splitlines()]
    assert sorted(path for path, _ in rows) == sorted(broken)
    assert all(reason for _, reason in rows)


def test_cli_train_without_skipped_files_writes_no_listing(cli, tmp_path):
    root = write_class_folder(tmp_path / "pets", per_class=4)
    project = tmp_path / "runs"
    proc = cli("train", "--model", "lenet5", "--data", root, "--input-shape", "32,32,3",
               "--epochs", "1", "--batch-size", "4", "--val-split", "0", "--test-split", "0",
               "--skip-bad", "--project", project, "--name", "pets")
    assert proc.returncode == 0, proc.stderr
    assert "Skipped" not in proc.stdout
    assert not (project / "pets" / "skipped_files.txt").exists()
