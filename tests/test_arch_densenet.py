"""DenseNet-121/169/201: the dense blocks on their own, exact published sizes, the
keras.applications layout (same weights → same outputs), names, stages, overrides."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest
from _model_counts import conv_dense_macs, trainable_params

from kerascnn import blocks
from kerascnn.architectures import build, feature_extractor, get_model_info, stage_outputs
from kerascnn.arithmetic import analyze
from kerascnn.errors import UsageError

# torchvision's published trainable counts (densenet121/169/201), written out independently.
# keras.applications counts the same trainable weights; its *total* adds the BN moving means
# and variances (non-trainable): 8,062,504 / 14,307,880 / 20,242,984.
PUBLISHED = {"densenet121": 7_978_856, "densenet169": 14_149_480, "densenet201": 20_013_928}
KERAS_TOTAL = {"densenet121": 8_062_504, "densenet169": 14_307_880, "densenet201": 20_242_984}
BLOCK_CONFIGS = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
}
HEAD = {"avg_pool", "dropout", "logits", "predictions"}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


# ---------------------------------------------------------------- the blocks on their own


def test_dense_layer_is_bn_relu_bottleneck_then_bn_relu_3x3_concatenated():
    inputs = keras.Input((8, 8, 40), name="input")
    outputs = blocks.dense_layer(inputs, 12, name="b")
    model = keras.Model(inputs, outputs)
    assert [layer.name for layer in model.layers[1:]] == [
        "b_bn1",
        "b_relu1",
        "b_conv1",
        "b_bn2",
        "b_relu2",
        "b_conv2",
        "b_concat",
    ]
    assert model.get_layer("b_conv1").kernel.shape == (1, 1, 40, 48)  # 4 x growth
    assert model.get_layer("b_conv2").kernel.shape == (3, 3, 48, 12)
    assert not model.get_layer("b_conv1").use_bias and not model.get_layer("b_conv2").use_bias
    assert model.get_layer("b_bn1").epsilon == model.get_layer("b_bn2").epsilon == 1.001e-5
    assert model.output_shape == (None, 8, 8, 52)
    # BN gamma+beta on the input and the bottleneck, two bias-free convs
    assert trainable_params(model) == 2 * 40 + 40 * 48 + 2 * 48 + 9 * 48 * 12
    # the concatenation keeps the input channels first, unchanged
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 40)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0)[..., :40], x)


def test_dense_block_grows_by_growth_rate_per_layer_and_names_each_layer():
    inputs = keras.Input((16, 16, 64), name="input")
    outputs = blocks.dense_block(inputs, 3, growth_rate=32, bottleneck_factor=2, name="stage1")
    model = keras.Model(inputs, outputs)
    assert model.output_shape == (None, 16, 16, 64 + 3 * 32)
    names = [layer.name for layer in model.layers[1:]]
    assert len(names) == len(set(names)) == 3 * 7
    assert names[-1] == "stage1_block3_concat"
    assert model.get_layer("stage1_block2_conv1").kernel.shape == (1, 1, 96, 64)


def test_transition_compresses_channels_and_halves_the_size():
    inputs = keras.Input((15, 14, 256), name="input")
    outputs = blocks.dense_transition(inputs, name="t")
    model = keras.Model(inputs, outputs)
    assert [layer.name for layer in model.layers[1:]] == ["t_bn", "t_relu", "t_conv", "t_pool"]
    assert model.output_shape == (None, 7, 7, 128)
    assert isinstance(model.get_layer("t_pool"), keras.layers.AveragePooling2D)
    assert model.get_layer("t_pool").pool_size == (2, 2)
    assert model.get_layer("t_pool").strides == (2, 2)
    third = blocks.dense_transition(keras.Input((8, 8, 100)), compression=1 / 3, name="t3")
    assert tuple(third.shape) == (None, 4, 4, 33)
    # the average of each 2x2 window of the activated 1x1 conv
    x = np.random.default_rng(1).normal(size=(1, 15, 14, 256)).astype("float32")
    conv = keras.Model(inputs, model.get_layer("t_conv").output).predict(x, verbose=0)
    want = conv[:, :14, :14].reshape(1, 7, 2, 7, 2, 128).mean(axis=(2, 4))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_block_arguments_are_checked():
    x = keras.Input((8, 8, 4))
    with pytest.raises(UsageError, match="compression must be in"):
        blocks.dense_transition(x, compression=0.0, name="t")
    with pytest.raises(UsageError, match="leaves no channels"):
        blocks.dense_transition(x, compression=0.1, name="t")
    with pytest.raises(UsageError, match="at least one layer"):
        blocks.dense_block(x, 0, name="s")
    with pytest.raises(UsageError, match="growth_rate"):
        blocks.dense_layer(x, 0, name="d")


# ---------------------------------------------------------------- the registered models


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_registry_entry_carries_published_params_macs_and_reference(name):
    info = get_model_info(name)
    assert info.family == "densenet"
    assert info.params == PUBLISHED[name]
    assert info.config["block_config"] == BLOCK_CONFIGS[name]
    assert info.min_input_size == 32  # total stride 32: 7x7/2, 3x3/2 pool, three 2x2/2 pools
    assert "Densely Connected" in info.reference and "keras.applications" in info.reference
    assert {"dropout_rate", "kernel_regularizer", "growth_rate", "compression"} <= set(
        info.overrides
    )
    json.dumps(info.as_dict())


def test_macs_round_to_the_published_figures():
    # torchvision's GFLOPS column (multiply-accumulates): 2.83 / 3.36 / 4.29 at 224x224.
    assert round(get_model_info("densenet121").macs / 1e9, 2) == 2.83
    assert round(get_model_info("densenet169").macs / 1e9, 2) == 3.36
    assert round(get_model_info("densenet201").macs / 1e9, 2) == 4.29


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_default_build_matches_published_params_and_keras_applications_counts(name):
    """No forward pass: counts from the weights' shapes at 224x224x3, 1000 classes."""
    info = get_model_info(name)
    model = build(name)
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert trainable_params(model) == PUBLISHED[name] == info.params
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert trainable_params(model) + non_trainable == KERAS_TOTAL[name]
    assert conv_dense_macs(model) == analyze(model).totals.macs == info.macs
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    # 7 layers per dense layer, 4 per transition, 5 in the stem (+2 pads), post BN/ReLU, head
    layers = sum(BLOCK_CONFIGS[name])
    assert len(names) == 1 + 6 + 7 * layers + 4 * 3 + 2 + 3
    final_channels = {"densenet121": 1024, "densenet169": 1664, "densenet201": 1920}[name]
    assert model.get_layer("stage4_post_relu").output.shape == (None, 7, 7, final_channels)


