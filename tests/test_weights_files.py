"""Local weights files: which layout a file is, and reading state dicts without PyTorch."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from kerascnn.errors import UsageError
from kerascnn.weights.files import detect_layout, is_hdf5, looks_like_path, read_state


def _state():
    rng = np.random.default_rng(0)
    return {
        "conv1.weight": rng.normal(size=(8, 3, 7, 7)).astype("float32"),
        "bn1.running_var": rng.uniform(0.5, 1.5, 8).astype("float32"),
        "fc.bias": np.zeros(10, "float32"),
    }


def test_safetensors_read_without_torch(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save_file(_state(), str(path))
    monkeypatch.setitem(sys.modules, "torch", None)  # reading must not need PyTorch
    state = read_state(path)
    assert sorted(state) == sorted(_state())
    for key, value in _state().items():
        np.testing.assert_array_equal(state[key], value)
    assert detect_layout(path) == "torchvision"


def test_a_damaged_safetensors_file_fails_in_one_line(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(_state(), str(path))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UsageError, match="cannot read safetensors file") as error:
        read_state(path)
    assert "\n" not in str(error.value)


def test_pth_files_need_pytorch_and_say_so(tmp_path, monkeypatch):
    path = tmp_path / "resnet18-f37072fd.pth"
    path.write_bytes(b"PK\x03\x04 not really")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UsageError, match="PyTorch is not installed; install torch, or use the .safetensors"):
        read_state(path)


def test_pth_state_dicts_and_checkpoints_read_with_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    state = {key: torch.from_numpy(value) for key, value in _state().items()}
    torch.save(state, tmp_path / "plain.pth")
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "checkpoint.pt")
    for name in ("plain.pth", "checkpoint.pt"):
        read = read_state(tmp_path / name)
        assert sorted(read) == sorted(_state())
        np.testing.assert_array_equal(read["conv1.weight"], _state()["conv1.weight"])


def test_layout_by_content_then_by_name(tmp_path):
    import h5py

    disguised = tmp_path / "weights.bin"  # HDF5 inside, a torch-like name outside
    with h5py.File(disguised, "w") as handle:
        handle.attrs["layer_names"] = []
    assert is_hdf5(disguised) and detect_layout(disguised) == "keras"
    assert detect_layout("x.weights.h5") == "keras" and detect_layout("y.pth") == "torchvision"
    with pytest.raises(UsageError, match="cannot tell the layout of weights file notes.txt"):
        detect_layout(tmp_path / "notes.txt")


def test_paths_and_tags_are_told_apart(tmp_path):
    assert not looks_like_path("imagenet") and not looks_like_path("tv2_in1k")
    assert looks_like_path("model.safetensors") and looks_like_path("./w/vgg16.h5")
    here = tmp_path / "weights"
    here.write_bytes(b"")
    assert looks_like_path(str(here))
