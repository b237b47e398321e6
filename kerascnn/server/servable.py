"""One loaded version of a model: its SavedModel, signatures, in-flight count and batchers.

Mirrors TF Serving's ``servables/tensorflow/saved_model_bundle_factory.cc`` (load the
``serve`` MetaGraph of ``saved_model.pb`` and its signatures) and the per-version servable the
prediction service runs requests on (``servable.h``). The request rules live beside it:
``predict_util`` (Predict), ``classify_regress`` (Classify, Regress, MultiInference) and
``saved_model_warmup`` (warmup replay). Models run as TF2 concrete functions, not a TF1
session: ``Session.make_callable`` on the SignatureDef's tensor names saves only 0.07-0.2 ms
per call, and exports older than the variable-tracking fix cannot run in a session at all
(benchmarks/README.md, "Serving", says what a switch needs); meanwhile
``tests/test_server_session_loading.py`` checks that every export also runs the session way,
as TF Serving runs it.

Example:
    >>> servable = Servable("m", 1, Path("serving/models/m/1"))          # doctest: +SKIP
    >>> servable.predict("serving_default", {"x": [[1.0, 2.0]]})         # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    model_pb2,
    regression_pb2,
)

from kerascnn.server import classify_regress
from kerascnn.server.batching import Batcher
from kerascnn.server.predict_util import check_predict_inputs, predict_signature
from kerascnn.server.saved_model_warmup import replay_warmup_requests
from kerascnn.server.status import ServingError, from_tensorflow


@dataclass
class Signature:
    """One SignatureDef and the concrete function that runs it."""

    name: str
    proto: meta_graph_pb2.SignatureDef
    fn: object

    def __post_init__(self):
        # Resolved once per load, not per request: alias -> tf.DType the function expects.
        self.tf_dtypes = {
            alias: tf.dtypes.as_dtype(info.dtype) for alias, info in self.proto.inputs.items()
        }

    @property
    def input_dtypes(self) -> dict[str, int]:
        """Input alias -> DataType enum, sorted by alias (what the JSON codec needs).

        Example:
            >>> proto = meta_graph_pb2.SignatureDef(inputs={"x": {"dtype": 1}})
            >>> Signature("s", proto, None).input_dtypes
            {'x': 1}
        """
        return {alias: info.dtype for alias, info in sorted(self.proto.inputs.items())}


class Servable:
    """One loaded version of a model; counts its in-flight requests."""

    def __init__(
        self, name: str, version: int, path: Path, *, batching=None, metrics=None,
        tags=("serve",),
    ):
        self.name = name
        self.version = version
        self.path = path
        self.metrics = metrics
        self._inflight = 0
        self._cond = threading.Condition()
        meta = read_meta_graph(path, tags)
        self.signature_defs = meta.signature_def
        self.module = tf.saved_model.load(str(path), tags=list(tags))
        loaded = dict(self.module.signatures)
        self.signatures = {
            key: Signature(key, sig, loaded.get(key))
            for key, sig in meta.signature_def.items()
            if key in loaded
        }
        self._batching = batching
        self._batchers: dict[str, Batcher] = {}
        self._batchers_lock = threading.Lock()

    # -- reference counting --------------------------------------------------------------
    def acquire(self):
        """Count one more request in flight (``ServerCore.resolve`` does this)."""
        with self._cond:
            self._inflight += 1

    def release(self):
        """Count one request finished; wake ``wait_idle`` when none is left."""
        with self._cond:
            self._inflight -= 1
            if self._inflight == 0:
                self._cond.notify_all()

    def wait_idle(self, timeout=None):
        """Block until no request is in flight (before unloading); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    def unload(self):
        """Stop batch threads and drop the TensorFlow objects (memory is freed by GC)."""
        for batcher in list(self._batchers.values()):
            batcher.stop()
        self._batchers.clear()
        self.signatures = {}
        self.module = None

    # -- running -------------------------------------------------------------------------
    def _call(self, sig: Signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        start = time.monotonic()
        try:
            dtypes = sig.tf_dtypes
            tensors = {
                alias: tf.convert_to_tensor(value, dtype=dtypes[alias])
                for alias, value in inputs.items()
            }
            result = sig.fn(**tensors)
            outputs = {k: v.numpy() for k, v in result.items()}
        except ServingError:
            raise
        except Exception as exc:  # TensorFlow reports bad shapes/values as exceptions
            raise from_tensorflow(exc) from None
        if self.metrics:
            self.metrics.record_runtime(self.name, "Predict", (time.monotonic() - start) * 1e6)
        return outputs

    def _batcher(self, sig: Signature) -> Batcher:
        with self._batchers_lock:
            batcher = self._batchers.get(sig.name)
            if batcher is None:
                batcher = Batcher(
                    lambda arrays, sig=sig: self._call(sig, arrays),
                    self._batching,
                    metrics=self.metrics,
                    label=self.name,
                )
                self._batchers[sig.name] = batcher
            return batcher

    def run_signature(self, sig: Signature, inputs: dict[str, np.ndarray]):
        """Run one request, through the batch queue when batching is on."""
        if sig.fn is None:
            raise ServingError("INTERNAL", f"signature {sig.name} cannot be called")
        if self._batching is not None:
            return self._batcher(sig).run(inputs)
        return self._call(sig, inputs)

    def predict(self, signature_name: str, inputs: dict, output_filter=()) -> dict:
        """TF Serving's RunPredict checks, then the model. Returns {alias: array}.

        Example:
            >>> servable.predict("", {"x": np.ones((1, 2), np.float32)})  # doctest: +SKIP
        """
        sig = predict_signature(self.signatures, signature_name)
        arrays, wanted = check_predict_inputs(sig.proto, inputs, output_filter)
        outputs = self.run_signature(sig, arrays)
        if wanted:
            outputs = {k: outputs[k] for k in wanted}
        return outputs

    def classify(self, signature_name, input_proto) -> classification_pb2.ClassificationResult:
        """Run a classification signature on tf.Examples (``classify_regress.classify``)."""
        return classify_regress.classify(self, signature_name, input_proto)

    def regress(self, signature_name, input_proto) -> regression_pb2.RegressionResult:
        """Run a regression signature on tf.Examples (``classify_regress.regress``)."""
        return classify_regress.regress(self, signature_name, input_proto)

    def warmup(self, iterations: int = 1) -> int:
        """Replay ``assets.extra/tf_serving_warmup_requests``; returns records read."""
        return replay_warmup_requests(self, iterations)

    # -- protos for responses --------------------------------------------------------------
    def signature_def_map(self):
        """Every SignatureDef of the version, as GetModelMetadata answers them."""
        sdm = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.signature_defs.items():
            sdm.signature_def[key].CopyFrom(sig)
        return sdm


def model_spec_for(servable: Servable, signature_name: str = ""):
    """The ModelSpec TF Serving echoes in responses (``MakeModelSpec`` in its ``util.cc``).

    Example:
        >>> from types import SimpleNamespace
        >>> spec = model_spec_for(SimpleNamespace(name="m", version=3), "serving_default")
        >>> spec.name, spec.version.value, spec.signature_name
        ('m', 3, 'serving_default')
    """
    spec = model_pb2.ModelSpec(name=servable.name, signature_name=signature_name)
    spec.version.value = servable.version
    return spec


def read_meta_graph(path: Path, tags=("serve",)) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef tagged exactly ``tags`` (``--saved_model_tags``; TF Serving's default
    ``serve``) of the SavedModel at ``path``, or TF Serving's load error.

    Example:
        >>> read_meta_graph(Path("/nonexistent"))
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: Could not find SavedModel .pb at /nonexistent/saved_model.pb: [Errno 2] No such file or directory: '/nonexistent/saved_model.pb'
    """
    pb = path / "saved_model.pb"
    try:
        saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    except OSError as exc:
        raise ServingError("NOT_FOUND", f"Could not find SavedModel .pb at {pb}: {exc}") from None
    except Exception:  # protobuf's DecodeError: TensorFlow's loader calls this data loss
        raise ServingError("DATA_LOSS", f"Can't parse {pb} as binary proto") from None
    for meta in saved.meta_graphs:
        if set(meta.meta_info_def.tags) == set(tags):
            return meta
    # TensorFlow's loader words it so (loader.cc), and TF Serving passes that on.
    raise ServingError(
        "NOT_FOUND",
        f"Could not find meta graph def matching supplied tags: {{ {' '.join(tags)} }}. To "
        "inspect available tag-sets in the SavedModel, please use the SavedModel CLI: "
        "`saved_model_cli`",
    )
