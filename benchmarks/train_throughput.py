"""Training throughput: kerascnn's input pipeline vs plain Keras vs in-memory tensors.

One PNG folder (generated in a temporary directory), one model (LeNet-5 on 32x32 RGB, the
same initial weights for every variant), the same batch size and optimizer; images/s in
epoch 1 and in epochs >= 2 for:

* ``plain Keras``: ``keras.utils.image_dataset_from_directory`` + ``model.fit`` (no cache, no
  tuning: what a tutorial writes; pixels scaled by 1/255 like kerascnn's preprocessing);
* ``kerascnn load_data + fit``: ``kerascnn.data.load_data(folder)`` feeding ``model.fit``;
* ``kerascnn train()``: the whole training path (``kerascnn.train.train``), run folder,
  checkpoints and history included; its epoch times come from ``history.csv``;
* ``in-memory``: all images decoded beforehand into one float32 array given to ``fit`` —
  the "infinitely fast input" limit.

Variants run interleaved (one round = each variant once); the best round (and, for epochs
>= 2, the fastest epoch) is reported, medians are in the JSON: neighbours' load on a shared
machine only ever slows a run, so the best figure is the closest to the code's own speed.

    python benchmarks/train_throughput.py            # 4096 images, 5 epochs, 3 rounds
    python benchmarks/train_throughput.py --smoke    # tiny (CI)

Writes benchmarks/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    machine_info,
    machine_line,
    make_image_folder,
    print_targets,
    table,
    target,
    write_result,
)

SIZE = 32
INPUT_SHAPE = (SIZE, SIZE, 3)


class EpochTimer:
    """A Keras callback recording wall seconds per epoch (built lazily: keras is imported late)."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def fresh_model(weights, classes):
    import keras

    import kerascnn

    keras.utils.set_random_seed(0)
    model = kerascnn.build("lenet5", input_shape=INPUT_SHAPE, num_classes=classes)
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def run_plain_keras(folder, n, classes, weights, epochs, batch):
    import keras

    start = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(
        folder, image_size=(SIZE, SIZE), batch_size=batch, label_mode="int", shuffle=True,
        seed=0, verbose=False,
    ).map(lambda x, y: (x / 255.0, y))
    setup = time.perf_counter() - start
    model, timer = fresh_model(weights, classes), EpochTimer()
    model.fit(ds, epochs=epochs, callbacks=[timer], verbose=0)
    return setup, timer.seconds, n


def run_kerascnn_fit(folder, n, classes, weights, epochs, batch):
    from kerascnn.data import load_data

    start = time.perf_counter()
    bundle = load_data(str(folder), input_shape=INPUT_SHAPE, batch_size=batch, val_split=0.0,
                       test_split=0.0, seed=0)
    setup = time.perf_counter() - start
    model, timer = fresh_model(weights, classes), EpochTimer()
    model.fit(bundle.train, epochs=epochs, callbacks=[timer], verbose=0)
    return setup, timer.seconds, bundle.sizes["train"]


def run_kerascnn_train(folder, n, classes, weights, epochs, batch, project):
    from kerascnn.data import load_data
    from kerascnn.train import TrainConfig, train

    start = time.perf_counter()
    bundle = load_data(str(folder), input_shape=INPUT_SHAPE, batch_size=batch, val_split=0.0,
                       test_split=0.0, seed=0)
    setup = time.perf_counter() - start
    config = TrainConfig(model="lenet5", data=str(folder), input_shape=INPUT_SHAPE,
                         batch_size=batch, epochs=epochs, val_split=0.0, test_split=0.0,
                         optimizer="adam", learning_rate=1e-3, project=str(project),
                         name="bench")
    result = train(config, model=fresh_model(weights, classes), data=bundle, verbose="quiet")
    run_dir = Path(getattr(result, "run_dir", None) or Path(project) / "bench")
    with open(run_dir / "history.csv", newline="") as fh:
        seconds = [float(row["seconds"]) for row in csv.DictReader(fh)]
    return setup, seconds, bundle.sizes["train"]


def _decoded_arrays(folder):
    import numpy as np
    from PIL import Image

    paths = sorted(Path(folder).glob("*/*.png"))
    names = sorted({p.parent.name for p in paths})
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR),
                             dtype=np.float32) / 255.0 for p in paths])
    y = np.array([names.index(p.parent.name) for p in paths], dtype=np.int32)
    return x, y


def run_in_memory(folder, n, classes, weights, epochs, batch):
    """Decoded tensors in memory as tf.data: shuffle + batch + prefetch, nothing else."""
    import tensorflow as tf

    start = time.perf_counter()
    x, y = _decoded_arrays(folder)
    ds = (tf.data.Dataset.from_tensor_slices((x, y))
          .shuffle(len(x), seed=0, reshuffle_each_iteration=True)
          .batch(batch).prefetch(tf.data.AUTOTUNE))
    setup = time.perf_counter() - start
    model, timer = fresh_model(weights, classes), EpochTimer()
    model.fit(ds, epochs=epochs, callbacks=[timer], verbose=0)
    return setup, timer.seconds, len(x)


