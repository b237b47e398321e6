"""Inside a CNN: classic kernels, learned filters, feature maps and Grad-CAM on real photos.

No download: the two photographs bundled with scikit-learn (a Chinese temple and a flower) are
the data. A small CNN, built from ``kerascnn.blocks``, learns in a few seconds to tell random
crops of one photo from the other; then we look inside it:

1. ``kernels.png``    - box/Gaussian blur, sharpen, Laplacian, Sobel x/y applied to the temple by a
                        Keras Conv2D whose weights are set to the kernel (cross-correlation).
2. ``filters.png``    - the first conv layer's learned 3x3 RGB kernels.
3. ``features/``      - the feature maps of the temple photo, one sheet per stage (edges first,
                        larger parts later), titles with output shape and receptive field.
4. ``gradcam_*.png``  - Grad-CAM on a picture that is half temple, half flower: asking for
                        "temple" should light the left half, "flower" the right half.
5. ``padding.png``    - how padding, stride and dilation change a conv's output size.
6. ``conv_matrix.png`` - the convolution written as its (doubly-block Toeplitz) matrix.

Run:
    python examples/inside_the_cnn.py                 # ~1 minute on 2 CPU cores
    python examples/inside_the_cnn.py --tiny          # seconds: smoke test, same pictures
    kerascnn visualize gradcam inside_the_cnn/model.keras my_photo.jpg --class flower
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
from sklearn.datasets import load_sample_images

from kerascnn import blocks, visualize

CLASSES = ["temple", "flower"]  # index order of load_sample_images(): china.jpg, flower.jpg


def random_crops(photos, per_class: int, size: int, seed: int = 0):
    """Random ``size`` x ``size`` crops of each photo (at half resolution), labelled by photo."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, photo in enumerate(photos):
        half = photo[::2, ::2]  # 214 x 320: crops then show whole objects, not just texture
        for _ in range(per_class):
            top = rng.integers(0, half.shape[0] - size + 1)
            left = rng.integers(0, half.shape[1] - size + 1)
            crop = half[top : top + size, left : left + size]
            images.append(crop[:, ::-1] if rng.random() < 0.5 else crop)  # random flip
            labels.append(label)
    order = rng.permutation(len(labels))
    return np.stack(images)[order], np.array(labels)[order]


def small_cnn(num_classes: int = 2):
    """conv-bn-relu x3 with pooling, global average pooling, a dense classifier.

    Fully convolutional (input ``None x None``), so it trains on crops and looks at whole photos.
    """
    inputs = keras.Input((None, None, 3), name="image")
    x = blocks.conv_bn_act(inputs, 16, 3, name="stage1")
    x = blocks.pool(x, "max", 2, name="stage1_pool")
    x = blocks.conv_bn_act(x, 32, 3, name="stage2")
    x = blocks.pool(x, "max", 2, name="stage2_pool")
    x = blocks.conv_bn_act(x, 64, 3, name="stage3")
    x = blocks.global_pool(x, "avg", name="gap")
    x = blocks.dense(x, num_classes, name="logits")
    outputs = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="temple_vs_flower")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="inside_the_cnn", help="folder for the pictures")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--crops", type=int, default=400, help="training crops per photo")
    parser.add_argument("--tiny", action="store_true", help="1 epoch, 32 crops: a smoke test")
    args = parser.parse_args(argv)
    if args.tiny:
        args.epochs, args.crops = 1, 32
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)

    temple, flower = load_sample_images().images  # real photos, 427 x 640 RGB
    written = []

    # 1. Fixed, hand-designed kernels: what a conv layer computes, before any learning.
    written.append(visualize.plot_classic_kernels(temple, out=out / "kernels.png").path)

    # Train the small CNN on crops (pixels scaled to 0..1, as kerascnn.preprocessing does).
    x, y = random_crops([temple, flower], args.crops, size=64)
    model = small_cnn(len(CLASSES))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x.astype("float32") / 255.0, y, epochs=args.epochs, batch_size=32,
                        validation_split=0.2, verbose=2)
    print(f"validation accuracy: {history.history['val_accuracy'][-1]:.3f}")
    model_path = out / "model.keras"
    model.save(model_path)
    (out / "labels.txt").write_text("\n".join(CLASSES) + "\n")  # class names for the CLI

    # 2. What the first layer learned: 16 small RGB patterns (colour blobs and edges).
    written.append(visualize.plot_filters(model, out=out / "filters.png").path)

    # 3. Feature maps of the whole temple photo, one sheet per stage.
    photo = temple[::2, ::2]
    sheets = visualize.plot_feature_maps(model, photo, "all", out=out / "features", max_maps=16)
    written += [sheet.path for sheet in sheets]

    # 4. Grad-CAM on a half-and-half picture: where is the evidence for each class?
    half_width = photo.shape[1] // 2
    both = np.concatenate([photo[:, :half_width], flower[::2, ::2][:, -half_width:]], axis=1)
    for name in CLASSES:
        # The saved file + labels.txt: the same path `kerascnn visualize gradcam` takes.
        picture = visualize.plot_gradcam(model_path, both, name, out=out / f"gradcam_{name}.png")
        heat = picture.data["heatmap"]
        left = heat[:, :half_width].sum() / max(heat.sum(), 1e-9)
        print(f"Grad-CAM for {name!r}: {left:.0%} of the heat on the temple (left) half")
        written.append(picture.path)

    # 5. Padding, stride and dilation on one small example.
    written.append(visualize.plot_padding(out=out / "padding.png").path)

    # 6. The convolution as a matrix: sparse, with the same kernel numbers on every row.
    written.append(visualize.plot_conv_matrix(padding="same", out=out / "conv_matrix.png").path)

    print("\n".join(str(path) for path in written))


if __name__ == "__main__":
    main()
