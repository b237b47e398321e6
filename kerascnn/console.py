"""What the training commands print, and how much: the one reading of a ``verbose`` argument.

Shared by :mod:`kerascnn.train`, :mod:`kerascnn.lr_find`, :mod:`kerascnn.evaluate` and
:mod:`kerascnn.quickstart`, so ``verbose="quiet"`` silences all of them alike. Free of
TensorFlow (its examples run as doctests).

Example:
    >>> level = verbosity("line")
    >>> say(level, "Results saved to runs/exp")
    Results saved to runs/exp
    >>> say(verbosity("quiet"), "not shown")
"""

from __future__ import annotations

import sys


def verbosity(verbose) -> str:
    """``bar`` (Keras' progress bar), ``line`` (one line per epoch) or ``quiet``.

    ``True``, ``"auto"`` and ``None`` mean a bar on a terminal and lines otherwise (a log
    file or a pipe would fill with carriage returns).

    Example:
        >>> verbosity("quiet"), verbosity(False), verbosity("bar"), verbosity("line")
        ('quiet', 'quiet', 'bar', 'line')
    """
    if verbose in (True, "auto", None):
        return "bar" if sys.stdout.isatty() else "line"
    if verbose in (False, 0, "quiet"):
        return "quiet"
    if verbose in (1, "bar"):
        return "bar"
    return "line"


def say(level: str, text: str) -> None:
    """Print ``text`` (flushed, so it interleaves with Keras' output) unless ``level`` is quiet.

    Example:
        >>> say("bar", "Suggested learning rate: 3.00e-03")
        Suggested learning rate: 3.00e-03
        >>> say("quiet", "nothing")
    """
    if level != "quiet":
        print(text, flush=True)
