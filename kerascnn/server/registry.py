"""Models, versions and the requests against them: the embedded server's ``ServerCore``.

A model is a base directory whose all-digit subdirectories are versions. Its
``model_version_policy`` (latest{num_versions} (default 1) / all / specific{versions}) picks the
versions to serve. A poller re-reads the base directories every
``file_system_poll_wait_seconds``: a new version is loaded, its warmup records
(``assets.extra/tf_serving_warmup_requests``) replayed, and only then made AVAILABLE; a version
the policy drops is first hidden from new requests and unloaded once its in-flight requests
have finished, so a swap never fails a request. Version states and their order (newest first)
follow TF Serving's ServableStateMonitor, END included.

Example:
    >>> core = ServerCore(ServerOptions(model_name="m", model_base_path="/tmp/m"))  # doctest: +SKIP
    >>> core.start()                                                                # doctest: +SKIP
    >>> with core.handle("m") as servable:                                          # doctest: +SKIP
    ...     servable.predict("serving_default", {"x": [[1.0, 2.0]]})
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from kerascnn.errors import KerasCNNError, UsageError
from kerascnn.server.batching import Batcher
from kerascnn.server.config import ServerOptions, resolve_base_path
from kerascnn.server.metrics import Metrics
from kerascnn.server.status import CODE_NUMBER, ServingError, from_tensorflow, invalid
from kerascnn.server.tensors import array_from_proto, array_to_proto, dtype_name

log = logging.getLogger("kerascnn.serve")

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000

State = get_model_status_pb2.ModelVersionStatus.State


@dataclass
class Signature:
    """One SignatureDef and the concrete function that runs it."""

    name: str
    proto: meta_graph_pb2.SignatureDef
    fn: object

    @property
    def input_dtypes(self) -> dict[str, int]:
        return {alias: info.dtype for alias, info in sorted(self.proto.inputs.items())}


class Servable:
    """One loaded version of a model; counts its in-flight requests."""

    def __init__(self, name: str, version: int, path: Path, *, batching=None, metrics=None):
        self.name = name
        self.version = version
        self.path = path
        self.metrics = metrics
        self._inflight = 0
        self._cond = threading.Condition()
        meta = _read_meta_graph(path)
        self.signature_defs = meta.signature_def
        self.module = tf.saved_model.load(str(path), tags=["serve"])
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
        with self._cond:
            self._inflight += 1

    def release(self):
        with self._cond:
            self._inflight -= 1
            if self._inflight == 0:
                self._cond.notify_all()

    def wait_idle(self, timeout=None):
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
            tensors = {
                alias: tf.convert_to_tensor(
                    value, dtype=tf.dtypes.as_dtype(sig.proto.inputs[alias].dtype)
                )
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
        name = signature_name or "serving_default"
        sig = self.signatures.get(name)
        if sig is None:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{name}" not found.')
        proto = sig.proto
        if proto.method_name not in ("", PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
            raise ServingError(
                "INTERNAL",
                "Expected prediction signature method_name to be one of {"
                f"{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. Was: "
                f"{proto.method_name}",
            )
        sent, expected = set(inputs), set(proto.inputs)
        if len(sent) > len(expected) or (len(sent) < len(expected) and not proto.defaults):
            raise invalid(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. Missing but required: "
                f"{{{','.join(sorted(expected - sent))}}}."
            )
        for alias in inputs:
            if alias not in proto.inputs:
                raise invalid(
                    f"input tensor alias not found in signature: {alias}. Inputs expected to be "
                    f"in the set {{{','.join(sorted(proto.inputs))}}}."
                )
        wanted = list(output_filter)
        seen = set()
        for alias in wanted:
            if alias not in proto.outputs:
                raise invalid(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{','.join(sorted(proto.outputs))}}}."
                )
            if alias in seen:
                raise invalid(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        arrays = {}
        for index, (alias, value) in enumerate(sorted(inputs.items())):
            expected_dtype = proto.inputs[alias].dtype
            arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
            if arr.dtype.kind in "OSU":
                got = 7  # DT_STRING
            else:
                try:
                    got = tf.dtypes.as_dtype(arr.dtype).as_datatype_enum
                except TypeError:
                    got = -1
            if got != expected_dtype:
                raise invalid(
                    f"Expects arg[{index}] to be {dtype_name(expected_dtype)} but "
                    f"{dtype_name(got) if got >= 0 else str(arr.dtype)} is provided"
                )
            _check_shape(alias, arr.shape, proto.inputs[alias].tensor_shape)
            arrays[alias] = arr
        outputs = self.run_signature(sig, arrays)
        if wanted:
            outputs = {k: outputs[k] for k in wanted}
        return outputs

    # -- classify / regress (tf.Example signatures) ---------------------------------------
    def _example_signature(self, signature_name, method):
        name = signature_name or "serving_default"
        sig = self.signatures.get(name)
        if sig is None:
            raise invalid(f"No signature was found with the name: {name}")
        proto = sig.proto
        from google.protobuf import text_format

        debug = text_format.MessageToString(proto)
        if len(proto.inputs) != 1:
            raise invalid("Expected one input Tensor.")
        if method == "classify":
            if len(proto.outputs) not in (1, 2):
                raise invalid(f"Expected one or two output Tensors, found {len(proto.outputs)}")
            if "inputs" not in proto.inputs:
                raise invalid(f"No classification inputs found in SignatureDef: {debug}")
            if "classes" not in proto.outputs and "scores" not in proto.outputs:
                raise invalid(
                    "Expected classification signature outputs to contain at least one of "
                    f'"classes" or "scores". Signature was: {debug}'
                )
        else:
            if len(proto.outputs) != 1:
                raise invalid("Expected one output Tensor.")
            if "inputs" not in proto.inputs:
                raise invalid(f"No regression inputs found in SignatureDef: {debug}")
            if "outputs" not in proto.outputs:
                raise invalid(f"No regression outputs found in SignatureDef: {debug}")
        return sig

    def _serialized_examples(self, input_proto) -> np.ndarray:
        kind = input_proto.WhichOneof("kind")
        if kind == "example_list":
            examples = list(input_proto.example_list.examples)
            records = [e.SerializeToString() for e in examples]
        elif kind == "example_list_with_context":
            ctx = input_proto.example_list_with_context.context
            records = []
            for e in input_proto.example_list_with_context.examples:
                merged = type(e)()
                merged.CopyFrom(ctx)
                merged.MergeFrom(e)
                records.append(merged.SerializeToString())
        else:
            records = []
        if not records:
            raise invalid("Input is empty.")
        arr = np.empty(len(records), dtype=object)
        arr[:] = records
        return arr

    def classify(self, signature_name, input_proto) -> classification_pb2.ClassificationResult:
        """Run a classification signature on tf.Examples."""
        sig = self._example_signature(signature_name, "classify")
        serialized = self._serialized_examples(input_proto)
        outputs = self.run_signature(sig, {"inputs": serialized})
        classes = outputs.get("classes")
        scores = outputs.get("scores")
        n = len(serialized)
        result = classification_pb2.ClassificationResult()
        for i in range(n):
            row = result.classifications.add()
            k = (
                scores.shape[1]
                if scores is not None and scores.ndim > 1
                else classes.shape[1]
                if classes is not None and classes.ndim > 1
                else 1
            )
            for j in range(k):
                cls = row.classes.add()
                if classes is not None:
                    value = classes[i][j] if classes.ndim > 1 else classes[i]
                    cls.label = value.decode() if isinstance(value, bytes) else str(value)
                if scores is not None:
                    cls.score = float(scores[i][j] if scores.ndim > 1 else scores[i])
        return result

    def regress(self, signature_name, input_proto) -> regression_pb2.RegressionResult:
        """Run a regression signature on tf.Examples."""
        sig = self._example_signature(signature_name, "regress")
        serialized = self._serialized_examples(input_proto)
        outputs = self.run_signature(sig, {"inputs": serialized})["outputs"]
        n = len(serialized)
        if not (outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1)):
            raise invalid(
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
                f"but got {list(outputs.shape)}"
            )
        if outputs.shape[0] != n:
            raise invalid(
                f"Input batch size did not match output batch size: {n} vs. {outputs.shape[0]}"
            )
        result = regression_pb2.RegressionResult()
        for v in outputs.reshape(-1):
            result.regressions.add().value = float(v)
        return result

    # -- warmup ----------------------------------------------------------------------------
    def warmup(self, iterations: int = 1) -> int:
        """Replay ``assets.extra/tf_serving_warmup_requests``; returns records read."""
        path = self.path / WARMUP_FILE
        if not path.exists():
            return 0
        start = time.monotonic()
        count = 0
        for raw in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise invalid(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            record = prediction_log_pb2.PredictionLog.FromString(raw)
            for _ in range(max(1, iterations)):
                self._replay(record)
        if self.metrics:
            self.metrics.record_warmup(str(self.path), count, (time.monotonic() - start) * 1e6)
        return count

    def _replay(self, record):
        kind = record.WhichOneof("log_type")
        if kind == "predict_log":
            req = record.predict_log.request
            inputs = {k: array_from_proto(v) for k, v in req.inputs.items()}
            self.predict(req.model_spec.signature_name, inputs, req.output_filter)
        elif kind == "classify_log":
            req = record.classify_log.request
            self.classify(req.model_spec.signature_name, req.input)
        elif kind == "regress_log":
            req = record.regress_log.request
            self.regress(req.model_spec.signature_name, req.input)
        elif kind == "multi_inference_log":
            run_multi_inference(self, record.multi_inference_log.request)
        else:
            raise invalid(f"Unsupported log_type for warmup: {kind}")

    # -- protos for responses --------------------------------------------------------------
    def signature_def_map(self):
        sdm = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.signature_defs.items():
            sdm.signature_def[key].CopyFrom(sig)
        return sdm


def _check_shape(alias, shape, expected):
    """Refuse a tensor whose shape the signature's placeholder cannot take."""
    if expected.unknown_rank:
        return
    dims = [d.size for d in expected.dim]
    if len(dims) != len(shape) or any(d >= 0 and d != s for d, s in zip(dims, shape)):
        want = ",".join("?" if d < 0 else str(d) for d in dims)
        raise invalid(
            f"input tensor {alias} has shape [{','.join(map(str, shape))}], which is not "
            f"compatible with the signature's shape [{want}]"
        )


