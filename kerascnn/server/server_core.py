"""All models, their versions and the lookups requests make: the embedded server's ServerCore.

Mirrors TF Serving's ``model_servers/server_core.cc`` (the model config, reloads of it, the
lookups of a request's servable and ``GetModelStatus``) together with the parts of its
``AspiredVersionsManager`` that load and unload versions. A model is a base directory whose
all-digit subdirectories are versions (``file_system_storage_path_source``). A poller re-reads
the base directories every ``file_system_poll_wait_seconds``: a new version is loaded, its
warmup records replayed (``saved_model_warmup``), and only then made AVAILABLE; a version the
policy drops (``availability_preserving_policy``) is first hidden from new requests and unloaded
once its in-flight requests have finished, so a swap never fails a request. Version states and
their order (newest first) follow TF Serving's ServableStateMonitor, END included.

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from kerascnn.contract import version_numbers
from kerascnn.errors import KerasCNNError, UsageError
from kerascnn.server.availability_preserving_policy import next_version_to_unload
from kerascnn.server.config import ServerOptions, resolve_base_path
from kerascnn.server.file_system_storage_path_source import (
    aspired_versions,
    version_stamp,
)
from kerascnn.server.metrics import Metrics
from kerascnn.server.servable import Servable
from kerascnn.server.status import CODE_NUMBER, ServingError, from_tensorflow, invalid

log = logging.getLogger("kerascnn.serve")

_STATE_ENUM = get_model_status_pb2.ModelVersionStatus.State


class State:
    """ModelVersionStatus.State values as plain ints: the protobuf enum wrapper resolves a name
    on every attribute access, and ``Model.available`` runs on every request."""

    START = _STATE_ENUM.Value("START")
    LOADING = _STATE_ENUM.Value("LOADING")
    AVAILABLE = _STATE_ENUM.Value("AVAILABLE")
    UNLOADING = _STATE_ENUM.Value("UNLOADING")
    END = _STATE_ENUM.Value("END")


@dataclass
class VersionState:
    """Where one version is in its life (ServableState), and why it ended if it failed."""

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
        """The versions of ``on_disk`` this model's version policy wants served."""
        return aspired_versions(self.config.model_version_policy, on_disk)

    def available(self) -> dict[int, Servable]:
        """Version -> servable of the versions that may take requests now."""
        return {
            v: s.servable
            for v, s in self.versions.items()
            if s.state == State.AVAILABLE and s.servable is not None
        }


class ServerCore:
    """All models, their polling and the lookups requests make.

    Example (a base path with no versions yet: 404s until one appears, as the module says):
        >>> import tempfile
        >>> options = ServerOptions(model_name="m", model_base_path=tempfile.mkdtemp(),
        ...                         file_system_poll_wait_seconds=0)
        >>> core = ServerCore(options)
        >>> core.start()
        >>> core.resolve("m")
        Traceback (most recent call last):
        ...
        kerascnn.server.status.ServingError: Servable not found for request: Latest(m)
        >>> core.stop()
    """

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
        """The config's model entries, or the INVALID_ARGUMENT TF Serving answers for them.

        Example:
            >>> config = model_server_config_pb2.ModelServerConfig()
            >>> _ = config.model_config_list.config.add(name="m")
            >>> ServerCore(ServerOptions()).validate_config(config)
            Traceback (most recent call last):
            ...
            kerascnn.server.status.ServingError: Model m has no base_path
        """
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
        aspired = model.aspired(version_numbers(model.base_path))
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
            if model.failed.get(version) == version_stamp(model.base_path / str(version)):
                continue  # retried only once the folder changes (a copy finished, a fix)
            self._load(model, version)
        # Unload what the policy dropped, never leaving the model without a serving version.
        while True:
            serving = {v for v, st in model.versions.items() if st.state == State.AVAILABLE}
            version = next_version_to_unload(serving, aspired)
            if version is None:
                break
            self._unload(model, version)

    def _load(self, model: Model, version: int):
        name = model.config.name
        with self._lock:
            state = model.versions[version] = VersionState(state=State.LOADING)
        path = model.base_path / str(version)
        log.info("Loading servable: {name: %s version: %d} from %s", name, version, path)
        try:
            servable = self._load_with_retries(name, version, path)
        except Exception as exc:
            err = from_tensorflow(exc)
            with self._lock:
                state.state = State.END
                state.error_code = err.code if err.code != "OK" else "UNKNOWN"
                state.error_message = err.message
            model.failed[version] = version_stamp(path)
            log.error("Loading servable %s version %d failed: %s", name, version, err.message)
            return
        with self._lock:
            state.servable = servable
            state.state = State.AVAILABLE
        log.info("Successfully loaded servable version {name: %s version: %d}", name, version)

    def _load_with_retries(self, name: str, version: int, path: Path):
        """Load and warm up one version; as TF Serving does, a failed attempt is tried again
        ``--max_num_load_retries`` times, ``--load_retry_interval_micros`` apart (a model copied
        in by a slow job often becomes whole meanwhile). Stopping the server ends the wait."""
        options = self.options
        attempts = 1 + max(0, options.max_num_load_retries)
        for attempt in range(1, attempts + 1):
            try:
                servable = Servable(
                    name, version, path, batching=self.batching, metrics=self.metrics,
                    tags=options.saved_model_tag_set(),
                )
                if options.enable_model_warmup:
                    servable.warmup(options.num_request_iterations_for_warmup)
                return servable
            except Exception as exc:
                if attempt == attempts:
                    raise
                wait = options.load_retry_interval_seconds()
                log.warning(
                    "Loading servable %s version %d failed (attempt %d of %d): %s; retrying in "
                    "%g s (--max_num_load_retries, --load_retry_interval_micros)",
                    name, version, attempt, attempts, from_tensorflow(exc).message, wait,
                )
                if self._stop.wait(wait):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

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
