"""Read a local weights file: which layout it is, and its tensors as NumPy arrays.

* ``.h5`` / ``.weights.h5`` (HDF5, recognised by its signature): the Keras layout, read by
  :mod:`kerascnn.weights.keras_layout`.
* ``.safetensors``: a state dict in torchvision/timm key names, read with ``safetensors.numpy``
  (no PyTorch needed).
* ``.pth`` / ``.pt`` / ``.bin``: a pickled PyTorch state dict, only when PyTorch is installed
  (read with ``weights_only=True``: tensors, no code).

Example:
    >>> from kerascnn.weights.files import detect_layout
    >>> detect_layout("resnet50.safetensors")
    'torchvision'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.errors import UsageError

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pth", ".pt", ".bin")
H5_SUFFIXES = (".h5", ".hdf5", ".keras_weights")
WEIGHT_SUFFIXES = H5_SUFFIXES + SAFETENSORS_SUFFIXES + TORCH_SUFFIXES


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path) -> bool:
    """Whether ``path`` is an HDF5 file (by its signature bytes, not its name).

    Example:
        >>> is_hdf5(__file__)
        False
    """
    with open(path, "rb") as handle:
        return handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def looks_like_path(weights: str) -> bool:
    """Whether a ``--weights`` value names a file rather than a tag ("imagenet", "tv_in1k").

    Example:
        >>> looks_like_path("imagenet"), looks_like_path("w/resnet50.safetensors")
        (False, True)
    """
    text = str(weights)
    return "/" in text or "\\" in text or text.lower().endswith(WEIGHT_SUFFIXES) or Path(text).is_file()


def detect_layout(path) -> str:
    """"keras" for an HDF5 file, "torchvision" for a safetensors or PyTorch state dict.

    An existing file is recognised by its first bytes (HDF5 signature); otherwise by suffix.

    Example:
        >>> detect_layout("vgg16_weights_tf_dim_ordering_tf_kernels.h5")
        'keras'
    """
    path = Path(path)
    if path.is_file() and is_hdf5(path):
        return "keras"
    name = path.name.lower()
    if name.endswith(H5_SUFFIXES):
        return "keras"
    if name.endswith(SAFETENSORS_SUFFIXES + TORCH_SUFFIXES):
        return "torchvision"
    raise UsageError(
        f"cannot tell the layout of weights file {path.name}: expected .h5 / .weights.h5 "
        "(Keras), .safetensors or .pth (torchvision / timm key names)"
    )


def read_state(path) -> dict[str, np.ndarray]:
    """A torchvision/timm-layout file's tensors: ``{key: float32 array}`` in file order.

    Example:
        >>> state = read_state("resnet50.tv_in1k.safetensors")  # doctest: +SKIP
        >>> state["conv1.weight"].shape  # doctest: +SKIP
        (64, 3, 7, 7)
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights file {path} does not exist")
    name = path.name.lower()
    if name.endswith(SAFETENSORS_SUFFIXES):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as error:
            raise UsageError(f"cannot read safetensors file {path}: {error}") from None
    if name.endswith(TORCH_SUFFIXES):
        return _read_torch(path)
    raise UsageError(
        f"{path.name} is not a state-dict file (.safetensors, or .pth / .pt with PyTorch installed)"
    )


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise UsageError(
            f"{path.name} is a PyTorch file and PyTorch is not installed; install torch, or "
            "use the .safetensors form of the same weights"
        ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a bad or foreign pickle
        raise UsageError(f"cannot read PyTorch file {path}: {str(error).splitlines()[0]}") from None
    # Training checkpoints wrap the state dict.
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UsageError(f"{path.name} holds a {type(state).__name__}, not a state dict")
    return {
        str(key): value.detach().cpu().numpy()
        for key, value in state.items()
        if hasattr(value, "detach")
    }
