"""Each input spec's in-graph preprocessing against the reference preprocessing it stands for.

References: keras.applications' ``preprocess_input`` of each model's module (caffe / tf /
torch modes) and MobileNetV3's in-model ``Rescaling``; torchvision's ImageNet evaluation
transform (``Resize(256)``, ``CenterCrop(224)``, ``ToTensor``, ``Normalize``) on a PIL image.

Resize kernels: for images whose shorter side is already 256 neither side resizes and the two
agree to float32 rounding. When they do resize, TF's antialiased bilinear and PIL's bilinear
agree except that PIL rounds the resized image to 8 bits and TF keeps floats: the measured
max |Δ| is one gray level, 1/255/0.225 = 0.0174 after normalisation (mean |Δ| 0.005), on
noise and on smooth images alike.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascnn.errors import UsageError
from kerascnn.preprocessing import SPECS, UNIT, InputSpec, get_spec, preprocess
from kerascnn.weights.sources import SOURCES, find_source

APPS = keras.applications
# model -> the keras.applications module whose preprocess_input its weights were trained with
KERAS_PREPROCESS = {
    "vgg16": APPS.vgg16, "vgg19": APPS.vgg19,
    "resnet50v2": APPS.resnet_v2, "resnet101v2": APPS.resnet_v2, "resnet152v2": APPS.resnet_v2,
    "densenet121": APPS.densenet, "densenet169": APPS.densenet, "densenet201": APPS.densenet,
    "mobilenet": APPS.mobilenet, "mobilenet_v2": APPS.mobilenet_v2,
    "inception_v3": APPS.inception_v3,
}
ONE_GRAY_LEVEL = 1 / 255 / 0.225 + 1e-4


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape).astype("uint8")


@pytest.mark.parametrize("model", sorted(KERAS_PREPROCESS))
def test_keras_rows_preprocess_as_their_keras_module(model):
    spec = find_source(model, "keras").input_spec
    pixels = _pixels((2, 48, 40, 3))
    want = KERAS_PREPROCESS[model].preprocess_input(pixels.astype("float32"))
    got = preprocess(pixels, (48, 40, 3), spec).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("model", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_mobilenet_v3_spec_equals_keras_built_in_rescaling(model):
    """keras' MobileNetV3 rescales inside the model (include_preprocessing=True); kerascnn's
    builder does not, so the row's spec must do exactly what that layer does."""
    spec = find_source(model, "keras").input_spec
    pixels = _pixels((2, 32, 32, 3), seed=1)
    want = keras.layers.Rescaling(scale=1.0 / 127.5, offset=-1.0)(pixels.astype("float32"))
    assert np.array_equal(APPS.mobilenet_v3.preprocess_input(pixels), pixels)  # a pass-through
    np.testing.assert_allclose(preprocess(pixels, (32, 32, 3), spec).numpy(), want, atol=1e-6)


# torchvision is imported in a separate interpreter: in this environment importing it after
# TensorFlow crashes the process (a segfault inside torchvision's import), and this module
# needs TensorFlow.
_TORCHVISION_SCRIPT = """
import sys, numpy as np
from PIL import Image
from torchvision import transforms
for path in sys.argv[1:]:
    case = np.load(path, allow_pickle=False)
    pipeline = transforms.Compose([
        transforms.Resize(int(case["shorter"])),
        transforms.CenterCrop(int(case["crop"])),
        transforms.ToTensor(),
        transforms.Normalize(case["mean"].tolist(), case["std"].tolist()),
    ])
    out = pipeline(Image.fromarray(case["pixels"])).permute(1, 2, 0).numpy()
    np.save(path.replace(".npz", ".out.npy"), out)
"""


def _torchvision(tmp_path, cases):
    """torchvision's evaluation transform of each (pixels, spec), as HWC float arrays."""
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision (the reference extra) is not installed")
    paths = []
    for index, (pixels, spec) in enumerate(cases):
        path = tmp_path / f"case{index}.npz"
        np.savez(path, pixels=pixels, shorter=spec.resize_shorter, crop=spec.crop,
                 mean=np.array(spec.mean), std=np.array(spec.std))
        paths.append(str(path))
    subprocess.run([sys.executable, "-c", _TORCHVISION_SCRIPT, *paths], check=True, timeout=300)
    return [np.load(p.replace(".npz", ".out.npy")) for p in paths]


