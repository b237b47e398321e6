"""Evaluation: metrics, confusion matrix, per-class report and worst predictions.

``evaluate(source)`` loads a model (a run folder, a ``.keras`` file or a registered name),
runs it over a split of the data, and writes into the run folder (or ``output_dir``):

* ``confusion_matrix.png``: counts and row-normalized, side by side;
* ``classification_report.txt`` / ``.csv``: per-class precision, recall, F1 and support;
* ``top_losses.png``: the worst-predicted images with true and predicted labels;
* ``metrics.json``: an ``evaluation`` section per split is merged in.

The two pictures are drawn by :mod:`kerascnn.plots`, which training shares.

Example:
    >>> from kerascnn.evaluate import evaluate
    >>> result = evaluate("runs/exp")  # doctest: +SKIP
    >>> round(result.accuracy, 3)  # doctest: +SKIP
    0.989
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.console import say, verbosity
from kerascnn.errors import UsageError
from kerascnn.loading import LoadedModel, load_keras_model
from kerascnn.plots import plot_confusion_matrix, plot_top_losses
from kerascnn.runs import RunPaths, atomic_write_text, read_labels, write_json

SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------------------- predictions


@dataclass
class Predictions:
    """Labels, probabilities and the ``keep`` worst-predicted images of one pass over data."""

    labels: np.ndarray
    probabilities: np.ndarray
    worst_images: np.ndarray
    worst_labels: np.ndarray
    worst_probabilities: np.ndarray
    worst_losses: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def losses(self) -> np.ndarray:
        picked = self.probabilities[np.arange(len(self.labels)), self.labels]
        return -np.log(np.clip(picked, 1e-7, 1.0))


def predict_dataset(model, dataset, *, keep: int = 16) -> Predictions:
    """Run ``model`` over a ``(x, y)`` dataset, keeping the ``keep`` highest-loss images.

    Calls the model directly (not ``predict``), so it also works on a model built under a
    distribution strategy, without cross-worker collectives.

    Example:
        >>> preds = predict_dataset(model, bundle.test)  # doctest: +SKIP
        >>> preds.probabilities.shape  # doctest: +SKIP
        (180, 10)
    """
    labels, probabilities = [], []
    worst = None  # (losses, images, labels, probabilities)
    for images, batch_labels in dataset:
        probs = np.asarray(model(images, training=False), dtype=np.float32)
        y = np.asarray(batch_labels).astype(np.int64).reshape(-1)
        labels.append(y)
        probabilities.append(probs)
        losses = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))
        images = np.asarray(images, dtype=np.float32)
        if worst is None:
            worst = (losses, images, y, probs)
        else:
            worst = tuple(np.concatenate([a, b]) for a, b in zip(worst, (losses, images, y, probs)))
        if len(worst[0]) > keep:
            order = np.argsort(-worst[0], kind="stable")[:keep]
            worst = tuple(a[order] for a in worst)
    if not labels:
        raise UsageError("the evaluation data is empty")
    order = np.argsort(-worst[0], kind="stable")
    worst = tuple(a[order] for a in worst)
    return Predictions(
        labels=np.concatenate(labels),
        probabilities=np.concatenate(probabilities),
        worst_images=worst[1],
        worst_labels=worst[2],
        worst_probabilities=worst[3],
        worst_losses=worst[0],
    )


def compute_metrics(model, dataset) -> dict:
    """Accuracy and mean cross-entropy loss of ``model`` over a ``(x, y)`` dataset.

    Example:
        >>> compute_metrics(model, bundle.test)  # doctest: +SKIP
        {'accuracy': 0.9888, 'loss': 0.041, 'count': 180}
    """
    preds = predict_dataset(model, dataset, keep=1)
    return {
        "accuracy": float(np.mean(preds.predicted == preds.labels)),
        "loss": float(np.mean(preds.losses)),
        "count": int(len(preds.labels)),
    }


# ---------------------------------------------------------------------------- reports


def per_class_report(labels, predicted, class_names) -> list[dict]:
    """Precision, recall, F1 and support for each class (0 where undefined).

    Example:
        >>> per_class_report([0, 1, 1], [0, 1, 0], ["a", "b"])[1]["recall"]
        0.5
    """
    from sklearn.metrics import precision_recall_fscore_support

    indices = list(range(len(class_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    return [
        {
            "class": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    ]


def format_report(rows: list[dict], accuracy: float) -> str:
    """A plain-text table of :func:`per_class_report` rows with macro averages."""
    width = max([len("class"), *(len(str(r["class"])) for r in rows), len("macro avg")])
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for r in rows:
        lines.append(
            f"{str(r['class']):<{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  "
            f"{r['f1']:.4f}  {r['support']:7d}"
        )
    total = sum(r["support"] for r in rows)
    macro = {
        k: float(np.mean([r[k] for r in rows])) if rows else 0.0
        for k in ("precision", "recall", "f1")
    }
    lines.append(
        f"{'macro avg':<{width}}  {macro['precision']:9.4f}  {macro['recall']:6.4f}  "
        f"{macro['f1']:.4f}  {total:7d}"
    )
    lines.append(f"{'accuracy':<{width}}  {accuracy:.4f} on {total} images")
    return "\n".join(lines) + "\n"


def confusion(labels, predicted, num_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``.

    Example:
        >>> confusion([0, 1, 1], [0, 1, 0], 2).tolist()
        [[1, 0], [1, 1]]
    """
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, int), np.asarray(predicted, int)), 1)
    return matrix


