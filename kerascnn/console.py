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


def summary_text(metrics: dict, run_dir) -> str:
    """The end-of-training summary: best epoch, its metrics, test figures, where it went.

    Example:
        >>> print(summary_text({"best_epoch": 3, "monitor": "val_loss", "best_val_loss": 0.05,
        ...                     "test_accuracy": 0.99, "test_loss": 0.04}, "runs/exp"))
        Best epoch 3 (by val_loss): val_loss 0.0500
        Held-out test: accuracy 0.9900, loss 0.0400
        Results saved to runs/exp
    """
    lines = []
    if metrics.get("best_epoch"):
        best = ", ".join(
            f"{k.removeprefix('best_')} {v:.4f}"
            for k, v in metrics.items()
            if k.startswith("best_")
            and k not in ("best_epoch", "best_learning_rate")
            and isinstance(v, float)
        )
        lines.append(f"Best epoch {metrics['best_epoch']} (by {metrics['monitor']}): {best}")
    if "test_accuracy" in metrics:
        lines.append(
            f"Held-out test: accuracy {metrics['test_accuracy']:.4f}, loss {metrics['test_loss']:.4f}"
        )
    tested = (metrics.get("evaluation") or {}).get("test")
    if tested:
        lines.append(
            f"Test split: {tested['errors']} of {tested['count']} images wrong; see "
            "confusion_matrix.png, top_losses.png, classification_report.txt"
        )
    if metrics.get("mean_epoch_seconds"):
        lines.append(
            f"{metrics['epochs_completed']} epochs, {metrics['mean_epoch_seconds']:.2f} s/epoch"
        )
    lines.append(f"Results saved to {run_dir}")
    return "\n".join(lines)
