"""Load the HDF5 weight files keras.applications writes into kerascnn's own models.

kerascnn's Keras-layout builders (VGG, ResNetV2, DenseNet, MobileNet v1/v2/v3, Inception v3)
make the same weighted layers as keras.applications, with kerascnn's names. A weights file is
matched to the model the way Keras' own ``load_weights`` does — weighted layers in order — and
every pairing is checked: same kind of layer (where the file says), same number of tensors of the
same shapes. ResNetV2 is the one layout whose order differs from the reference (the shortcut
1×1 conv comes after the block's last conv in kerascnn's graph), so each file layer takes the
model's next unmatched layer *of the same signature*; with identical orders that is exactly the
positional pairing Keras uses. Where the shapes cannot tell (ResNetV2's first block: shortcut and
last conv are both 1×1 64→256), the model's layers are first put in the reference's order
(:func:`reference_order`).

Two file layouts are read:

* Keras 3 ``model.save_weights("x.weights.h5")``: ``layers/<key>/vars/<i>``, the key being the
  layer class in snake case with a per-class counter (``conv2d_7``: the 8th Conv2D), so the
  per-class order is known.
* The legacy HDF5 layout of the published ``*_tf_dim_ordering_tf_kernels*.h5`` files (Keras 2
  ``save_weights``, also ``model.save("x.h5")``'s ``model_weights``): the ``layer_names``
  attribute in model order, each group listing its ``weight_names``.

Example:
    >>> from kerascnn.weights.keras_layout import assign_keras_h5
    >>> assign_keras_h5(model, "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
    ...                 include_top=True)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import dataclasses
import re
from pathlib import Path

import numpy as np

from kerascnn.errors import UsageError
from kerascnn.weights.errors import WeightsMismatch
from kerascnn.weights.files import is_hdf5


@dataclasses.dataclass
class FileLayer:
    """One weighted layer as stored in the file: its stored name, its class in snake case when
    the layout records it (Keras 3) or None (legacy), and its tensors in the layer's order."""

    name: str
    kind: str | None
    tensor_names: list[str]
    arrays: list[np.ndarray]

    @property
    def shapes(self) -> tuple:
        return tuple(tuple(a.shape) for a in self.arrays)


def snake_case(class_name: str) -> str:
    """A layer class name as Keras 3 keys it in ``.weights.h5`` files.

    Example:
        >>> snake_case("DepthwiseConv2D"), snake_case("BatchNormalization")
        ('depthwise_conv2d', 'batch_normalization')
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def read_keras_h5(path) -> list[FileLayer]:
    """The weighted layers of a Keras HDF5 weights file, in the order to match them.

    Keras 3 files: grouped by class, each class in its saved order. Legacy files: the saved
    model order. Raises a one-line UsageError when the file is not such a file.

    Example:
        >>> [layer.name for layer in read_keras_h5("vgg16.weights.h5")][:2]  # doctest: +SKIP
        ['conv2d', 'conv2d_1']
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights file {path} does not exist")
    if not is_hdf5(path):
        raise UsageError(f"{path} is not an HDF5 file (expected a Keras .h5 / .weights.h5 file)")
    try:
        with h5py.File(path, "r") as handle:
            if "layers" in handle and "layer_names" not in handle.attrs:
                return _read_keras3(handle["layers"])
            root = handle["model_weights"] if "model_weights" in handle else handle
            if "layer_names" in root.attrs:
                return _read_legacy(root)
    except OSError as error:
        raise UsageError(f"cannot read weights file {path}: {error}") from None
    raise UsageError(
        f"{path} is HDF5 but not a Keras weights file (no 'layers' group, no 'layer_names')"
    )


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _read_legacy(root) -> list[FileLayer]:
    layers = []
    for name in (_text(n) for n in root.attrs["layer_names"]):
        group = root[name]
        tensor_names = [_text(n) for n in group.attrs.get("weight_names", [])]
        if tensor_names:
            arrays = [np.asarray(group[tensor]) for tensor in tensor_names]
            layers.append(FileLayer(name, None, tensor_names, arrays))
    return layers


def _counter(key: str) -> tuple[str, int]:
    match = re.fullmatch(r"(.+?)(?:_(\d+))?", key)
    return match.group(1), int(match.group(2) or 0)


def _read_keras3(group) -> list[FileLayer]:
    layers = []
    for key in sorted(group, key=_counter):
        variables = group[key].get("vars")
        if variables is None or not len(variables):
            continue
        indices = sorted(variables, key=int)
        arrays = [np.asarray(variables[i]) for i in indices]
        layers.append(FileLayer(key, _counter(key)[0], [f"vars/{i}" for i in indices], arrays))
    return layers


def is_classifier(layer_name: str) -> bool:
    """Whether a kerascnn layer is a classifier (``logits``, ``aux1_logits``): the layers a
    fresh head replaces.

    Example:
        >>> is_classifier("logits"), is_classifier("aux2_logits"), is_classifier("fc1")
        (True, True, False)
    """
    return layer_name == "logits" or layer_name.endswith("_logits")


