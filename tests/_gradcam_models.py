"""A model whose Grad-CAM has a known answer, for the serving_gradcam and browser-page tests.

``examples/inside_the_cnn.py``'s temple-vs-flower CNN, trained for a few seconds on crops of the
two photos bundled with scikit-learn (no download): on a picture that is half temple (left) and
half flower (right), Grad-CAM for "temple" lights the left half and for "flower" the right half.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "inside_the_cnn.py"


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
