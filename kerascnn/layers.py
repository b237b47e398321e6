"""The few layers Keras lacks for classic CNNs.

* ``Padding2D`` (and the shorthands ``CircularPadding2D``, ``ReflectPadding2D``): spatial padding
  of NHWC tensors with the same semantics as ``np.pad(mode="wrap" | "reflect" | "symmetric" |
  "constant")``, so convolutions can use torch's ``padding_mode="circular" | "reflect"``.
* ``ZeroPadShortcut``: the parameter-free residual shortcut "option A" of He et al. (2016):
  a strided identity whose missing channels are zeros (a registered layer, not a Lambda, so
  models keep loading with ``safe_mode=True``).
* ``AdaptivePooling2D``: average or max pooling to a fixed output size, exactly like torch's
  ``AdaptiveAvgPool2d`` / ``AdaptiveMaxPool2d`` (windows ``[floor(i*n/m), ceil((i+1)*n/m))``).

All layers are registered Keras serializables (package ``kerascnn``).

Example:
    >>> import numpy as np
    >>> from kerascnn.layers import CircularPadding2D
    >>> x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    >>> y = CircularPadding2D(1)(x)
    >>> tuple(y.shape)
    (1, 5, 5, 1)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from kerascnn.arithmetic.formulas import adaptive_windows, source_index
from kerascnn.errors import UsageError, unknown_name

__all__ = [
    "PADDING_MODES",
    "AdaptivePooling2D",
    "CircularPadding2D",
    "Padding2D",
    "ReflectPadding2D",
    "ZeroPadShortcut",
    "adaptive_windows",
    "normalize_padding",
    "pad_indices",
]

PADDING_MODES = ("constant", "circular", "reflect", "symmetric")
# The modes that fill pads from the input itself (constant mode fills them with a value).
_INDEXED_MODES = ("circular", "reflect", "symmetric")


def normalize_padding(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """Turn ``p`` | ``(ph, pw)`` | ``((top, bottom), (left, right))`` into the long form.

    Example:
        >>> normalize_padding(1)
        ((1, 1), (1, 1))
        >>> normalize_padding((1, 2))
        ((1, 1), (2, 2))
    """
    try:
        if isinstance(padding, (int, np.integer)):
            pads = ((int(padding),) * 2,) * 2
        else:
            rows, cols = padding
            pads = tuple(
                (int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1]))
                for p in (rows, cols)
            )
    except (TypeError, ValueError):
        raise UsageError(
            f"bad padding {padding!r}: expected an int, (rows, cols) or "
            "((top, bottom), (left, right))"
        ) from None
    if any(p < 0 for pair in pads for p in pair):
        raise UsageError(f"bad padding {padding!r}: amounts must be >= 0")
    return pads  # type: ignore[return-value]


def pad_indices(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index for every position of a padded axis (``np.pad`` semantics, any pad size).

    ``mode`` is circular, reflect or symmetric; the folding itself is
    :func:`kerascnn.arithmetic.formulas.source_index`.

    Example:
        >>> pad_indices(3, 2, 2, "circular").tolist()
        [1, 2, 0, 1, 2, 0, 1]
        >>> pad_indices(3, 2, 2, "reflect").tolist()
        [2, 1, 0, 1, 2, 1, 0]
    """
    if mode not in _INDEXED_MODES:
        raise unknown_name("padding mode", str(mode), _INDEXED_MODES)
    return source_index(np.arange(size + before + after), size, before, mode)


