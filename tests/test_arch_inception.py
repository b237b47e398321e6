"""GoogLeNet and Inception v3: the Inception blocks on their own, exact published sizes,
torchvision's GoogLeNet layout layer by layer, keras.applications' InceptionV3 layout (same
weights → same outputs), names, stages, auxiliary heads, overrides."""

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

# Written out independently of the registry: torchvision's documented googlenet (6,624,904;
# 1.50 GFLOPS, i.e. multiply-accumulates) and keras.applications' InceptionV3 (23,851,784 in
# all, of which 34,432 are BN moving statistics; torchvision quotes 5.71 G for its Inception v3,
# whose main path is the same layout).
PUBLISHED = {"googlenet": 6_624_904, "inception_v3": 23_817_352}
KERAS_INCEPTION_V3_TOTAL = 23_851_784
PUBLISHED_GMACS = {"googlenet": 1.50, "inception_v3": 5.71}
HEAD = {"avg_pool", "dropout", "logits", "predictions"}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def conv_bn_params(c_in: int, c_out: int, kh: int, kw: int | None = None, scale=True) -> int:
    """A conv without bias + its BN's trainable weights (beta, and gamma when scaled)."""
    return kh * (kw or kh) * c_in * c_out + c_out * (2 if scale else 1)


def block_model(fn, shape, *args, **kwargs):
    inputs = keras.Input(shape, name="input")
    return keras.Model(inputs, fn(inputs, *args, **kwargs))


# ---------------------------------------------------------------- the blocks on their own


def test_inception_module_is_four_branches_concatenated_with_1x1_reductions():
    model = block_model(blocks.inception_module, (28, 28, 192), 64, 96, 128, 16, 32, 32, name="b")
    assert model.output_shape == (None, 28, 28, 64 + 128 + 32 + 32)
    kernels = {
        layer.name: tuple(layer.kernel.shape)
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D)
    }
    assert kernels == {
        "b_branch1_conv1": (1, 1, 192, 64),
        "b_branch2_conv1": (1, 1, 192, 96),  # 1x1 cuts 192 channels to 96 ...
        "b_branch2_conv2": (3, 3, 96, 128),  # ... before the expensive 3x3
        "b_branch3_conv1": (1, 1, 192, 16),
        "b_branch3_conv2": (5, 5, 16, 32),  # the paper's 5x5
        "b_branch4_conv1": (1, 1, 192, 32),
    }
    assert isinstance(model.get_layer("b_branch4_pool"), keras.layers.MaxPooling2D)
    assert model.layers[-1].name == "b_concat"
    bn = model.get_layer("b_branch2_bn2")
    assert (bn.epsilon, bn.momentum, bn.scale) == (1e-3, 0.9, True)
    expected = sum(
        conv_bn_params(c_in, c_out, k)
        for c_in, c_out, k in [
            (192, 64, 1), (192, 96, 1), (96, 128, 3), (192, 16, 1), (16, 32, 5), (192, 32, 1)
        ]
    )
    assert trainable_params(model) == expected
    torchvision_style = block_model(
        blocks.inception_module, (28, 28, 192), 64, 96, 128, 16, 32, 32, kernel_5x5=3, name="b"
    )
    assert torchvision_style.get_layer("b_branch3_conv2").kernel.shape == (3, 3, 16, 32)


def test_the_1x1_reduction_is_what_makes_the_module_cheap():
    """The lecture's arithmetic: 3x3 on 192 channels directly vs after a 1x1 down to 96."""
    direct = block_model(blocks.inception_conv, (28, 28, 192), 128, 3, name="direct")
    reduced = block_model(
        lambda x: blocks.inception_conv(
            blocks.inception_conv(x, 96, 1, name="r", index=1), 128, 3, name="r", index=2
        ),
        (28, 28, 192),
    )
    assert analyze(direct).totals.macs == 28 * 28 * 9 * 192 * 128
    assert analyze(reduced).totals.macs == 28 * 28 * (192 * 96 + 9 * 96 * 128)
    assert analyze(reduced).totals.macs < 0.7 * analyze(direct).totals.macs


