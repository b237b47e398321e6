"""Walk a built Keras model and report, layer by layer, the numbers :mod:`.formulas` defines.

:func:`analyze` returns a :class:`ModelAnalysis` — one :class:`LayerStats` per layer application
(output shape, parameters, MACs, receptive field, jump) with totals and a printable table;
``kerascnn summary`` prints it. The formulas and the MAC convention are in
:mod:`kerascnn.arithmetic.formulas`; this module only reads a model's graph.

Parameters are read from each layer's weights, so grouped (``Conv2D(groups=g)``), depthwise and
separable convolutions count exactly what Keras holds; their MACs come from
:func:`~.formulas.conv_macs` (``groups``; depthwise is ``groups = C_in``) and
:func:`~.formulas.separable_conv_macs`.

Graphs that branch and merge (Inception's parallel branches, ResNet's shortcuts, DenseNet's
concatenations): each tensor carries a receptive field, jump and start per axis, and where
branches meet (``Add``, ``Concatenate``, ``Multiply``, ...) the merged tensor takes all three
from the **widest path** — per axis, the branch with the largest receptive field (on a tie, the
larger jump). In the usual architectures the branches' windows are centred alike, so the widest
window contains the others' and is the exact set of input pixels the merged output sees.
Branches pooled to the whole input and broadcast back (squeeze-and-excitation gates) are left
out while a spatial branch remains: they rescale channels, and counting them would make every
layer after the first such block report the whole image.

It sits above ``layers``/``blocks`` in the layering (it reads models built from them) but
imports neither, nor Keras: it recognises layers by class name and attributes, so it also reads
models whose layers it has never seen. Its examples need a built Keras model, so they are
skipped as doctests.

One module though past 600 lines: the walker, the per-layer propagation rules it applies and
the report it fills are one concern, and splitting them would only pass private state between
files.

Example:
    >>> from kerascnn.arithmetic import analyze
    >>> report = analyze(kerascnn.build("resnet50"))  # doctest: +SKIP
    >>> report.totals.macs, report[-1].receptive_field  # doctest: +SKIP
    (4089184256, (427, 427))
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from kerascnn.arithmetic.formatting import format_count, format_table
from kerascnn.arithmetic.formulas import (
    adaptive_windows,
    conv_macs,
    dense_macs,
    effective_kernel_size,
    padding_amounts,
    per_axis,
    separable_conv_macs,
)
from kerascnn.errors import UsageError

__all__ = ["LayerStats", "ModelAnalysis", "Totals", "analyze", "count_macs"]



@dataclass(frozen=True)
class LayerStats:
    """One layer application in a model, as :func:`analyze` sees it.

    ``output_shape`` leaves out the batch axis. ``receptive_field``, ``jump`` and ``start`` have
    one entry per spatial axis of the model input (height, width): the window of input pixels one
    output value sees, the step between neighbouring outputs, and where (in input pixel
    coordinates, pixel centres at 0, 1, 2, …) the first output's window is centred. After global
    pooling or flattening the receptive field covers the whole input.
    """

    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int
    receptive_field: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[float, ...] = ()
    inputs: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists).

        Example:
            >>> analyze(model)[-1].to_dict()["receptive_field"]  # doctest: +SKIP
            [427, 427]
        """
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class Totals:
    """Sums over a model: parameters (trainable / non-trainable / all) and MACs.

    Example:
        >>> analyze(kerascnn.build("lenet5")).totals.macs  # doctest: +SKIP
        416520
    """

    params: int
    trainable_params: int
    non_trainable_params: int
    macs: int


