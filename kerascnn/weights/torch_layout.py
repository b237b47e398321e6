"""torchvision / timm state dicts into kerascnn's models, converted exactly.

A torchvision checkpoint is a dict ``key -> tensor`` whose keys name torch modules
(``layer1.0.conv1.weight``); timm's ``*.tv_in1k`` files on the Hugging Face Hub carry the same
tensors under the same keys (VGG excepted: timm stores its two hidden fc layers as convolutions,
``pre_logits.fc1`` / ``pre_logits.fc2``, and the classifier as ``head.fc``; both spellings load).
:func:`assign_torch_state` maps every weighted Keras layer of a ResNet (v1.5, ResNeXt, Wide),
VGG (± BN), DenseNet, GoogLeNet or AlexNet built by :mod:`kerascnn.architectures` to its torch
module and copies the tensors in, so the Keras model computes the same function:

- convolution kernels OIHW → HWIO (grouped ones keep torch's consecutive channel groups, which
  is Keras' order too; depthwise kernels ``(C·M, 1, kh, kw)`` → ``(kh, kw, C, M)``);
- linear weights are transposed; the first fc after a flatten (VGG's, AlexNet's, GoogLeNet's
  auxiliary heads') also has its rows reordered, since torch flattens a C×H×W map channel-first
  and Keras an H×W×C map channel-last;
- batch norm: weight, bias, running mean and variance → gamma, beta, moving mean and variance.
  The epsilon is no tensor: the model must be built with the one the weights were trained with
  (1e-5; GoogLeNet's 1e-3), and a model built with another is refused, naming the override that
  fixes it (:func:`build_overrides`: DenseNet's builder defaults to keras.applications' 1.001e-5);
- padding needs nothing here: the builders already pad strided convolutions and pools
  symmetrically by explicit amounts, as torch does (Keras' "same" would pad after only).

GoogLeNet's ``transform_input``: torchvision's pretrained GoogLeNet rescales its
ImageNet-normalised input to ``(pixel - 0.5) / 0.5`` inside the model. That is preprocessing, so
kerascnn's GoogLeNet has no such layer and the weights' input spec says ``mean = std = 0.5``
instead (``GOOGLENET_INPUT`` in :mod:`kerascnn.weights.sources`): the same numbers reach the
first convolution.

Anything that does not fit fails with one line naming the tensor: a key no layer takes, a layer
whose tensor is missing, a shape that differs. BN's ``num_batches_tracked`` counters carry no
weights and are skipped. With ``include_top=False`` the classifier is not loaded (a model built
with a new ``num_classes`` keeps its fresh head) and tensors of layers the headless model lacks
(VGG's hidden fc layers, GoogLeNet's auxiliary heads) are ignored.

Example:
    >>> import numpy as np
    >>> from kerascnn.architectures import build
    >>> model = build("resnet18", input_shape=(64, 64, 3))  # doctest: +SKIP
    >>> state = dict(np.load("resnet18.npz"))  # doctest: +SKIP
    >>> assign_torch_state(model, state, include_top=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Callable, Mapping

import numpy as np

from kerascnn.errors import UsageError
from kerascnn.weights.errors import WeightsMismatch

# torch.nn.BatchNorm2d's default; torchvision's GoogLeNet (BasicConv2d) uses 1e-3.
TORCH_BN_EPSILON = 1e-5
GOOGLENET_BN_EPSILON = 1e-3
# Buffers with no counterpart in a Keras layer (the BN update counter).
_SKIPPED_SUFFIXES = (".num_batches_tracked",)

MODELS = (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "wide_resnet50_2", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
    "vgg19_bn", "densenet121", "densenet169", "densenet201", "googlenet", "alexnet",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Layout:
    """How one family's Keras layer names map onto its torchvision module names.

    ``modules(layer_names)`` gives ``{keras layer: torch module}``; ``classifier`` are the
    modules of the final class scores (never loaded with ``include_top=False``); ``top`` are the
    modules only a model with its top has; ``optional`` ones may be absent from the model
    (GoogLeNet's auxiliary heads); ``flattened`` names, for each fc reading a flattened map, the
    Flatten layer in front of it; ``rename`` turns other spellings of a key into torchvision's.
    """

    family: str
    modules: Callable[[list[str]], dict[str, str]]
    classifier: tuple[str, ...]
    top: tuple[str, ...]
    bn_epsilon: float = TORCH_BN_EPSILON
    optional: tuple[str, ...] = ()
    flattened: Mapping[str, str] = dataclasses.field(default_factory=dict)
    rename: Callable[[str], str] = staticmethod(lambda key: key)
    build_overrides: Mapping[str, object] = dataclasses.field(default_factory=dict)


def _under(key: str, modules) -> bool:
    return any(key == m or key.startswith(m + ".") for m in modules)


# ---------------------------------------------------------------------------- ResNet


_RESNET_BLOCK = re.compile(r"stage(\d+)_block(\d+)_(conv|bn)(\d)")
_RESNET_DOWNSAMPLE = re.compile(r"stage(\d+)_block(\d+)_downsample_(conv|bn)")


def _resnet_modules(layer_names: list[str]) -> dict[str, str]:
    fixed = {"stem_conv": "conv1", "stem_bn": "bn1", "logits": "fc"}
    mapping = {}
    for name in layer_names:
        if name in fixed:
            mapping[name] = fixed[name]
        elif match := _RESNET_BLOCK.fullmatch(name):
            stage, block, kind, index = match.groups()
            mapping[name] = f"layer{stage}.{int(block) - 1}.{kind}{index}"
        elif match := _RESNET_DOWNSAMPLE.fullmatch(name):
            stage, block, kind = match.groups()
            mapping[name] = f"layer{stage}.{int(block) - 1}.downsample.{0 if kind == 'conv' else 1}"
    return mapping


# ---------------------------------------------------------------------------- VGG, AlexNet


_VGG_LAYER = re.compile(r"stage(\d+)_(conv|bn)(\d+)")
# timm keeps VGG's two hidden fc layers as 7x7 and 1x1 convolutions and renames the classifier.
_TIMM_VGG_KEYS = {"pre_logits.fc1": "classifier.0", "pre_logits.fc2": "classifier.3",
                  "head.fc": "classifier.6"}  # fmt: skip


def _vgg_modules(layer_names: list[str]) -> dict[str, str]:
    """torchvision's ``features`` is one Sequential: conv, [BN], ReLU per conv, a max pool per
    stage; its indices follow from the conv count of each stage and whether BN is there."""
    convs: dict[int, int] = {}
    with_bn = False
    for name in layer_names:
        if match := _VGG_LAYER.fullmatch(name):
            stage, kind, index = int(match[1]), match[2], int(match[3])
            with_bn |= kind == "bn"
            if kind == "conv":
                convs[stage] = max(convs.get(stage, 0), index)
    mapping = {"fc1": "classifier.0", "fc2": "classifier.3", "logits": "classifier.6"}
    position = 0
    for stage in sorted(convs):
        for index in range(1, convs[stage] + 1):
            mapping[f"stage{stage}_conv{index}"] = f"features.{position}"
            if with_bn:
                mapping[f"stage{stage}_bn{index}"] = f"features.{position + 1}"
            position += 3 if with_bn else 2  # conv, [BN], ReLU
        position += 1  # the stage's max pool
    return mapping


def _vgg_rename(key: str) -> str:
    module, _, tensor = key.rpartition(".")
    return f"{_TIMM_VGG_KEYS[module]}.{tensor}" if module in _TIMM_VGG_KEYS else key


def _alexnet_modules(layer_names: list[str]) -> dict[str, str]:
    # features: conv(0) ReLU pool conv(3) ReLU pool conv(6) ReLU conv(8) ReLU conv(10) ReLU pool;
    # classifier: dropout, fc(1), ReLU, dropout, fc(4), ReLU, fc(6).
    return {
        "stage1_conv1": "features.0",
        "stage2_conv1": "features.3",
        "stage3_conv1": "features.6",
        "stage3_conv2": "features.8",
        "stage3_conv3": "features.10",
        "fc1": "classifier.1",
        "fc2": "classifier.4",
        "logits": "classifier.6",
    }


# ---------------------------------------------------------------------------- DenseNet


_DENSE_LAYER = re.compile(r"stage(\d+)_block(\d+)_(conv|bn)([12])")
_TRANSITION = re.compile(r"stage(\d+)_transition_(conv|bn)")
_POST_BN = re.compile(r"stage\d+_post_bn")
# torchvision's published DenseNet files predate its module renaming: "denselayer1.norm.1".
_OLD_DENSE_KEY = re.compile(r"(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.[a-z_]+)$")


def _densenet_modules(layer_names: list[str]) -> dict[str, str]:
    torch_kind = {"conv": "conv", "bn": "norm"}
    mapping = {}
    for name in layer_names:
        if name in ("stem_conv", "stem_bn"):
            mapping[name] = "features.conv0" if name == "stem_conv" else "features.norm0"
        elif name == "logits":
            mapping[name] = "classifier"
        elif _POST_BN.fullmatch(name):
            mapping[name] = "features.norm5"
        elif match := _DENSE_LAYER.fullmatch(name):
            stage, layer, kind, index = match.groups()
            mapping[name] = f"features.denseblock{stage}.denselayer{layer}.{torch_kind[kind]}{index}"
        elif match := _TRANSITION.fullmatch(name):
            stage, kind = match.groups()
            mapping[name] = f"features.transition{int(stage) - 1}.{torch_kind[kind]}"
    return mapping


def _densenet_rename(key: str) -> str:
    match = _OLD_DENSE_KEY.fullmatch(key)
    return f"{match[1]}{match[2]}" if match else key


# ---------------------------------------------------------------------------- GoogLeNet


_INCEPTION_BRANCH = re.compile(r"stage(\d+)_block(\d+)_branch(\d)_(conv|bn)(\d)")
_STEM = re.compile(r"stem_(conv|bn)(\d)")
_AUX = re.compile(r"(aux\d)_(conv|bn|fc|logits)")


def _googlenet_modules(layer_names: list[str]) -> dict[str, str]:
    """Every conv is torchvision's BasicConv2d (``.conv`` + ``.bn``); branches 2 and 3 are
    Sequentials of two, branch 4 a Sequential of the max pool and one."""
    mapping = {"logits": "fc"}
    aux = {"conv": "conv.conv", "bn": "conv.bn", "fc": "fc1", "logits": "fc2"}
    for name in layer_names:
        if match := _STEM.fullmatch(name):
            mapping[name] = f"conv{match[2]}.{match[1]}"
        elif match := _INCEPTION_BRANCH.fullmatch(name):
            stage, block, branch, kind, index = match.groups()
            module = f"inception{stage}{string.ascii_lowercase[int(block) - 1]}.branch{branch}"
            if branch in "23":
                module += f".{int(index) - 1}"
            elif branch == "4":
                module += ".1"
            mapping[name] = f"{module}.{kind}"
        elif match := _AUX.fullmatch(name):
            mapping[name] = f"{match[1]}.{aux[match[2]]}"
    return mapping


# ---------------------------------------------------------------------------- the layouts


RESNET = _Layout("resnet", _resnet_modules, classifier=("fc",), top=("fc",))
VGG = _Layout(
    "vgg",
    _vgg_modules,
    classifier=("classifier.6",),
    top=("classifier",),
    flattened={"fc1": "flatten"},
    rename=_vgg_rename,
)
ALEXNET = _Layout(
    "alexnet",
    _alexnet_modules,
    classifier=("classifier.6",),
    top=("classifier",),
    flattened={"fc1": "flatten"},
)
DENSENET = _Layout(
    "densenet",
    _densenet_modules,
    classifier=("classifier",),
    top=("classifier",),
    rename=_densenet_rename,
    build_overrides={"bn_epsilon": TORCH_BN_EPSILON},
)
GOOGLENET = _Layout(
    "googlenet",
    _googlenet_modules,
    classifier=("fc", "aux1.fc2", "aux2.fc2"),
    top=("fc", "aux1", "aux2"),
    bn_epsilon=GOOGLENET_BN_EPSILON,
    optional=("aux1", "aux2"),
    flattened={"aux1_fc": "aux1_flatten", "aux2_fc": "aux2_flatten"},
)
_LAYOUTS = {layout.family: layout for layout in (RESNET, VGG, ALEXNET, DENSENET, GOOGLENET)}


def build_overrides(model: str) -> dict:
    """The builder options a model needs for torchvision's weights to compute their function.

    Example:
        >>> build_overrides("densenet121")
        {'bn_epsilon': 1e-05}
        >>> build_overrides("resnet50")
        {}
    """
    if model not in MODELS:
        raise UsageError(
            f"{model!r} has no torchvision-layout weights; those exist for {', '.join(MODELS)}"
        )
    family = re.match(r"[a-z]+", model)[0]
    family = {"wide": "resnet", "resnext": "resnet"}.get(family, family)
    return dict(_LAYOUTS[family].build_overrides)


def _kernel_size(model, name: str):
    return tuple(model.get_layer(name).kernel_size)


def detect_layout(model) -> _Layout:
    """The torchvision layout of a kerascnn model, told from its layer names (so renamed models
    and models read back from ``.keras`` files work too); one-line error when there is none.

    Example:
        >>> from kerascnn.architectures import build
        >>> detect_layout(build("resnet18", input_shape=(32, 32, 3))).family  # doctest: +SKIP
        'resnet'
    """
    names = {layer.name for layer in model.layers}
    layout = None
    if "stage2_transition_conv" in names:
        layout = DENSENET
    elif "stem_conv1" in names and "stage3_block1_branch4_conv1" in names:
        if _kernel_size(model, "stem_conv1") == (7, 7):  # Inception v3 starts with a 3x3
            layout = GOOGLENET
    elif {"stem_conv", "stem_pool", "stage1_block1_conv1"} <= names:
        layout = RESNET  # v1.5, ResNeXt, Wide; v2 has pre-activation names instead
        if "stage2_block1_conv3" in names and tuple(model.get_layer("stage2_block1_conv1").strides) != (1, 1):
            raise UsageError(
                f"model {model.name!r} strides its bottlenecks' first 1x1 conv (variant='v1'); "
                "torchvision's weights are for v1.5, which strides the 3x3 conv"
            )
    elif "stage5_conv1" in names:
        layout = VGG
    elif "stage3_conv3" in names and _kernel_size(model, "stage1_conv1") == (11, 11):
        layout = ALEXNET
    if layout is None:
        raise UsageError(
            f"model {model.name!r} has no torchvision layout; torchvision-layout weights exist "
            f"for {', '.join(MODELS)}"
        )
    return layout


# ---------------------------------------------------------------------------- conversion


@dataclasses.dataclass(frozen=True)
class _Tensor:
    """One torch tensor's destination: a Keras variable, the torch shape it must have, and the
    function that turns the torch array into the variable's value."""

    key: str
    layer: str
    variable: object
    torch_shape: tuple[int, ...]
    convert: Callable[[np.ndarray], np.ndarray]


# The conversions run as TensorFlow ops (through keras.ops): its transposes are threaded, which
# matters for VGG's 25088x4096 first fc (NumPy takes seconds to reorder it).


def _conv_kernel(array):
    from keras import ops

    return ops.transpose(array, (2, 3, 1, 0))  # (out, in/groups, kh, kw) -> (kh, kw, in/groups, out)


def _dense_kernel(array):
    from keras import ops

    return ops.transpose(array)


def _flattened_dense_kernel(height: int, width: int, channels: int):
    def convert(array):
        from keras import ops

        # rows of torch's weight run over (c, h, w); Keras' Flatten yields (h, w, c)
        units = array.shape[0]
        grid = ops.reshape(array, (units, channels, height, width))
        return ops.reshape(ops.transpose(grid, (2, 3, 1, 0)), (-1, units))

    return convert


def _identity(array):
    return array


def _layer_tensors(model, layer, module: str, layout: _Layout) -> list[_Tensor]:
    import keras

    def tensor(suffix, variable, torch_shape, convert=_identity):
        return _Tensor(f"{module}.{suffix}", layer.name, variable, tuple(torch_shape), convert)

    tensors = []
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, channels, multiplier = layer.kernel.shape

        def depthwise(array):  # (C*M, 1, kh, kw) -> (kh, kw, C, M)
            from keras import ops

            return ops.transpose(ops.reshape(array, (channels, multiplier, kh, kw)), (2, 3, 0, 1))

        tensors.append(tensor("weight", layer.kernel, (channels * multiplier, 1, kh, kw), depthwise))
    elif isinstance(layer, keras.layers.Conv2D):
        kh, kw, fan_in, filters = layer.kernel.shape
        tensors.append(tensor("weight", layer.kernel, (filters, fan_in, kh, kw), _conv_kernel))
    elif isinstance(layer, keras.layers.Dense):
        fan_in, units = layer.kernel.shape
        convert = _dense_kernel
        if layer.name in layout.flattened:
            height, width, channels = model.get_layer(layout.flattened[layer.name]).input.shape[1:]
            convert = _flattened_dense_kernel(height, width, channels)
        tensors.append(tensor("weight", layer.kernel, (units, fan_in), convert))
    elif isinstance(layer, keras.layers.BatchNormalization):
        if abs(layer.epsilon - layout.bn_epsilon) > 1e-12:
            fix = ", ".join(f"{k}={v!r}" for k, v in layout.build_overrides.items())
            raise WeightsMismatch(
                f"layer {layer.name!r} has batch-norm epsilon {layer.epsilon:g} but torchvision's "
                f"{layout.family} weights were trained with {layout.bn_epsilon:g}"
                + (f": build the model with {fix}" if fix else "")
            )
        for suffix, variable in (
            ("weight", layer.gamma),
            ("bias", layer.beta),
            ("running_mean", layer.moving_mean),
            ("running_var", layer.moving_variance),
        ):
            if variable is not None:
                tensors.append(tensor(suffix, variable, variable.shape))
        return tensors
    else:
        raise WeightsMismatch(
            f"layer {layer.name!r} ({type(layer).__name__}) has weights a torchvision "
            f"{layout.family} does not have"
        )
    if getattr(layer, "bias", None) is not None:
        tensors.append(tensor("bias", layer.bias, layer.bias.shape))
    return tensors


def _plan(model, layout: _Layout, include_top: bool) -> list[_Tensor]:
    weighted = [layer for layer in model.layers if layer.weights]
    modules = layout.modules([layer.name for layer in weighted])
    plan = []
    for layer in weighted:
        module = modules.get(layer.name)
        if module is None:
            raise WeightsMismatch(
                f"layer {layer.name!r} has no counterpart in torchvision's {layout.family}"
            )
        if not include_top and _under(module, layout.classifier):
            continue  # the model's own (fresh) head
        plan.extend(_layer_tensors(model, layer, module, layout))
    return plan


def _as_array(value, key: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise WeightsMismatch(f"tensor {key!r} is not an array: {error}") from None


def torch_keys(model, *, include_top: bool = True) -> list[str]:
    """The torchvision keys ``model`` reads, in layer order (what :func:`assign_torch_state`
    requires of a state dict).

    Example:
        >>> from kerascnn.architectures import build
        >>> torch_keys(build("resnet18", input_shape=(32, 32, 3)))[:2]  # doctest: +SKIP
        ['conv1.weight', 'bn1.weight']
    """
    return [entry.key for entry in _plan(model, detect_layout(model), include_top)]


def assign_torch_state(model, state: Mapping, *, include_top: bool = True) -> None:
    """Copy a torchvision / timm state dict (``key -> array``) into a kerascnn model, exactly.

    ``state`` values may be NumPy arrays or torch tensors. Everything is checked before any
    variable changes, so a mismatch leaves the model as it was. With ``include_top=False`` the
    classifier is neither required nor loaded (keep or build a fresh head); otherwise every
    layer of the model must be filled and every tensor of ``state`` used.

    Raises :class:`~kerascnn.weights.errors.WeightsMismatch` naming the first missing, extra or
    misshapen tensor, and ``UsageError`` for a model with no torchvision layout.

    Example:
        >>> from safetensors.numpy import load_file
        >>> from kerascnn.architectures import build
        >>> model = build("resnet50", classifier_activation=None)  # doctest: +SKIP
        >>> assign_torch_state(model, load_file("model.safetensors"))  # doctest: +SKIP
    """
    layout = detect_layout(model)
    origin: dict[str, str] = {}  # torchvision spelling -> the key as the file has it
    arrays: dict[str, object] = {}
    for key, value in state.items():
        if key.endswith(_SKIPPED_SUFFIXES):
            continue
        # nn.DataParallel / DistributedDataParallel checkpoints prefix every key
        canonical = layout.rename(key[len("module."):] if key.startswith("module.") else key)
        origin[canonical] = key
        arrays[canonical] = value

    plan = _plan(model, layout, include_top)
    values = []
    for entry in plan:
        if entry.key not in arrays:
            raise WeightsMismatch(
                f"missing tensor {entry.key!r} (layer {entry.layer!r}) in the weights"
            )
        array = _as_array(arrays[entry.key], origin[entry.key])
        if array.shape != entry.torch_shape:
            # timm's VGG keeps fc layers as convolutions: same numbers, conv-shaped
            if array.ndim == 4 and array.size == np.prod(entry.torch_shape) and len(entry.torch_shape) == 2:
                array = array.reshape(entry.torch_shape)
            else:
                raise WeightsMismatch(
                    f"tensor {origin[entry.key]!r} has shape {tuple(array.shape)} but layer "
                    f"{entry.layer!r} needs {entry.torch_shape}"
                )
        values.append(entry.convert(array.astype(np.float32, copy=False)))

    used = {entry.key for entry in plan}
    present_modules = {entry.key.rpartition(".")[0] for entry in plan}
    for key in arrays:
        if key in used:
            continue
        module = key.rpartition(".")[0]
        skippable = layout.optional + (() if include_top else layout.top)
        if _under(key, skippable) and module not in present_modules:
            continue
        raise WeightsMismatch(
            f"unexpected tensor {origin[key]!r} in the weights: model {model.name!r} "
            f"({layout.family} layout) has no layer for it"
        )

    from keras import ops

    for entry, value in zip(plan, values):
        entry.variable.assign(ops.cast(value, entry.variable.dtype))


__all__ = [
    "GOOGLENET_BN_EPSILON",
    "MODELS",
    "TORCH_BN_EPSILON",
    "assign_torch_state",
    "build_overrides",
    "detect_layout",
    "torch_keys",
]