@keras.saving.register_keras_serializable(package="kerascnn")
class Padding2D(keras.layers.Layer):
    """Pad the two spatial axes of an NHWC tensor.

    ``mode``: ``"circular"`` (``np.pad`` "wrap", torch "circular"), ``"reflect"`` (edge not
    repeated), ``"symmetric"`` (edge repeated) or ``"constant"`` (``value``, e.g. ``-inf``
    before a max pool). Pads may exceed the input size; they wrap/fold as ``np.pad`` does.

    Example:
        >>> layer = Padding2D(((1, 0), (2, 2)), mode="reflect")
        >>> layer.compute_output_shape((None, 4, 4, 3))
        (None, 5, 8, 3)
    """

    def __init__(self, padding=1, mode: str = "circular", value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if mode not in PADDING_MODES:
            raise unknown_name("padding mode", str(mode), PADDING_MODES)
        self.padding = normalize_padding(padding)
        self.mode = mode
        self.value = float(value)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        (top, bottom), (left, right) = self.padding
        height = None if height is None else height + top + bottom
        width = None if width is None else width + left + right
        return (batch, height, width, channels)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        if self.mode == "constant":
            return ops.pad(
                inputs, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=self.value
            )
        outputs = inputs
        for axis, (before, after) in ((1, (top, bottom)), (2, (left, right))):
            if before == 0 and after == 0:
                continue
            size = outputs.shape[axis]
            if size is None:
                index = self._dynamic_indices(ops.shape(outputs)[axis], before, after)
            else:
                index = ops.convert_to_tensor(pad_indices(size, before, after, self.mode), "int32")
            outputs = ops.take(outputs, index, axis=axis)
        return outputs

    def _dynamic_indices(self, size, before, after):
        # arithmetic.source_index's folding, redone in ops on a tensor size (unknown height/width).
        size = ops.cast(size, "int32")
        positions = ops.arange(-before, 0, dtype="int32")
        positions = ops.concatenate([positions, ops.arange(0, size + after, dtype="int32")], axis=0)
        if self.mode == "circular":
            return ops.mod(positions + size * (before + 1), size)
        if self.mode == "reflect":
            period = ops.maximum(2 * size - 2, 1)
        else:
            period = 2 * size
        folded = ops.mod(positions + period * (before + 1), period)
        if self.mode == "reflect":
            return ops.where(folded < size, folded, period - folded)
        return ops.where(folded < size, folded, period - 1 - folded)

    def get_config(self):
        config = super().get_config()
        config.update({"padding": self.padding, "mode": self.mode, "value": self.value})
        return config


@keras.saving.register_keras_serializable(package="kerascnn")
class CircularPadding2D(Padding2D):
    """Circular ("wrap") padding; same as ``Padding2D(padding, mode="circular")``.

    Example:
        >>> CircularPadding2D(2).compute_output_shape((1, 8, 8, 3))
        (1, 12, 12, 3)
    """

    def __init__(self, padding=1, **kwargs):
        kwargs.pop("mode", None)
        kwargs.pop("value", None)
        super().__init__(padding, mode="circular", **kwargs)


@keras.saving.register_keras_serializable(package="kerascnn")
class ReflectPadding2D(Padding2D):
    """Reflect padding (edge pixel not repeated); same as ``Padding2D(padding, mode="reflect")``.

    Example:
        >>> ReflectPadding2D((1, 2)).compute_output_shape((1, 8, 8, 3))
        (1, 10, 12, 3)
    """

    def __init__(self, padding=1, **kwargs):
        kwargs.pop("mode", None)
        kwargs.pop("value", None)
        super().__init__(padding, mode="reflect", **kwargs)


@keras.saving.register_keras_serializable(package="kerascnn")
class ZeroPadShortcut(keras.layers.Layer):
    """Residual shortcut "option A": ``x[:, ::s, ::s, :]`` with zero channels added.

    The extra ``out_channels - in_channels`` zero channels are split evenly before and after
    the existing ones (the common CIFAR ResNet implementation pads ``planes // 4`` each side).
    No parameters.

    Example:
        >>> import numpy as np
        >>> y = ZeroPadShortcut(strides=2, out_channels=32)(np.ones((1, 8, 8, 16), "float32"))
        >>> tuple(y.shape), float(y[0, 0, 0, 0]), float(y[0, 0, 0, 8])
        ((1, 4, 4, 32), 0.0, 1.0)
    """

    def __init__(self, strides: int = 1, out_channels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.strides = int(strides)
        self.out_channels = None if out_channels is None else int(out_channels)
        if self.strides < 1:
            raise UsageError(f"ZeroPadShortcut: strides must be >= 1, got {strides}")

    def _extra(self, in_channels: int) -> tuple[int, int]:
        if self.out_channels is None:
            return 0, 0
        extra = self.out_channels - in_channels
        if extra < 0:
            raise UsageError(
                f"ZeroPadShortcut: cannot shrink {in_channels} channels to {self.out_channels}"
            )
        return extra // 2, extra - extra // 2

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        s = self.strides
        height = None if height is None else math.ceil(height / s)
        width = None if width is None else math.ceil(width / s)
        before, after = self._extra(channels)
        return (batch, height, width, channels + before + after)

    def call(self, inputs):
        outputs = inputs[:, :: self.strides, :: self.strides, :] if self.strides > 1 else inputs
        before, after = self._extra(inputs.shape[-1])
        if before or after:
            outputs = ops.pad(outputs, ((0, 0), (0, 0), (0, 0), (before, after)))
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({"strides": self.strides, "out_channels": self.out_channels})
        return config


@keras.saving.register_keras_serializable(package="kerascnn")
class AdaptivePooling2D(keras.layers.Layer):
    """Average or max pooling to a fixed ``output_size`` (like torch's AdaptiveAvgPool2d).

    Works for any input size, including inputs smaller than the output (windows overlap).
    Needs static height and width.

    Example:
        >>> import numpy as np
        >>> x = np.ones((2, 13, 13, 8), "float32")
        >>> tuple(AdaptivePooling2D(6)(x).shape)
        (2, 6, 6, 8)
    """

    def __init__(self, output_size=1, mode: str = "avg", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("avg", "max"):
            raise UsageError(f"AdaptivePooling2D: mode must be 'avg' or 'max', got {mode!r}")
        if isinstance(output_size, (int, np.integer)):
            output_size = (int(output_size), int(output_size))
        self.output_size = tuple(int(s) for s in output_size)
        if len(self.output_size) != 2 or min(self.output_size) < 1:
            raise UsageError(f"AdaptivePooling2D: bad output_size {output_size!r}")
        self.mode = mode

    def build(self, input_shape):
        if input_shape[1] is None or input_shape[2] is None:
            raise UsageError("AdaptivePooling2D needs a known input height and width")
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[3])

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        out_h, out_w = self.output_size
        if (height, width) == (out_h, out_w):
            return inputs
        if self.mode == "avg":
            # Averaging as two small matrix products: exact torch windows, one op per axis.
            rows = self._averaging_matrix(height, out_h)
            cols = self._averaging_matrix(width, out_w)
            outputs = ops.einsum("ih,bhwc->biwc", ops.cast(rows, inputs.dtype), inputs)
            return ops.einsum("jw,biwc->bijc", ops.cast(cols, inputs.dtype), outputs)
        rows = [
            ops.max(inputs[:, start:end], axis=1) for start, end in adaptive_windows(height, out_h)
        ]
        outputs = ops.stack(rows, axis=1)
        cols = [
            ops.max(outputs[:, :, start:end], axis=2)
            for start, end in adaptive_windows(width, out_w)
        ]
        return ops.stack(cols, axis=2)

    @staticmethod
    def _averaging_matrix(size: int, output_size: int) -> np.ndarray:
        matrix = np.zeros((output_size, size), dtype="float32")
        for i, (start, end) in enumerate(adaptive_windows(size, output_size)):
            matrix[i, start:end] = 1.0 / (end - start)
        return matrix

    def get_config(self):
        config = super().get_config()
        config.update({"output_size": self.output_size, "mode": self.mode})
        return config
