"""The data pipeline alone: images/s that ``kerascnn.data.load_data`` delivers from JPEG
folders (32x32 and 224x224), with and without cache, beside plain Keras'
``image_dataset_from_directory`` and beside the rate at which a model consumes images in
training (LeNet-5 at 32x32, ResNet-18 at 224x224, on in-memory tensors) on this machine.

A pipeline faster than the model's consumption keeps the model busy; the ratio column says by
how much. A GPU consumes images 10-100x faster than these CPU figures, so the absolute pipeline
rate per CPU core is the number to compare with a GPU's appetite.

    python benchmarks/input_pipeline.py            # 2048 small + 512 large JPEGs
    python benchmarks/input_pipeline.py --smoke    # tiny (CI)

Writes benchmarks/results/input_pipeline.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    machine_info,
    machine_line,
    make_image_folder,
    table,
    usable_cores,
    write_result,
)

MODELS = {32: "lenet5", 224: "resnet18"}


def drain(dataset) -> tuple[int, float]:
    """Iterate a dataset once; (images, seconds)."""
    count, start = 0, time.perf_counter()
    for x, _ in dataset:
        count += int(x.shape[0])
    return count, time.perf_counter() - start


def kerascnn_rates(folder, size, batch, cache: bool) -> dict:
    from kerascnn.data import load_data

    bundle = load_data(str(folder), input_shape=(size, size, 3), batch_size=batch,
                       val_split=0.0, test_split=0.0, seed=0, cache=cache)
    n1, s1 = drain(bundle.train)
    n2, s2 = drain(bundle.train)
    return {"epoch1_images_per_s": n1 / s1, "epoch2_images_per_s": n2 / s2, "images": n1}


def plain_keras_rates(folder, size, batch) -> dict:
    import keras

    ds = keras.utils.image_dataset_from_directory(
        folder, image_size=(size, size), batch_size=batch, label_mode="int", shuffle=True,
        seed=0, verbose=False,
    ).map(lambda x, y: (x / 255.0, y))
    n1, s1 = drain(ds)
    n2, s2 = drain(ds)
    return {"epoch1_images_per_s": n1 / s1, "epoch2_images_per_s": n2 / s2, "images": n1}


def consumption_rate(model_name, size, batch, steps) -> float:
    """Images/s of ``model.fit`` on one batch already in memory, repeated (no input cost)."""
    import keras
    import numpy as np
    import tensorflow as tf

    import kerascnn

    model = kerascnn.build(model_name, input_shape=(size, size, 3), num_classes=10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=(batch,)).astype("int32")
    data = tf.data.Dataset.from_tensors((x, y)).repeat(steps)
    model.fit(data, epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    rate = batch * steps / (time.perf_counter() - start)
    keras.backend.clear_session()
    return rate


def warm_page_cache(folder) -> None:
    """Read every file once so no variant pays for the first read from disk."""
    for path in Path(folder).rglob("*.jpg"):
        path.read_bytes()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--small-images", type=int, default=None)
    parser.add_argument("--large-images", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    opts = parser.parse_args(argv)
    counts = {32: opts.small_images or (64 if opts.smoke else 2048),
              224: opts.large_images or (16 if opts.smoke else 512)}
    batch = opts.batch_size or (8 if opts.smoke else 32)
    steps = {32: 2 if opts.smoke else 60, 224: 1 if opts.smoke else 4}

    info = machine_info()
    results, rows = {}, []
    with tempfile.TemporaryDirectory(prefix="kerascnn-bench-input-") as tmp:
        for size, n in counts.items():
            folder = make_image_folder(Path(tmp) / f"jpeg{size}", n=n, size=size, classes=4,
                                       fmt="jpeg")
            model = MODELS[size]
            warm_page_cache(folder)
            eat = consumption_rate(model, size, batch, steps[size])
            entry = {
                "images": n, "model": model, "model_images_per_s": eat,
                "plain_keras": plain_keras_rates(folder, size, batch),
                "kerascnn_no_cache": kerascnn_rates(folder, size, batch, cache=False),
                "kerascnn_cache": kerascnn_rates(folder, size, batch, cache=True),
            }
            results[f"{size}x{size}"] = entry
            for label, key in (("plain Keras", "plain_keras"),
                               ("kerascnn, no cache", "kerascnn_no_cache"),
                               ("kerascnn, cache", "kerascnn_cache")):
                r = entry[key]
                rows.append([f"{size}x{size}", label, r["epoch1_images_per_s"],
                             r["epoch2_images_per_s"], f"{model} {eat:.0f}",
                             r["epoch2_images_per_s"] / eat])
            print(f"  {size}x{size} done", flush=True)

    headers = ["JPEG size", "pipeline", "epoch 1 img/s", "epoch 2 img/s",
               "model trains img/s", "pipeline/model (epoch 2)"]
    print(f"\nInput pipeline alone, batch {batch} — {machine_line(info)}")
    print(table(headers, rows))
    per_core = {k: v["kerascnn_no_cache"]["epoch1_images_per_s"] / usable_cores()
                for k, v in results.items()}
    for k, v in per_core.items():
        print(f"  {k}: {v:.0f} decoded images/s per CPU core without cache")
    out = write_result("input_pipeline", {
        "machine": info, "batch_size": batch, "headers": headers, "rows": rows,
        "results": results, "decode_images_per_s_per_core": per_core,
    }, smoke=opts.smoke)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