def test_inception_v3_modules_factorise_the_big_kernels():
    v3 = {"bn_epsilon": 1e-3, "bn_momentum": 0.99, "bn_scale": False}
    a = block_model(blocks.inception_a, (35, 35, 192), 32, name="a", **v3)
    assert a.output_shape == (None, 35, 35, 256)
    assert a.get_layer("a_branch3_conv2").kernel.shape == (3, 3, 64, 96)  # 5x5 = two 3x3s
    assert a.get_layer("a_branch3_conv3").kernel.shape == (3, 3, 96, 96)
    assert isinstance(a.get_layer("a_branch4_pool"), keras.layers.AveragePooling2D)
    bn = a.get_layer("a_branch1_bn1")
    assert (bn.epsilon, bn.momentum, bn.scale, bn.center) == (1e-3, 0.99, False, True)
    assert trainable_params(a) == sum(
        conv_bn_params(c_in, c_out, k, scale=False)
        for c_in, c_out, k in [
            (192, 64, 1), (192, 48, 1), (48, 64, 5), (192, 64, 1), (64, 96, 3), (96, 96, 3),
            (192, 32, 1)
        ]
    )

    b = block_model(blocks.inception_b, (17, 17, 768), 128, name="b", **v3)
    assert b.output_shape == (None, 17, 17, 768)
    kernels = [tuple(b.get_layer(f"b_branch3_conv{i}").kernel.shape[:2]) for i in range(1, 6)]
    assert kernels == [(1, 1), (7, 1), (1, 7), (7, 1), (1, 7)]  # 7x7 as 1x7 + 7x1, twice
    assert b.get_layer("b_branch2_conv2").kernel.shape == (1, 7, 128, 128)
    assert b.get_layer("b_branch2_conv3").kernel.shape == (7, 1, 128, 192)

    c = block_model(blocks.inception_c, (8, 8, 1280), name="c", **v3)
    assert c.output_shape == (None, 8, 8, 2048)
    assert c.get_layer("c_branch2_conv2a").kernel.shape == (1, 3, 384, 384)
    assert c.get_layer("c_branch2_conv2b").kernel.shape == (3, 1, 384, 384)
    assert c.get_layer("c_branch3_conv3a").kernel.shape == (1, 3, 384, 384)
    assert c.get_layer("c_branch3_concat").output.shape[-1] == 768

    reduce_a = block_model(blocks.grid_reduction_a, (35, 35, 288), name="ra", **v3)
    assert reduce_a.output_shape == (None, 17, 17, 384 + 96 + 288)
    assert reduce_a.get_layer("ra_branch1_conv1").strides == (2, 2)
    assert reduce_a.get_layer("ra_branch1_conv1").padding == "valid"
    reduce_b = block_model(blocks.grid_reduction_b, (17, 17, 768), name="rb", **v3)
    assert reduce_b.output_shape == (None, 8, 8, 320 + 192 + 768)
    assert isinstance(reduce_b.get_layer("rb_branch3_pool"), keras.layers.MaxPooling2D)
    for model in (a, b, c, reduce_a, reduce_b):
        names = [layer.name for layer in model.layers[1:]]
        assert len(names) == len(set(names))
        pattern = r"(a|b|c|ra|rb)_(branch\d_(conv|bn|relu)\w+|branch\d_(pool|concat)|concat)"
        assert all(re.fullmatch(pattern, n) for n in names), names
        assert not [n for n in names if re.search(r"_\d+$", n)]


