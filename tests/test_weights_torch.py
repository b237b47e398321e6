"""torchvision-layout weights (issue 12): the references write, kerascnn reads, logits agree.

Each model's reference is torchvision's own module (and, where timm republishes the weights as
``<model>.tv_in1k``, timm's): random weights, batch-norm affine parameters and running
statistics randomised so a wrong epsilon, a swapped mean/variance or a missing tensor shows in
the logits, and the last fc rescaled so the logits are of order one. The reference saves its
state dict as the publisher does (``torch.save`` → ``.pth``; ``safetensors.torch.save_file`` →
``.safetensors`` for timm), kerascnn reads the file with :func:`kerascnn.weights.files.read_state`
and :func:`~kerascnn.weights.torch_layout.assign_torch_state` loads it into the model built with
the source table's ``build_overrides``; both see the same batch (NCHW for torch, NHWC for Keras)
and the logits must agree within 1e-4.

Inputs are small where torch and Keras accept them (64×64); VGG runs at 112 and AlexNet at 127
so the map in front of the adaptive pool has several cells and the flatten order before the
first fc is really tested.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")

import keras  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from kerascnn.architectures import build  # noqa: E402
from kerascnn.errors import UsageError  # noqa: E402
from kerascnn.weights.errors import WeightsMismatch  # noqa: E402
from kerascnn.weights.files import read_state  # noqa: E402
from kerascnn.weights.sources import SOURCES, find_source, sources_for  # noqa: E402
from kerascnn.weights.torch_layout import (  # noqa: E402
    MODELS,
    assign_torch_state,
    build_overrides,
    torch_keys,
)

TOLERANCE = 1e-4
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32").reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32").reshape(1, 3, 1, 1)

# Smallest input side both accept and that still exercises the head (see the module docstring).
SIDE = {"alexnet": 127, **{name: 112 for name in MODELS if name.startswith("vgg")}}
# The bigger variants (over ~20 s each here) check torchvision's file only: timm's copies of them
# use the same keys as their smaller siblings', whose timm files the quick tests load.
SLOW = {"vgg11"}  # the one plain (no batch norm) VGG CI checks
# Deeper or wider siblings whose key names and conversions the models above already cover: run
# by hand (pytest -m stress) to keep CI within its time; their measured figures are in the README.
STRESS = {
    "resnet101", "resnet152", "wide_resnet50_2", "densenet169", "densenet201",
    "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
}  # fmt: skip


def _marked(name):
    if name in STRESS:
        return pytest.param(name, marks=pytest.mark.stress)
    if name in SLOW:
        return pytest.param(name, marks=pytest.mark.slow)
    return name


def _randomize(reference, seed: int = 0):
    """Random BN affine parameters and running statistics; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0.0, 0.2, generator=generator)
                module.running_mean.normal_(0.0, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
    return reference.eval()


def _scale_logits(reference, images: np.ndarray):
    """Rescale the last fc so the logits have standard deviation ~1 (AlexNet's and VGG's
    default init gives ~0.03, where an absolute 1e-4 would be a loose test)."""
    last = [m for m in reference.modules() if isinstance(m, torch.nn.Linear)][-1]
    spread = float(np.std(_torch_logits(reference, images)))
    with torch.no_grad():
        last.weight /= spread
        last.bias /= spread
    return reference


def _torch_logits(reference, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        output = reference(torch.from_numpy(images))
    return output.numpy()


def _keras_logits(model, images: np.ndarray):
    outputs = model(images.transpose(0, 2, 3, 1), training=False)
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return np.asarray(outputs)


def _images(side: int, batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, 3, side, side)).astype("float32")


def _torchvision(name: str, **kwargs):
    if name == "googlenet":  # torchvision only initialises it itself when asked
        kwargs = {"aux_logits": False, "init_weights": True, **kwargs}
    torch.manual_seed(0)
    return _randomize(getattr(torchvision.models, name)(weights=None, **kwargs))


def _torch_source(name: str):
    return next(s for s in sources_for(name) if s.layout == "torchvision")


def _delta(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got) - np.asarray(want))))


