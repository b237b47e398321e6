"""Carving validation and test splits out of a source's training part: stratified and seeded.

Part sizes round up like scikit-learn's (``ceil(fraction * N)``) and are shared across classes
in proportion to their sizes; which images of a class go where is a seeded permutation, so the
same labels and seed give the same split on every run and machine.

Example:
    >>> import numpy as np
    >>> rest, val = stratified_split(np.repeat([0, 1], [6, 4]), [0.2], seed=0)
    >>> len(rest), len(val)
    (8, 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kerascnn.data.sources.base import Source, Split, TFDSSplit
from kerascnn.errors import UsageError


def _count(fraction: float, n: int) -> int:
    """Images a fraction of ``n`` takes: rounded up (like scikit-learn) but never all of them."""
    if fraction <= 0:
        return 0
    return min(n, math.ceil(fraction * n - 1e-9))


def _quotas(total: int, class_sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` over classes in proportion to their sizes (largest remainder)."""
    exact = total * class_sizes / class_sizes.sum()
    quota = np.floor(exact).astype(int)
    remainder = exact - quota
    # Ties broken by a seeded draw so no class is always favoured.
    order = np.lexsort((rng.random(len(class_sizes)), -remainder))
    for c in order[: total - quota.sum()]:
        quota[c] += 1
    return np.minimum(quota, class_sizes)


def stratified_split(
    labels: Sequence[int], fractions: Sequence[float], seed: int = 0
) -> list[np.ndarray]:
    """Split indices into a rest part plus one part per fraction, stratified and seeded.

    Each part's size is ``ceil(fraction * N)``, shared across classes in proportion to their
    sizes; which members of a class go where is a seeded permutation, so the same labels and
    seed always give the same parts. Returns ``[rest, part_1, ...]`` as sorted index arrays.

    Example:
        >>> rest, test = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], [0.25], seed=1)
        >>> len(rest), len(test), np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[test].tolist()
        (6, 2, [0, 1])
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    sizes = np.array([len(m) for m in members])
    taken = np.zeros(len(classes), dtype=int)
    parts = []
    for fraction in fractions:
        want = _count(fraction, len(labels))
        # Keep at least one image of every class in the rest (the training part) when possible.
        room = np.maximum(sizes - taken - 1, 0)
        quota = _quotas(want, sizes, rng)
        quota = np.minimum(quota, room)
        short = want - quota.sum()
        while short > 0 and (room - quota).sum() > 0:  # give the shortfall to classes with room
            spare = np.flatnonzero(room - quota > 0)
            c = spare[np.argmax((room - quota)[spare])]
            quota[c] += 1
            short -= 1
        parts.append(
            np.sort(np.concatenate([m[t : t + q] for m, t, q in zip(members, taken, quota)]))
        )
        taken += quota
    rest = np.sort(np.concatenate([m[t:] for m, t in zip(members, taken)]))
    return [rest.astype(np.int64)] + [p.astype(np.int64) for p in parts]


def split_source(
    source: Source, val_split: float, test_split: float, seed: int
) -> dict[str, Split]:
    """The source's splits plus those it lacks, carved out of its training part.

    Fractions are of the whole source, as users read ``test_split=0.2`` on digits. TFDS
    sources come back unchanged: they carve their splits with split strings when loaded.

    Example:
        >>> from kerascnn.data.sources import resolve
        >>> splits = split_source(resolve("digits"), val_split=0.1, test_split=0.2, seed=0)
        >>> {name: len(part) for name, part in splits.items()}
        {'train': 1257, 'test': 360, 'val': 180}
    """
    splits = dict(source.splits)
    wanted = [
        (name, frac)
        for name, frac in (("test", test_split), ("val", val_split))
        if name not in splits and frac > 0
    ]
    if not wanted:
        return splits
    train = splits["train"]
    if isinstance(train, TFDSSplit):  # TFDS carves with split strings instead
        return splits
    n = len(train)
    parts = stratified_split(train.y, [frac for _, frac in wanted], seed=seed)
    splits["train"] = train.take(parts[0])
    for (name, _), index in zip(wanted, parts[1:]):
        splits[name] = train.take(index)
    if len(splits["train"]) == 0:
        raise UsageError(f"no training images left after splitting {n} images")
    return splits
