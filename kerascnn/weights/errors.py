"""Errors of the weights package: one line each, naming the file, tensor or layer at fault.

Example:
    >>> from kerascnn.weights.errors import WeightsMismatch
    >>> issubclass(WeightsMismatch, ValueError)
    True
"""

from __future__ import annotations

from kerascnn.errors import UsageError


class WeightsMismatch(UsageError):
    """Weights that do not fit the model: an unknown, missing or extra tensor, or a wrong shape.

    The message names the first offending tensor (its key as the file spells it) and the layer
    it belongs to, e.g. ``missing tensor 'layer1.0.bn1.running_var' (layer stage1_block1_bn1)``.
    """


__all__ = ["WeightsMismatch"]
