"""When a version the policy no longer wants may be unloaded, without a gap in service.

Mirrors ``tensorflow_serving/core/availability_preserving_policy.cc``: an unaspired version
(lowest first) is dropped only when an aspired version serves, when none is aspired, or when
another unaspired version still serves; so a new version that fails to load leaves the old one
serving. TensorFlow-free.

Example:
    >>> next_version_to_unload(serving={1, 2}, aspired=[2])
    1
    >>> next_version_to_unload(serving={1}, aspired=[2]) is None  # 2 not loaded yet: keep 1
    True
"""

from __future__ import annotations


def next_version_to_unload(serving: set[int], aspired: list[int]) -> int | None:
    """The serving version to unload next, or None when all of them must stay.

    Example:
        >>> next_version_to_unload(serving={1, 2}, aspired=[])
        1
    """
    unaspired = sorted(serving - set(aspired))
    if not unaspired:
        return None
    if aspired and not (serving & set(aspired)) and len(unaspired) < 2:
        return None
    return unaspired[0]
