"""The one model loader: a run folder, a ``.keras`` file, a SavedModel export or a registry name.

Training, evaluation, export, visualisation and the client all load models through
:func:`load_model`, so every one of them accepts the same sources and reports a missing or corrupt
file with the same one line that names it.

=====================  ==================================================================
source                 what comes back
=====================  ==================================================================
``keras.Model``        the model itself (class names ``"0".."C-1"`` unless given)
run folder             ``weights/best.keras`` (else ``last.keras``) and its ``labels.txt``
``.keras`` file        the model; labels from a sibling ``labels.txt`` or its run folder
SavedModel export      ``tf.saved_model.load`` of a version folder (or the newest version of a
                       ``BASE/NAME`` folder); labels from ``assets/labels.txt``
registry name          a freshly built model: random weights, or ``weights=`` ("imagenet", a
                       tag or a file) through :func:`kerascnn.weights.build`, with ImageNet labels
=====================  ==================================================================

Every result carries the :class:`~kerascnn.preprocessing.InputSpec` its weights expect: a run
folder's ``pretrained.json`` (a run that started from pretrained weights), a pretrained build's
own, else :data:`~kerascnn.preprocessing.UNIT` (pixels / 255). Export, predict and evaluate
preprocess with it, so a model is never fed input it was not trained with.

``.keras`` files load with ``safe_mode=True`` and with headroom for very deep graphs.

Example:
    >>> from kerascnn.loading import load_model
    >>> loaded = load_model("lenet5")  # doctest: +SKIP
    >>> loaded.kind, loaded.name, loaded.class_names[:3]  # doctest: +SKIP
    ('registry', 'lenet5', ['0', '1', '2'])
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kerascnn.contract import LABELS_FILE, version_numbers
from kerascnn.errors import KerasCNNError, UsageError, unknown_name
from kerascnn.preprocessing import UNIT, InputSpec
from kerascnn.runs import RunPaths, read_labels


@dataclass
class LoadedModel:
    """A model with its class names and where it came from.

    ``kind`` is one of ``"keras"`` (an in-memory model), ``"run"``, ``"file"``, ``"savedmodel"``
    or ``"registry"``; ``name`` is the name an export of it would default to; ``run_dir`` is the
    run folder when it came from one. For a SavedModel ``model`` is the restored TensorFlow
    object (call its ``signatures``), for every other kind a ``keras.Model``. ``input_spec``
    is the preprocessing its weights expect; ``pretrained`` the record of the pretrained
    weights it started from (None for a model trained from scratch).
    """

    model: object
    class_names: list[str]
    run_dir: Path | None = None
    kind: str = "keras"
    name: str = ""
    path: Path | None = None
    input_spec: InputSpec = UNIT
    pretrained: dict | None = None

    @property
    def is_keras(self) -> bool:
        return self.kind != "savedmodel"


def register_custom_objects() -> None:
    """Import the modules whose Keras serializables a saved kerascnn model may name: the
    zoo's custom layers, our losses and learning-rate schedules.

    Example:
        >>> register_custom_objects()  # doctest: +SKIP
        >>> import keras
        >>> keras.saving.get_registered_object("kerascnn>Padding2D")  # doctest: +SKIP
        <class 'kerascnn.layers.Padding2D'>
    """
    import kerascnn.layers  # noqa: F401  padding / shortcut / adaptive-pool layers
    import kerascnn.optim  # noqa: F401  SparseCrossentropy, schedules


def load_keras_file(path, *, compile: bool = False, action: str = "load model"):
    """Load one ``.keras`` file with ``safe_mode=True``; a missing or corrupt file is one line.

    ``compile=True`` restores the optimizer and its state too (what resuming a run needs);
    ``action`` words the error (``cannot resume from PATH: ...``).

    Example:
        >>> load_keras_file("runs/exp/weights/last.keras", compile=True)  # doctest: +SKIP
        <Functional name=lenet5, built=True>
    """
    import keras

    from kerascnn.architectures import recursion_headroom

    path = Path(path)
    register_custom_objects()
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist")
    try:
        with recursion_headroom():
            return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KerasCNNError(f"cannot {action} {path}: {reason[:300]}") from None


# --------------------------------------------------------------------------- SavedModel exports
def is_savedmodel(path) -> bool:
    """True for a folder holding ``saved_model.pb`` (one exported version).

    Example:
        >>> is_savedmodel("/nonexistent"), is_savedmodel("serving/models/digits/1")  # doctest: +SKIP
        (False, True)
    """
    return (Path(path) / "saved_model.pb").is_file()


def exported_versions(path) -> list[int]:
    """The numeric version folders under ``BASE/NAME`` that hold a SavedModel, ascending.

    Example:
        >>> exported_versions("/nonexistent")
        []
    """
    return [v for v in version_numbers(path) if is_savedmodel(Path(path) / str(v))]


def resolve_local_model(target, *, model_name=None, version=None) -> Path:
    """Find the SavedModel directory a local target means.

    Accepts a version directory, a ``BASE/NAME`` directory (newest version, or ``version``) or a
    base directory holding exactly one model (or ``model_name``).

    Example:
        >>> resolve_local_model("serving/models")  # doctest: +SKIP
        PosixPath('serving/models/digits/3')
    """
    path = Path(target)
    if model_name is not None and (
        Path(model_name).name != model_name or model_name in ("", ".", "..")
    ):
        # A name, not a path: '../x' or '/abs' must not reach outside the base directory.
        raise UsageError(f"--model-name {model_name!r} must be a model name, not a path")
    if not path.exists():
        raise UsageError(f"model {path} does not exist")
    if is_savedmodel(path):
        return path
    if not path.is_dir():
        raise UsageError(f"{path} is not a SavedModel directory or run folder")
    if model_name and (path / model_name).is_dir():
        path = path / model_name
    versions = exported_versions(path)
    if not versions:
        models = _exported_models(path)
        if len(models) == 1 and not model_name:
            return resolve_local_model(path / models[0], version=version)
        if model_name:
            raise unknown_name(f"model under {path}", model_name, models or ["(none)"])
        if models:
            raise UsageError(
                f"{path} holds several models ({', '.join(models)}); pass --model-name or a "
                "model directory"
            )
        raise UsageError(f"{path} holds no exported model (no VERSION/saved_model.pb)")
    if version is not None:
        if int(version) not in versions:
            raise UsageError(
                f"{path} has no version {version} (versions: {', '.join(map(str, versions))})"
            )
        return path / str(int(version))
    return path / str(versions[-1])


def _exported_models(base: Path) -> list[str]:
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and exported_versions(p))


def default_model(base=None, *, model_name=None, version=None) -> Path:
    """The model ``predict`` uses without ``--model``: under ``base`` (``serving/models``), the
    model named ``model_name``, else the only one there; its newest version, or ``version``.
    A UsageError when that is not one model.

    Example:
        >>> default_model()  # doctest: +SKIP
        PosixPath('serving/models/digits/1')
        >>> default_model(model_name="letters", version=1)  # doctest: +SKIP
        PosixPath('serving/models/letters/1')
    """
    from kerascnn.contract import DEFAULT_BASE

    path = Path(DEFAULT_BASE if base is None else base)
    models = _exported_models(path)
    if model_name is not None and models:
        return resolve_local_model(path, model_name=model_name, version=version)
    if len(models) != 1:
        found = f"found {', '.join(models)}" if models else f"found no exported model in {path}/"
        raise UsageError(
            f"pass --model PATH (a SavedModel, model directory or run folder) or --server URL "
            f"({found})"
        )
    return resolve_local_model(path / models[0], version=version)


def _load_savedmodel(path: Path, model_name, version) -> LoadedModel:
    import tensorflow as tf

    resolved = resolve_local_model(path, model_name=model_name, version=version)
    try:
        restored = tf.saved_model.load(str(resolved))
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KerasCNNError(f"cannot load SavedModel {resolved}: {reason[:300]}") from None
    labels_path = resolved / "assets" / LABELS_FILE
    labels = read_labels(labels_path) if labels_path.is_file() else []
    return LoadedModel(
        restored, labels, None, kind="savedmodel", name=resolved.parent.name, path=resolved
    )


# --------------------------------------------------------------------------- the loader
def _num_outputs(model) -> int:
    shape = model.outputs[0].shape if getattr(model, "outputs", None) else model.output_shape
    return int(shape[-1])


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


def _name_for_file(path: Path) -> str:
    path = path.resolve()
    if path.parent.name == "weights":  # runs/NAME/weights/best.keras -> NAME
        return path.parent.parent.name
    return path.stem


def read_pretrained_record(run_dir) -> dict | None:
    """A run folder's ``pretrained.json`` (None when the run trained from scratch); a corrupt
    file is one line naming it.

    Example:
        >>> read_pretrained_record("/nonexistent") is None
        True
    """
    path = RunPaths(Path(run_dir)).pretrained
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        InputSpec.from_dict(record["input_spec"])
    except (ValueError, KeyError, TypeError, UsageError) as exc:
        raise KerasCNNError(f"{path} is corrupt: {str(exc)[:200]}") from None
    return record


def _with_run_record(loaded: LoadedModel) -> LoadedModel:
    record = read_pretrained_record(loaded.run_dir) if loaded.run_dir is not None else None
    if record is None:
        return loaded
    spec = InputSpec.from_dict(record["input_spec"])
    return dataclasses.replace(loaded, input_spec=spec, pretrained=record)


def _from_keras_model(model, kind: str, name: str) -> LoadedModel:
    """A Keras model as loaded; a pretrained build brings its labels and input spec."""
    pretrained = getattr(model, "pretrained", None)
    names = [str(i) for i in range(_num_outputs(model))]
    if pretrained is None:
        return LoadedModel(model, names, None, kind=kind, name=name)
    if pretrained.class_names and len(pretrained.class_names) == len(names):
        names = list(pretrained.class_names)
    return LoadedModel(model, names, None, kind=kind, name=name,
                       input_spec=pretrained.input_spec, pretrained=pretrained.record())


def _load_any(source, model_name, version, weights) -> LoadedModel:
    import keras

    if isinstance(source, LoadedModel):
        return source
    if isinstance(source, keras.Model):
        return _from_keras_model(source, "keras", source.name)
    path = Path(os.fspath(source)).expanduser()
    if path.is_dir():
        paths = RunPaths(path)
        if not (paths.weights.is_dir() or paths.config.is_file()) and (
            is_savedmodel(path) or exported_versions(path) or _exported_models(path)
        ):
            return _load_savedmodel(path, model_name, version)
        weights = paths.best if paths.best.is_file() else paths.last
        if not weights.is_file():
            raise UsageError(f"run folder {path} has no weights/best.keras or weights/last.keras")
        model = load_keras_file(weights)
        return _with_run_record(LoadedModel(model, _labels_for(paths.labels, model), path,
                                            kind="run", name=path.resolve().name, path=path))
    if path.suffix == ".keras" or path.exists() or os.sep in str(source) or "/" in str(source):
        if not path.exists():
            raise UsageError(f"model file {path} does not exist")
        if path.suffix != ".keras":
            raise UsageError(f"{path} is not a .keras file or a run folder")
        model = load_keras_file(path)
        sibling = path.parent / LABELS_FILE
        if not sibling.is_file() and path.parent.name == "weights":
            sibling = path.parent.parent / LABELS_FILE
        run_dir = path.parent.parent if path.parent.name == "weights" else None
        return _with_run_record(LoadedModel(model, _labels_for(sibling, model), run_dir,
                                            kind="file", name=_name_for_file(path), path=path))
    from kerascnn.weights import build

    return _from_keras_model(build(str(source), weights=weights), "registry", str(source))


def load_model(
    source, *, class_names=None, model_name=None, version=None, weights=None
) -> LoadedModel:
    """Load a model from any source kerascnn knows (see the module's table).

    ``class_names`` overrides the labels found with the model (their count must match its
    outputs); ``model_name`` and ``version`` pick an export under a SavedModel base folder;
    ``weights`` ("imagenet", a tag or a weights file) applies to a registry name only.
    Files load with ``safe_mode=True``. A missing or corrupt file raises one line naming it.

    Example:
        >>> loaded = load_model("runs/exp")  # doctest: +SKIP
        >>> loaded.model.name, loaded.class_names[:2]  # doctest: +SKIP
        ('lenet5', ['0', '1'])
    """
    loaded = _load_any(source, model_name, version, weights)
    if weights is not None and loaded.kind != "registry":
        raise UsageError(
            f"--weights applies to a registry model name (kerascnn models), not to {source}"
        )
    if class_names is not None:
        names = [str(c) for c in class_names]
        if loaded.is_keras:
            count = _num_outputs(loaded.model)
            if len(names) != count:
                raise UsageError(
                    f"model {loaded.name!r} has {count} outputs but {len(names)} class names "
                    "were given"
                )
        loaded = dataclasses.replace(loaded, class_names=names)
    return loaded


def load_keras_model(source, *, class_names=None, weights=None) -> LoadedModel:
    """:func:`load_model` for callers that need a ``keras.Model`` (export, visualize, evaluate):
    a SavedModel export is refused with one line, since it no longer holds the Keras graph.

    Example:
        >>> load_keras_model("serving/models/digits/1")  # doctest: +SKIP
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: serving/models/digits/1 is a SavedModel export; ...
    """
    loaded = load_model(source, class_names=class_names, weights=weights)
    if not loaded.is_keras:
        raise UsageError(
            f"{loaded.path} is a SavedModel export; pass the run folder or .keras file it came "
            "from"
        )
    return loaded
