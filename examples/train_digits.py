"""The quickstart in Python: train LeNet-5 on the bundled digits, evaluate, export, predict.

``kerascnn quickstart`` does the same from the command line. Every step is one call:

    TrainConfig -> train() -> evaluate() -> export_model() -> Client(...).predict()

and leaves files behind: the run folder (config.yaml, weights/best.keras, history.csv,
results.png, confusion_matrix.png, ...) and a versioned SavedModel that TF Serving or
``kerascnn serve`` can serve as is.

Run:
    python examples/train_digits.py                 # 30 epochs, ~99% test accuracy
    python examples/train_digits.py --epochs 1      # a smoke test
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from kerascnn.client import Client
from kerascnn.evaluate import evaluate
from kerascnn.export import export_model
from kerascnn.train import TrainConfig, train


def digit_png(pixels_0_to_16: np.ndarray) -> bytes:
    """One 8x8 scikit-learn digit (values 0..16) as PNG bytes, as a user would upload it."""
    image = Image.fromarray((pixels_0_to_16 * (255 / 16)).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--project", default="runs", help="parent folder of the run folder")
    parser.add_argument("--name", default="digits_api", help="run folder name")
    parser.add_argument("--serving-base", default="serving/models",
                        help="TF Serving model base directory to export into")
    args = parser.parse_args(argv)

    # 1. Train. The config is the single source of truth and is saved as runs/NAME/config.yaml.
    config = TrainConfig(
        model="lenet5", data="digits", epochs=args.epochs, batch_size=32, optimizer="adam",
        learning_rate=3e-3, schedule="one-cycle", augment="digits", seed=0,
        project=args.project, name=args.name,
    )
    run = train(config, verbose="line")
    print(f"run folder: {run.run_dir}")

    # 2. Evaluate on the held-out test split (the same seeded split every time).
    report = evaluate(run.run_dir, split="test", verbose="quiet")
    print(f"test accuracy: {report.accuracy:.4f} on {report.count} images")
    print(f"files: {', '.join(sorted(str(p) for p in report.files.values()))}")

    # 3. Export a SavedModel for TF Serving: BASE/digits/VERSION/ with preprocessing inside.
    saved_model = export_model(run.run_dir, base=args.serving_base, name="digits")
    print(f"exported: {saved_model}")

    # 4. Predict from encoded image bytes with the exported model (no server needed).
    digits = load_digits()
    images = [digit_png(digits.images[i]) for i in range(8)]
    predictions = Client(saved_model).predict(images)
    for i, prediction in enumerate(predictions):
        print(f"digit {digits.target[i]} -> predicted {prediction.label} "
              f"(p={prediction.probabilities[prediction.class_id]:.2f})")


if __name__ == "__main__":
    main()