def _keras_densenet_name(name: str) -> str:
    """keras.applications DenseNet layer name → kerascnn's: conv1_bn → stem_bn;
    conv3_block2_0_bn / _1_conv / _1_bn / _2_conv → stage2_block2_bn1 / conv1 / bn2 / conv2;
    pool3_conv → stage3_transition_conv; bn → stage4_post_bn; predictions → logits."""
    if name.startswith("conv1_"):
        return "stem_" + name[len("conv1_") :]
    if name == "bn":
        return "stage4_post_bn"
    if name == "predictions":
        return "logits"
    transition = re.match(r"pool(\d)_(\w+)$", name)
    if transition:
        stage, part = transition.groups()
        return f"stage{stage}_transition_{part}"
    stage, block, part = re.match(r"conv(\d)_block(\d+)_(\d_\w+)$", name).groups()
    part = {"0_bn": "bn1", "1_conv": "conv1", "1_bn": "bn2", "2_conv": "conv2"}[part]
    return f"stage{int(stage) - 1}_block{block}_{part}"


def _copy_from_keras_applications(name: str, size: int, classes: int):
    depth = name.removeprefix("densenet")
    reference = getattr(keras.applications, f"DenseNet{depth}")(
        weights=None, input_shape=(size, size, 3), classes=classes, classifier_activation=None
    )
    model = build(name, input_shape=(size, size, 3), num_classes=classes, classifier_activation=None)
    copied = 0
    rng = np.random.default_rng(3)
    for layer in reference.layers:
        if not layer.weights:
            continue
        ours = model.get_layer(_keras_densenet_name(layer.name))
        assert type(ours) is type(layer), layer.name
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            # non-trivial statistics, so inference-mode BN (and its epsilon) is really compared
            weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in weights]
            layer.set_weights(weights)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights], layer.name
        ours.set_weights(weights)
        copied += 1
    assert copied == sum(1 for layer in model.layers if layer.weights)
    return reference, model, copied


