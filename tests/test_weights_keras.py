"""Keras-layout weights: files keras.applications writes load into kerascnn's own builders and
compute what keras.applications computes.

The oracle is keras.applications itself: its model, given random weights (BN statistics and
biases too, so every constant of the layout counts), writes them with ``save_weights``;
``kerascnn.weights.build(name, weights=PATH)`` reads that file into kerascnn's model, and the
two models' logits on the same input must agree within 1e-4 (float32). The published files use
Keras 2's legacy HDF5 layout; one test writes that layout by hand with h5py.
"""

from __future__ import annotations

import re

import h5py
import keras
import numpy as np
import pytest

from kerascnn.errors import UsageError
from kerascnn.weights import build, describe, imagenet_class_names
from kerascnn.weights.errors import WeightsMismatch
from kerascnn.weights.keras_layout import assign_keras_h5, read_keras_h5, reference_order
from kerascnn.weights.sources import find_source, sources_for

APPS = keras.applications
# model -> (keras.applications builder, smallest convenient input side, extra reference kwargs)
FAST = {
    "resnet50v2": (APPS.ResNet50V2, 64, {}),
    "densenet121": (APPS.DenseNet121, 32, {}),
    "mobilenet": (APPS.MobileNet, 64, {}),
    "mobilenet_v2": (APPS.MobileNetV2, 64, {}),
    "mobilenet_v3_small": (APPS.MobileNetV3Small, 64, {"include_preprocessing": False}),
    "mobilenet_v3_large": (APPS.MobileNetV3Large, 64, {"include_preprocessing": False}),
    "inception_v3": (APPS.InceptionV3, 75, {}),
}
# VGG's classifier reads a 7x7x512 map: keras' flatten only matches kerascnn's adaptive pool at
# 224. The deep ones are just slow to build on a 2-core CPU.
SLOW = {
    "vgg16": (APPS.VGG16, 224, {}),
}
# Deeper siblings of the models above (same layer kinds and order rules): run by hand with
# pytest -m stress, to keep CI within its time.
STRESS = {
    "vgg19": (APPS.VGG19, 224, {}),
    "resnet101v2": (APPS.ResNet101V2, 32, {}),
    "resnet152v2": (APPS.ResNet152V2, 32, {}),
    "densenet169": (APPS.DenseNet169, 32, {}),
    "densenet201": (APPS.DenseNet201, 32, {}),
}
KERAS_MODELS = {**FAST, **SLOW, **STRESS}
TOLERANCE = 1e-4


def _randomize(reference, seed: int) -> None:
    """Keras' own initial kernels, random BN statistics and biases (non-zero, non-trivial)."""
    rng = np.random.default_rng(seed)
    for layer in reference.layers:
        values = layer.get_weights()
        if not values:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            new = []
            for variable, value in zip(layer.weights, values):
                low, high = (0.5, 1.5) if variable.name in ("gamma", "moving_variance") else (-0.2, 0.2)
                new.append(rng.uniform(low, high, value.shape).astype("float32"))
            layer.set_weights(new)
        elif len(values) == 2:
            layer.set_weights([values[0], rng.uniform(-0.2, 0.2, values[1].shape).astype("float32")])


def _reference(name: str, seed: int = 0):
    builder, size, extra = KERAS_MODELS[name]
    reference = builder(weights=None, input_shape=(size, size, 3), classifier_activation=None, **extra)
    _randomize(reference, seed)
    return reference, size