def run_in_memory_numpy(folder, n, classes, weights, epochs, batch):
    """Decoded NumPy arrays straight into ``model.fit(x, y)`` (Keras shuffles per epoch)."""
    start = time.perf_counter()
    x, y = _decoded_arrays(folder)
    setup = time.perf_counter() - start
    model, timer = fresh_model(weights, classes), EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, callbacks=[timer], verbose=0)
    return setup, timer.seconds, len(x)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=SIZE,
                        help="side of the generated PNGs; the model input stays 32x32 "
                             "(e.g. 128: photos larger than the model, resized on the way in)")
    opts = parser.parse_args(argv)
    n = opts.images or (96 if opts.smoke else 4096)
    classes = 2 if opts.smoke else opts.classes
    epochs = max(2, opts.epochs or (2 if opts.smoke else 5))
    rounds = opts.rounds or (1 if opts.smoke else 3)
    batch = 16 if opts.smoke else opts.batch_size

    info = machine_info()
    variants = {"plain Keras (image_dataset_from_directory)": run_plain_keras,
                "kerascnn load_data + fit": run_kerascnn_fit,
                "kerascnn train()": None,
                "in-memory tensors (tf.data)": run_in_memory,
                "in-memory NumPy (fit(x, y))": run_in_memory_numpy}
    try:  # the whole training path, where this checkout has it
        import kerascnn.train  # noqa: F401

        variants["kerascnn train()"] = run_kerascnn_train
    except ImportError as exc:
        print(f"kerascnn.train unavailable ({exc}); skipping that row")
        del variants["kerascnn train()"]

    runs: dict[str, list] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="kerascnn-bench-train-") as tmp:
        folder = make_image_folder(Path(tmp) / "pngs", n=n, size=opts.image_size,
                                   classes=classes)
        weights = fresh_model(None, classes).get_weights()
        for r in range(rounds):
            for name, fn in variants.items():
                args = (folder, n, classes, weights, epochs, batch)
                if fn is run_kerascnn_train:
                    args += (Path(tmp) / f"runs{r}",)
                setup, seconds, count = fn(*args)
                runs[name].append({"setup_s": setup, "epoch_seconds": seconds, "images": count})
                later = statistics.fmean(seconds[1:])
                print(f"  round {r + 1} {name}: epoch 1 {count / seconds[0]:.0f} img/s, "
                      f"epochs>=2 {count / later:.0f} img/s", flush=True)

    summary = {}
    for name, rs in runs.items():
        count = rs[0]["images"]
        # Best of the rounds: on a shared machine, neighbours only ever slow a run down, so
        # the fastest round is the closest to what the code itself can do.
        e1s = [count / r["epoch_seconds"][0] for r in rs]
        e2s = [count / min(r["epoch_seconds"][1:]) for r in rs]
        summary[name] = {"images": count, "setup_s": min(r["setup_s"] for r in rs),
                         "epoch1_images_per_s": max(e1s), "epoch2plus_images_per_s": max(e2s),
                         "epoch1_median_images_per_s": statistics.median(e1s),
                         "epoch2plus_median_images_per_s": statistics.median(e2s)}
    base = summary["plain Keras (image_dataset_from_directory)"]
    # The limit: the faster of the two ways of feeding tensors already in memory.
    limit = max((summary[k] for k in summary if k.startswith("in-memory")),
                key=lambda s: s["epoch2plus_images_per_s"])
    ours = summary["kerascnn load_data + fit"]
    headers = ["input", "setup s", "epoch 1 img/s", "epochs>=2 img/s", "vs plain e1",
               "vs plain e2+", "vs in-memory limit e2+"]
    rows = [[name, s["setup_s"], s["epoch1_images_per_s"], s["epoch2plus_images_per_s"],
             s["epoch1_images_per_s"] / base["epoch1_images_per_s"],
             s["epoch2plus_images_per_s"] / base["epoch2plus_images_per_s"],
             s["epoch2plus_images_per_s"] / limit["epoch2plus_images_per_s"]]
            for name, s in summary.items()]
    print(f"\nLeNet-5 (32x32x3 input) training on {n} PNGs {opts.image_size}x{opts.image_size}, "
          f"batch {batch}, {epochs} epochs, "
          f"best of {rounds} round(s), epochs >= 2: fastest epoch — {machine_line(info)}")
    print(table(headers, rows))
    targets = [
        target("kerascnn / plain Keras, epoch 1",
               ours["epoch1_images_per_s"] / base["epoch1_images_per_s"], 1.0),
        target("kerascnn / plain Keras, epochs >= 2",
               ours["epoch2plus_images_per_s"] / base["epoch2plus_images_per_s"], 1.3),
        target("kerascnn / in-memory, epochs >= 2 (within 5 %)",
               ours["epoch2plus_images_per_s"] / limit["epoch2plus_images_per_s"], 0.95),
    ]
    print_targets(targets)
    name = "train_throughput" if opts.image_size == SIZE else f"train_throughput_{opts.image_size}px"
    out = write_result(name, {
        "machine": info, "images": n, "image_size": opts.image_size, "input_size": SIZE, "classes": classes, "epochs": epochs,
        "batch_size": batch, "rounds": rounds, "model": "lenet5", "headers": headers,
        "rows": rows, "summary": summary, "runs": runs, "targets": targets,
    }, smoke=opts.smoke)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