def run_multi_inference(servable: Servable, request) -> inference_pb2.MultiInferenceResponse:
    """TF Serving's MultiInference: several classify/regress tasks on one input."""
    response = inference_pb2.MultiInferenceResponse()
    seen = set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise invalid("Found ModelSpec with an empty model name.")
        if task.model_spec.name != servable.name:
            raise invalid(
                "All ModelSpecs in a MultiInferenceRequest must access the same model name."
            )
        sig_name = task.model_spec.signature_name or "serving_default"
        if sig_name in seen:
            raise invalid(f"Duplicate evaluation of signature: {sig_name}")
        seen.add(sig_name)
        if sig_name not in servable.signatures:
            raise invalid(f"Requested signature not found in model graph: {sig_name}")
        result = response.results.add()
        result.model_spec.name = servable.name
        result.model_spec.version.value = servable.version
        result.model_spec.signature_name = sig_name
        if task.method_name == CLASSIFY_METHOD:
            result.classification_result.CopyFrom(servable.classify(sig_name, request.input))
        elif task.method_name == REGRESS_METHOD:
            result.regression_result.CopyFrom(servable.regress(sig_name, request.input))
        else:
            raise invalid(f"Unsupported signature method_name: {task.method_name}")
    return response


def _read_meta_graph(path: Path) -> meta_graph_pb2.MetaGraphDef:
    pb = path / "saved_model.pb"
    try:
        saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    except OSError as exc:
        raise ServingError("NOT_FOUND", f"Could not find SavedModel .pb at {pb}: {exc}") from None
    except Exception:  # protobuf's DecodeError: TensorFlow's loader calls this data loss
        raise ServingError("DATA_LOSS", f"Can't parse {pb} as binary proto") from None
    for meta in saved.meta_graphs:
        if "serve" in meta.meta_info_def.tags:
            return meta
    raise ServingError("NOT_FOUND", f"Could not find meta graph with tags {{serve}} in {path}")