# ---------------------------------------------------------------------------- evaluate


@dataclass
class EvalResult:
    """What :func:`evaluate` returns."""

    split: str
    accuracy: float
    loss: float
    count: int
    per_class: list[dict]
    confusion: np.ndarray
    class_names: list[str]
    output_dir: Path
    files: dict = field(default_factory=dict)


def _data_for(loaded, data, split, batch_size, input_shape):
    """Load the split to evaluate: a run folder reuses its stored data settings and seed."""
    from kerascnn.data import load_data
    from kerascnn.train_config import parse_tfds_split, stored_config

    settings = {}
    if loaded.run_dir is not None and RunPaths(loaded.run_dir).config.is_file():
        # Its data folder as an absolute path, so this works from any working directory; and
        # every setting that decides which images land in which split (a TFDS split plan too).
        config = stored_config(loaded.run_dir)
        settings = {
            "spec": config.data,
            "val_split": config.val_split,
            "test_split": config.test_split,
            "seed": config.seed,
            "batch_size": config.batch_size,
            "data_dir": config.data_dir,
            "split": parse_tfds_split(config.tfds_split),
            "download": config.download,
            "skip_bad": config.skip_bad,
            "cache": config.cache,
        }
    if data is not None:
        if not isinstance(data, (str, os.PathLike, tuple, list)):
            return data  # an already loaded DataBundle
        settings["spec"] = data
    if "spec" not in settings:
        raise UsageError("pass --data: the model does not come from a run folder")
    if batch_size:
        settings["batch_size"] = batch_size
    spec = settings.pop("spec")
    return load_data(spec, input_shape=input_shape, augment="none", **settings)


