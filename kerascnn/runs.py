"""The run folder: where one training run keeps everything it produced.

Layout of ``runs/NAME/``::

    config.yaml          the resolved TrainConfig (+ seed, library versions, git commit)
    labels.txt           one class name per line, in class-index order
    history.csv          one row per completed epoch (never duplicated by a resume)
    results.png          loss / accuracy curves, train vs validation
    metrics.json         final metrics; written only when the run finished
    resume.json          resume state, rewritten atomically after every epoch
    weights/best.keras   the best epoch so far (by the monitored metric)
    weights/last.keras   the last completed epoch, with optimizer state
    logs/                TensorBoard event files
    confusion_matrix.png, classification_report.txt|csv, top_losses.png   (from evaluate)
    lr_find.png          (from lr-find)

Names collide safely: ``exp``, then ``exp2``, ``exp3``, ... (folders are claimed with an atomic
``mkdir``, so two runs started at once never share one).

Example:
    >>> from kerascnn.runs import load_model
    >>> loaded = load_model("runs/exp")  # doctest: +SKIP
    >>> loaded.class_names[:3]  # doctest: +SKIP
    ['0', '1', '2']
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kerascnn.errors import KerasCNNError, UsageError

RESUME_STATE = "resume.json"


@dataclass(frozen=True)
class RunPaths:
    """Every file of a run folder, by name.

    Example:
        >>> RunPaths(Path("runs/exp")).best
        PosixPath('runs/exp/weights/best.keras')
    """

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def labels(self) -> Path:
        return self.root / "labels.txt"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def results_png(self) -> Path:
        return self.root / "results.png"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def resume_state(self) -> Path:
        return self.root / RESUME_STATE

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    @property
    def best(self) -> Path:
        return self.weights / "best.keras"

    @property
    def last(self) -> Path:
        return self.weights / "last.keras"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def confusion_matrix(self) -> Path:
        return self.root / "confusion_matrix.png"

    @property
    def report_txt(self) -> Path:
        return self.root / "classification_report.txt"

    @property
    def report_csv(self) -> Path:
        return self.root / "classification_report.csv"

    @property
    def top_losses(self) -> Path:
        return self.root / "top_losses.png"

    @property
    def lr_find(self) -> Path:
        return self.root / "lr_find.png"


_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_run_name(name: str) -> str:
    """Reject run names that are not a single safe folder name.

    Example:
        >>> check_run_name("exp")
        'exp'
    """
    if not isinstance(name, str) or not _NAME_OK.match(name) or name in (".", ".."):
        raise UsageError(
            f"run name {name!r} must be one folder name of letters, digits, '.', '_' or '-'"
        )
    return name


def candidate_names(name: str):
    """``name``, ``name2``, ``name3``, ... (the order run folders are claimed in).

    Example:
        >>> import itertools
        >>> list(itertools.islice(candidate_names("exp"), 3))
        ['exp', 'exp2', 'exp3']
    """
    yield name
    index = 2
    while True:
        yield f"{name}{index}"
        index += 1


def claim_run_dir(project, name: str) -> Path:
    """Create and return a fresh ``project/name`` (or ``name2``, ``name3``...) atomically.

    Example:
        >>> claim_run_dir("runs", "exp")  # doctest: +SKIP
        PosixPath('runs/exp2')
    """
    check_run_name(name)
    project = Path(project)
    project.mkdir(parents=True, exist_ok=True)
    for candidate in candidate_names(name):
        path = project / candidate
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")  # pragma: no cover


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader (or a crash) never sees half a file.

    Example:
        >>> atomic_write_text("/tmp/kerascnn-doc.txt", "hi")  # doctest: +SKIP
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_model(model, path) -> None:
    """Save a ``.keras`` file via a temporary sibling and ``os.replace`` (crash-safe).

    Example:
        >>> atomic_save_model(model, "runs/exp/weights/last.keras")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_resume_state(run_dir) -> dict | None:
    """The resume state of a run folder, or None when it has none.

    Example:
        >>> read_resume_state("runs/exp")["epoch"]  # doctest: +SKIP
        10
    """
    path = RunPaths(Path(run_dir)).resume_state
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KerasCNNError(f"cannot read resume state {path}: {exc}") from None


