"""MobileNet v1 / v2 / v3 and the deeper pre-activation ResNets (101V2, 152V2): exact counts,
MACs, names, shapes, and the same outputs as keras.applications given the same weights."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from _model_counts import conv_dense_macs, trainable_params

from kerascnn.architectures import (
    build,
    feature_extractor,
    get_model_info,
    list_models,
    stage_outputs,
)
from kerascnn.arithmetic import analyze
from kerascnn.errors import UsageError

# keras.applications' trainable-parameter counts (weights=None, 224×224×3, 1000 classes,
# MobileNetV3 without its Rescaling layer), written out independently of the registry.
KERAS_PARAMS = {
    ("mobilenet", 1.0): 4_231_976,
    ("mobilenet", 0.5): 1_331_592,
    ("mobilenet", 0.25): 470_072,
    ("mobilenet_v2", 1.0): 3_504_872,
    ("mobilenet_v2", 0.5): 1_968_680,
    ("mobilenet_v2", 1.4): 6_108_776,
    ("mobilenet_v3_small", 1.0): 2_542_856,
    ("mobilenet_v3_small", 0.75): 2_041_872,
    ("mobilenet_v3_large", 1.0): 5_483_032,
    ("mobilenet_v3_large", 0.75): 3_993_528,
}
MOBILENETS = ("mobilenet", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large")


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


@pytest.mark.parametrize("name,alpha", sorted(KERAS_PARAMS))
def test_trainable_params_equal_keras_applications_at_every_alpha(name, alpha):
    """No forward pass: building allocates the weights; counts come from their shapes."""
    overrides = {} if alpha == 1.0 else {"alpha": alpha}
    model = build(name, **overrides)
    assert model.output_shape == (None, 1000)
    assert model.layers[-1].name == "predictions"
    assert trainable_params(model) == KERAS_PARAMS[name, alpha]
    macs = conv_dense_macs(model)
    assert analyze(model).totals.macs == macs
    if alpha == 1.0:
        info = get_model_info(name)
        assert (info.params, info.macs) == (KERAS_PARAMS[name, alpha], macs)
        assert info.min_input_size == 32 and "alpha" in info.overrides


def test_macs_round_to_the_published_figures():
    # torchvision: MobileNetV2 0.30 GMACs, V3-Large 0.22, V3-Small 0.06; Howard 2017: v1 569M.
    assert round(get_model_info("mobilenet_v2").macs / 1e9, 2) == 0.30
    assert round(get_model_info("mobilenet_v3_large").macs / 1e9, 2) == 0.22
    assert round(get_model_info("mobilenet_v3_small").macs / 1e9, 2) == 0.06
    assert round(get_model_info("mobilenet").macs / 1e6) == 569


def test_registry_lists_the_family():
    assert list_models("mobilenet") == sorted(MOBILENETS)
    assert {"resnet101v2", "resnet152v2"} <= set(list_models("resnet"))
    assert "depth_multiplier" in get_model_info("mobilenet").overrides


@pytest.mark.parametrize("name", MOBILENETS)
def test_small_input_forward_pass_names_and_shapes(name):
    model = build(name, input_shape=(40, 57, 1), num_classes=5)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names)) and names[0] == "input"
    assert not [n for n in names if re.search(r"_\d+$", n)]  # no Keras "_1" counters
    assert names == [layer.name for layer in build(name, input_shape=(40, 57, 1), num_classes=5).layers]
    x = np.random.default_rng(0).uniform(size=(2, 40, 57, 1)).astype("float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(UsageError, match="at least 32"):
        build(name, input_shape=(31, 64, 3))


@pytest.mark.parametrize(
    "name,stages",
    [
        ("mobilenet", {"stem": 32, "stage1": 32, "stage2": 16, "stage3": 8, "stage4": 4, "stage5": 2}),
        ("mobilenet_v2", {"stem": 32, "stage1": 32, "stage2": 16, "stage3": 8, "stage4": 4, "stage5": 2}),
        ("mobilenet_v3_small", {"stem": 32, "stage1": 16, "stage2": 8, "stage3": 4, "stage4": 2}),
        ("mobilenet_v3_large", {"stem": 32, "stage1": 32, "stage2": 16, "stage3": 8, "stage4": 4, "stage5": 2}),
    ],
)
def test_stages_are_the_resolutions_for_feature_extraction(name, stages):
    backbone = build(name, input_shape=(64, 64, 3), include_top=False)
    assert {stage: t.shape[1] for stage, t in stage_outputs(backbone).items()} == stages
    fx = feature_extractor(name, input_shape=(64, 64, 3), stages=["stage2", "stage3"])
    assert [shape[1] for shape in fx.output_shape] == [stages["stage2"], stages["stage3"]]


@pytest.mark.parametrize(
    "name,channels", [("mobilenet", 1024), ("mobilenet_v2", 1280), ("mobilenet_v3_small", 576)]
)
def test_include_top_false_with_pooling(name, channels):
    assert build(name, input_shape=(64, 64, 3), include_top=False).output_shape == (
        None, 2, 2, channels
    )
    for pooling in ("avg", "max"):
        model = build(name, input_shape=(64, 64, 3), include_top=False, pooling=pooling)
        assert model.output_shape == (None, channels)
        assert model.layers[-1].name == f"{pooling}_pool"


def test_overrides_dropout_regularizer_alpha_and_depth_multiplier():
    v3 = build("mobilenet_v3_small", input_shape=(32, 32, 3))
    assert v3.get_layer("dropout").rate == 0.2  # the reference's default
    assert build("mobilenet", input_shape=(32, 32, 3)).get_layer("dropout").rate == 1e-3
    v2 = build("mobilenet_v2", input_shape=(32, 32, 3), dropout_rate=0.3, kernel_regularizer="l2")
    assert v2.get_layer("dropout").rate == 0.3
    assert v2.get_layer("stage2_block1_depthwise_conv").depthwise_regularizer is not None
    assert v2.get_layer("stage2_block1_expand_conv").kernel_regularizer is not None
    assert len(v2.losses) == sum(
        1 for layer in v2.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense,
                                                       keras.layers.DepthwiseConv2D))
    )
    v1 = build("mobilenet", input_shape=(32, 32, 3), alpha=0.5, depth_multiplier=2)
    assert v1.get_layer("stem_conv").filters == 16
    assert v1.get_layer("stage1_block1_depthwise_conv").output.shape[-1] == 32
    for bad in ({"alpha": 0}, {"alpha": "wide"}, {"depth_multiplier": 0}):
        with pytest.raises(UsageError):
            build("mobilenet", input_shape=(32, 32, 3), **bad)
    with pytest.raises(UsageError, match="alpha"):
        build("mobilenet_v3_large", input_shape=(32, 32, 3), alpha=-1.0)
    with pytest.raises(UsageError, match="depth_multiplier"):
        build("mobilenet_v2", depth_multiplier=2)  # not a v2 override


# --- the same computation as keras.applications, given the same weights -------------------

V1_STAGES = {1: (1,), 2: (2, 3), 3: (4, 5), 4: (6, 7, 8, 9, 10, 11), 5: (12, 13)}
V2_STAGES = {1: (0,), 2: (1, 2), 3: (3, 4, 5), 4: (6, 7, 8, 9, 10, 11, 12), 5: (13, 14, 15, 16)}
V3_SMALL_STAGES = {1: (0,), 2: (1, 2), 3: (3, 4, 5, 6, 7), 4: (8, 9, 10)}
V3_LARGE_STAGES = {1: (0,), 2: (1, 2), 3: (3, 4, 5), 4: (6, 7, 8, 9, 10, 11), 5: (12, 13, 14)}


def _block_prefix(stages: dict, block_id: int) -> str:
    for stage, ids in stages.items():
        if block_id in ids:
            return f"stage{stage}_block{ids.index(block_id) + 1}"
    raise AssertionError(block_id)


def _keras_mobilenet_name(name: str) -> str:
    """conv1 → stem_conv, conv_dw_3_bn → stage2_block2_depthwise_bn, conv_preds → logits."""
    fixed = {"conv1": "stem_conv", "conv1_bn": "stem_bn", "conv_preds": "logits"}
    if name in fixed:
        return fixed[name]
    kind, block, bn = re.match(r"conv_(dw|pw)_(\d+)(_bn)?$", name).groups()
    part = {"dw": "depthwise", "pw": "pointwise"}[kind] + ("_bn" if bn else "_conv")
    return f"{_block_prefix(V1_STAGES, int(block))}_{part}"


def _keras_mobilenet_v2_name(name: str) -> str:
    """Conv1 → stem_conv, block_3_expand_BN → stage3_block1_expand_bn, Conv_1 → stage5_last_conv,
    predictions (the Dense) → logits."""
    fixed = {
        "Conv1": "stem_conv",
        "bn_Conv1": "stem_bn",
        "Conv_1": "stage5_last_conv",
        "Conv_1_bn": "stage5_last_bn",
        "predictions": "logits",
    }
    if name in fixed:
        return fixed[name]
    block, part, bn = re.match(r"(?:block_(\d+)|expanded_conv)_(expand|depthwise|project)(_BN)?$",
                               name).groups()
    return f"{_block_prefix(V2_STAGES, int(block or 0))}_{part}{'_bn' if bn else '_conv'}"


def _keras_mobilenet_v3_name(stages: dict):
    last = f"stage{max(stages)}_last"
    fixed = {"conv": "stem_conv", "conv_bn": "stem_bn", "conv_1": f"{last}_conv",
             "conv_1_bn": f"{last}_bn", "conv_2": "fc1", "logits": "logits"}
    parts = {"squeeze_excite_conv": "se_reduce_conv", "squeeze_excite_conv_1": "se_expand_conv"}

    def rename(name: str) -> str:
        if name in fixed:
            return fixed[name]
        block, part = re.match(r"expanded_conv_(?:(\d+)_)?(\w+)$", name).groups()
        part = parts.get(part) or (part[:-3] + "_bn" if part.endswith("_bn") else part + "_conv")
        return f"{_block_prefix(stages, int(block or 0))}_{part}"

    return rename


def _randomize(reference, seed: int) -> None:
    """Non-trivial batch-norm statistics and biases, so every constant of the layout counts."""
    rng = np.random.default_rng(seed)
    for layer in reference.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape), rng.uniform(-0.2, 0.2, beta.shape),
                rng.uniform(-0.2, 0.2, mean.shape), rng.uniform(0.5, 1.5, variance.shape),
            ])
        elif len(layer.get_weights()) == 2:  # kernel and bias
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.uniform(-0.2, 0.2, bias.shape)])


def _assert_same_outputs(reference, model, rename, seed: int) -> None:
    _randomize(reference, seed)
    copied = 0
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(rename(layer.name)).set_weights(layer.get_weights())
            copied += 1
    assert copied == sum(1 for layer in model.layers if layer.weights)
    shape = reference.input_shape[1:]
    x = np.random.default_rng(seed).uniform(-1, 1, size=(2, *shape)).astype("float32")
    want = reference.predict(x, verbose=0)
    assert want.std() > 0
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


# Odd, non-square inputs: keras' stride-2 pads ((0, 1) on v1, correct_pad on v2/v3) must agree.
SMALL = (57, 71, 3)


# Our name: keras.applications' builder, its layer names in ours, the seed of its weights.
V1_V2_REFERENCES = {
    "mobilenet": ("MobileNet", _keras_mobilenet_name, 1),
    "mobilenet_v2": ("MobileNetV2", _keras_mobilenet_v2_name, 2),
}


@pytest.mark.parametrize(
    "name,alpha",
    [("mobilenet", 1.0), ("mobilenet", 0.5), ("mobilenet_v2", 1.0), ("mobilenet_v2", 0.35)],
)
def test_mobilenet_v1_v2_compute_exactly_what_keras_applications_computes(name, alpha):
    reference_builder, rename, seed = V1_V2_REFERENCES[name]
    reference = getattr(keras.applications, reference_builder)(
        weights=None, input_shape=SMALL, classes=10, alpha=alpha, classifier_activation=None
    )
    model = build(name, input_shape=SMALL, num_classes=10, alpha=alpha,
                  classifier_activation=None)
    _assert_same_outputs(reference, model, rename, seed=seed)


@pytest.mark.parametrize(
    "name,reference_builder,stages",
    [
        ("mobilenet_v3_small", "MobileNetV3Small", V3_SMALL_STAGES),
        ("mobilenet_v3_large", "MobileNetV3Large", V3_LARGE_STAGES),
    ],
)
def test_mobilenet_v3_computes_exactly_what_keras_applications_computes(
    name, reference_builder, stages
):
    reference = getattr(keras.applications, reference_builder)(
        weights=None, input_shape=SMALL, classes=10, include_preprocessing=False,
        classifier_activation=None,
    )
    model = build(name, input_shape=SMALL, num_classes=10, classifier_activation=None)
    _assert_same_outputs(reference, model, _keras_mobilenet_v3_name(stages), seed=3)


# --- ResNet101V2 / ResNet152V2 --------------------------------------------------------------


def _keras_resnet_v2_name(last_stage: int):
    def rename(name: str) -> str:
        if name == "conv1_conv":
            return "stem_conv"
        if name == "post_bn":
            return f"stage{last_stage}_post_bn"
        stage, block, part = re.match(r"conv(\d)_block(\d+)_(\w+)$", name).groups()
        part = {"preact_bn": "preact_bn", "0_conv": "downsample_conv"}.get(part) or (
            part[2:] + part[0]
        )
        return f"stage{int(stage) - 1}_block{block}_{part}"

    return rename


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,reference_builder,params",
    [("resnet101v2", "ResNet101V2", 44_577_896), ("resnet152v2", "ResNet152V2", 60_236_904)],
)
def test_deep_resnet_v2_computes_exactly_what_keras_applications_computes(
    name, reference_builder, params
):
    info = get_model_info(name)
    assert info.params == params and info.min_input_size == 32
    reference = getattr(keras.applications, reference_builder)(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    )
    model = build(name, input_shape=(32, 32, 3), include_top=False)
    assert trainable_params(model) == trainable_params(reference) == params - (2048 * 1000 + 1000)
    _assert_same_outputs(reference, model, _keras_resnet_v2_name(4), seed=4)