def evaluate(
    source,
    *,
    data=None,
    split="test",
    batch_size=None,
    output_dir=None,
    model=None,
    top_k=16,
    verbose="auto",
) -> EvalResult:
    """Evaluate a model on a split and write the report files.

    Args:
        source: a run folder, a ``.keras`` file or a registered model name.
        data: a data spec or a loaded ``DataBundle``; default: the run's own data settings
            (same seed and split fractions, hence the same held-out images).
        split: ``test`` (default), ``val`` or ``train`` (unaugmented order is not kept).
        output_dir: where the files go; default the run folder (else ``runs/evaluate``).
        model: an in-memory model to use instead of loading ``source``'s weights.
        top_k: how many worst-predicted images ``top_losses.png`` shows.

    Example:
        >>> result = evaluate("runs/exp", split="val")  # doctest: +SKIP
        >>> print(result.files["report"])  # doctest: +SKIP
        runs/exp/classification_report.txt
    """
    if split not in SPLITS:
        from kerascnn.errors import unknown_name

        raise unknown_name("split", split, SPLITS)
    if model is not None and isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        labels_path = RunPaths(Path(source)).labels
        names = read_labels(labels_path) if labels_path.is_file() else None
        loaded = LoadedModel(model, names, Path(source))
    else:
        loaded = load_keras_model(source)
        if model is not None:
            loaded.model = model
    net = loaded.model
    input_shape = tuple(int(d) for d in net.inputs[0].shape[1:])
    bundle = _data_for(loaded, data, split, batch_size, input_shape)
    dataset = getattr(bundle, split)
    if dataset is None:
        raise UsageError(f"the data has no {split} split (its fraction is 0)")
    class_names = loaded.class_names or list(bundle.class_names)
    num_outputs = int(net.outputs[0].shape[-1])
    if num_outputs != bundle.num_classes:
        raise UsageError(
            f"model predicts {num_outputs} classes but the data has {bundle.num_classes}"
        )
    preds = predict_dataset(net, dataset, keep=top_k)
    accuracy = float(np.mean(preds.predicted == preds.labels))
    loss = float(np.mean(preds.losses))
    rows = per_class_report(preds.labels, preds.predicted, class_names)
    matrix = confusion(preds.labels, preds.predicted, len(class_names))

    out = Path(output_dir) if output_dir else (loaded.run_dir or Path("runs") / "evaluate")
    out.mkdir(parents=True, exist_ok=True)
    paths = RunPaths(out)
    suffix = "" if split == "test" else f"_{split}"
    files = {
        "confusion_matrix": paths.confusion_matrix.with_name(f"confusion_matrix{suffix}.png"),
        "report": paths.report_txt.with_name(f"classification_report{suffix}.txt"),
        "report_csv": paths.report_csv.with_name(f"classification_report{suffix}.csv"),
        "top_losses": paths.top_losses.with_name(f"top_losses{suffix}.png"),
        "metrics": paths.metrics,
    }
    title = getattr(net, "name", "")
    plot_confusion_matrix(matrix, class_names, files["confusion_matrix"], title=title)
    plot_top_losses(preds, class_names, files["top_losses"])
    text = format_report(rows, accuracy)
    atomic_write_text(files["report"], text)
    atomic_write_text(
        files["report_csv"],
        "class,precision,recall,f1,support\n"
        + "".join(
            f"{r['class']},{r['precision']:.6f},{r['recall']:.6f},{r['f1']:.6f},{r['support']}\n"
            for r in rows
        ),
    )
    metrics = {}
    if paths.metrics.is_file():
        try:
            metrics = json.loads(paths.metrics.read_text(encoding="utf-8"))
        except ValueError:
            metrics = {}
    metrics.setdefault("evaluation", {})[split] = {
        "accuracy": accuracy,
        "loss": loss,
        "count": int(len(preds.labels)),
        "errors": int(np.sum(preds.predicted != preds.labels)),
        "macro_f1": float(np.mean([r["f1"] for r in rows])) if rows else 0.0,
    }
    write_json(paths.metrics, metrics)
    level = verbosity(verbose)
    say(level, f"Evaluation on the {split} split ({len(preds.labels)} images):")
    say(level, text.removesuffix("\n"))
    say(level, f"Results saved to {out}")
    return EvalResult(
        split=split,
        accuracy=accuracy,
        loss=loss,
        count=int(len(preds.labels)),
        per_class=rows,
        confusion=matrix,
        class_names=list(class_names),
        output_dir=out,
        files=files,
    )
