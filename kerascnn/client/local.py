"""The local transport: a SavedModel export or a run folder, run in this process (no server).

Example:
    >>> LocalBackend("serving/models/digits/1", model_name=None, version=None, label=None,
    ...              signature="serving_default").description  # doctest: +SKIP
    'serving/models/digits/1'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.client.prediction import (
    MissingSignature,
    ServerError,
    predict_inputs,
    prediction_rows,
    tf_error_line,
)
from kerascnn.contract import (
    CLASS_ID,
    CLASS_NAMES_SIGNATURE,
    LABEL_OUTPUT,
    PIXELS_INPUT,
    PIXELS_SIGNATURE,
    PROBABILITIES_OUTPUT,
)
from kerascnn.errors import UsageError
from kerascnn.loading import load_model, resolve_local_model


class LocalBackend:
    def __init__(self, target, *, model_name, version, label, signature, weights=None):
        if label is not None:
            raise UsageError("--label needs a server (version labels live in models.config)")
        path = Path(target)
        self.description = str(path)
        registry_name = not path.exists() and _is_registered(str(target))
        if weights is not None and not registry_name:
            raise UsageError(
                f"--weights applies to a registry model name (kerascnn models), not to {target}"
            )
        if (
            registry_name
            or (path / "config.yaml").is_file()
            or (path / "weights").is_dir()
            or path.suffix == ".keras"
        ):
            if model_name is not None or version is not None:
                raise UsageError(
                    f"--model-name and --version pick an export under a model base directory; "
                    f"{path} is a {'.keras file' if path.suffix == '.keras' else 'run folder'}"
                )
            from kerascnn.export import build_serving_module

            # The very graph an export of it would serve, in this process (a registry name:
            # pretrained with --weights, else random weights).
            module = build_serving_module(str(target) if registry_name else path, weights=weights)
            self._functions = module.signatures()
            self.input_shape = module.input_shape
            self._names = list(module.class_names_list)
        else:
            resolved = resolve_local_model(path, model_name=model_name, version=version)
            _check_resolved(resolved, model_name, version)
            loaded = load_model(resolved)
            self.description = str(loaded.path)
            self._loaded = loaded.model  # keep it alive: signatures reference its variables
            self._functions = dict(loaded.model.signatures)
            spec = self._functions.get(PIXELS_SIGNATURE)
            if spec is not None:
                shape = spec.structured_input_signature[1][PIXELS_INPUT].shape
                self.input_shape = tuple(int(d) for d in shape[1:])
            else:
                self.input_shape = None
            self._names = None
        if signature not in self._functions:
            from kerascnn.errors import unknown_name

            raise unknown_name(
                f"signature of {self.description}",
                signature,
                [k for k in self._functions if not k.startswith("__")],
            )
        self.signature = signature

    def call_signature(self, signature: str, inputs: dict) -> dict:
        """Run ``signature`` on ``inputs`` ({input name: NumPy array of its dtype, a batch});
        {output name: NumPy array} back, string outputs as bytes. A signature the model lacks
        raises :class:`MissingSignature`, an input it refuses :class:`ServerError`."""
        import tensorflow as tf

        fn = self._functions.get(signature)
        if fn is None:
            raise MissingSignature(f"{self.description} has no {signature} signature", signature)
        try:
            out = fn(**{name: tf.constant(value) for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as exc:
            raise ServerError(tf_error_line(exc)) from None
        return {name: value.numpy() for name, value in out.items()}

    def class_names(self):
        if self._names is None:
            # probabilities' width is the class count; ask for every id.
            ids = np.arange(self._count_classes(), dtype="int64")
            try:
                out = self.call_signature(CLASS_NAMES_SIGNATURE, {CLASS_ID: ids})
            except MissingSignature:
                return None
            self._names = [s.decode("utf-8") for s in out[LABEL_OUTPUT]]
        return self._names

    def fetch_input_shape(self):
        """None: a local model's input shape is read when it loads, or it has no pixel input."""
        return None

    def _count_classes(self):
        fn = self._functions[self.signature]
        return int(fn.structured_outputs[PROBABILITIES_OUTPUT].shape[-1])

    def predict(self, payload):
        out = self.call_signature(self.signature, predict_inputs(self.signature, payload))
        return prediction_rows(out)


def _check_resolved(resolved: Path, model_name, version) -> None:
    """Refuse a ``model_name`` / ``version`` that the local export found does not match, rather
    than answer with another model than the one asked for."""
    if model_name is not None and resolved.parent.name != model_name:
        raise UsageError(f"--model-name {model_name!r} does not match the export {resolved}")
    if version is not None and resolved.name.isdigit() and int(resolved.name) != int(version):
        raise UsageError(f"--version {version} does not match the export {resolved}")


def _is_registered(name: str) -> bool:
    from kerascnn.architectures import list_models

    return name in list_models()
