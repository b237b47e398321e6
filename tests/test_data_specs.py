"""Data specs a new user gets wrong, and what they are told: a mistyped folder names the folder
(never a built-in dataset), a TFDS name without its prefix suggests ``tfds:NAME``; what
``--skip-bad`` skipped is counted and listed; every image Pillow reads trains (WebP, TIFF...)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

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
