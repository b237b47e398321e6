"""Train a CIFAR-style ResNet on a folder of images, with augmentation and a cosine schedule,
then resume it for more epochs.

An image folder is laid out ``ROOT/<class name>/<image>`` (PNG, JPEG, BMP, GIF); class names
come from the folder names. Without ``--folder`` this script writes one from the two photos
bundled with scikit-learn: random 32x32 crops of a temple and of a flower, two real classes.

The run is interrupted on purpose after half the epochs and resumed from its run folder,
exactly as ``kerascnn train --resume runs/NAME --epochs N`` would after a crash or ``kill -9``:
the weights, optimizer state and history continue where they stopped.

Run:
    python examples/train_folder.py                         # resnet20, 10 epochs, generated data
    python examples/train_folder.py --folder ~/my_images --epochs 30
    python examples/train_folder.py --tiny                  # a smoke test: 2 epochs, tiny data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

from kerascnn.train import TrainConfig, train


def write_sample_folder(root: Path, per_class: int, size: int = 32, seed: int = 0) -> Path:
    """``root/temple/*.png`` and ``root/flower/*.png``: random crops of the two sample photos."""
    rng = np.random.default_rng(seed)
    for name, photo in zip(["temple", "flower"], load_sample_images().images):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        small = photo[::4, ::4]  # 107 x 160: a 32x32 crop then holds a recognisable part
        for i in range(per_class):
            top = rng.integers(0, small.shape[0] - size + 1)
            left = rng.integers(0, small.shape[1] - size + 1)
            Image.fromarray(small[top : top + size, left : left + size]).save(folder / f"{i:04d}.png")
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", help="image folder ROOT/<class>/<image> (default: generated)")
    parser.add_argument("--model", default="resnet20", help="a CIFAR ResNet: resnet20/32/44/56/110")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--per-class", type=int, default=300, help="generated images per class")
    parser.add_argument("--project", default="runs")
    parser.add_argument("--name", default="folder_resnet")
    parser.add_argument("--tiny", action="store_true", help="2 epochs on 24 images per class")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.per_class = 2, 24

    folder = Path(args.folder) if args.folder else write_sample_folder(
        Path(args.project) / f"{args.name}_data", args.per_class)
    print(f"data: {folder}")

    config = TrainConfig(
        model=args.model,
        data=str(folder),
        input_shape=(32, 32, 3),
        batch_size=32,
        augment="standard",       # random flip + crop + small rotation/zoom/contrast
        optimizer="sgd",          # the CIFAR ResNet paper's recipe: SGD, momentum 0.9,
        momentum=0.9,             # weight decay, a cosine-annealed learning rate
        weight_decay=5e-4,
        learning_rate=0.05,
        schedule="cosine",
        warmup_epochs=1,
        epochs=args.epochs,
        project=args.project,
        name=args.name,
        seed=0,
    )

    # First half: stop early as if the machine went down after half the epochs.
    first = train(config.replace(epochs=max(1, args.epochs // 2)), verbose="line")
    print(f"stopped after {first.epochs_completed} epochs in {first.run_dir}")

    # Resume from the run folder, with the full epoch count.
    resumed = train(TrainConfig(resume=str(first.run_dir), epochs=args.epochs), verbose="line")
    print(f"resumed from epoch {resumed.resumed_from}, finished {resumed.epochs_completed} epochs")
    best = ", ".join(f"{k}={v:.4f}" for k, v in resumed.best.items()
                     if isinstance(v, float) and ("acc" in k or "loss" in k))
    print(f"best epoch: {best}")


if __name__ == "__main__":
    main()