def _torch_ceil_max_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """torch.nn.MaxPool2d(k, s, ceil_mode=True) on NHWC, written from its definition."""
    def out_size(n):
        out = -(-(n - k) // s) + 1
        return out - 1 if (out - 1) * s >= n else out

    h, w = x.shape[1:3]
    result = np.empty((x.shape[0], out_size(h), out_size(w), x.shape[3]), x.dtype)
    for i in range(result.shape[1]):
        for j in range(result.shape[2]):
            result[:, i, j] = x[:, i * s : i * s + k, j * s : j * s + k].max(axis=(1, 2))
    return result


@pytest.mark.parametrize("size,k,s", [(6, 3, 2), (7, 3, 2), (112, 3, 2), (14, 2, 2), (5, 2, 2)])
def test_ceil_max_pool_matches_torch_ceil_mode(size, k, s):
    x = np.random.default_rng(size).normal(size=(2, size, size + 1, 3)).astype("float32")
    x -= 10.0  # all negative: a zero-padded pool would be caught
    layer_model = block_model(blocks.ceil_max_pool, x.shape[1:], k, s, name="pool")
    want = _torch_ceil_max_pool(x, k, s)
    got = layer_model.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- the registered models


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_default_build_has_published_params_and_macs(name):
    info = get_model_info(name)
    model = build(name)
    assert model.input_shape == (None, *info.default_input_shape)
    assert model.output_shape == (None, 1000)
    assert trainable_params(model) == PUBLISHED[name] == info.params
    macs = conv_dense_macs(model)
    assert macs == info.macs == analyze(model).totals.macs
    assert round(macs / 1e9, 2) == PUBLISHED_GMACS[name]
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert all(re.match(r"^(stem|stage[345])_", n) or n in HEAD for n in names[1:])
    json.dumps(info.as_dict())


def test_table_entries():
    googlenet, v3 = get_model_info("googlenet"), get_model_info("inception_v3")
    assert googlenet.default_input_shape == (224, 224, 3)
    assert v3.default_input_shape == (299, 299, 3)
    assert googlenet.min_input_size == 32  # total stride 32
    assert v3.min_input_size == 75  # keras.applications' minimum, from the unpadded layers
    assert "aux_logits" in googlenet.overrides and "aux_logits" not in v3.overrides
    assert "torchvision" in googlenet.reference and "keras.applications" in v3.reference
    with pytest.raises(UsageError, match="at least 75"):
        build("inception_v3", input_shape=(74, 90, 3))
    with pytest.raises(UsageError, match="does not accept override 'aux_logits'"):
        build("inception_v3", aux_logits=True)


# torchvision's googlenet, written from its module table: (module, in, out, kernel) for
# every BasicConv2d, with the Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5,
# pool_proj) arguments expanded (its "5x5" branch is a 3x3).
TORCHVISION_INCEPTIONS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def torchvision_googlenet_convs() -> dict[str, tuple[int, int, int]]:
    convs = {"conv1": (3, 64, 7), "conv2": (64, 64, 1), "conv3": (64, 192, 3)}
    for module, (c_in, c1, r3, c3, r5, c5, proj) in TORCHVISION_INCEPTIONS.items():
        convs[f"{module}.branch1"] = (c_in, c1, 1)
        convs[f"{module}.branch2.0"] = (c_in, r3, 1)
        convs[f"{module}.branch2.1"] = (r3, c3, 3)
        convs[f"{module}.branch3.0"] = (c_in, r5, 1)
        convs[f"{module}.branch3.1"] = (r5, c5, 3)
        convs[f"{module}.branch4.1"] = (c_in, proj, 1)
    return convs


def torchvision_to_kerascnn(name: str) -> str:
    """torchvision googlenet module name → our conv layer (inception4b.branch2.1 →
    stage4_block2_branch2_conv2; conv3 → stem_conv3; aux1.conv → aux1_conv)."""
    if re.fullmatch(r"conv\d", name):
        return f"stem_{name}"
    if re.fullmatch(r"aux\d\.conv", name):
        return name.replace(".", "_")
    stage, letter, branch, position = re.fullmatch(
        r"inception(\d)([a-e])\.branch(\d)(?:\.(\d))?", name
    ).groups()
    index = 1 if position is None or branch == "4" else int(position) + 1
    return f"stage{stage}_block{'abcde'.index(letter) + 1}_branch{branch}_conv{index}"


def test_googlenet_is_torchvisions_layout_layer_for_layer():
    model = build("googlenet")
    convs = {
        layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    }
    table = torchvision_googlenet_convs()
    assert len(convs) == len(table) == 57
    for torch_name, (c_in, c_out, kernel) in table.items():
        conv = convs[torchvision_to_kerascnn(torch_name)]
        assert tuple(conv.kernel.shape) == (kernel, kernel, c_in, c_out), torch_name
        assert not conv.use_bias
        bn = model.get_layer(conv.name.replace("_conv", "_bn"))
        assert (bn.epsilon, bn.momentum, bn.scale) == (1e-3, 0.9, True)
    assert model.get_layer("stem_pad1").output.shape[1] == 230  # 7x7/2 with torch's pad 3
    sizes = {
        name: model.get_layer(name).output.shape[1]
        for name in ("stem_relu1", "stem_pool1", "stage3_pool", "stage4_pool", "stage5_pool")
    }
    assert sizes == {
        "stem_relu1": 112,
        "stem_pool1": 56,
        "stage3_pool": 28,
        "stage4_pool": 14,
        "stage5_pool": 7,
    }
    assert model.get_layer("dropout").rate == 0.2
    assert model.get_layer("logits").kernel.shape == (1024, 1000)


def test_googlenet_auxiliary_heads_train_with_weighted_losses():
    model = build("googlenet", aux_logits=True)
    assert len(model.outputs) == 3 and model.output_shape == [(None, 1000)] * 3
    # torchvision's googlenet(aux_logits=True): 6,624,904 + aux1 (512 in) + aux2 (528 in).
    aux = [conv_bn_params(c_in, 128, 1) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
           for c_in in (512, 528)]
    assert trainable_params(model) == 6_624_904 + sum(aux) == 13_004_888
    assert model.get_layer("aux1_pool").input.shape[1:] == (14, 14, 512)
    assert model.get_layer("aux2_pool").input.shape[1:] == (14, 14, 528)
    assert model.get_layer("aux1_dropout").rate == 0.7
    assert conv_dense_macs(model) > get_model_info("googlenet").macs
    assert build("googlenet", aux_logits=True, include_top=False).output_shape == (
        None, 7, 7, 1024
    )

    small = build("googlenet", input_shape=(64, 64, 3), num_classes=3, aux_logits=True)
    assert small.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    small.compile(
        "sgd",
        ["sparse_categorical_crossentropy"] * 3,
        loss_weights=[1.0, 0.3, 0.3],
        run_eagerly=True,  # one step: tracing the three-headed graph would cost far more
    )
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(4, 64, 64, 3)).astype("float32"), rng.integers(0, 3, 4)
    history = small.fit(x, (y, y, y), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert [p.shape for p in small.predict(x, verbose=0)] == [(4, 3)] * 3


@pytest.mark.parametrize(
    "name,shape,stages",
    [
        (
            "googlenet",
            (64, 64, 1),
            {"stem": (16, 16, 192), "stage3": (8, 8, 480), "stage4": (4, 4, 832),
             "stage5": (2, 2, 1024)},
        ),
        (
            "inception_v3",
            (75, 75, 3),
            {"stem": (15, 15, 192), "stage3": (7, 7, 288), "stage4": (3, 3, 768),
             "stage5": (1, 1, 2048)},
        ),
    ],
)
def test_small_inputs_stages_and_feature_extraction(name, shape, stages):
    model = build(name, input_shape=shape, num_classes=5, dropout_rate=0.1,
                  kernel_regularizer="l2")
    x = np.random.default_rng(1).uniform(size=(2, *shape)).astype("float32")
    probs = keras.ops.convert_to_numpy(model(x, training=False))  # eager: no graph to trace
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("dropout").rate == 0.1
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel")]
    assert kernels and all(layer.kernel_regularizer is not None for layer in kernels)

    backbone = build(name, input_shape=shape, include_top=False, pooling="avg")
    assert backbone.output_shape == (None, stages["stage5"][2])
    assert backbone.layers[-1].name == "avg_pool"
    fx = feature_extractor(name, input_shape=shape)  # a second build of the same backbone
    assert {k: tuple(v.shape[1:]) for k, v in fx.output.items()} == stages
    first = [layer.name for layer in backbone.layers[:-1]]
    assert first == [layer.name for layer in fx.layers]
    assert not [n for n in first if re.search(r"_\d+$", n)]
    assert stage_outputs(backbone)["stage5"] is backbone.layers[-2].output


# keras.applications' InceptionV3 makes its convs in this order (its layers carry automatic
# names, conv2d, conv2d_1, …, so the order is the mapping): ours, branch by branch.
def _keras_inception_v3_conv_order() -> list[str]:
    order = [f"stem_conv{i}" for i in range(1, 6)]

    def convs(block, branch, indices):
        return [f"{block}_branch{branch}_conv{i}" for i in indices]

    for b in (1, 2, 3):  # 35x35 modules
        block = f"stage3_block{b}"
        order += convs(block, 1, [1]) + convs(block, 2, [1, 2]) + convs(block, 3, [1, 2, 3])
        order += convs(block, 4, [1])
    order += convs("stage4_block1", 1, [1]) + convs("stage4_block1", 2, [1, 2, 3])
    for b in (2, 3, 4, 5):  # 17x17 modules
        block = f"stage4_block{b}"
        order += convs(block, 1, [1]) + convs(block, 2, [1, 2, 3])
        order += convs(block, 3, [1, 2, 3, 4, 5]) + convs(block, 4, [1])
    order += convs("stage5_block1", 1, [1, 2]) + convs("stage5_block1", 2, [1, 2, 3, 4])
    for b in (2, 3):  # 8x8 modules
        block = f"stage5_block{b}"
        order += convs(block, 1, [1]) + convs(block, 2, [1, "2a", "2b"])
        order += convs(block, 3, [1, 2, "3a", "3b"]) + convs(block, 4, [1])
    return order


def _keras_inception_v3_name(name: str, conv_order: list[str]) -> str:
    """keras.applications InceptionV3 layer name → ours (conv2d_7 → the 8th conv made,
    batch_normalization_7 → its BN, predictions → logits)."""
    if name == "predictions":
        return "logits"
    kind, number = re.fullmatch(r"(conv2d|batch_normalization)(?:_(\d+))?", name).groups()
    conv = conv_order[int(number or 0)]
    return conv if kind == "conv2d" else re.sub(r"_conv(\w+)$", r"_bn\1", conv)


def test_inception_v3_computes_exactly_what_keras_applications_inceptionv3_computes():
    """Same layout: random weights (BN statistics too) copied by name give identical logits,
    and the weighted layers come in the same order, so its weight files load as they are."""
    keras.backend.clear_session()  # keras' automatic names count from conv2d again
    reference = keras.applications.InceptionV3(
        weights=None, input_shape=(75, 75, 3), classes=10, classifier_activation=None
    )
    assert reference.count_params() == KERAS_INCEPTION_V3_TOTAL - 2048 * 990 - 990
    rng = np.random.default_rng(2)
    reference.set_weights(
        [rng.uniform(0.5, 1.5, w.shape).astype("float32") if "variance" in w.path
         else rng.normal(0, 0.1, w.shape).astype("float32") for w in reference.weights]
    )
    model = build("inception_v3", input_shape=(75, 75, 3), num_classes=10,
                  classifier_activation=None)
    conv_order = _keras_inception_v3_conv_order()
    copied = 0
    for layer in reference.layers:
        if layer.weights:
            model.get_layer(_keras_inception_v3_name(layer.name, conv_order)).set_weights(
                layer.get_weights()
            )
            copied += 1
    ours = [layer for layer in model.layers if layer.weights]
    assert copied == len(ours) == 189
    theirs = [layer for layer in reference.layers if layer.weights]
    assert [_keras_inception_v3_name(layer.name, conv_order) for layer in theirs] == [
        layer.name for layer in ours
    ]
    x = rng.uniform(-1, 1, size=(2, 75, 75, 3)).astype("float32")
    want = reference.predict(x, verbose=0)
    assert want.std() > 1e-2
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