@dataclass
class VersionState:
    state: int = State.START
    error_code: str = "OK"
    error_message: str = ""
    servable: Servable | None = None


@dataclass
class Model:
    """One configured model and the states of its versions."""

    config: model_server_config_pb2.ModelConfig
    base_path: Path
    versions: dict[int, VersionState] = field(default_factory=dict)
    failed: dict = field(default_factory=dict)  # version -> folder stamp when it failed
    removed: bool = False

    def aspired(self, on_disk: list[int]) -> list[int]:
        policy = self.config.model_version_policy
        which = policy.WhichOneof("policy_choice")
        if which == "all":
            return sorted(on_disk)
        if which == "specific":
            return sorted(set(on_disk) & set(policy.specific.versions))
        n = policy.latest.num_versions if which == "latest" else 1
        return sorted(on_disk)[-max(n, 1) :] if on_disk else []

    def available(self) -> dict[int, Servable]:
        return {
            v: s.servable
            for v, s in self.versions.items()
            if s.state == State.AVAILABLE and s.servable is not None
        }


def _stamp(path: Path):
    """Modification times of a version folder and its saved_model.pb."""
    stamps = []
    for p in (path, path / "saved_model.pb", path / "variables"):
        try:
            stamps.append(p.stat().st_mtime_ns)
        except OSError:
            stamps.append(None)
    return tuple(stamps)


