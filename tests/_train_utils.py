"""Helpers for the training tests: tiny data, tiny models, PNG folders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def digits_arrays():
    """scikit-learn's digits as raw 0-255 uint8 ``[N, 8, 8]`` and int labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images * 16).clip(0, 255).astype("uint8"), digits.target.astype("int64")


def tiny_model(input_shape=(8, 8, 1), num_classes=10, name="tiny"):
    """A 2-layer CNN that trains in well under a second per epoch on digits."""
    import keras

    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=name)


def write_png_folder(root, classes=("circle", "square", "cross"), per_class=12, size=20, mode="RGB"):
    """Draw simple distinguishable shapes into ``root/<class>/<i>.png`` with Pillow."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    root = Path(root)
    for index, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = Image.new(mode, (size, size), "black" if mode != "L" else 0)
            draw = ImageDraw.Draw(image)
            o = int(rng.integers(1, 5))
            box = (o, o, size - o - 1, size - o - 1)
            color = "white" if mode != "L" else 255
            if index % 3 == 0:
                draw.ellipse(box, outline=color, width=2)
            elif index % 3 == 1:
                draw.rectangle(box, outline=color, width=2)
            else:
                draw.line(box, fill=color, width=2)
                draw.line((box[0], box[3], box[2], box[1]), fill=color, width=2)
            image.save(folder / f"{i}.png")
    return root


def history_epochs(run_dir) -> list[int]:
    """The epoch column of a run's history.csv."""
    with open(Path(run_dir) / "history.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]
