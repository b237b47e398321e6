"""Convolution arithmetic on plain integers: output sizes, padding, receptive fields, params, MACs.

The one home of these rules: ``blocks``, ``layers``, ``arithmetic.convmatrix``,
``arithmetic.analysis`` and the architectures registry call them instead of re-deriving them.
Nothing here imports TensorFlow or Keras; numpy is imported only by :func:`source_index`.

Output size of a convolution or pooling window along one axis (input ``n``, kernel ``k``,
stride ``s``, dilation ``d``, padding ``p`` on each side)::

    out = floor((n + 2p - d(k-1) - 1) / s) + 1

Keras' ``"valid"`` is ``p = 0``; Keras' ``"same"`` pads just enough that ``out = ceil(n / s)``
(the extra pixel, when the total is odd, goes after); ``"circular"`` and ``"reflect"`` pad by the
same amounts as ``"same"`` but fill the pads from the input; an explicit integer is what
``ZeroPadding2D(p)`` followed by a ``"valid"`` convolution does.

Receptive field ``r`` and jump ``j`` (the distance, in input pixels, between neighbouring
outputs — the effective stride) grow layer by layer::

    r_out = r_in + d(k-1) * j_in        j_out = j_in * s

starting from ``r = j = 1`` at the input. Where branches merge (``Add``, ``Concatenate``) the
receptive field is the largest of the branches'.

MAC convention (multiply-accumulates, the unit torchvision's "GFLOPS" column uses):

* convolution: ``H_out * W_out * C_out * (k_h * k_w * C_in / groups)`` (depthwise: groups = C_in,
  C_out = C_in * depth multiplier);
* separable convolution (depthwise, then a pointwise 1x1): the sum of those two convolutions;
* dense: ``in * out`` (times any leading axes when applied to a feature map);
* bias additions, batch norm, activations, pooling, padding, merges and dropout count as 0 —
  they are cheap element-wise work, and leaving them out makes the figures comparable with the
  published ones (ResNet-50 at 224×224: 4.09 G).

Example:
    >>> conv_output_size(224, 7, stride=2, padding=3)
    112
    >>> receptive_fields([(3, 1), (3, 1), (2, 2)])
    [(3, 1), (5, 1), (6, 2)]
    >>> conv_macs((112, 112), 7, 3, 64)
    118013952
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

from kerascnn.errors import UsageError, positive_int

__all__ = [
    "PADDINGS",
    "adaptive_windows",
    "batchnorm_params",
    "conv_macs",
    "conv_output_size",
    "conv_params",
    "dense_macs",
    "dense_params",
    "effective_kernel_size",
    "image_shape",
    "next_receptive_field",
    "padding_amounts",
    "per_axis",
    "positive_int",
    "receptive_fields",
    "same_padding",
    "separable_conv_macs",
    "separable_conv_params",
    "size_preserving_padding",
    "source_index",
]

PADDINGS = ("valid", "same", "circular", "reflect")
"""Padding names a convolution accepts (besides explicit amounts): no padding, then three ways
of filling the ``"same"`` amounts — zeros, the opposite edge, or the mirrored interior."""

_SAME_SIZED = ("same", "circular", "reflect")


def _is_int(value) -> bool:
    # numbers.Integral covers numpy integers too, without importing numpy.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def per_axis(value, rank: int, what: str) -> tuple[int, ...]:
    """``3`` or ``(3, 3)`` -> a tuple of ``rank`` positive ints (one per spatial axis).

    Example:
        >>> per_axis(3, 2, "kernel size")
        (3, 3)
        >>> per_axis((1, 2), 2, "stride")
        (1, 2)
    """
    values = (value,) * rank if _is_int(value) else tuple(value)
    if len(values) != rank:
        raise UsageError(f"{what} {value!r} does not have {rank} entries")
    return tuple(positive_int(v, what) for v in values)


def image_shape(value) -> tuple[int, int, int] | None:
    """``(height, width, channels)`` from ``"64,64,3"``, ``"64x64x3"`` or three whole numbers;
    None when ``value`` is not three positive whole numbers.

    The one reading of an image shape: the CLI, ``TrainConfig``, ``load_data`` and ``build``
    call it and word their own error for None, so all four accept the same spellings.

    Example:
        >>> image_shape("64x64x3"), image_shape([28, 28.0, "1"])
        ((64, 64, 3), (28, 28, 1))
        >>> image_shape((32, 32)), image_shape("64,64,0"), image_shape([32, 32.5, 3])
        (None, None, None)
    """
    if isinstance(value, str):
        value = [part for part in value.replace("X", "x").replace("x", ",").split(",") if part.strip()]
    try:
        items = list(value)
    except TypeError:
        return None
    shape = []
    for item in items:
        if isinstance(item, bool):
            return None
        try:
            number = int(item)
            if not isinstance(item, str) and float(item) != number:
                return None  # 32.5 is not a size
        except (TypeError, ValueError):
            return None
        shape.append(number)
    if len(shape) != 3 or min(shape) < 1:
        return None
    return tuple(shape)


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """Span of a dilated kernel in input pixels: ``d(k-1) + 1``.

    Example:
        >>> effective_kernel_size(3, dilation=2)
        5
    """
    positive_int(kernel_size, "kernel size")
    positive_int(dilation, "dilation")
    return dilation * (kernel_size - 1) + 1


def same_padding(n: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """The ``(before, after)`` zero padding Keras/TensorFlow ``"same"`` adds along one axis.

    Just enough that ``ceil(n / stride)`` windows fit; an odd total puts the extra pixel after.

    Example:
        >>> same_padding(224, 7, stride=2)
        (2, 3)
        >>> same_padding(5, 3)
        (1, 1)
    """
    positive_int(n, "input size")
    positive_int(stride, "stride")
    span = effective_kernel_size(kernel_size, dilation)
    out = -(-n // stride)
    total = max((out - 1) * stride + span - n, 0)
    return total // 2, total - total // 2


def size_preserving_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """``"same"`` padding at stride 1, which does not depend on the input size: ``d(k-1)`` split.

    This is the padding that keeps any input's size (torch's ``padding="same"``), so layers can
    be built before the input size is known.

    Example:
        >>> size_preserving_padding(3)
        (1, 1)
        >>> size_preserving_padding(4, dilation=2)  # 6 pixels: 3 before, 3 after
        (3, 3)
        >>> size_preserving_padding(2) == same_padding(17, 2)
        True
    """
    # At stride 1, same_padding's total is span - 1 for every n >= 1; n = 1 is as good as any.
    return same_padding(1, kernel_size, 1, dilation)


def padding_amounts(
    n: int,
    kernel_size: int,
    padding: str | int | tuple[int, int] = "valid",
    stride: int = 1,
    dilation: int = 1,
) -> tuple[int, int]:
    """The ``(before, after)`` padding of one spatial axis for any way of naming it.

    ``"valid"`` pads nothing; ``"same"``, ``"circular"`` and ``"reflect"`` pad by TensorFlow's
    ``same`` rule (output ``ceil(n / s)``, the odd extra pixel after); ``"causal"`` (Conv1D) puts
    all of it before; an int ``p`` pads ``p`` on both sides; ``(before, after)`` is taken as is.

    Example:
        >>> padding_amounts(7, 3, "same")
        (1, 1)
        >>> padding_amounts(6, 3, "same", stride=2)   # out 3: needs 1 extra, all after
        (0, 1)
        >>> padding_amounts(10, 3, "causal", dilation=4)
        (8, 0)
        >>> padding_amounts(8, 3, (2, 0))
        (2, 0)
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode in _SAME_SIZED:
            return same_padding(n, kernel_size, stride, dilation)
        if mode == "causal":  # Conv1D: all padding before, output aligned with the input
            return effective_kernel_size(kernel_size, dilation) - 1, 0
        raise UsageError(
            f"unknown padding {padding!r}; use one of {', '.join(PADDINGS)}, 'causal', "
            "an int or (before, after)"
        )
    if _is_int(padding):
        before = after = padding
    else:
        try:
            before, after = padding
        except (TypeError, ValueError):
            raise UsageError(f"padding {padding!r} is not an int or (before, after)") from None
    if not all(_is_int(p) and p >= 0 for p in (before, after)):
        raise UsageError(f"padding {padding!r} must be non-negative integers")
    return int(before), int(after)


