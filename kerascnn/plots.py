"""The PNGs a run folder holds, drawn with matplotlib (Agg backend, no display needed).

Training draws ``results.png`` (:func:`plot_history`), the LR range test ``lr_find.png``
(:func:`plot_lr_find`), evaluation ``confusion_matrix.png`` (:func:`plot_confusion_matrix`) and
``top_losses.png`` (:func:`plot_top_losses`). Free of TensorFlow; the examples write into a
temporary folder and run as doctests.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"epoch": 1, "loss": 0.9, "accuracy": 0.6}, {"epoch": 2, "loss": 0.5, "accuracy": 0.8}]
    >>> plot_history(rows, folder / "results.png").name
    'results.png'
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt



def plot_confusion_matrix(matrix, class_names, path, *, title="") -> Path:
    """Counts and row-normalized confusion matrices side by side, as a PNG.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "confusion_matrix.png"
        >>> plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["cat", "dog"], path).is_file()
        True
    """
    plt = _pyplot()
    n = len(class_names)
    size = min(22, max(5, 0.45 * n + 3))
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    rows = matrix.sum(axis=1, keepdims=True)
    normalized = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    for ax, data, name, fmt in (
        (axes[0], matrix, "counts", "d"),
        (axes[1], normalized, "normalized by true class", ".2f"),
    ):
        im = ax.imshow(data, cmap="Blues", vmin=0)
        ax.set_title(f"{title} confusion matrix ({name})".strip())
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ticks = np.arange(n)
        labels = [str(c) for c in class_names] if n <= 40 else None
        ax.set_xticks(ticks if labels else [])
        ax.set_yticks(ticks if labels else [])
        if labels:
            ax.set_xticklabels(labels, rotation=90 if n > 10 else 0)
            ax.set_yticklabels(labels)
        if n <= 25:
            threshold = data.max() / 2 if data.max() > 0 else 0.5
            for i in range(n):
                for j in range(n):
                    ax.text(
                        j,
                        i,
                        format(data[i, j], fmt),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if data[i, j] > threshold else "black",
                    )
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_top_losses(preds, class_names, path, *, columns=4) -> Path:
    """The worst-predicted images: true label, predicted label and probability, loss.

    ``preds`` is a :class:`kerascnn.evaluate.Predictions` (only its ``worst_*`` arrays are read).

    Example:
        >>> import tempfile, pathlib, types
        >>> preds = types.SimpleNamespace(
        ...     worst_images=np.zeros((1, 8, 8, 1)), worst_labels=np.array([0]),
        ...     worst_probabilities=np.array([[0.2, 0.8]]), worst_losses=np.array([1.6]))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "top_losses.png"
        >>> plot_top_losses(preds, ["0", "1"], path).is_file()
        True
    """
    plt = _pyplot()
    count = len(preds.worst_losses)
    rows = max(1, math.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(count):
        ax = axes.flat[i]
        image = np.clip(preds.worst_images[i], 0.0, 1.0)
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(image[..., :3])
        true = int(preds.worst_labels[i])
        guess = int(np.argmax(preds.worst_probabilities[i]))
        prob = float(preds.worst_probabilities[i][guess])
        ax.set_title(
            f"true {class_names[true]} / pred {class_names[guess]} ({prob:.2f})\n"
            f"loss {preds.worst_losses[i]:.2f}",
            fontsize=9,
            color="red" if true != guess else "black",
        )
    fig.suptitle("Top losses: the worst-predicted images")
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # keep the suptitle clear of the first row
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_history(rows: list[dict], path, *, title="") -> Path | None:
    """``results.png``: loss and accuracy per epoch, train vs validation (None: no rows).

    Example:
        >>> import tempfile, pathlib
        >>> rows = [{"epoch": 1, "loss": 0.9, "val_loss": 1.0, "accuracy": 0.7}]
        >>> plot_history(rows, pathlib.Path(tempfile.mkdtemp()) / "results.png").name
        'results.png'
        >>> plot_history([], "unused.png") is None
        True
    """
    if not rows:
        return None
    plt = _pyplot()
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, label in ((metric, "train"), (f"val_{metric}", "validation")):
            values = [r.get(key, np.nan) for r in rows]
            if not all(np.isnan(values)):
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{title} {metric}".strip())
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_lr_find(rates, losses, suggested, path, *, title="") -> Path:
    """``lr_find.png``: smoothed loss vs learning rate (log scale), suggestion marked.

    Example:
        >>> import tempfile, pathlib
        >>> rates, losses = [1e-4, 1e-3, 1e-2, 1e-1], [2.3, 2.0, 1.2, 3.5]
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "lr_find.png"
        >>> plot_lr_find(rates, losses, 1e-3, path).is_file()
        True
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(rates, losses)
    ax.set_xscale("log")
    ax.axvline(suggested, color="red", linestyle="--", label=f"suggested {suggested:.2e}")
    finite = [v for v in losses if np.isfinite(v)]
    if finite:
        low = min(finite)
        ax.set_ylim(low - 0.05 * abs(low), min(max(finite), low * 4 + 1e-3))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    ax.set_title(f"LR range test {title}".strip())
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