class ModelAnalysis(list):
    """The list of :class:`LayerStats` for a model, with its totals and a printable table.

    Example:
        >>> report = analyze(model)  # doctest: +SKIP
        >>> report.totals.macs, report[-1].receptive_field  # doctest: +SKIP
        >>> print(report.table())  # doctest: +SKIP
    """

    def __init__(self, layers: Iterable[LayerStats], *, model_name: str, input_shape: tuple):
        super().__init__(layers)
        self.model_name = model_name
        self.input_shape = tuple(input_shape)

    @property
    def totals(self) -> Totals:
        """Sum of params (each weight once) and MACs over every layer.

        Example:
            >>> analyze(kerascnn.build("resnet50")).totals.trainable_params  # doctest: +SKIP
            25557032
        """
        trainable = sum(s.trainable_params for s in self)
        non_trainable = sum(s.non_trainable_params for s in self)
        return Totals(
            params=trainable + non_trainable,
            trainable_params=trainable,
            non_trainable_params=non_trainable,
            macs=sum(s.macs for s in self),
        )

    @property
    def depth(self) -> int:
        """Weighted layers (convolutions, depthwise ones included, and dense layers) on the
        longest path from input to output: the number in a network's name.

        Counted this way VGG-16 is 16, ResNet-50 50, DenseNet-121 121, GoogLeNet 22 and
        Inception v3 48, as their papers count; shortcuts and parallel branches add nothing.

        Example:
            >>> analyze(kerascnn.build("resnet50")).depth  # doctest: +SKIP
            50
        """
        weighted = _CONV | _CONV_TRANSPOSE | {"Dense"}
        longest: dict[str, int] = {}
        for stats in self:  # layers come in graph order, every input before its consumers
            before = max((longest.get(name, 0) for name in stats.inputs), default=0)
            longest[stats.name] = before + (stats.type in weighted)
        return max(longest.values(), default=0)

    @property
    def feature_receptive_field(self) -> tuple[int, ...]:
        """Receptive field of the final feature map: the last layer whose output still has
        more than one position, i.e. what the classifier's global pooling looks through.

        Example:
            >>> analyze(kerascnn.build("resnet50")).feature_receptive_field  # doctest: +SKIP
            (427, 427)
        """
        spatial = [
            s for s in self
            if s.receptive_field and len(s.output_shape) >= 2
            and not isinstance(s.output_shape[0], tuple)
            and any((d or 0) > 1 for d in s.output_shape[:-1])
        ]
        return tuple(int(v) for v in spatial[-1].receptive_field) if spatial else ()

    def to_dict(self) -> dict:
        """JSON-ready: ``{"model", "input_shape", "layers": [...], "totals": {...}}``.

        Example:
            >>> sorted(analyze(model).to_dict())  # doctest: +SKIP
            ['input_shape', 'layers', 'model', 'totals']
        """
        return {
            "model": self.model_name,
            "input_shape": list(self.input_shape),
            "layers": [s.to_dict() for s in self],
            "totals": asdict(self.totals),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string.

        Example:
            >>> json.loads(analyze(model).to_json())["totals"]["macs"]  # doctest: +SKIP
            416520
        """
        return json.dumps(self.to_dict(), indent=indent)

    def table(self) -> str:
        """A per-layer text table with the totals underneath (what ``kerascnn summary`` prints).

        Example:
            >>> print(analyze(kerascnn.build("lenet5")).table())  # doctest: +SKIP
        """
        rows = [
            [
                s.name,
                s.type,
                _shape_text(s.output_shape),
                f"{s.params:,}",
                format_count(s.macs) if s.macs else "0",
                _axes_text(s.receptive_field),
                _axes_text(s.jump),
            ]
            for s in self
        ]
        headers = ["layer", "type", "output", "params", "MACs", "RF", "jump"]
        body = format_table(headers, rows, right=[3, 4, 5, 6])
        t = self.totals
        shape = "x".join(str(d) for d in self.input_shape)
        footer = [
            f"model: {self.model_name}   input: {shape}   layers: {len(self)}",
            f"total params: {t.params:,}  (trainable: {t.trainable_params:,}, "
            f"non-trainable: {t.non_trainable_params:,})",
            f"total MACs: {format_count(t.macs)}  ({t.macs:,})",
        ]
        rule = "=" * max(len(ln) for ln in body.splitlines())
        return "\n".join([body, rule, *footer])


def _shape_text(shape: tuple) -> str:
    if shape and isinstance(shape[0], tuple):  # several outputs
        return ", ".join(_shape_text(s) for s in shape)
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _axes_text(values: tuple) -> str:
    if not values:
        return "-"
    values = tuple(int(v) if float(v).is_integer() else round(v, 2) for v in values)
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in values)


@dataclass
class _Field:
    """Receptive-field state of one tensor, one entry per spatial axis of the model input."""

    rf: tuple
    jump: tuple
    start: tuple
    global_: bool = False  # already covers the whole input (after global pooling / flatten)
    extent: tuple = field(default=())  # spatial size of the tensor this describes


_CONV = {
    "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D",
    "SeparableConv1D", "SeparableConv2D",
}  # fmt: skip
_CONV_TRANSPOSE = {"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
_POOL = {
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
}  # fmt: skip
_UPSAMPLE = {"UpSampling1D", "UpSampling2D", "UpSampling3D"}
_KNOWN = _CONV | _CONV_TRANSPOSE | _POOL | _UPSAMPLE | {"Dense"}


def _kind(op) -> str:
    """The Keras layer class an op is (or derives from), so subclasses of Conv2D etc. count."""
    for cls in type(op).__mro__:
        if cls.__name__ in _KNOWN:
            return cls.__name__
    return type(op).__name__


def _static_shape(tensor) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _spatial(shape: tuple, data_format: str = "channels_last") -> tuple:
    """Spatial axes of a batched shape (batch, *spatial, channels)."""
    if len(shape) < 3:
        return ()
    return tuple(shape[2:]) if data_format == "channels_first" else tuple(shape[1:-1])


def _channels(shape: tuple, data_format: str = "channels_last") -> int:
    return shape[1] if data_format == "channels_first" else shape[-1]


def _padding_pairs(padding, rank: int) -> tuple[tuple[int, int], ...] | None:
    """Normalise a padding layer's ``padding`` attribute to one ``(before, after)`` per axis."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return ((padding, padding),) * rank
    try:
        items = tuple(padding)
    except TypeError:
        return None
    if rank == 1 and len(items) == 2 and all(isinstance(p, int) for p in items):
        return (items,)
    if len(items) != rank:
        return None
    pairs = []
    for item in items:
        if isinstance(item, int):
            pairs.append((item, item))
        else:
            before, after = item
            pairs.append((int(before), int(after)))
    return tuple(pairs)


def _windowed(state: _Field, kernel, strides, dilation, pads) -> _Field:
    """Apply a sliding window (conv / pooling) to a receptive-field state."""
    rf, jump, start = [], [], []
    for r, j, s0, k, s, d, (before, _after) in zip(
        state.rf, state.jump, state.start, kernel, strides, dilation, pads
    ):
        span = effective_kernel_size(k, d)
        rf.append(r + (span - 1) * j)
        start.append(s0 + ((span - 1) / 2 - before) * j)
        jump.append(j * s)
    return _Field(tuple(rf), tuple(jump), tuple(start))


def _whole_input(state: _Field) -> _Field:
    """The state after a layer that mixes every spatial position (global pooling, flatten)."""
    if state.global_ or not state.extent:
        return _Field(state.rf, state.jump, state.start, global_=True)
    rf = tuple(r + (n - 1) * j for r, n, j in zip(state.rf, state.extent, state.jump))
    jump = tuple(n * j for n, j in zip(state.extent, state.jump))
    start = tuple(s + (n - 1) / 2 * j for s, n, j in zip(state.start, state.extent, state.jump))
    return _Field(rf, jump, start, global_=True)


def _adaptive(state: _Field, in_spatial, out_spatial) -> _Field:
    """Adaptive pooling (torch's windows ``[floor(i*n/m), ceil((i+1)*n/m))``).

    Windows vary in width, so the receptive field is the widest window's and the jump is the
    mean step between window centres (fractional when ``m`` does not divide ``n``).
    """
    rf, jump, start = [], [], []
    for r, j, s0, n, m in zip(state.rf, state.jump, state.start, in_spatial, out_spatial):
        windows = adaptive_windows(n, m)
        centres = [(a + b - 1) / 2 for a, b in windows]
        step = (centres[-1] - centres[0]) / (m - 1) if m > 1 else n
        rf.append(r + (max(b - a for a, b in windows) - 1) * j)
        jump.append(j * step)
        start.append(s0 + centres[0] * j)
    return _Field(tuple(rf), tuple(jump), tuple(start))


def _merge(in_states) -> _Field:
    """The state after ``Add`` / ``Concatenate`` / ``Multiply``: the widest path decides.

    Per axis, the branch with the largest receptive field (on a tie, the larger jump; then the
    first) gives the receptive field, the jump and the start, so the three describe one real
    window rather than a mix of branches. Branches that were pooled to the whole input (a
    squeeze-and-excitation gate broadcast over the map) are left out while a spatial branch
    remains: they rescale channels, and counting them would make every layer after the first
    such block report the whole image.
    """
    spatial = [s for s in in_states if not s.global_]
    if not spatial:
        first = in_states[0]
        return _Field(first.rf, first.jump, first.start, global_=True)
    rf, jump, start = [], [], []
    for axis in range(len(spatial[0].rf)):
        widest = max(spatial, key=lambda s: (s.rf[axis], s.jump[axis]))
        rf.append(widest.rf[axis])
        jump.append(widest.jump[axis])
        start.append(widest.start[axis])
    return _Field(tuple(rf), tuple(jump), tuple(start))


def _window_params(layer, rank: int):
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    kernel = per_axis(kernel, rank, "kernel size")
    strides = per_axis(getattr(layer, "strides", None) or kernel, rank, "stride")
    dilation = per_axis(getattr(layer, "dilation_rate", 1) or 1, rank, "dilation")
    return kernel, strides, dilation


def _propagate(layer, kind: str, in_states, in_shapes, out_shape) -> _Field:
    """Receptive-field state of a layer's output, from its inputs' states and shapes."""
    data_format = getattr(layer, "data_format", None) or "channels_last"
    if len(in_states) != 1:
        merged = _merge(in_states)
        merged.extent = _spatial(out_shape, data_format)
        return merged

    state, in_shape = in_states[0], in_shapes[0]
    in_spatial = _spatial(in_shape, data_format)
    out_spatial = _spatial(out_shape, data_format)

    if state.global_:
        new = _Field(state.rf, state.jump, state.start, global_=True)
    elif len(out_spatial) != len(in_spatial) or kind.startswith("Global") or kind == "Flatten":
        new = _whole_input(state)
    elif not in_spatial:
        new = _Field(state.rf, state.jump, state.start)
    elif kind in _CONV or kind in _POOL:
        rank = len(in_spatial)
        kernel, strides, dilation = _window_params(layer, rank)
        mode = getattr(layer, "padding", "valid")
        pads = tuple(
            padding_amounts(n, k, mode, s, d) if n is not None else (0, 0)
            for n, k, s, d in zip(in_spatial, kernel, strides, dilation)
        )
        new = _windowed(state, kernel, strides, dilation, pads)
    elif kind in _CONV_TRANSPOSE or kind in _UPSAMPLE:
        # An upsampling layer interleaves: outputs are 1/s apart, and a kernel adds (k-1) of them.
        rank = len(in_spatial)
        if kind in _UPSAMPLE:
            strides = per_axis(getattr(layer, "size", 2), rank, "size")
            kernel = (1,) * rank
        else:
            kernel, strides, _ = _window_params(layer, rank)
        jump = tuple(j / s for j, s in zip(state.jump, strides))
        rf = tuple(r + (k - 1) * j for r, k, j in zip(state.rf, kernel, jump))
        new = _Field(rf, jump, state.start)
    elif "Adaptive" in kind and hasattr(layer, "output_size"):
        new = _adaptive(state, in_spatial, out_spatial)
    elif in_spatial == out_spatial:  # element-wise: BN, activations, dropout, 1x1 heads...
        new = _Field(state.rf, state.jump, state.start)
    elif hasattr(layer, "strides") and not (
        hasattr(layer, "kernel_size") or hasattr(layer, "pool_size")
    ):
        # A strided subsample without a window (kerascnn's ZeroPadShortcut: x[:, ::s, ::s]).
        rank = len(in_spatial)
        strides = per_axis(layer.strides, rank, "stride")
        new = _windowed(state, (1,) * rank, strides, (1,) * rank, ((0, 0),) * rank)
    else:
        pairs = None
        if "Padding" in kind and hasattr(layer, "padding"):
            pairs = _padding_pairs(layer.padding, len(in_spatial))
        elif kind.startswith("Cropping") and hasattr(layer, "cropping"):
            crops = _padding_pairs(layer.cropping, len(in_spatial))
            pairs = tuple((-a, -b) for a, b in crops) if crops else None
        if pairs is None and all(
            n is not None and m is not None and m > n for n, m in zip(in_spatial, out_spatial)
        ):
            # An unknown padding layer: assume the growth is split evenly, extra after.
            pairs = tuple(((m - n) // 2, m - n - (m - n) // 2) for n, m in zip(in_spatial, out_spatial))
        if pairs is not None:
            start = tuple(s - before * j for s, j, (before, _) in zip(state.start, state.jump, pairs))
            new = _Field(state.rf, state.jump, start)
        else:
            # An unknown shrinking layer: infer a valid window from the sizes
            # (stride = n // m, kernel = n - (m-1) * stride).
            strides, kernel = [], []
            for n, m in zip(in_spatial, out_spatial):
                if n is None or m is None or m < 1:
                    strides.append(1)
                    kernel.append(1)
                    continue
                s = max(n // m, 1)
                strides.append(s)
                kernel.append(max(n - (m - 1) * s, 1))
            rank = len(in_spatial)
            new = _windowed(state, kernel, strides, (1,) * rank, ((0, 0),) * rank)
    new.extent = out_spatial
    return new


def _weight_count(weights) -> int:
    return sum(math.prod(int(d) for d in w.shape) for w in weights)


def _layer_macs(layer, kind: str, in_shapes, out_shape, *, inner_macs=None) -> int:
    """MACs of one application of ``layer`` (see the module docstring for the convention)."""
    if inner_macs is not None:
        return inner_macs
    data_format = getattr(layer, "data_format", None) or "channels_last"
    if kind in _CONV or kind in _CONV_TRANSPOSE:
        in_shape = in_shapes[0]
        c_in = _channels(in_shape, data_format)
        kernel = per_axis(layer.kernel_size, len(_spatial(in_shape, data_format)), "kernel size")
        if kind in _CONV_TRANSPOSE:  # every input pixel scatters a full kernel
            positions = math.prod(_spatial(in_shape, data_format))
            groups = getattr(layer, "groups", 1) or 1
            return positions * c_in * math.prod(kernel) * layer.filters // groups
        out_spatial = _spatial(out_shape, data_format)
        if kind.startswith("Depthwise"):  # groups = C_in, C_in * m outputs
            return conv_macs(out_spatial, kernel, c_in, _channels(out_shape, data_format),
                             groups=c_in)
        if kind.startswith("Separable"):
            return separable_conv_macs(out_spatial, kernel, c_in, layer.filters,
                                       depth_multiplier=layer.depth_multiplier)
        groups = getattr(layer, "groups", 1) or 1
        return conv_macs(
            out_spatial,
            kernel,
            c_in,
            _channels(out_shape, data_format),
            groups=groups,
        )
    if kind == "Dense":
        in_shape = in_shapes[0]
        leading = math.prod(d for d in in_shape[1:-1] if d is not None)
        return leading * dense_macs(in_shape[-1], layer.units)
    return 0


def _is_model(op) -> bool:
    return hasattr(op, "operations") and hasattr(op, "inputs") and hasattr(op, "outputs")


def _ordered_nodes(model):
    """Every node (one application of an operation) of ``model``, inputs first.

    Walks back from the outputs without recursion (ResNet-152 is deep), then orders the nodes
    topologically, preferring the model's own operation order so the table reads like Keras'.
    """
    outputs = list(model.outputs)
    rank = {id(op): i for i, op in enumerate(model.operations)}
    nodes, parents = {}, {}
    stack = [t._keras_history for t in outputs]
    while stack:
        op, node_index, _ = stack.pop()
        node = op._inbound_nodes[node_index]
        key = (id(op), node_index)
        if key in nodes:
            continue
        nodes[key] = (op, node_index, node)
        parents[key] = []
        for tensor in node.input_tensors:
            history = tensor._keras_history
            parents[key].append((id(history[0]), history[1]))
            stack.append(history)
    children = {key: [] for key in nodes}
    waiting = {}
    for key, deps in parents.items():
        unique = set(deps)
        waiting[key] = len(unique)
        for dep in unique:
            children[dep].append(key)

    def priority(key):
        return (rank.get(key[0], len(rank)), key[1], key[0])

    ready = [priority(k) + (k,) for k, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        key = heapq.heappop(ready)[-1]
        order.append(nodes[key])
        for child in children[key]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, priority(child) + (child,))
    return order


def analyze(model) -> ModelAnalysis:
    """Walk a built Keras functional (or Sequential) model and report every layer.

    Returns a :class:`ModelAnalysis` — a list of :class:`LayerStats` (name, type, output shape,
    trainable / non-trainable params, MACs, receptive field, jump) with ``.totals`` and
    ``.table()``. Handles convolutions (groups, dilation, depthwise, separable), dense, pooling
    (max / average / global / adaptive), padding layers (``ZeroPadding2D``, kerascnn's
    ``Padding2D`` / ``CircularPadding2D`` / ``ReflectPadding2D``, or any layer with a ``padding``
    attribute that grows the map), kerascnn's ``ZeroPadShortcut`` (a strided identity), batch
    norm, activations, dropout, flatten and merges (``Add``, ``Concatenate``, ``Multiply``:
    the widest path's receptive field, jump and start; see the module docstring). A nested model counts as one row whose MACs are its own total. Layers it
    does not know keep the receptive field when they keep the spatial size; otherwise it infers
    a padding or a window from the sizes.

    Example:
        >>> import keras  # doctest: +SKIP
        >>> x = keras.Input((32, 32, 1))  # doctest: +SKIP
        >>> y = keras.layers.Conv2D(6, 5)(x)  # doctest: +SKIP
        >>> report = analyze(keras.Model(x, y))  # doctest: +SKIP
        >>> report[-1].macs, report[-1].receptive_field  # doctest: +SKIP
        (117600, (5, 5))
    """
    if not hasattr(model, "outputs") or not getattr(model, "built", True):
        raise UsageError("analyze() needs a built Keras model with inputs and outputs")
    try:
        model_inputs = list(model.inputs)
    except (AttributeError, ValueError):
        raise UsageError(
            f"model {getattr(model, 'name', model)!r} has no defined inputs; "
            "build it on a keras.Input first"
        ) from None
    if not model_inputs:
        raise UsageError(f"model {model.name!r} has no inputs")
    first_spatial = _spatial(_static_shape(model_inputs[0]))
    if None in first_spatial:
        raise UsageError(
            f"model {model.name!r} has an input of unknown size {_static_shape(model_inputs[0])[1:]}; "
            "build it with a fixed input shape to count MACs and receptive fields"
        )
    origin = _Field(
        rf=(1,) * len(first_spatial),
        jump=(1,) * len(first_spatial),
        start=(0.0,) * len(first_spatial),
        extent=first_spatial,
    )

    states: dict[int, _Field] = {}
    producers: dict[int, str] = {}
    counted: set[int] = set()
    stats = []
    for op, node_index, node in _ordered_nodes(model):
        kind = _kind(op)
        in_tensors = list(node.input_tensors)
        out_tensors = list(node.output_tensors)
        in_shapes = [_static_shape(t) for t in in_tensors]
        out_shapes = [_static_shape(t) for t in out_tensors]
        if in_tensors:
            in_states = [states.get(id(t), origin) for t in in_tensors]
            # A layer like Dense(…)(x, mask) or a merge of identical tensors counts each once.
            try:
                state = _propagate(op, kind, in_states, in_shapes, out_shapes[0])
            except (UsageError, TypeError, ValueError):
                state = in_states[0]
        else:  # an InputLayer
            state = _Field(origin.rf, origin.jump, origin.start, extent=_spatial(out_shapes[0]))
        for tensor in out_tensors:
            states[id(tensor)] = state
            producers[id(tensor)] = op.name

        first_use = id(op) not in counted
        counted.add(id(op))
        trainable = _weight_count(getattr(op, "trainable_weights", [])) if first_use else 0
        non_trainable = _weight_count(getattr(op, "non_trainable_weights", [])) if first_use else 0
        inner = count_macs(op) if _is_model(op) else None
        macs = _layer_macs(op, kind, in_shapes, out_shapes[0], inner_macs=inner) if in_tensors else 0
        shape = out_shapes[0][1:] if len(out_shapes) == 1 else tuple(s[1:] for s in out_shapes)
        name = op.name if node_index == 0 else f"{op.name}#{node_index}"
        stats.append(
            LayerStats(
                name=name,
                type=type(op).__name__,
                output_shape=shape,
                params=trainable + non_trainable,
                trainable_params=trainable,
                non_trainable_params=non_trainable,
                macs=int(macs),
                receptive_field=tuple(_tidy(v) for v in state.rf),
                jump=tuple(_tidy(v) for v in state.jump),
                start=tuple(float(v) for v in state.start),
                inputs=tuple(producers.get(id(t), "?") for t in in_tensors),
            )
        )
    input_shape = tuple(d for d in _static_shape(model_inputs[0])[1:])
    return ModelAnalysis(stats, model_name=model.name, input_shape=input_shape)


def _tidy(value):
    """Whole numbers as int (jumps after upsampling may be fractional)."""
    return int(value) if float(value).is_integer() else float(value)


def count_macs(model) -> int:
    """Total multiply-accumulates of one forward pass of a built model (batch of one).

    Example:
        >>> count_macs(kerascnn.build("resnet50"))  # doctest: +SKIP
        4089184256
    """
    return analyze(model).totals.macs