def _smooth(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([127 + 120 * np.sin(xx / 17 + c) * np.cos(yy / 23) for c in range(3)], -1)
    return pixels.astype("uint8")


def test_torchvision_specs_equal_torchvision_transforms(tmp_path):
    """Every resize+crop spec of the table (torchvision's Resize(256), the V2 recipe's
    Resize(232), GoogLeNet's own normalisation) against torchvision on PIL images: within
    float32 rounding when the shorter side already has its size, within one 8-bit gray level
    when both resize."""
    torchvision_spec = SPECS["torchvision"]
    exact = [(_pixels((h, w, 3), seed=w), torchvision_spec) for w, h in [(341, 256), (256, 256), (256, 300)]]
    for spec in sorted({row.input_spec for row in SOURCES if row.input_spec.resize_shorter},
                       key=lambda s: s.name):
        side = spec.resize_shorter
        exact.append((_pixels((side, side + 37, 3), seed=3), spec))
    resized = [(_smooth(w, h), torchvision_spec) for w, h in [(400, 300), (480, 640), (500, 375)]]
    resized.append((_pixels((300, 400, 3), seed=9), torchvision_spec))  # noise
    references = _torchvision(tmp_path, exact + resized)
    for (pixels, spec), want in zip(exact + resized, references):
        got = preprocess(pixels[None], (spec.crop, spec.crop, 3), spec).numpy()[0]
        assert got.shape == want.shape == (spec.crop, spec.crop, 3)
        delta = np.abs(got - want)
        if min(pixels.shape[:2]) == spec.resize_shorter:
            assert delta.max() <= 1e-5, (spec.name, pixels.shape)
        else:
            assert delta.max() <= ONE_GRAY_LEVEL and delta.mean() < 0.01, pixels.shape


def test_run_time_shapes_in_a_graph_give_what_eager_gives():
    """Export and the data pipeline see images of unknown size inside a tf.function."""
    spec = SPECS["torchvision"]
    graph = tf.function(
        lambda images: preprocess(images, (224, 224, 3), spec),
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
    )
    for shape in [(1, 300, 400, 3), (2, 256, 256, 3), (1, 480, 300, 3)]:
        pixels = _pixels(shape, seed=shape[1])
        eager = preprocess(pixels, (224, 224, 3), spec).numpy()
        np.testing.assert_allclose(graph(pixels).numpy(), eager, atol=1e-6)


def test_caffe_reverses_channels_and_subtracts_the_bgr_mean():
    pixels = np.array([[[[10, 20, 30]]]], dtype="uint8")
    got = preprocess(pixels, (1, 1, 3), get_spec("caffe")).numpy().ravel()
    np.testing.assert_allclose(got, [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-4)


def test_unit_is_the_default_and_unchanged():
    pixels = _pixels((2, 20, 20, 3))
    assert np.array_equal(preprocess(pixels, (20, 20, 3)).numpy(),
                          preprocess(pixels, (20, 20, 3), UNIT).numpy())
    assert np.array_equal(preprocess(pixels, (20, 20, 3)).numpy(),
                          pixels.astype("float32") * np.float32(1 / 255))


def test_specs_are_json_and_back():
    for spec in {row.input_spec for row in SOURCES} | set(SPECS.values()):
        assert InputSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert InputSpec.from_dict("torch") == SPECS["torch"]


def test_bad_specs_fail_in_one_line():
    with pytest.raises(UsageError, match="unknown input spec 'torchvison'"):
        get_spec("torchvison")
    with pytest.raises(UsageError, match="unknown input spec field 'meen'"):
        InputSpec.from_dict({"name": "x", "meen": [0.5]})
    with pytest.raises(UsageError, match="resize_shorter and crop together"):
        InputSpec("x", resize_shorter=256)
    with pytest.raises(UsageError, match="at most resize_shorter"):
        InputSpec("x", resize_shorter=200, crop=224)
    with pytest.raises(UsageError, match="3 channel values but the model takes 1"):
        preprocess(_pixels((1, 8, 8, 3)), (8, 8, 1), SPECS["torch"])
