"""Helpers for the export/client tests: a tiny trained-looking Keras model and real image files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

CLASS_NAMES = ["circle", "square", "triangle"]
INPUT_SHAPE = (16, 16, 3)


def tiny_model(input_shape=INPUT_SHAPE, num_classes=len(CLASS_NAMES), seed=0, name="tiny"):
    """A small conv net with deterministic, non-trivial weights (softmax output)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(6, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs, name=name)
    # Scale weights up so the probabilities are far from uniform and differ per image.
    for layer in model.layers:
        if layer.weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel * 3.0, bias])
    return model


def save_tiny_model(directory: Path, *, seed=0, input_shape=INPUT_SHAPE, name="tiny") -> Path:
    """Save ``tiny.keras`` with a sibling ``labels.txt``; returns the ``.keras`` path."""
    directory.mkdir(parents=True, exist_ok=True)
    model = tiny_model(input_shape, seed=seed, name=name)
    path = directory / f"{name}.keras"
    model.save(path)
    (directory / "labels.txt").write_text("\n".join(CLASS_NAMES) + "\n")
    return path


def random_pixels(height, width, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def encode(pixels, fmt="PNG", mode=None, **save_kwargs) -> bytes:
    """Encode a uint8 array with Pillow (``mode`` converts first, e.g. "L", "RGBA", "P")."""
    from PIL import Image

    array = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels
    image = Image.fromarray(array)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def keras_reference(model, images_uint8) -> np.ndarray:
    """What the Keras model says about decoded pixels, through the training preprocess()."""
    from kerascnn.preprocessing import preprocess

    batch = preprocess(np.stack(images_uint8), model.input_shape[1:])
    return np.asarray(model(batch, training=False))


def run_python(code: str, *args, timeout=300) -> dict:
    """Run ``code`` in a fresh interpreter; it must print one JSON line last. Returns it."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise AssertionError(f"fresh process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