def list_versions(base_path: Path) -> list[int]:
    """All-digit subdirectories of a base path, as TF Serving's file-system source sees them."""
    try:
        entries = list(base_path.iterdir())
    except OSError:
        return []
    return sorted(int(p.name) for p in entries if p.name.isdigit() and p.is_dir())


class ServerCore:
    """All models, their polling and the lookups requests make."""

    def __init__(self, options: ServerOptions, *, metrics: Metrics | None = None):
        self.options = options
        self.metrics = metrics or Metrics()
        self.batching = options.batching_options()
        self.models: dict[str, Model] = {}
        self._lock = threading.RLock()  # guards models/versions maps
        self._load_lock = threading.Lock()  # one loader at a time (poller or reload)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._config_mtime = None

    # -- config ----------------------------------------------------------------------------
    def start(self):
        """Read the config, load every model's initial versions, start pollers."""
        config = self.options.model_server_config()
        self.apply_config(config, initial=True)
        # Like TF Serving, a model that cannot load at start-up stops the server.
        for name, model in self.models.items():
            for version, state in sorted(model.versions.items()):
                if state.state == State.END and state.error_code != "OK":
                    raise KerasCNNError(
                        f"model {name!r} version {version} at {model.base_path / str(version)} "
                        f"failed to load: {state.error_message}"
                    )
        if self.options.file_system_poll_wait_seconds > 0:
            self._spawn(self._poll_loop, "fs-poll")
        if self.options.model_config_file and self.options.model_config_file_poll_wait_seconds > 0:
            self._config_mtime = self._config_stat()
            self._spawn(self._config_poll_loop, "config-poll")

    def _spawn(self, target, name):
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self):
        """Stop polling and unload everything (after in-flight requests finish)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10)
        with self._load_lock:
            for model in list(self.models.values()):
                for version in list(model.versions):
                    self._unload(model, version)

    def validate_config(self, config) -> list[model_server_config_pb2.ModelConfig]:
        which = config.WhichOneof("config")
        if which == "custom_model_config":
            raise invalid("ServerCore only supports model_config_list")
        entries = list(config.model_config_list.config)
        names = set()
        for entry in entries:
            if not entry.name:
                raise invalid("Illegal to have a model with an empty name")
            if entry.name in names:
                raise invalid(f"Illegal to list model {entry.name} multiple times in config list")
            names.add(entry.name)
            if not entry.base_path:
                raise invalid(f"Model {entry.name} has no base_path")
            if entry.model_platform and entry.model_platform != "tensorflow":
                raise invalid(
                    f"Model {entry.name} uses platform {entry.model_platform!r}; only "
                    "'tensorflow' SavedModels are served"
                )
            if "/" in entry.name or entry.name in (".", ".."):
                raise invalid(f"Illegal model name {entry.name!r}")
        return entries

    def apply_config(self, config, *, initial=False):
        """Add, update and remove models to match ``config``; waits for the loads."""
        entries = self.validate_config(config)
        with self._load_lock:
            old_labels = {
                name: dict(model.config.version_labels) for name, model in self.models.items()
            }
            with self._lock:
                wanted = {e.name for e in entries}
                for name, model in list(self.models.items()):
                    if name not in wanted:
                        model.removed = True
                for entry in entries:
                    base = resolve_base_path(entry.base_path, self.options.model_config_file)
                    model = self.models.get(entry.name)
                    if model is None or model.removed:
                        keep = model.versions if model is not None else {}
                        self.models[entry.name] = Model(entry, base, versions=keep)
                    else:
                        model.config = entry
                        model.base_path = base
                        model.failed.clear()
            for model in list(self.models.values()):
                self._sync(model)
            try:
                self._check_labels()
            except ServingError as err:
                if initial:
                    raise UsageError(err.message) from None
                # Like TF Serving, a rejected label map leaves the previous labels in force.
                with self._lock:
                    for name, model in self.models.items():
                        model.config.version_labels.clear()
                        model.config.version_labels.update(old_labels.get(name, {}))
                raise

    def _check_labels(self):
        if self.options.allow_version_labels_for_unavailable_models:
            return
        for model in self.models.values():
            if model.removed:
                continue
            available = model.available()
            for _label, version in model.config.version_labels.items():
                if version not in available:
                    raise ServingError(
                        "FAILED_PRECONDITION",
                        f"Request to assign label to version {version} of model "
                        f"{model.config.name}, which is not currently available for inference.",
                    )

    def _config_stat(self):
        try:
            st = os.stat(self.options.model_config_file)
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def _config_poll_loop(self):
        while not self._stop.wait(self.options.model_config_file_poll_wait_seconds):
            stat = self._config_stat()
            if stat == self._config_mtime:
                continue
            self._config_mtime = stat
            try:
                self.apply_config(self.options.model_server_config())
                log.info("reloaded %s", self.options.model_config_file)
            except Exception as exc:  # a bad edit keeps the running config
                log.error("ignoring changed model config: %s", exc)

    def _poll_loop(self):
        while not self._stop.wait(self.options.file_system_poll_wait_seconds):
            with self._load_lock:
                for model in list(self.models.values()):
                    try:
                        self._sync(model)
                    except Exception as exc:  # keep polling whatever one model does
                        log.error("polling %s failed: %s", model.config.name, exc)

    # -- loading / unloading ---------------------------------------------------------------
    def _sync(self, model: Model):
        """Bring one model's loaded versions in line with its policy and the disk."""
        if model.removed:
            for version in list(model.versions):
                self._unload(model, version)
            return
        aspired = model.aspired(list_versions(model.base_path))
        if not aspired and not model.versions:
            log.warning(
                "No versions of servable %s found under base path %s",
                model.config.name,
                model.base_path,
            )
        for version in sorted(aspired, reverse=True):
            state = model.versions.get(version)
            if state is not None and state.state in (State.AVAILABLE, State.LOADING):
                continue
            if model.failed.get(version) == _stamp(model.base_path / str(version)):
                continue  # retried only once the folder changes (a copy finished, a fix)
            self._load(model, version)
        # TF Serving's AvailabilityPreservingPolicy: drop an unaspired version (lowest first)
        # only when an aspired one serves, none is aspired, or another unaspired one serves;
        # so a new version that fails to load leaves the old one serving.
        while True:
            serving = {v for v, st in model.versions.items() if st.state == State.AVAILABLE}
            unaspired = sorted(serving - set(aspired))
            if not unaspired:
                break
            if aspired and not (serving & set(aspired)) and len(unaspired) < 2:
                break
            self._unload(model, unaspired[0])

    def _load(self, model: Model, version: int):
        name = model.config.name
        with self._lock:
            state = model.versions[version] = VersionState(state=State.LOADING)
        path = model.base_path / str(version)
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        try:
            servable = Servable(name, version, path, batching=self.batching, metrics=self.metrics)
            if self.options.enable_model_warmup:
                servable.warmup(self.options.num_request_iterations_for_warmup)
        except Exception as exc:
            err = from_tensorflow(exc)
            with self._lock:
                state.state = State.END
                state.error_code = err.code if err.code != "OK" else "UNKNOWN"
                state.error_message = err.message
            model.failed[version] = _stamp(path)
            log.error("Loading servable %s version %d failed: %s", name, version, err.message)
            return
        with self._lock:
            state.servable = servable
            state.state = State.AVAILABLE
        log.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _unload(self, model: Model, version: int):
        with self._lock:
            state = model.versions.get(version)
            if state is None or state.servable is None:
                return
            servable = state.servable
            state.state = State.UNLOADING  # hidden from new requests from now on
        servable.wait_idle()
        servable.unload()
        with self._lock:
            state.servable = None
            state.state = State.END
        log.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)

    def wait_until_loaded(self, timeout=60.0):
        """Block until no version is LOADING (used after reloads)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = any(
                    s.state == State.LOADING
                    for m in self.models.values()
                    for s in m.versions.values()
                )
            if not busy:
                return True
            time.sleep(0.05)
        return False

    # -- lookups ---------------------------------------------------------------------------
    def resolve(self, name: str, version: int | None = None, label: str | None = None):
        """The servable a request names, acquired; raise TF Serving's NOT_FOUND otherwise."""
        if not name:
            raise invalid("ModelSpec has no name specified.")
        with self._lock:
            model = self.models.get(name)
            if label:
                labels = model.config.version_labels if model and not model.removed else {}
                if label not in labels:
                    raise invalid(f"Unrecognized servable version label: {label}")
                version = labels[label]
            available = model.available() if model is not None and not model.removed else {}
            if version is None:
                if not available:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Latest({name})"
                    )
                servable = available[max(available)]
            else:
                servable = available.get(version)
                if servable is None:
                    raise ServingError(
                        "NOT_FOUND", f"Servable not found for request: Specific({name}, {version})"
                    )
            servable.acquire()
            return servable

    @contextmanager
    def handle(self, name, version=None, label=None):
        """``with core.handle("m") as servable:`` keeps that version loaded meanwhile."""
        servable = self.resolve(name, version, label)
        try:
            yield servable
        finally:
            servable.release()

    def model_status(self, name: str, version: int | None = None, label: str | None = None):
        """GetModelStatusResponse for a model (all versions, newest first) or one version."""
        if label:
            with self._lock:
                model = self.models.get(name)
                labels = model.config.version_labels if model else {}
                if label not in labels:
                    raise invalid(f"Unrecognized servable version label: {label}")
                version = labels[label]
        response = get_model_status_pb2.GetModelStatusResponse()
        with self._lock:
            model = self.models.get(name)
            versions = dict(model.versions) if model is not None else {}
        if version is not None:
            if version not in versions:
                raise ServingError("NOT_FOUND", f"Could not find version {version} of model {name}")
            chosen = [version]
        else:
            if not versions:
                raise ServingError("NOT_FOUND", f"Could not find any versions of model {name}")
            chosen = sorted(versions, reverse=True)
        for v in chosen:
            state = versions[v]
            entry = response.model_version_status.add()
            entry.version = v
            entry.state = state.state
            entry.status.error_code = CODE_NUMBER.get(state.error_code, 2)
            entry.status.error_message = state.error_message
        return response


def model_spec_for(servable: Servable, signature_name: str = ""):
    """The ModelSpec TF Serving echoes in responses."""
    from tensorflow_serving.apis import model_pb2

    spec = model_pb2.ModelSpec(name=servable.name, signature_name=signature_name)
    spec.version.value = servable.version
    return spec


def predict_request_to_arrays(request: predict_pb2.PredictRequest) -> dict[str, np.ndarray]:
    """A gRPC PredictRequest's inputs as arrays."""
    return {alias: array_from_proto(proto) for alias, proto in request.inputs.items()}


def outputs_to_response(servable, signature_name, outputs) -> predict_pb2.PredictResponse:
    """Arrays -> PredictResponse (typed value fields, as TF Serving's kAsProtoField)."""
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(model_spec_for(servable, signature_name or "serving_default"))
    for alias, arr in outputs.items():
        response.outputs[alias].CopyFrom(array_to_proto(arr))
    return response