def conv_output_size(
    n: int,
    kernel_size: int,
    stride: int = 1,
    padding: str | int | tuple[int, int] = "valid",
    dilation: int = 1,
) -> int:
    """Length of a convolution's (or pooling window's) output along one axis.

    ``padding`` is anything :func:`padding_amounts` takes: ``"valid"``, ``"same"`` (Keras:
    ``ceil(n / stride)``), ``"circular"``, ``"reflect"``, ``"causal"``, an int ``p`` (``p`` zeros
    on each side) or ``(before, after)``. A window that does not fit raises
    :class:`~kerascnn.errors.UsageError`.

    Example:
        >>> conv_output_size(224, 7, stride=2, padding=3)
        112
        >>> conv_output_size(32, 5)
        28
        >>> conv_output_size(7, 3, stride=2, padding="same")
        4
        >>> conv_output_size(10, 3, dilation=2)
        6
    """
    positive_int(n, "input size")
    positive_int(stride, "stride")
    span = effective_kernel_size(kernel_size, dilation)
    before, after = padding_amounts(n, kernel_size, padding, stride, dilation)
    padded = n + before + after
    if padded < span:
        raise UsageError(
            f"a kernel spanning {span} pixels does not fit input size {n}"
            + (f" padded to {padded}" if padded != n else "")
        )
    return (padded - span) // stride + 1


