"""Helpers for the training tests: tiny data, tiny models, PNG folders, and trainer
subprocesses that are killed or interrupted mid-run.

Example:
    with kill_9_after("train", "--epochs", "200", "--project", runs, "--name", "crash") as trainer:
        wait_for_epoch(runs / "crash", 1, trainer)
    # here the trainer died as in a real crash, after at least one completed epoch
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
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


def completed_epochs(run_dir) -> int:
    """The last completed epoch a run's resume.json records; 0 while there is none yet (or
    while the file is being replaced)."""
    try:
        return int(json.loads((Path(run_dir) / "resume.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def wait_for(ready, proc, what: str, *, timeout: float = 240, every: float = 0.05) -> None:
    """Poll ``ready()`` until it is true, while the trainer ``proc`` runs.

    Fails with the trainer's output when it exits first (its stderr when piped on its own,
    else its stdout), and naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            output = proc.stderr if proc.stderr is not None else proc.stdout
            raise AssertionError(f"trainer exited early:\n{output.read()}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_epoch(run_dir, epoch: int, proc, *, timeout: float = 240) -> None:
    """Return once ``run_dir/resume.json`` shows ``epoch`` completed; fail as :func:`wait_for`."""
    wait_for(lambda: completed_epochs(run_dir) >= epoch, proc, f"epoch {epoch} of {run_dir}",
             timeout=timeout)


@contextmanager
def kill_9_after(*args):
    """Run ``python -m kerascnn ARGS`` (stdout and stderr together in ``proc.stdout``) and
    SIGKILL it, by its PID, when the block ends: a real crash (or the OOM killer), where no
    cleanup runs."""
    proc = subprocess.Popen([sys.executable, "-m", "kerascnn", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
