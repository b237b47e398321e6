"""Human-readable numbers and plain-text tables for the arithmetic reports.

``kerascnn models`` and :meth:`ModelAnalysis.table` print with these; no TensorFlow, no numpy.

Example:
    >>> format_count(4_089_184_256)
    '4.09 G'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["format_count", "format_table"]

_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def format_count(value: int | float | None, digits: int = 2) -> str:
    """Human units: ``4089184256 -> "4.09 G"``; below a thousand the plain number.

    Example:
        >>> format_count(4_089_184_256)
        '4.09 G'
        >>> format_count(416_520)
        '416.52 K'
        >>> format_count(840)
        '840'
    """
    if value is None:
        return "-"
    for size, unit in _UNITS:
        if abs(value) >= size:
            return f"{value / size:.{digits}f} {unit}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence], right: Iterable[int] = ()) -> str:
    """A plain-text table, columns padded to their widest cell; ``right`` = right-aligned columns.

    Example:
        >>> print(format_table(["name", "params"], [["lenet5", "61,706"]], right=[1]))
        name    params
        ------  ------
        lenet5  61,706
    """
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right = set(right)

    def line(row):
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])