def next_receptive_field(
    receptive_field: int, jump: int, kernel_size: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """One layer's step: ``(r + d(k-1) * j, j * s)``.

    Example:
        >>> next_receptive_field(1, 1, 7, stride=2)
        (7, 2)
        >>> next_receptive_field(7, 2, 3, stride=2)
        (11, 4)
    """
    positive_int(receptive_field, "receptive field")
    positive_int(jump, "jump")
    span = effective_kernel_size(kernel_size, dilation)
    return receptive_field + (span - 1) * jump, jump * positive_int(stride, "stride")


def receptive_fields(layers: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    """Receptive field and jump after each layer of a chain of ``(kernel, stride[, dilation])``.

    Padding does not change either (it only shifts where the windows sit).

    Example:
        >>> receptive_fields([(3, 1), (3, 1), (2, 2)])  # two 3x3 convs, then 2x2/2 pooling
        [(3, 1), (5, 1), (6, 2)]
        >>> receptive_fields([(3, 1, 2)])  # a dilated 3x3 sees 5 pixels
        [(5, 1)]
    """
    receptive_field, jump, out = 1, 1, []
    for spec in layers:
        receptive_field, jump = next_receptive_field(receptive_field, jump, *spec)
        out.append((receptive_field, jump))
    return out


def adaptive_windows(size: int, output_size: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows ``[floor(i*n/m), ceil((i+1)*n/m))`` along one axis.

    Example:
        >>> adaptive_windows(5, 3)
        [(0, 2), (1, 4), (3, 5)]
        >>> adaptive_windows(1, 2)
        [(0, 1), (0, 1)]
    """
    return [
        ((i * size) // output_size, -((-(i + 1) * size) // output_size)) for i in range(output_size)
    ]


def source_index(padded_index, size: int, before: int, mode: str):
    """Map positions on a padded axis to positions on the original axis (-1: a constant pad).

    ``mode``: ``"circular"`` wraps around (``np.pad`` "wrap"), ``"reflect"`` mirrors without
    repeating the edge (``np.pad`` / ``tf.pad`` "reflect"), ``"symmetric"`` mirrors repeating
    it; anything else (``"same"``, ``"zeros"``, ``"constant"``, ...) marks the pads with -1.
    Works on any numpy array of positions and on pads larger than the input.

    Example:
        >>> import numpy as np
        >>> source_index(np.arange(7), 5, 1, "circular").tolist()
        [4, 0, 1, 2, 3, 4, 0]
        >>> source_index(np.arange(7), 5, 1, "reflect").tolist()
        [1, 0, 1, 2, 3, 4, 3]
        >>> source_index(np.arange(7), 3, 2, "symmetric").tolist()
        [1, 0, 0, 1, 2, 2, 1]
        >>> source_index(np.arange(7), 5, 1, "same").tolist()
        [-1, 0, 1, 2, 3, 4, -1]
    """
    import numpy as np

    index = np.asarray(padded_index) - before
    if mode == "circular":
        return np.mod(index, size)
    if mode == "reflect":
        # Mirror without repeating the edge: period 2(n-1); a single pixel just repeats.
        period = max(2 * size - 2, 1)
        folded = np.mod(index, period)
        return np.where(folded < size, folded, period - folded)
    if mode == "symmetric":
        folded = np.mod(index, 2 * size)
        return np.where(folded < size, folded, 2 * size - 1 - folded)
    return np.where((index >= 0) & (index < size), index, -1)


def conv_params(
    kernel_size: int | Sequence[int],
    in_channels: int,
    out_channels: int,
    *,
    groups: int = 1,
    use_bias: bool = True,
) -> int:
    """Weights of a convolution: ``prod(k) * C_in / groups * C_out`` (+ ``C_out`` biases).

    An int kernel size means a square 2-D kernel (as in ``Conv2D(filters, 3)``); pass ``(k,)``
    for 1-D. A depthwise convolution with multiplier ``m`` is ``groups=C_in, out_channels=C_in*m``.

    Example:
        >>> conv_params(3, 64, 64, use_bias=False)
        36864
        >>> conv_params((5, 5), 6, 16)  # LeNet-5 C3, fully connected
        2416
    """
    kernel = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    _check_groups(in_channels, out_channels, groups)
    return math.prod(kernel) * (in_channels // groups) * out_channels + (
        out_channels if use_bias else 0
    )


def conv_macs(
    output_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    in_channels: int,
    out_channels: int,
    *,
    groups: int = 1,
) -> int:
    """Multiply-accumulates of a convolution: ``prod(out) * C_out * prod(k) * C_in / groups``.

    ``output_size`` and ``kernel_size`` are an int (square/1-D) or one entry per spatial axis.

    Example:
        >>> conv_macs((28, 28), 5, 1, 6)  # LeNet-5 C1
        117600
    """
    _check_groups(in_channels, out_channels, groups)
    spatial = tuple(output_size) if not isinstance(output_size, int) else None
    kernel = tuple(kernel_size) if not isinstance(kernel_size, int) else None
    if spatial is None:
        rank = len(kernel) if kernel is not None else 2
        spatial = (output_size,) * rank
    if kernel is None:
        kernel = (kernel_size,) * len(spatial)
    return math.prod(spatial) * out_channels * math.prod(kernel) * (in_channels // groups)


def separable_conv_params(
    kernel_size: int | Sequence[int],
    in_channels: int,
    out_channels: int,
    *,
    depth_multiplier: int = 1,
    use_bias: bool = True,
) -> int:
    """Weights of a separable convolution (Keras ``SeparableConv2D``, MobileNet's block).

    A depthwise ``k x k`` convolution (``groups = C_in``, ``C_in * m`` outputs, no bias) then a
    pointwise ``1 x 1`` one to ``C_out`` (+ ``C_out`` biases)::

        prod(k) * C_in * m  +  C_in * m * C_out

    Example:
        >>> separable_conv_params(3, 16, 32)  # 9*16 + 16*32 + 32
        688
        >>> separable_conv_params(3, 256, 256, use_bias=False) * 8 < conv_params(3, 256, 256)
        True
    """
    kernel = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    mid = positive_int(in_channels, "input channels") * positive_int(
        depth_multiplier, "depth multiplier"
    )
    depthwise = conv_params(kernel, in_channels, mid, groups=in_channels, use_bias=False)
    return depthwise + conv_params((1,) * len(kernel), mid, out_channels, use_bias=use_bias)


def separable_conv_macs(
    output_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    in_channels: int,
    out_channels: int,
    *,
    depth_multiplier: int = 1,
) -> int:
    """Multiply-accumulates of a separable convolution: its depthwise plus its pointwise part.

    ``prod(out) * C_in * m * prod(k)  +  prod(out) * C_in * m * C_out`` (both parts run at the
    output resolution: a strided separable conv strides in its depthwise part).

    Example:
        >>> separable_conv_macs((8, 8), 3, 16, 32)  # 64*16*9 + 64*16*32
        41984
    """
    kernel = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    spatial = (output_size,) * len(kernel) if isinstance(output_size, int) else tuple(output_size)
    mid = positive_int(in_channels, "input channels") * positive_int(
        depth_multiplier, "depth multiplier"
    )
    depthwise = conv_macs(spatial, kernel, in_channels, mid, groups=in_channels)
    return depthwise + conv_macs(spatial, (1,) * len(kernel), mid, out_channels)


def _check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    positive_int(in_channels, "input channels")
    positive_int(out_channels, "output channels")
    positive_int(groups, "groups")
    if in_channels % groups or out_channels % groups:
        raise UsageError(
            f"groups={groups} must divide both input ({in_channels}) and output "
            f"({out_channels}) channels"
        )


def dense_params(in_features: int, out_features: int, *, use_bias: bool = True) -> int:
    """Weights of a fully connected layer: ``in * out`` (+ ``out`` biases).

    Example:
        >>> dense_params(120, 84)
        10164
    """
    return positive_int(in_features, "input features") * positive_int(
        out_features, "output features"
    ) + (out_features if use_bias else 0)


def dense_macs(in_features: int, out_features: int) -> int:
    """Multiply-accumulates of a fully connected layer: ``in * out``.

    Example:
        >>> dense_macs(2048, 1000)
        2048000
    """
    return positive_int(in_features, "input features") * positive_int(
        out_features, "output features"
    )


def batchnorm_params(channels: int, *, center: bool = True, scale: bool = True) -> tuple[int, int]:
    """``(trainable, non_trainable)`` weights of batch norm: gamma/beta, then moving mean/var.

    Example:
        >>> batchnorm_params(64)
        (128, 128)
    """
    positive_int(channels, "channels")
    return channels * (int(center) + int(scale)), 2 * channels