def _max_delta(ours, reference, size: int, seed: int = 1) -> float:
    x = np.random.default_rng(seed).uniform(-1, 1, size=(2, size, size, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    got = ours.predict(x, verbose=0)
    assert want.std() > 0 and got.shape == want.shape
    return float(np.abs(got - want).max() / max(1.0, float(np.abs(want).max())))


def _check_model(name: str, tmp_path) -> None:
    reference, size = _reference(name)
    path = tmp_path / f"{name}.weights.h5"
    reference.save_weights(path)
    model = build(name, weights=str(path), input_shape=(size, size, 3), classifier_activation=None)
    path.unlink()  # VGG's file is over 500 MB: CI's disk is shared, free it at once
    assert _max_delta(model, reference, size) <= TOLERANCE
    assert model.pretrained.layout == "keras" and model.pretrained.head == "pretrained"
    assert model.pretrained.input_spec == find_source(name, "keras").input_spec


@pytest.mark.parametrize("name", sorted(FAST))
def test_keras_applications_weights_give_keras_applications_logits(name, tmp_path):
    _check_model(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW))
def test_big_keras_applications_weights_give_keras_applications_logits(name, tmp_path):
    _check_model(name, tmp_path)


@pytest.mark.stress
@pytest.mark.parametrize("name", sorted(STRESS))
def test_deeper_keras_applications_weights_give_keras_applications_logits(name, tmp_path):
    _check_model(name, tmp_path)


def test_every_keras_row_is_a_model_with_a_reference_test():
    keras_rows = [row.model for name in KERAS_MODELS for row in sources_for(name) if row.layout == "keras"]
    assert sorted(keras_rows) == sorted(KERAS_MODELS)
    for name in KERAS_MODELS:
        row = find_source(name, "keras")
        assert row.url == (
            "https://storage.googleapis.com/tensorflow/keras-applications/"
            f"{row.url.split('keras-applications/')[1]}"
        )
        assert row.url.endswith("/" + row.file_name) and row.num_classes == 1000
        assert row.md5 is None or re.fullmatch(r"[0-9a-f]{32}", row.md5)


def _write_legacy_h5(reference, path) -> None:
    """The Keras 2 HDF5 layout of the published *_tf_dim_ordering_tf_kernels.h5 files, by hand:
    root attribute layer_names (model order), one group per layer with its weight_names, each
    tensor at <layer>/<weight name>."""
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.name.encode() for layer in reference.layers]
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.2.4"
        for layer in reference.layers:
            group = handle.create_group(layer.name)
            names = [f"{layer.name}/{variable.name}:0" for variable in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for tensor_name, value in zip(names, layer.get_weights()):
                group.create_dataset(tensor_name, data=value)


def test_the_published_legacy_layout_loads_too(tmp_path):
    """ResNet50V2: the one layout whose layer order differs from keras.applications' (the
    shortcut conv of stage 1, the same shape as the block's last conv, must still pair up)."""
    reference, size = _reference("resnet50v2", seed=4)
    path = tmp_path / "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"
    _write_legacy_h5(reference, path)
    assert [layer.kind for layer in read_keras_h5(path)][:1] == [None]
    model = build("resnet50v2", weights=str(path), input_shape=(size, size, 3),
                  classifier_activation=None)
    assert _max_delta(model, reference, size) <= TOLERANCE
    first = model.get_layer("stage1_block1_downsample_conv").get_weights()[0]
    np.testing.assert_array_equal(first, reference.get_layer("conv2_block1_0_conv").get_weights()[0])


def test_imagenet_head_gets_the_imagenet_class_names(tmp_path):
    reference, size = _reference("resnet50v2")
    path = tmp_path / "r.weights.h5"
    reference.save_weights(path)
    model = build("resnet50v2", weights=str(path), input_shape=(size, size, 3))
    names = imagenet_class_names()
    assert list(model.pretrained.class_names) == names and len(set(names)) == 1000
    assert names[:3] == ["tench", "goldfish", "great white shark"] and names[-1] == "toilet tissue"
    record = model.pretrained.record()
    assert record["tag"] == "file" and len(record["sha256"]) == 64 and record["url"] is None
    assert record["input_spec"]["name"] == "tf"


def test_other_class_counts_load_the_backbone_and_build_a_fresh_head(tmp_path):
    reference, size = _reference("mobilenet_v3_small", seed=2)
    path = tmp_path / "v3.weights.h5"
    reference.save_weights(path)
    model = build("mobilenet_v3_small", weights=str(path), num_classes=7, input_shape=(size, size, 3))
    assert model.output_shape == (None, 7) and model.pretrained.head == "fresh"
    assert model.pretrained.class_names == ()
    # the head's hidden 1x1 conv (keras' conv_2) still loads; only the classifier is new
    np.testing.assert_array_equal(model.get_layer("fc1").get_weights()[0],
                                  reference.get_layer("conv_2").get_weights()[0])
    backbone = build("mobilenet_v3_small", weights=str(path), include_top=False,
                     input_shape=(size, size, 3))
    pool = [layer for layer in reference.layers  # the head's (squeeze-excite blocks have some)
            if isinstance(layer, keras.layers.GlobalAveragePooling2D)][-1]
    features = keras.Model(reference.input, pool.input)
    x = np.random.default_rng(3).uniform(-1, 1, size=(2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(backbone.predict(x, verbose=0), features.predict(x, verbose=0),
                               atol=1e-5)
    assert backbone.pretrained.head == "none"


def test_a_file_for_another_model_fails_in_one_line_naming_the_layer(tmp_path):
    reference, size = _reference("mobilenet_v2")
    path = tmp_path / "v2.weights.h5"
    reference.save_weights(path)
    with pytest.raises(WeightsMismatch, match=r"layer 'stem_conv' needs kernel \(3, 3, 3, 16\)"):
        build("mobilenet_v2", weights=str(path), alpha=0.5, input_shape=(size, size, 3))
    with pytest.raises(WeightsMismatch, match="does not fit densenet121") as error:
        build("densenet121", weights=str(path), input_shape=(size, size, 3))
    assert "\n" not in str(error.value)
    # a headless file into a model that wants the 1000-class head: the classifier is named
    headless = APPS.MobileNetV2(weights=None, include_top=False, input_shape=(size, size, 3))
    headless.save_weights(tmp_path / "notop.weights.h5")
    with pytest.raises(WeightsMismatch, match="no weights for layer 'logits'"):
        build("mobilenet_v2", weights=str(tmp_path / "notop.weights.h5"), input_shape=(size, size, 3))


def test_nothing_is_assigned_unless_every_layer_fits(tmp_path):
    reference, size = _reference("mobilenet_v2")
    path = tmp_path / "v2.weights.h5"
    reference.save_weights(path)
    from kerascnn.architectures import build as build_architecture

    model = build_architecture("mobilenet_v2", input_shape=(size, size, 3), num_classes=10)
    before = model.get_layer("stem_conv").get_weights()[0].copy()
    with pytest.raises(WeightsMismatch, match="'logits' needs kernel"):
        assign_keras_h5(model, path, include_top=True)
    np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], before)
    assert assign_keras_h5(model, path, include_top=False) == 104  # all but the classifier


def test_bad_files_and_names_fail_in_one_line(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(UsageError, match="is not an HDF5 file"):
        build("mobilenet_v2", weights=str(text))
    with pytest.raises(UsageError, match="does not exist"):
        build("mobilenet_v2", weights=str(tmp_path / "missing.h5"))
    with pytest.raises(UsageError, match=r"unknown weights tag 'kears' \(did you mean 'keras'\?\)"):
        build("vgg16", weights="kears")
    with pytest.raises(UsageError, match="lenet5 has no pretrained weights"):
        describe("lenet5")


def test_reference_order_moves_only_preactivation_shortcuts():
    class Layer:
        def __init__(self, name):
            self.name = name

    names = ["stem_conv", "s1_b1_preact_bn", "s1_b1_conv3", "s1_b1_downsample_conv", "x_conv3",
             "x_downsample_conv"]
    ordered = [layer.name for layer in reference_order([Layer(n) for n in names])]
    assert ordered == ["stem_conv", "s1_b1_preact_bn", "s1_b1_downsample_conv", "s1_b1_conv3",
                       "x_conv3", "x_downsample_conv"]
