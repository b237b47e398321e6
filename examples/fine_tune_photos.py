"""Fine-tune an ImageNet-pretrained ResNet-18 on a small folder of real photos.

What a practitioner does first with 500 photos of their own classes: keep the pretrained
backbone, train a new head on it while it is frozen (batch norm in inference mode), then
unfreeze every layer for a few epochs at a ten times smaller learning rate. kerascnn does both
phases in one run folder, resumable in either, and preprocesses exactly as the weights expect
(torchvision's: resize the shorter side, center crop, ImageNet mean and std) in training, in
``kerascnn predict`` and inside the exported SavedModel.

Without ``--folder`` this script writes a photo folder from the two photos scikit-learn ships,
cut into 96x96 tiles: "temple" (the Chinese temple) and "flower" - two real classes, enough to
show the mechanics. The weights are torchvision's ImageNet ResNet-18 (downloaded once from the
Hugging Face Hub into ~/.cache/kerascnn); offline, put the file where the error message says or
pass ``--weights PATH`` (a .safetensors / .pth state dict with torchvision's key names).

Run:
    python examples/fine_tune_photos.py                       # 4 head + 4 fine-tune epochs
    python examples/fine_tune_photos.py --weights resnet18.safetensors --tiny
    python examples/fine_tune_photos.py --folder ~/my_photos --epochs 12 --fine-tune-epochs 6
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

from kerascnn.export import export_model
from kerascnn.train import TrainConfig, train


def write_photo_folder(root: Path, per_class: int, size: int = 96, seed: int = 0) -> Path:
    """``root/temple/*.jpg`` and ``root/flower/*.jpg``: random tiles of the two sample photos
    (427 x 640 each), saved as JPEG as a camera would."""
    rng = np.random.default_rng(seed)
    for name, photo in zip(["temple", "flower"], load_sample_images().images):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            top = rng.integers(0, photo.shape[0] - size + 1)
            left = rng.integers(0, photo.shape[1] - size + 1)
            tile = photo[top : top + size, left : left + size]
            Image.fromarray(tile).save(folder / f"{i:04d}.jpg", quality=90)
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", help="photo folder ROOT/<class>/<image> (default: generated)")
    parser.add_argument("--weights", default="imagenet",
                        help="imagenet (download once), a tag, or a local weights file")
    parser.add_argument("--epochs", type=int, default=8, help="all epochs, both phases")
    parser.add_argument("--fine-tune-epochs", type=int, default=4,
                        help="the last epochs, with every layer unfrozen")
    parser.add_argument("--per-class", type=int, default=60, help="generated photos per class")
    parser.add_argument("--input-size", type=int, default=112, help="the model's input side")
    parser.add_argument("--project", default="runs")
    parser.add_argument("--name", default="fine_tune_photos")
    parser.add_argument("--tiny", action="store_true", help="3 epochs on 16 photos per class")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.fine_tune_epochs, args.per_class, args.input_size = 3, 1, 16, 64

    folder = Path(args.folder) if args.folder else write_photo_folder(
        Path(args.project) / f"{args.name}_data", args.per_class)
    print(f"data: {folder}")

    config = TrainConfig(
        model="resnet18",
        weights=args.weights,       # ImageNet backbone; a fresh 2-class head
        freeze="backbone",          # head phase: only the new classifier trains
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_lr=1e-4,          # then every layer, ten times slower for the head,
        stage_lr_decay=0.5,         # halved for each stage further down, least for the stem
        data=str(folder),
        input_shape=(args.input_size, args.input_size, 3),
        batch_size=16,
        augment="light",            # flips and small shifts, on 0..1 images before normalizing
        learning_rate=1e-3,
        epochs=args.epochs,
        project=args.project,
        name=args.name,
        seed=0,
    )
    result = train(config, verbose="line")
    record = result.run_dir / "pretrained.json"
    print(f"started from {record} ; test accuracy {result.metrics.get('test_accuracy', 0):.3f}")

    # The export preprocesses in the graph as the weights expect, so TF Serving needs no code.
    path = export_model(result.run_dir, base=Path(args.project) / "models", name="photos")
    print(f"exported {path}: kerascnn serve --model-name photos --model-base-path {path.parent}")


if __name__ == "__main__":
    main()
