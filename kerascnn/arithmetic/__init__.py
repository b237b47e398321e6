"""Convolution arithmetic: output sizes, padding, receptive fields, parameters and MACs.

This package's ``__init__`` is the facade README.md documents::

    from kerascnn.arithmetic import conv_output_size, receptive_fields, analyze, conv_matrix

It is made of three layers, lowest first:

* :mod:`~kerascnn.arithmetic.formulas` — the formulas on plain integers (the one home of the
  same-padding rule, ``PADDINGS``, output sizes, receptive fields, params and MACs), and
  :mod:`~kerascnn.arithmetic.formatting` (``format_count``, ``format_table``). Both are imported
  here eagerly; neither needs TensorFlow, Keras or numpy, so ``blocks``, ``layers`` and the
  architectures registry can import them from the bottom of the layering.
* :mod:`~kerascnn.arithmetic.convmatrix` — ``conv_matrix``, convolution as a matrix (numpy).
* :mod:`~kerascnn.arithmetic.analysis` — ``analyze``, the walker over a built Keras model, and
  its report types (``LayerStats``, ``ModelAnalysis``, ``Totals``, ``count_macs``).

The last two are loaded on first use through :pep:`562` ``__getattr__``, so importing the
formulas never pulls in numpy or the model walker.

Example:
    >>> from kerascnn.arithmetic import conv_output_size, receptive_fields
    >>> conv_output_size(224, 7, stride=2, padding=3)
    112
    >>> receptive_fields([(3, 1), (3, 1), (2, 2)])
    [(3, 1), (5, 1), (6, 2)]
    >>> from kerascnn.arithmetic import conv_matrix
    >>> conv_matrix([1.0, 1.0], (3,)).tolist()
    [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]
"""

from __future__ import annotations

from kerascnn.arithmetic.formatting import format_count, format_table
from kerascnn.arithmetic.formulas import (
    PADDINGS,
    adaptive_windows,
    batchnorm_params,
    conv_macs,
    conv_output_size,
    conv_params,
    dense_macs,
    dense_params,
    effective_kernel_size,
    image_shape,
    next_receptive_field,
    padding_amounts,
    per_axis,
    positive_int,
    receptive_fields,
    same_padding,
    separable_conv_macs,
    separable_conv_params,
    size_preserving_padding,
    source_index,
)

# Name -> submodule that defines it; loaded on first attribute access (PEP 562).
_LAZY = {
    "LayerStats": "analysis",
    "ModelAnalysis": "analysis",
    "Totals": "analysis",
    "analyze": "analysis",
    "count_macs": "analysis",
    "conv_matrix": "convmatrix",
}

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
    "format_count",
    "format_table",
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
    *sorted(_LAZY),
]


def __getattr__(name: str):
    """Load ``analyze`` / ``conv_matrix`` and the report types from their modules on first use.

    Example:
        >>> import kerascnn.arithmetic as arithmetic
        >>> arithmetic.analyze.__module__
        'kerascnn.arithmetic.analysis'
    """
    module = _LAZY.get(name)
    if module == "analysis":
        from kerascnn.arithmetic import analysis

        value = getattr(analysis, name)
    elif module == "convmatrix":
        from kerascnn.arithmetic import convmatrix

        value = getattr(convmatrix, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