def _report(name: str, source: str, delta: float) -> None:
    # `pytest -s` prints the closing note's table rows.
    print(f"\nmax |dlogit| {name:18s} {source:28s} {delta:.2e}")


@pytest.fixture(autouse=True)
def _free_models():
    """Each test builds large models; let them go before the next one."""
    yield
    keras.backend.clear_session()
    gc.collect()


# ------------------------------------------------------------------------ every model, both files


@pytest.mark.parametrize("name", [_marked(n) for n in MODELS])
def test_reference_state_dicts_give_the_references_logits(name, tmp_path):
    side = SIDE.get(name, 64)
    images = _images(side)
    source = _torch_source(name)
    model = build(
        name,
        input_shape=(side, side, 3),
        classifier_activation=None,
        **source.build_overrides,
    )

    reference = _scale_logits(_torchvision(name), images)
    want = _torch_logits(reference, images)
    pth = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), pth)
    del reference
    assign_torch_state(model, read_state(pth), include_top=True)
    pth.unlink()  # VGG's file is over 500 MB: CI's disk is shared, free it at once
    delta = _delta(_keras_logits(model, images), want)
    _report(name, "torchvision state dict .pth", delta)
    assert delta <= TOLERANCE

    if name in SLOW | STRESS or f"{name}.tv_in1k" not in timm.list_pretrained(f"{name}.tv_in1k"):
        return  # their timm keys equal a smaller sibling's; GoogLeNet, AlexNet: torchvision only
    torch.manual_seed(1)
    reference = _timm_reference(name, images)
    want = _torch_logits(reference, images)
    safetensors = tmp_path / "model.safetensors"
    save_file(reference.state_dict(), safetensors)
    del reference
    assign_torch_state(model, read_state(safetensors), include_top=True)
    safetensors.unlink()
    delta = _delta(_keras_logits(model, images), want)
    _report(name, "timm tv_in1k .safetensors", delta)
    assert delta <= TOLERANCE


def _timm_reference(name, images):
    reference = timm.create_model(f"{name}.tv_in1k", pretrained=False)
    return _scale_logits(_randomize(reference, seed=1), images)


# ------------------------------------------------------------------------ preprocessing, heads


def test_googlenet_input_spec_stands_in_for_transform_input(tmp_path):
    """torchvision's pretrained GoogLeNet normalises with ImageNet's mean/std and then maps that
    back to (pixel - 0.5) / 0.5 inside the model; the source row's input spec must give our
    GoogLeNet (no such layer) the same numbers."""
    reference = _torchvision("googlenet", transform_input=True)
    pixels = np.random.default_rng(3).uniform(0, 255, size=(2, 3, 64, 64)).astype("float32")
    want = _torch_logits(reference, (pixels / 255.0 - IMAGENET_MEAN) / IMAGENET_STD)

    spec = find_source("googlenet").input_spec
    mean = np.array(spec.mean, "float32").reshape(1, 3, 1, 1)
    std = np.array(spec.std, "float32").reshape(1, 3, 1, 1)
    ours = ((pixels * spec.scale - mean) / std).astype("float32")
    model = build("googlenet", input_shape=(64, 64, 3), classifier_activation=None)
    assign_torch_state(model, reference.state_dict(), include_top=True)
    assert _delta(_keras_logits(model, ours), want) <= TOLERANCE


def test_googlenet_auxiliary_heads_load_with_their_flatten_order():
    reference = _torchvision("googlenet", aux_logits=True)
    seen = {}
    reference.inception4a.register_forward_hook(lambda m, i, o: seen.__setitem__("4a", o))
    reference.inception4d.register_forward_hook(lambda m, i, o: seen.__setitem__("4d", o))
    images = _images(64)
    want_main = _torch_logits(reference, images)  # eval mode: main logits only
    with torch.no_grad():
        want_aux = [reference.aux1(seen["4a"]).numpy(), reference.aux2(seen["4d"]).numpy()]

    model = build("googlenet", input_shape=(64, 64, 3), aux_logits=True, classifier_activation=None)
    assign_torch_state(model, reference.state_dict(), include_top=True)
    main, aux1, aux2 = _keras_logits(model, images)
    assert _delta(main, want_main) <= TOLERANCE
    assert _delta(aux1, want_aux[0]) <= TOLERANCE
    assert _delta(aux2, want_aux[1]) <= TOLERANCE

    # A model without auxiliary heads takes the same file: the aux tensors are not its own.
    plain = build("googlenet", input_shape=(64, 64, 3), classifier_activation=None)
    assign_torch_state(plain, reference.state_dict(), include_top=True)
    assert _delta(_keras_logits(plain, images), want_main) <= TOLERANCE