def write_labels(path, class_names) -> None:
    """Write ``labels.txt``: one class name per line in index order."""
    atomic_write_text(path, "".join(f"{name}\n" for name in class_names))


def read_labels(path) -> list[str]:
    """Read ``labels.txt`` written by :func:`write_labels`.

    Example:
        >>> read_labels("runs/exp/labels.txt")  # doctest: +SKIP
        ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
    """
    return Path(path).read_text(encoding="utf-8").splitlines()


@dataclass
class LoadedModel:
    """A model with its class names and (when it came from one) its run folder."""

    model: object
    class_names: list[str]
    run_dir: Path | None = None


def register_custom_objects() -> None:
    """Import the modules whose Keras serializables a saved kerascnn model may name: the
    zoo's custom layers, our losses and learning-rate schedules."""
    import kerascnn.layers  # noqa: F401  padding / shortcut / adaptive-pool layers
    import kerascnn.optim  # noqa: F401  SparseCrossentropy, schedules


def _load_keras_file(path: Path):
    import keras

    register_custom_objects()
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist")
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KerasCNNError(f"cannot load model {path}: {reason[:300]}") from None


def _num_outputs(model) -> int:
    shape = model.outputs[0].shape if getattr(model, "outputs", None) else model.output_shape
    return int(shape[-1])


def load_model(source) -> LoadedModel:
    """Load a model from a run folder, a ``.keras`` file or a registered model name.

    * run folder: ``weights/best.keras`` (else ``last.keras``) and ``labels.txt``;
    * ``.keras`` file: class names from a sibling ``labels.txt`` (or the run folder's when the
      file sits in ``weights/``), else ``"0".."C-1"``;
    * a registry name (``lenet5``): a freshly built model with random weights.

    Files load with ``safe_mode=True``. A missing or corrupt file raises one line naming it.

    Example:
        >>> loaded = load_model("runs/exp")  # doctest: +SKIP
        >>> loaded.model.name, loaded.class_names[:2]  # doctest: +SKIP
        ('lenet5', ['0', '1'])
    """
    if isinstance(source, LoadedModel):
        return source
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir():
        paths = RunPaths(path)
        weights = paths.best if paths.best.is_file() else paths.last
        if not weights.is_file():
            raise UsageError(f"run folder {path} has no weights/best.keras or weights/last.keras")
        model = _load_keras_file(weights)
        labels = _labels_for(paths.labels, model)
        return LoadedModel(model, labels, path)
    if path.suffix == ".keras" or path.exists() or os.sep in str(source) or "/" in str(source):
        if not path.exists():
            raise UsageError(f"model file {path} does not exist")
        if path.suffix != ".keras":
            raise UsageError(f"{path} is not a .keras file or a run folder")
        model = _load_keras_file(path)
        sibling = path.parent / "labels.txt"
        if not sibling.is_file() and path.parent.name == "weights":
            sibling = path.parent.parent / "labels.txt"
        run_dir = path.parent.parent if path.parent.name == "weights" else None
        return LoadedModel(model, _labels_for(sibling, model), run_dir)
    from kerascnn.architectures import build

    model = build(str(source))
    return LoadedModel(model, [str(i) for i in range(_num_outputs(model))], None)


def _labels_for(labels_path: Path, model) -> list[str]:
    count = _num_outputs(model)
    if labels_path.is_file():
        labels = read_labels(labels_path)
        if len(labels) != count:
            raise KerasCNNError(
                f"{labels_path} lists {len(labels)} classes but the model predicts {count}"
            )
        return labels
    return [str(i) for i in range(count)]
