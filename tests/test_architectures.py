"""The model zoo: exact published parameter counts, MACs, shapes, names, errors, save/load."""

from __future__ import annotations

import json
import re
import sys

import keras
import numpy as np
import pytest
from _model_counts import conv_dense_macs, layer_names, trainable_params

import kerascnn
from kerascnn.architectures import (
    _registry,
    build,
    feature_extractor,
    get_model_info,
    list_models,
    register,
    save_model,
    stage_outputs,
)
from kerascnn.arithmetic import analyze
from kerascnn.errors import UsageError
from kerascnn.layers import Padding2D, ZeroPadShortcut
from kerascnn.loading import load_keras_file

# Published trainable-parameter counts (LeCun 1998 / torchvision / keras.applications /
# He et al. 2016 CIFAR), written out independently of the registry's table.
PUBLISHED_PARAMS = {
    "lenet5": 61_706,
    "alexnet": 61_100_840,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840,
    "vgg13_bn": 133_053_736,
    "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnet50v2": 25_568_360,
    "resnet101v2": 44_577_896,
    "resnet152v2": 60_236_904,
    "mobilenet": 4_231_976,
    "mobilenet_v2": 3_504_872,
    "mobilenet_v3_small": 2_542_856,
    "mobilenet_v3_large": 5_483_032,
    "resnext50_32x4d": 25_028_904,
    "wide_resnet50_2": 68_883_240,
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    "densenet121": 7_978_856,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "googlenet": 6_624_904,
    "inception_v3": 23_817_352,
}
# Depth as the literature counts it: weighted layers on the longest path (the number in the name;
# GoogLeNet "22 layers deep", Inception v3 "48 layers deep" as its common documentation says,
# MobileNet v1 28 counting depthwise and pointwise layers apart, MobileNetV2 53).
PUBLISHED_DEPTH = {
    "lenet5": 5, "alexnet": 8, "vgg11": 11, "vgg16": 16, "vgg19": 19, "resnet18": 18,
    "resnet50": 50, "resnet152": 152, "resnet110": 110, "googlenet": 22, "inception_v3": 48,
    "densenet121": 121, "densenet201": 201, "mobilenet": 28, "mobilenet_v2": 53,
}
# Models whose default build allocates > 50M parameters: correct but slow on a busy CPU.
HEAVY = {n for n, p in PUBLISHED_PARAMS.items() if p > 50_000_000}