def test_densenet121_computes_exactly_what_keras_applications_densenet121_computes():
    """Same layout: keras.applications' weights, copied layer by layer, give identical logits."""
    reference, model, copied = _copy_from_keras_applications("densenet121", 64, 10)
    # stem conv+BN, 58 dense layers x (2 convs + 2 BNs), 3 transitions x (BN + conv), BN, fc
    assert copied == 2 + 58 * 4 + 3 * 2 + 1 + 1
    x = np.random.default_rng(5).uniform(0, 1, size=(2, 64, 64, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    assert want.std() > 0
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["densenet169", "densenet201"])
def test_densenet169_201_compute_exactly_what_keras_applications_computes(name):
    reference, model, copied = _copy_from_keras_applications(name, 32, 5)
    assert copied == 2 + sum(BLOCK_CONFIGS[name]) * 4 + 3 * 2 + 1 + 1
    x = np.random.default_rng(6).uniform(0, 1, size=(2, 32, 32, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_small_non_square_input_any_channels_and_classes_and_the_minimum():
    model = build("densenet121", input_shape=(32, 45, 1), num_classes=7)
    assert model.get_layer("stem_conv").kernel.shape == (7, 7, 1, 64)
    assert trainable_params(model) == PUBLISHED["densenet121"] - 7 * 7 * 2 * 64 - 1025 * 993
    probs = model.predict(np.ones((2, 32, 45, 1), "float32"), verbose=0)
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert names[0] == "input"
    assert all(re.match(r"^(stem|stage[1-4])_", n) or n in HEAD for n in names[1:])
    assert not [n for n in names if re.search(r"_\d+$", n)]  # no Keras "_1" counters
    with pytest.raises(UsageError, match=r"too small for densenet121: .*at least 32\b"):
        build("densenet121", input_shape=(31, 64, 3))


def test_layer_names_are_identical_when_built_twice():
    kwargs = {"input_shape": (32, 32, 3), "include_top": False}
    first = [layer.name for layer in build("densenet121", **kwargs).layers]
    second = [layer.name for layer in build("densenet121", **kwargs).layers]
    assert first == second


def test_include_top_false_with_pooling_and_stage_outputs():
    shape = (64, 64, 3)
    for pooling in ("avg", "max"):
        model = build("densenet121", input_shape=shape, include_top=False, pooling=pooling)
        assert model.output_shape == (None, 1024)
        assert model.layers[-1].name == f"{pooling}_pool"
    fx = feature_extractor("densenet121", input_shape=shape)
    shapes = {k: tuple(v.shape[1:]) for k, v in fx.output.items()}
    # transitions begin their stage: strides 4, 4, 8, 16, 32 like a ResNet's pyramid
    assert shapes == {
        "stem": (16, 16, 64),
        "stage1": (16, 16, 64 + 6 * 32),
        "stage2": (8, 8, 128 + 12 * 32),
        "stage3": (4, 4, 256 + 24 * 32),
        "stage4": (2, 2, 512 + 16 * 32),
    }
    outputs = stage_outputs(fx)
    assert outputs["stage1"] is fx.get_layer("stage1_block6_concat").output
    assert outputs["stage2"] is fx.get_layer("stage2_block12_concat").output
    assert outputs["stage4"] is fx.get_layer("stage4_post_relu").output


def test_overrides():
    reg = keras.regularizers.L2(1e-4)
    model = build(
        "densenet121",
        input_shape=(32, 32, 3),
        num_classes=3,
        dropout_rate=0.2,
        kernel_regularizer=reg,
    )
    assert model.get_layer("dropout").rate == 0.2
    kernels = [
        layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert len(kernels) == 1 + 58 * 2 + 3 + 1
    assert all(layer.kernel_regularizer is reg for layer in kernels)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in build("densenet121").layers)
    # DenseNet-BC's two hyper-parameters: growth rate k and compression θ
    small = build(
        "densenet121", input_shape=(32, 32, 3), include_top=False, growth_rate=12, compression=0.25
    )
    assert small.get_layer("stage1_block1_conv1").kernel.shape == (1, 1, 64, 48)
    assert small.get_layer("stage2_transition_conv").kernel.shape == (1, 1, 64 + 72, 34)
    with pytest.raises(UsageError, match="does not accept override 'bn_size'"):
        build("densenet121", bn_size=2)


def test_cli_summary_and_models(cli):
    proc = cli("summary", "densenet121", "--input-shape", "32,32,3", "--classes", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    totals = json.loads(proc.stdout)["totals"]
    assert totals["trainable_params"] == PUBLISHED["densenet121"] - 1025 * 1000 + 1025 * 10
    listing = cli("models")
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("densenet201 "))
    assert "20,013,928" in row and "224x224x3" in row
