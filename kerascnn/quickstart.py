"""The main job, end to end: train LeNet-5 on the bundled digits, evaluate it on the held-out
split, export it for TF Serving and predict a real digit image with the export.

It sits downstream of every other module (train -> evaluate -> export -> client), so none of
them has to know about it. ``kerascnn quickstart`` is one call of :func:`quickstart`. Its
recipe, :data:`QUICKSTART`, is plain settings and lives with them in
:mod:`kerascnn.train_config` (so the TensorFlow-free CLI and ``kerascnn.train`` can show it).

Example:
    >>> from kerascnn.quickstart import quickstart
    >>> result = quickstart()  # doctest: +SKIP
    >>> result.test_accuracy >= 0.99, result.prediction.label == str(result.true_digit)  # doctest: +SKIP
    (True, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.client import Client, Prediction, format_table
from kerascnn.console import say, verbosity
from kerascnn.contract import DEFAULT_BASE, version_numbers
from kerascnn.errors import KerasCNNError
from kerascnn.evaluate import evaluate
from kerascnn.export import export_model
from kerascnn.train import RunResult, train
from kerascnn.train_config import QUICKSTART, TrainConfig


@dataclass
class QuickstartResult:
    """What :func:`quickstart` returns: the run, its held-out evaluation, the export and the
    prediction of one real digit through that export."""

    run: RunResult
    evaluation: object
    export_path: Path | None = None
    prediction: Prediction | None = None
    true_digit: int | None = None
    extras: dict = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float:
        return float(self.evaluation.accuracy)


def write_digit_png(path, index: int = -1) -> tuple[Path, int]:
    """Save one real handwritten digit from scikit-learn's bundled set as an 8x8 gray PNG.

    Pixels use the ``digits`` data source's scaling (ink 0..16 -> 0..255), so the served model
    sees exactly what training saw. Returns ``(path, true_label)``.

    Example:
        >>> write_digit_png("digit.png")  # doctest: +SKIP
        (PosixPath('digit.png'), 8)
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.clip(np.rint(digits.images[index] * (255.0 / 16.0)), 0, 255).astype("uint8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").save(path)
    return path, int(digits.target[index])


def export_and_predict_digit(
    run_dir, *, base=DEFAULT_BASE, name="digits", version=None, echo=print
):
    """Export ``run_dir`` as a new version of ``BASE/NAME`` and predict a real digit with it.

    The export goes to the next free version (``version=None``) and never replaces one: an
    existing version may be the one ``serving/models.config`` labels ``stable``, and a server
    may be serving it right now. When earlier versions exist the echo says which are kept and
    where the labels of ``BASE/../models.config`` still point. An explicit ``version`` that
    exists is refused (as ``kerascnn export`` refuses it without ``--force``).

    Writes the digit to ``RUN_DIR/digit.png``, predicts it with the exported SavedModel exactly
    as ``kerascnn predict`` would, and echoes the result and how to serve it.
    Returns ``(export_path, prediction, true_label)``.

    Example:
        >>> path, pred, truth = export_and_predict_digit("runs/quickstart")  # doctest: +SKIP
        >>> path, pred.label == str(truth)  # doctest: +SKIP
        (PosixPath('serving/models/digits/1'), True)
    """
    path = export_model(run_dir, base=base, name=name, version=version)
    image, truth = write_digit_png(Path(run_dir) / "digit.png")
    prediction = Client(path).predict([image])[0]
    if prediction.error:
        raise KerasCNNError(prediction.error)
    echo(f"Exported to {path}")
    for line in _kept_versions_note(Path(path)):
        echo(line)
    echo(f"kerascnn predict {image} --model {path}   (true digit: {truth})")
    echo(format_table([prediction], 3))
    echo(f"Serve it: kerascnn serve --model-name {name} --model-base-path {Path(path).parent}")
    return path, prediction, truth


def _kept_versions_note(export_path: Path) -> list[str]:
    """What a user who exported before needs to hear: the older versions are kept, and a
    version label in the ``models.config`` beside the base still names the version it named."""
    model_dir, version = export_path.parent, int(export_path.name)
    older = [v for v in version_numbers(model_dir) if v != version]
    if not older:
        return []
    kept = ", ".join(map(str, older))
    lines = [
        f"This is version {version}; "
        + (f"version {kept} is kept" if len(older) == 1 else f"versions {kept} are kept")
        + " (an export never replaces one)."
    ]
    config_path = model_dir.parent.parent / "models.config"
    labels, keep_newest = _version_labels(config_path, model_dir.name)
    loaded = sorted([*older, version])[-keep_newest:] if keep_newest else None
    for label, labelled in labels.items():
        line = f"{config_path} labels version {labelled} {label!r} (edit it to promote {version})"
        if loaded is not None and labelled not in loaded:
            line += f"; a server keeping the {keep_newest} newest versions no longer loads it"
        lines.append(line + ".")
    return lines


def _version_labels(config_path: Path, name: str) -> tuple[dict, int | None]:
    """``({label: version}, N)`` that ``config_path`` sets for model ``name``, N being its
    ``latest { num_versions }`` policy (None when it has none). Nothing when there is no such
    file or it is not valid (``kerascnn serve`` will say so)."""
    if not config_path.is_file():
        return {}, None
    from kerascnn.server.config import read_model_server_config

    try:
        config = read_model_server_config(config_path)
    except KerasCNNError:
        return {}, None
    for model in config.model_config_list.config:
        if model.name == name:
            policy = model.model_version_policy
            keep = policy.latest.num_versions if policy.WhichOneof("policy_choice") == "latest" else None
            return dict(sorted(model.version_labels.items())), keep
    return {}, None


def quickstart(
    *,
    project="runs",
    name="quickstart",
    serving_base=DEFAULT_BASE,
    export=True,
    verbose="auto",
    **overrides,
) -> QuickstartResult:
    """Train LeNet-5 on digits, evaluate on the held-out split, export, predict one digit.

    ``overrides`` are :class:`~kerascnn.train.TrainConfig` fields (e.g. ``epochs=5``) on top of
    the tuned recipe :data:`QUICKSTART`. ``export=False`` stops after evaluation.

    Example:
        >>> result = quickstart(epochs=5, serving_base="/tmp/models")  # doctest: +SKIP
        >>> result.export_path  # doctest: +SKIP
        PosixPath('/tmp/models/digits/1')
    """
    started = time.perf_counter()
    level = verbosity(verbose)
    config = TrainConfig(**{**QUICKSTART, "project": project, "name": name, **overrides})
    run = train(config, verbose=verbose)
    evaluation = evaluate(run.run_dir, model=run.model, split="test", verbose=verbose)
    result = QuickstartResult(run=run, evaluation=evaluation)
    if export:

        def echo(text):
            say(level, text)

        result.export_path, result.prediction, result.true_digit = export_and_predict_digit(
            run.run_dir, base=serving_base, echo=echo
        )
    say(
        level,
        f"Quickstart: {config.model} reached {evaluation.accuracy:.2%} test accuracy on "
        f"{evaluation.count} held-out images ({time.perf_counter() - started:.0f} s)",
    )
    return result
