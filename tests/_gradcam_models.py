"""Models whose Grad-CAM has a known answer, for the visualize, serving_gradcam and browser-page
tests.

``quadrant_model``: a model that can only see one quadrant of its 16x16 input, so Grad-CAM must
light that quadrant and nothing else (but the conv's 1-pixel rim around it).

``temple_flower_export``: ``examples/inside_the_cnn.py``'s temple-vs-flower CNN, trained for a few seconds on crops of the
two photos bundled with scikit-learn (no download): on a picture that is half temple (left) and
half flower (right), Grad-CAM for "temple" lights the left half and for "flower" the right half.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "inside_the_cnn.py"
QUADRANTS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def quadrant_model(quadrant, size=16):
    """A model that can only see one quadrant: crop it, zero-pad back, then conv -> GAP -> dense.

    ``quadrant`` is (row, column), each 0 or 1; the model is named ``quadrant{row}{column}``.
    Conv weights are all positive with no bias, so the last conv's maps are zero outside the
    quadrant (and its 1-pixel rim); class 0's dense weights are positive, class 1's negative.
    """
    import keras

    half = size // 2
    rows = (0, half) if quadrant[0] == 0 else (half, 0)
    cols = (0, half) if quadrant[1] == 0 else (half, 0)
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Cropping2D((rows, cols))(inputs)
    x = keras.layers.ZeroPadding2D((rows, cols))(x)
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu", use_bias=False, name="conv")
    x = keras.layers.GlobalAveragePooling2D()(conv(x))
    dense = keras.layers.Dense(2, activation="softmax", name="probs")
    model = keras.Model(inputs, dense(x), name=f"quadrant{quadrant[0]}{quadrant[1]}")
    conv.set_weights([np.linspace(0.1, 0.5, 36, dtype="float32").reshape(3, 3, 1, 4)])
    dense.set_weights([np.array([[1.0, -1.0]] * 4, "float32"), np.zeros(2, "float32")])
    return model


def temple_flower_export(base: Path, name: str = "temple_flower"):
    """Train the example's CNN briefly and export it at its half-and-half picture's size.

    Returns ``(export path, picture as uint8 [214, 320, 3], the fully convolutional model)``.
    """
    import keras
    from sklearn.datasets import load_sample_images

    from kerascnn.export import export_model
    from kerascnn.visualize.inputs import with_static_input

    spec = importlib.util.spec_from_file_location("inside_the_cnn", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    keras.utils.set_random_seed(0)
    temple, flower = load_sample_images().images
    x, y = example.random_crops([temple, flower], 100, size=64)
    model = example.small_cnn(len(example.CLASSES))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x.astype("float32") / 255.0, y, epochs=2, batch_size=32, verbose=0)
    photo = temple[::2, ::2]
    half = photo.shape[1] // 2
    both = np.concatenate([photo[:, :half], flower[::2, ::2][:, -half:]], axis=1)
    fixed = with_static_input(model, both)  # an export needs a fixed input size
    exported = export_model(fixed, base=base, name=name, class_names=example.CLASSES)
    return exported, both, model