def test_new_head_keeps_the_backbone_equal():
    """include_top=False: a model built for 7 classes (or headless) gets the backbone, its head
    stays as built; the features in front of the head equal torchvision's."""
    reference = _torchvision("resnet18")
    state = {k: v.numpy() for k, v in reference.state_dict().items()}
    images = _images(64)
    reference.fc = torch.nn.Identity()
    want = _torch_logits(reference, images)

    model = build("resnet18", input_shape=(64, 64, 3), num_classes=7)
    fresh_head = model.get_layer("logits").get_weights()
    assign_torch_state(model, state, include_top=False)
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    assert _delta(_keras_logits(features, images), want) <= TOLERANCE
    for before, after in zip(fresh_head, model.get_layer("logits").get_weights()):
        np.testing.assert_array_equal(before, after)

    headless = build("resnet18", input_shape=(64, 64, 3), include_top=False, pooling="avg")
    assign_torch_state(headless, state, include_top=False)
    assert _delta(_keras_logits(headless, images), want) <= TOLERANCE
    with pytest.raises(WeightsMismatch, match=r"'fc.weight' has shape \(1000, 512\).*'logits'"):
        assign_torch_state(model, state, include_top=True)


def test_new_head_keeps_alexnets_hidden_fc_layers():
    """AlexNet/VGG's top is three fc layers: with a new class count the two hidden ones still
    load (they are ImageNet features), only the classifier is fresh; a headless model has none
    of them and ignores their tensors."""
    reference = _torchvision("alexnet")
    state = reference.state_dict()
    images = _images(127)
    reference.classifier[6] = torch.nn.Identity()
    want = _torch_logits(reference, images)

    model = build("alexnet", input_shape=(127, 127, 3), num_classes=7)
    assign_torch_state(model, state, include_top=False)
    hidden = keras.Model(model.input, model.get_layer("fc2_relu").output)
    assert _delta(_keras_logits(hidden, images), want) <= TOLERANCE

    headless = build("alexnet", input_shape=(127, 127, 3), include_top=False)
    assign_torch_state(headless, state, include_top=False)
    with torch.no_grad():
        want_map = reference.features(torch.from_numpy(images)).numpy().transpose(0, 2, 3, 1)
    assert _delta(headless(images.transpose(0, 2, 3, 1)), want_map) <= TOLERANCE


# ------------------------------------------------------------------------ what does not fit


@pytest.fixture(scope="module")
def resnet18_pair():
    model = build("resnet18", input_shape=(32, 32, 3), classifier_activation=None)
    state = {k: v.numpy() for k, v in _torchvision("resnet18").state_dict().items()}
    return model, state


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda s: s.pop("layer2.1.bn2.running_var"),
            r"^missing tensor 'layer2\.1\.bn2\.running_var' \(layer 'stage2_block2_bn2'\)",
        ),
        (
            lambda s: s.__setitem__("layer5.0.conv1.weight", np.zeros((8, 8, 3, 3), "float32")),
            r"^unexpected tensor 'layer5\.0\.conv1\.weight' in the weights: model 'resnet18'",
        ),
        (
            lambda s: s.__setitem__("layer3.0.conv2.weight", np.zeros((256, 128, 3, 3), "float32")),
            r"^tensor 'layer3\.0\.conv2\.weight' has shape \(256, 128, 3, 3\) but layer "
            r"'stage3_block1_conv2' needs \(256, 256, 3, 3\)$",
        ),
    ],
    ids=["missing", "extra", "shape"],
)
def test_a_tensor_that_does_not_fit_is_named_in_one_line(resnet18_pair, edit, message):
    model, state = resnet18_pair
    before = [w.copy() for w in model.get_layer("stem_conv").get_weights()]
    broken = dict(state)
    edit(broken)
    with pytest.raises(WeightsMismatch, match=message) as error:
        assign_torch_state(model, broken, include_top=True)
    assert "\n" not in str(error.value)
    # checked before anything is assigned: the model is as it was
    np.testing.assert_array_equal(model.get_layer("stem_conv").get_weights()[0], before[0])


