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
    skipped_files.txt    files --skip-bad left out, "path<TAB>reason" per line (only if any)
    pretrained.json      the pretrained weights the run started from (source, tag, hash, the
                         input spec every later step preprocesses with; only for such runs)
    .lock                held (flock) by the process training into the folder; removed when it
                         ends, left behind by a crash, where it tells a dead owner from a live one

Names collide safely: ``exp``, then ``exp2``, ``exp3``, ... (folders are claimed with an atomic
``mkdir``, so two runs started at once never share one). A named run killed before its first
epoch ended (``kill -9``, the out-of-memory killer) leaves a folder with nothing to keep; the
rerun takes it back (:func:`reuse_unstarted_run_dir`), unless its owner still holds ``.lock``.

Loading a model from a run folder is :func:`kerascnn.loading.load_model`'s job; this module
only knows where things are and writes them safely.

Example:
    >>> RunPaths(Path("runs/exp")).labels
    PosixPath('runs/exp/labels.txt')
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kerascnn.contract import LABELS_FILE, check_name
from kerascnn.errors import KerasCNNError

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
        return self.root / LABELS_FILE

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

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    @property
    def pretrained(self) -> Path:
        return self.root / "pretrained.json"

    @property
    def skipped_files(self) -> Path:
        return self.root / "skipped_files.txt"


def check_run_name(name: str) -> str:
    """Reject run names that are not a single safe folder name.

    Example:
        >>> check_run_name("exp")
        'exp'
    """
    return check_name(name, "run name")


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


def hold_run_lock(run_dir):
    """Take ``run_dir/.lock`` (an exclusive ``flock``) and return the open file holding it,
    or None when another live process holds it. The kernel drops the lock when the holder
    dies, however it dies, so a lock left behind by ``kill -9`` is free again.

    Example:
        >>> lock = hold_run_lock("runs/exp")  # doctest: +SKIP
        >>> hold_run_lock("runs/exp") is None  # held by ``lock`` (any process)  # doctest: +SKIP
        True
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock (Windows): nothing can prove a run alive
        return None
    handle = open(RunPaths(Path(run_dir)).lock, "a+")  # noqa: SIM115 - kept open while held
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def release_run_lock(run_dir, handle) -> None:
    """Remove ``run_dir/.lock`` and let go of ``handle`` (from :func:`hold_run_lock`).

    The file goes first, while still held: a process that opened it meanwhile finds it
    locked, or holds a lock on a file no longer in the folder, and either way leaves a folder
    with completed epochs alone.

    Example:
        >>> release_run_lock("runs/exp", lock)  # doctest: +SKIP
    """
    if handle is None:
        return
    try:
        RunPaths(Path(run_dir)).lock.unlink(missing_ok=True)
    finally:
        handle.close()


def holds_no_epoch(run_dir) -> bool:
    """True for a training run folder that stopped before its first epoch ended: it has the
    ``config.yaml`` training writes first, and no resume state, weights, history or metrics.

    Example:
        >>> holds_no_epoch("runs/oom")  # doctest: +SKIP
        True
    """
    paths = RunPaths(Path(run_dir))
    produced = (paths.resume_state, paths.last, paths.best, paths.history, paths.metrics)
    return paths.config.is_file() and not any(path.exists() for path in produced)


def reuse_unstarted_run_dir(run_dir):
    """Take back ``run_dir`` when it holds no completed epoch and nothing holds its lock.

    Empties it (all but ``.lock``) and returns the held lock (see :func:`hold_run_lock`);
    returns None, touching nothing, for any other folder: one with a completed epoch, one
    ``kerascnn train`` did not write, or one whose first epoch is running right now.

    Example:
        >>> lock = reuse_unstarted_run_dir("runs/oom")  # doctest: +SKIP
        >>> sorted(p.name for p in Path("runs/oom").iterdir())  # doctest: +SKIP
        ['.lock']
    """
    run_dir = Path(run_dir)
    if not holds_no_epoch(run_dir):
        return None
    handle = hold_run_lock(run_dir)
    if handle is None:
        return None
    if not holds_no_epoch(run_dir):  # its owner got further before it let go
        handle.close()
        return None
    lock = RunPaths(run_dir).lock
    for entry in run_dir.iterdir():
        if entry == lock:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return handle


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


def jsonable(value):
    """``value`` with numpy scalars as Python numbers and NaN/inf as None, so it is valid JSON.

    Example:
        >>> import numpy as np
        >>> jsonable({"loss": np.float32(0.5), "best": [float("nan"), 1]})
        {'loss': 0.5, 'best': [None, 1]}
    """
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, value) -> None:
    """Write ``value`` as indented JSON, atomically (:func:`atomic_write_text`), made valid by
    :func:`jsonable` first: metrics, resume state.

    Example:
        >>> write_json("runs/exp/metrics.json", {"test_accuracy": 0.99})  # doctest: +SKIP
    """
    atomic_write_text(path, json.dumps(jsonable(value), indent=2) + "\n")


def atomic_save_model(model, path) -> None:
    """Save a ``.keras`` file via a temporary sibling and ``os.replace`` (crash-safe), with
    the recursion headroom very deep graphs (ResNet-152, DenseNet-201) need.

    Example:
        >>> atomic_save_model(model, "runs/exp/weights/last.keras")  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        from kerascnn.architectures import save_model

        save_model(model, tmp)
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
