"""The weights package's one-line errors.

Example:
    >>> from kerascnn.weights.errors import WeightsMismatch
    >>> issubclass(WeightsMismatch, ValueError)
    True
"""

from __future__ import annotations

from kerascnn.errors import KerasCNNError, UsageError


class WeightsMismatch(UsageError):
    """A weights file does not fit the model: a tensor is missing, extra, or of another shape.

    The message names the first such tensor (or layer) and the file.
    """


class WeightsUnavailable(KerasCNNError):
    """A weights file could not be fetched or read: offline, truncated, wrong hash, bad file.

    The message says which file, the URL tried, where to put the file by hand, and that
    ``--weights PATH`` takes a local file.
    """