def reference_order(layers: list) -> list:
    """``layers`` in keras.applications' order: a pre-activation block's shortcut conv
    (``<block>_downsample_conv``) just before the block's last conv (``<block>_conv3``), where
    keras.applications' ResNetV2 graph lists it (kerascnn's lists it after).

    Example:
        >>> class L:
        ...     def __init__(self, name): self.name = name
        >>> names = ["b_preact_bn", "b_conv3", "b_downsample_conv", "c_conv3"]
        >>> [layer.name for layer in reference_order([L(n) for n in names])]
        ['b_preact_bn', 'b_downsample_conv', 'b_conv3', 'c_conv3']
    """
    ordered = list(layers)
    names = {layer.name for layer in ordered}
    for layer in layers:
        block = layer.name.removesuffix("_downsample_conv")
        if block != layer.name and f"{block}_preact_bn" in names and f"{block}_conv3" in names:
            ordered.remove(layer)
            position = next(i for i, other in enumerate(ordered) if other.name == f"{block}_conv3")
            ordered.insert(position, layer)
    return ordered


def _describe(names, shapes) -> str:
    return ", ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes))


def _weight_names(layer) -> list[str]:
    return [w.path.split("/")[-1] for w in layer.weights]


def match_keras_layers(model, file_layers: list[FileLayer], *, include_top: bool, source="file"):
    """Pair every weighted layer of ``model`` with a file layer; return ``[(layer, arrays)]``.

    With ``include_top=False`` the model's classifier layers are left as built, and file layers
    left over after the last matched one of their kind (the file's head) are ignored.
    Raises :class:`WeightsMismatch` naming the first layer or tensor that does not fit.

    Example:
        >>> pairs = match_keras_layers(model, read_keras_h5(path), include_top=True)  # doctest: +SKIP
    """
    targets = reference_order(
        [
            layer
            for layer in model.layers
            if layer.weights and (include_top or not is_classifier(layer.name))
        ]
    )
    signatures = [
        (snake_case(type(layer).__name__), tuple(tuple(w.shape) for w in layer.weights))
        for layer in targets
    ]
    by_kind_and_shapes = collections.defaultdict(collections.deque)
    by_shapes = collections.defaultdict(collections.deque)
    for index, (kind, shapes) in enumerate(signatures):
        by_kind_and_shapes[kind, shapes].append(index)
        by_shapes[shapes].append(index)

    taken: dict[int, FileLayer] = {}
    unmatched: list[int] = []  # file layer positions
    for position, file_layer in enumerate(file_layers):
        queue = (
            by_kind_and_shapes[file_layer.kind, file_layer.shapes]
            if file_layer.kind
            else by_shapes[file_layer.shapes]
        )
        while queue and queue[0] in taken:
            queue.popleft()
        if queue:
            taken[queue.popleft()] = file_layer
        else:
            unmatched.append(position)

    if not include_top:
        # The file's head: what is left after the last matched layer of the same kind.
        last_matched = {}
        matched_files = {id(f) for f in taken.values()}
        for position, file_layer in enumerate(file_layers):
            if id(file_layer) in matched_files:
                last_matched[file_layer.kind] = position
        unmatched = [p for p in unmatched if p < last_matched.get(file_layers[p].kind, -1)]

    missing = [i for i in range(len(targets)) if i not in taken]
    if missing:
        layer = targets[missing[0]]
        wanted = _describe(_weight_names(layer), signatures[missing[0]][1])
        kind = signatures[missing[0]][0]
        rivals = [file_layers[p] for p in unmatched if file_layers[p].kind in (None, kind)]
        if rivals:
            got = _describe(rivals[0].tensor_names, rivals[0].shapes)
            raise WeightsMismatch(
                f"{source} does not fit {model.name}: layer {layer.name!r} needs {wanted}, the "
                f"file's next unused layer {rivals[0].name!r} holds {got}"
            )
        raise WeightsMismatch(
            f"{source} has no weights for layer {layer.name!r} of {model.name} ({wanted})"
        )
    if unmatched:
        extra = file_layers[unmatched[0]]
        raise WeightsMismatch(
            f"{source} has {len(unmatched)} weighted layer(s) {model.name} does not have, the "
            f"first {extra.name!r} ({_describe(extra.tensor_names, extra.shapes)})"
            + ("; with include_top=False the classifier is skipped" if include_top else "")
        )
    return [(targets[i], taken[i].arrays) for i in range(len(targets))]


def assign_keras_h5(model, path, *, include_top: bool = True) -> int:
    """Load a keras.applications HDF5 weights file into ``model``; return the layers loaded.

    ``include_top=False``: the model's classifier keeps its fresh weights and the file's head
    is ignored (a backbone, or a new number of classes). Nothing is assigned unless every
    layer fits.

    Example:
        >>> assign_keras_h5(build("vgg16"), "vgg16_weights_tf_dim_ordering_tf_kernels.h5")  # doctest: +SKIP
        16
    """
    pairs = match_keras_layers(
        model, read_keras_h5(path), include_top=include_top, source=f"weights file {Path(path).name}"
    )
    for layer, arrays in pairs:
        layer.set_weights(arrays)
    return len(pairs)