def _models(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def test_registry_has_every_required_model():
    assert set(PUBLISHED_PARAMS) <= set(list_models())
    assert list_models() == sorted(set(list_models()), key=_registry._natural_key)
    assert list_models("vgg") == [
        "vgg11",
        "vgg11_bn",
        "vgg13",
        "vgg13_bn",
        "vgg16",
        "vgg16_bn",
        "vgg19",
        "vgg19_bn",
    ]


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_table_entry_carries_reference_published_params_macs_and_min_size(name):
    info = get_model_info(name)
    assert info.name == name and info.params == PUBLISHED_PARAMS[name]
    assert info.reference and info.macs > 0 and info.min_input_size >= 1
    assert "dropout_rate" in info.overrides and "kernel_regularizer" in info.overrides
    json.dumps(info.as_dict())
    if name == "lenet5":
        assert (info.default_input_shape, info.default_num_classes) == ((32, 32, 1), 10)
    elif info.family == "resnet_cifar":
        assert (info.default_input_shape, info.default_num_classes) == ((32, 32, 3), 10)
    elif name == "inception_v3":  # keras.applications' default
        assert (info.default_input_shape, info.default_num_classes) == ((299, 299, 3), 1000)
    else:
        assert (info.default_input_shape, info.default_num_classes) == ((224, 224, 3), 1000)


@pytest.mark.parametrize("name", _models(sorted(PUBLISHED_PARAMS)))
def test_default_build_has_exact_published_params_and_table_macs(name):
    """No forward pass: building allocates the weights; counts come from their shapes."""
    info = get_model_info(name)
    model = build(name)
    assert model.name == name
    assert model.input_shape == (None, *info.default_input_shape)
    assert model.output_shape == (None, info.default_num_classes)
    assert trainable_params(model) == PUBLISHED_PARAMS[name] == info.params
    assert conv_dense_macs(model) == info.macs
    assert model.layers[-1].name == "predictions"
    report = analyze(model)
    assert report.depth == info.depth == PUBLISHED_DEPTH.get(name, info.depth)
    assert report.feature_receptive_field == (info.receptive_field,) * 2


def test_macs_agree_with_published_figures():
    # torchvision / paper figures: ResNet-50 4.09 GMACs, VGG-16 15.47, ResNet-18 1.81, AlexNet 0.71.
    assert round(get_model_info("resnet50").macs / 1e9, 2) == 4.09
    assert round(get_model_info("vgg16").macs / 1e9, 2) == 15.47
    assert round(get_model_info("resnet18").macs / 1e9, 2) == 1.81
    assert round(get_model_info("alexnet").macs / 1e9, 2) == 0.71


HEAD_LAYERS = {
    "adaptive_pool",
    "flatten",
    "fc1",
    "fc1_relu",
    "fc1_tanh",
    "fc1_dropout",
    "fc2",
    "fc2_relu",
    "fc2_dropout",
    "avg_pool",
    "dropout",
    "logits",
    "logits_dropout",
    "predictions",
}


@pytest.mark.parametrize("name", _models(sorted(PUBLISHED_PARAMS)))
def test_forward_pass_at_the_minimum_input_size(name):
    """One build per model at its smallest (non-square) input: probabilities out, every layer
    named by the block convention (an unnamed layer would get a Keras auto name), and one
    pixel less is refused with the minimum in the message."""
    info = get_model_info(name)
    minimum = info.min_input_size
    channels = info.default_input_shape[2]
    model = build(name, input_shape=(minimum, minimum + 5, channels), num_classes=7)
    assert all(dim >= 1 for layer in model.layers[1:] for dim in _spatial(layer))
    x = np.random.default_rng(0).uniform(size=(2, minimum, minimum + 5, channels))
    probs = model.predict(x.astype("float32"), verbose=0)
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    names = layer_names(model)
    assert len(names) == len(set(names))
    assert names[0] == "input"
    unexpected = [
        n for n in names[1:] if not re.match(r"^(stem|stage\d+)_", n) and n not in HEAD_LAYERS
    ]
    assert not unexpected
    with pytest.raises(UsageError, match=rf"too small for {name}: .*at least {minimum}\b"):
        build(name, input_shape=(minimum - 1, minimum + 5, channels))
    with pytest.raises(UsageError, match=f"at least {minimum}"):
        build(name, input_shape=(minimum + 5, minimum - 1, channels))


def _spatial(layer):
    shape = layer.output.shape
    return shape[1:3] if len(shape) == 4 else ()


# The families added with the lectures' second half, held to the first half's standard.
LECTURE_FAMILIES = [
    "googlenet", "inception_v3", "densenet121", "densenet169", "densenet201", "mobilenet",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet101v2", "resnet152v2",
]


@pytest.mark.parametrize("name", LECTURE_FAMILIES)
def test_new_families_take_any_channels_pool_and_expose_their_stages(name):
    """At the smallest input, with one channel: stable names built twice, a pooled headless
    backbone, and one feature map per stage, the last of them the backbone's output."""
    info = get_model_info(name)
    shape = (info.min_input_size, info.min_input_size, 1)
    first = layer_names(build(name, input_shape=shape, num_classes=3))
    assert first == layer_names(build(name, input_shape=shape, num_classes=3))
    assert not [n for n in first if re.search(r"_\d+$", n)]  # no Keras "_1" counters
    backbone = build(name, input_shape=shape, include_top=False)
    channels = backbone.output_shape[-1]
    for pooling in ("avg", "max"):
        pooled = build(name, input_shape=shape, include_top=False, pooling=pooling)
        assert pooled.output_shape == (None, channels)
    stages = stage_outputs(backbone)
    assert list(stages)[0] == "stem" and len(stages) >= 4
    assert tuple(list(stages.values())[-1].shape) == tuple(backbone.output.shape)


def test_layer_names_are_identical_when_built_twice_in_one_process():
    for name, kwargs in [
        ("lenet5", {}),
        ("resnet20", {"padding_mode": "reflect"}),
        ("resnet50v2", {"input_shape": (32, 32, 3), "include_top": False}),
        ("resnext50_32x4d", {"input_shape": (32, 32, 3), "include_top": False}),
        ("vgg11_bn", {"input_shape": (32, 32, 3), "include_top": False}),
        ("alexnet", {"input_shape": (63, 63, 3), "include_top": False}),
    ]:
        first = layer_names(build(name, **kwargs))
        second = layer_names(build(name, **kwargs))
        assert first == second, name
        assert not [n for n in first if re.search(r"_\d+$", n)]  # no Keras "_1" counters


def test_min_sizes_follow_the_networks_strides():
    assert get_model_info("lenet5").min_input_size == 32  # C5 needs a 5x5 S4 map
    assert get_model_info("alexnet").min_input_size == 63  # three 3x3/2 pools after 11x11/4
    assert get_model_info("vgg16").min_input_size == 32  # five 2x2 pools
    assert get_model_info("resnet50").min_input_size == 32  # total stride 32
    assert get_model_info("resnet20").min_input_size == 4  # total stride 4


def test_any_channels_and_classes():
    gray = build("resnet18", input_shape=(64, 64, 1), num_classes=37)
    assert gray.output_shape == (None, 37)
    assert gray.get_layer("stem_conv").kernel.shape == (7, 7, 1, 64)
    assert trainable_params(gray) == 11_689_512 - 7 * 7 * 2 * 64 - 513 * 963
    four = build("vgg11", input_shape=(32, 32, 4), num_classes=2, include_top=False)
    assert four.get_layer("stage1_conv1").kernel.shape == (3, 3, 4, 64)
    x = np.ones((1, 32, 32, 4), "float32")
    assert four.predict(x, verbose=0).shape == (1, 1, 1, 512)


@pytest.mark.parametrize(
    "name,size,features,channels",
    [
        ("resnet18", 64, 2, 512),
        ("vgg11", 64, 2, 512),
        ("resnet20", 32, 8, 64),
        ("lenet5", 32, 1, 120),
        ("alexnet", 63, 1, 256),
        ("resnet50v2", 64, 2, 2048),
    ],
)
def test_include_top_false_with_pooling(name, size, features, channels):
    in_channels = get_model_info(name).default_input_shape[2]
    shape = (size, size, in_channels)
    assert build(name, input_shape=shape, include_top=False).output_shape == (
        None,
        features,
        features,
        channels,
    )
    for pooling in ("avg", "max"):
        model = build(name, input_shape=shape, include_top=False, pooling=pooling)
        assert model.output_shape == (None, channels)
        assert model.layers[-1].name == f"{pooling}_pool"


def test_classifier_activation_none_gives_logits():
    model = build("lenet5", classifier_activation=None)
    x = np.random.default_rng(1).uniform(size=(3, 32, 32, 1)).astype("float32")
    logits = model.predict(x, verbose=0)
    assert not np.allclose(logits.sum(axis=1), 1.0)
    sigmoid = build("lenet5", num_classes=3, classifier_activation="sigmoid")
    scores = sigmoid.predict(x, verbose=0)
    assert scores.shape == (3, 3) and ((scores > 0) & (scores < 1)).all()
    assert model.get_layer("predictions").dtype_policy.compute_dtype == "float32"


def test_feature_extractor_and_stage_outputs(tmp_path):
    fx = feature_extractor("resnet50", input_shape=(64, 64, 3))
    shapes = {k: tuple(v.shape[1:]) for k, v in fx.output.items()}
    assert shapes == {
        "stem": (16, 16, 64),
        "stage1": (16, 16, 256),
        "stage2": (8, 8, 512),
        "stage3": (4, 4, 1024),
        "stage4": (2, 2, 2048),
    }
    outs = fx.predict(np.zeros((1, 64, 64, 3), "float32"), verbose=0)
    assert outs["stage3"].shape == (1, 4, 4, 1024)
    subset = feature_extractor("vgg11", input_shape=(32, 32, 3), stages=["stage4", "stage5"])
    assert {k: v.shape[1] for k, v in subset.output.items()} == {"stage4": 2, "stage5": 1}
    with pytest.raises(UsageError, match="unknown stage 'stage9'"):
        feature_extractor("resnet20", stages=["stage9"])
    # The v2 last stage ends with its post-activation; works on a loaded model too.
    v2 = build("resnet50v2", input_shape=(64, 64, 3), include_top=False)
    assert stage_outputs(v2)["stage4"] is v2.get_layer("stage4_post_relu").output
    path = tmp_path / "r20.keras"
    build("resnet20").save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert [v.shape[1] for v in stage_outputs(loaded).values()] == [32, 32, 16, 8]


def test_overrides_dropout_rate_and_kernel_regularizer():
    vgg = build("vgg11", input_shape=(32, 32, 3), num_classes=3, dropout_rate=0.2)
    rates = [layer.rate for layer in vgg.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.2, 0.2]
    resnet = build("resnet18", input_shape=(32, 32, 3), dropout_rate=0.3)
    assert resnet.get_layer("dropout").rate == 0.3
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in build("resnet18").layers)
    lenet = build("lenet5", dropout_rate=0.1)
    assert [layer.name for layer in lenet.layers if isinstance(layer, keras.layers.Dropout)] == [
        "fc1_dropout",
        "logits_dropout",
    ]
    reg = keras.regularizers.L2(1e-4)
    model = build("resnet20", kernel_regularizer=reg)
    kernels = [
        layer
        for layer in model.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    assert kernels and all(layer.kernel_regularizer is not None for layer in kernels)
    model(np.zeros((1, 32, 32, 3), "float32"))
    assert len(model.losses) == len(kernels)
    by_name = build("lenet5", kernel_regularizer="l2")
    assert by_name.get_layer("stage1_conv").kernel_regularizer is not None


def test_resnet_family_overrides():
    v1 = build("resnet50", input_shape=(32, 32, 3), variant="v1")
    v15 = build("resnet50", input_shape=(32, 32, 3))
    assert v1.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert v1.get_layer("stage2_block1_conv2").strides == (1, 1)
    assert v15.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert trainable_params(v1) == trainable_params(v15)
    option_a = build("resnet18", shortcut="A", input_shape=(32, 32, 3))
    assert isinstance(option_a.get_layer("stage2_block1_shortcut"), ZeroPadShortcut)
    assert trainable_params(option_a) == 11_689_512 - (8_192 + 256) - (32_768 + 512) - (
        131_072 + 1_024
    )
    zero = build("resnet20", zero_init_residual=True)
    assert not zero.get_layer("stage1_block1_bn2").gamma.numpy().any()
    elu = build("resnet20", activation="elu")
    assert elu.get_layer("stem_elu").activation.__name__ == "elu"
    with pytest.raises(UsageError, match="unknown ResNet variant 'v2'"):
        build("resnet50", variant="v2")
    with pytest.raises(UsageError, match="resnet18 does not accept override 'variant'"):
        build("resnet18", variant="v1")
    lenet = build("lenet5", activation="relu", pool="max")
    assert isinstance(lenet.get_layer("stage1_pool"), keras.layers.MaxPooling2D)


def test_errors_are_one_line_usage_errors():
    with pytest.raises(
        UsageError, match=r"unknown model 'resnett50' \(did you mean 'resnet50'\?\)"
    ):
        build("resnett50")
    with pytest.raises(UsageError, match="unknown model 'vgg_16'.*'vgg16'"):
        get_model_info("vgg_16")
    with pytest.raises(UsageError, match="does not accept override 'width'"):
        build("vgg11", width=2)
    with pytest.raises(UsageError, match="num_classes must be a positive integer"):
        build("lenet5", num_classes=0)
    with pytest.raises(UsageError, match="unknown pooling 'mean'"):
        build("lenet5", include_top=False, pooling="mean")
    with pytest.raises(UsageError, match="bad input shape"):
        build("lenet5", input_shape=(32, 32))
    with pytest.raises(UsageError, match="bad input shape"):
        build("lenet5", input_shape=(32.5, 32, 1))
    with pytest.raises(UsageError, match="dropout_rate must be a number"):
        build("vgg11", dropout_rate=1.0)
    with pytest.raises(UsageError, match="bad kernel_regularizer"):
        build("lenet5", kernel_regularizer="l7")
    with pytest.raises(UsageError, match="unknown classifier_activation 'softmx'"):
        build("lenet5", classifier_activation="softmx")
    with pytest.raises(UsageError, match="unknown activation 'relu6'"):
        build("vgg11", activation="relu6")
    with pytest.raises(UsageError, match="unknown shortcut option 'C'"):
        build("resnet20", shortcut="C")
    with pytest.raises(UsageError, match="unknown padding mode"):
        build("resnet20", padding_mode="wrap")


def test_lazy_package_level_api():
    assert kerascnn.list_models() == list_models()
    assert kerascnn.get_model_info("lenet5").params == 61_706
    assert kerascnn.build("lenet5").name == "lenet5"


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("lenet5", {}),
        ("resnet20", {}),  # option A: ZeroPadShortcut, not a Lambda
        ("resnet20", {"padding_mode": "circular"}),
        ("vgg11_bn", {"input_shape": (32, 32, 3), "include_top": False, "padding_mode": "reflect"}),
        ("resnext50_32x4d", {"input_shape": (32, 32, 3), "include_top": False}),
    ],
)
def test_keras_file_round_trip_in_safe_mode(tmp_path, name, kwargs):
    model = build(name, **kwargs)
    if kwargs.get("padding_mode") == "circular":
        assert any(
            isinstance(layer, Padding2D) and layer.mode == "circular" for layer in model.layers
        )
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.name == name and layer_names(loaded) == layer_names(model)
    shape = model.input_shape[1:]
    x = np.random.default_rng(2).uniform(size=(2, *shape)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


def test_circular_padding_changes_the_function_of_the_model():
    # Compare logits: an untrained net's softmax can saturate to the same one-hot output.
    zeros = build("resnet20", num_classes=3, classifier_activation=None)
    circular = build("resnet20", num_classes=3, padding_mode="circular", classifier_activation=None)
    circular.set_weights(zeros.get_weights())
    x = np.random.default_rng(3).uniform(size=(2, 32, 32, 3)).astype("float32")
    assert not np.allclose(zeros.predict(x, verbose=0), circular.predict(x, verbose=0))


def test_build_guards_recursion_for_deep_graphs():
    """A graph deeper than the recursion limit allows builds through ``build``, not without it."""
    previous = sys.getrecursionlimit()
    depth, frame = 0, sys._getframe()
    while frame is not None:  # the stack pytest already uses
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(depth + 150)
    try:
        model = build("resnet56", input_shape=(8, 8, 3))  # ~200 layers
        assert len(model.layers) == 200
        assert sys.getrecursionlimit() == depth + 150
        inputs = keras.Input((8, 8, 3))
        outputs = get_model_info("resnet56").builder(
            inputs,
            num_classes=10,
            include_top=True,
            pooling=None,
            classifier_activation="softmax",
            **get_model_info("resnet56").config,
        )
        with pytest.raises(RecursionError):
            keras.Model(inputs, outputs)
    finally:
        sys.setrecursionlimit(previous)


@pytest.mark.slow
def test_resnet152_builds_and_round_trips(tmp_path):
    model = build("resnet152", input_shape=(32, 32, 3), num_classes=5)
    assert len(model.layers) > 500
    path = tmp_path / "resnet152.keras"
    save_model(model, path)
    loaded = load_keras_file(path, compile=True)
    x = np.random.default_rng(4).uniform(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-6
    )


def test_register_a_custom_model():
    from kerascnn import blocks

    @register(
        "test_tiny_cnn",
        family="custom",
        default_input_shape=(16, 16, 1),
        default_num_classes=4,
        params=None,
        reference="test",
        min_size=4,
    )
    def tiny(
        inputs,
        *,
        num_classes,
        include_top,
        pooling,
        classifier_activation,
        dropout_rate=0.0,
        kernel_regularizer=None,
    ):
        x = blocks.conv_bn_act(inputs, 8, 3, strides=2, name="stage1")
        x = blocks.global_pool(x, "avg", name="avg_pool")
        return blocks.dense(x, num_classes, name="logits") if include_top else x

    try:
        assert "test_tiny_cnn" in list_models("custom")
        assert build("test_tiny_cnn").output_shape == (None, 4)
        with pytest.raises(UsageError, match="at least 4"):
            build("test_tiny_cnn", input_shape=(3, 3, 1))
        with pytest.raises(KeyError, match="already registered"):
            register("test_tiny_cnn", family="custom", builder=tiny)
    finally:
        _registry._REGISTRY.pop("test_tiny_cnn", None)


def _keras_resnet50v2_name(name: str) -> str:
    """keras.applications ResNet50V2 layer name → kerascnn's (conv3_block2_1_conv →
    stage2_block2_conv1; _0_conv → _downsample_conv; post_bn → stage4_post_bn)."""
    if name == "conv1_conv":
        return "stem_conv"
    if name == "post_bn":
        return "stage4_post_bn"
    stage, block, part = re.match(r"conv(\d)_block(\d+)_(\w+)$", name).groups()
    part = {"preact_bn": "preact_bn", "0_conv": "downsample_conv"}.get(part) or part[2:] + part[0]
    return f"stage{int(stage) - 1}_block{block}_{part}"


def test_resnet50v2_computes_exactly_what_keras_applications_resnet50v2_computes():
    """Same layout: keras.applications' weights, copied layer by layer, give identical features."""
    reference = keras.applications.ResNet50V2(
        weights=None, include_top=False, input_shape=(64, 64, 3)
    )
    model = build("resnet50v2", input_shape=(64, 64, 3), include_top=False)
    copied = 0
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(_keras_resnet50v2_name(layer.name)).set_weights(layer.get_weights())
            copied += 1
    assert copied == sum(1 for layer in model.layers if layer.weights) == 102
    x = np.random.default_rng(5).uniform(0, 1, size=(2, 64, 64, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    assert want.std() > 0
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_vgg16_features_compute_what_keras_applications_vgg16_computes():
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    model = build("vgg16", input_shape=(32, 32, 3), include_top=False)
    model.set_weights(reference.get_weights())  # same layers in the same order
    x = np.random.default_rng(6).uniform(0, 1, size=(2, 32, 32, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    assert want.std() > 0
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_custom_layers_train_under_mixed_precision_and_xla():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build("resnet20", input_shape=(16, 16, 3), num_classes=3, padding_mode="circular")
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.output.dtype == "float32"  # the predictions layer stays float32
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
    rng = np.random.default_rng(7)
    x, y = rng.uniform(size=(4, 16, 16, 3)).astype("float32"), rng.integers(0, 3, 4)
    before = model.get_layer("stem_conv").kernel.numpy().copy()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.get_layer("stem_conv").kernel.numpy(), before)