def test_other_spellings_of_the_same_keys_load(resnet18_pair):
    """DataParallel's ``module.`` prefix; the ``num_batches_tracked`` counters are skipped."""
    model, state = resnet18_pair
    assign_torch_state(model, {f"module.{k}": v for k, v in state.items()}, include_top=True)
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").kernel.numpy(), state["conv1.weight"].transpose(2, 3, 1, 0)
    )
    assert [k for k in state if k.endswith("num_batches_tracked")]
    wanted = torch_keys(model)
    assert set(wanted) == {k for k in state if not k.endswith("num_batches_tracked")}


def test_densenet_published_key_spelling_and_epsilon():
    """torchvision's published DenseNet files spell ``denselayer1.norm.1``; they load. A DenseNet
    built with keras.applications' epsilon is refused, naming the override that fixes it."""
    reference = _torchvision("densenet121")
    images = _images(32)
    want = _torch_logits(reference, images)
    old_style = {}
    for key, value in reference.state_dict().items():
        for part in ("norm1", "norm2", "conv1", "conv2", "relu1", "relu2"):
            key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        old_style[key] = value.numpy()
    assert "features.denseblock1.denselayer1.norm.1.weight" in old_style

    keras_epsilon = build("densenet121", input_shape=(32, 32, 3), include_top=False)
    with pytest.raises(WeightsMismatch, match=r"epsilon 1\.001e-05 .* 1e-05: build the model "
                                               r"with bn_epsilon=1e-05"):
        assign_torch_state(keras_epsilon, old_style, include_top=False)
    model = build("densenet121", input_shape=(32, 32, 3), classifier_activation=None,
                  **build_overrides("densenet121"))
    assign_torch_state(model, old_style, include_top=True)
    assert _delta(_keras_logits(model, images), want) <= TOLERANCE


@pytest.mark.parametrize("name", ["resnet20", "mobilenet_v2"])
def test_models_without_a_torchvision_layout_say_so(name):
    model = build(name, input_shape=(32, 32, 3))
    with pytest.raises(UsageError, match=f"model '{name}' has no torchvision layout"):
        assign_torch_state(model, {}, include_top=True)


def test_a_v1_resnet_is_refused_for_v15_weights():
    model = build("resnet50", input_shape=(32, 32, 3), variant="v1")
    with pytest.raises(UsageError, match=r"variant='v1'.*v1\.5"):
        assign_torch_state(model, {}, include_top=True)


# ------------------------------------------------------------------------ the source table


def test_every_converted_model_has_a_torchvision_row_that_matches_its_publisher():
    rows = [s for s in SOURCES if s.layout == "torchvision"]
    assert {s.model for s in rows} == set(MODELS)
    recipe = {"tv_in1k": "IMAGENET1K_V1", "tv2_in1k": "IMAGENET1K_V2"}
    for row in rows:
        assert row.build_overrides == build_overrides(row.model), row.model
        published = torchvision.models.get_model_weights(row.model)[recipe[row.tag]]
        assert row.top1 == published.meta["_metrics"]["ImageNet-1K"]["acc@1"], row.model
        transforms = published.transforms()
        assert [row.input_spec.resize_shorter] == transforms.resize_size, row.model
        assert [row.input_spec.crop] == transforms.crop_size, row.model
        if row.hub_repo:  # timm's copy of the same weights
            config = timm.models.get_pretrained_cfg(f"{row.model}.{row.tag}")
            assert config.hf_hub_id == row.hub_repo
            assert row.url.endswith(f"{row.hub_repo}/resolve/main/{row.file_name}")
            assert row.input_spec.mean == config.mean and row.input_spec.std == config.std
        else:
            assert row.url == published.url and row.url.endswith(row.file_name)
    assert find_source("resnet50").tag == "tv2_in1k"  # torchvision's own default
