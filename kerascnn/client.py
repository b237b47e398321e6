"""One client for a local SavedModel, TF Serving's REST API and TF Serving's gRPC API.

``Client(target)`` picks the transport from the target:

* a SavedModel directory, a ``BASE/NAME`` directory (newest version), a base directory holding
  one model, or a run folder (the export graph is built in memory; nothing is written): runs
  locally, no server;
* ``http://host:8501``: TF Serving REST, ``POST /v1/models/NAME[/versions/N|/labels/L]:predict``
  with ``{"signature_name": ..., "instances": [{"b64": ...}]}``;
* ``grpc://host:8500``: ``PredictionService/Predict`` with TensorProtos;
* ``HOST:PORT`` without a scheme (and not an existing path): gRPC when PORT is 8500, TF
  Serving's gRPC port, else REST (see :func:`server_url`).

Images are paths, encoded bytes, Pillow images or NumPy arrays (``H x W`` or ``H x W x C``,
``uint8`` or numbers in 0..255). Every image is normalised client-side first (EXIF rotation, first GIF frame, 8-bit gray/RGB
PNG; see :mod:`kerascnn.images`), so all three targets decode the same bytes and answer alike.

Example:
    >>> from kerascnn.client import Client
    >>> client = Client("http://localhost:8501", model_name="digits")  # doctest: +SKIP
    >>> [p.label for p in client.predict(["three.png"])]  # doctest: +SKIP
    ['3']
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.contract import (
    CLASS_NAMES_SIGNATURE,
    DEFAULT_SIGNATURE,
    PIXELS_SIGNATURE,
    PREDICT_SIGNATURES,
)
from kerascnn.errors import KerasCNNError, UsageError
from kerascnn.images import ImageError, image_to_pixels, normalize_image
from kerascnn.loading import load_model, resolve_local_model

GRPC_MAX_MESSAGE = 256 * 1024 * 1024  # far above gRPC's 4 MiB default
GRPC_PORT = 8500  # TF Serving's gRPC port; a scheme-less HOST:PORT on any other port means REST
_SCHEMES = ("http://", "https://", "grpc://")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})/?$")
_SERVER_FORMS = "use http://host:8501 (REST) or grpc://host:8500 (gRPC), or HOST:PORT"


def server_url(address: str) -> str:
    """The server URL ``address`` means: URLs stay as they are, ``HOST:PORT`` gets a scheme.

    The rule for ``HOST:PORT``: port 8500 (TF Serving's gRPC port) means ``grpc://``, any other
    port ``http://`` (REST, TF Serving's 8501 included). Write the scheme to serve gRPC on
    another port. Anything else is a one-line UsageError.

    Example:
        >>> server_url("localhost:8501"), server_url("127.0.0.1:8500")
        ('http://localhost:8501', 'grpc://127.0.0.1:8500')
        >>> server_url("grpc://models:9000")
        'grpc://models:9000'
        >>> server_url("localhost")
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: 'localhost' is not a server address: use http://host:8501 (REST) or grpc://host:8500 (gRPC), or HOST:PORT
    """
    address = os.fspath(address).strip()
    if address.lower().startswith(_SCHEMES):
        return address
    if "://" in address:
        raise UsageError(f"unsupported server URL {address!r}: {_SERVER_FORMS}")
    match = _HOST_PORT.match(address)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise UsageError(f"{address!r} is not a server address: {_SERVER_FORMS}")
    host, port = match.group(1), int(match.group(2))
    return f"{'grpc' if port == GRPC_PORT else 'http'}://{host}:{port}"


class ServerError(KerasCNNError):
    """The server answered with an error about the request (bad image, too many pixels...)."""


@dataclass
class Prediction:
    """One image's answer (or the one-line reason it has none).

    Example:
        >>> p = Prediction("a.png", np.array([0.1, 0.9]), 1, "dog", ["cat", "dog"])
        >>> p.top(1)
        [('dog', 1, 0.9...)]
    """

    image: str
    probabilities: np.ndarray | None = None
    class_id: int | None = None
    label: str | None = None
    class_names: list[str] | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def top(self, k: int = 5) -> list[tuple[str, int, float]]:
        """The ``k`` most probable classes as ``(label, class_id, probability)``, best first."""
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        names = self.class_names
        return [
            (names[i] if names and i < len(names) else str(i), int(i), float(self.probabilities[i]))
            for i in order
        ]

    def to_dict(self, k: int = 5) -> dict:
        """JSON-ready form (what ``kerascnn predict --json`` prints per line)."""
        if self.error is not None:
            return {"image": self.image, "error": self.error}
        return {
            "image": self.image,
            "label": self.label,
            "class_id": self.class_id,
            "probability": float(self.probabilities[self.class_id]),
            "top_k": [
                {"label": label, "class_id": cid, "probability": prob}
                for label, cid, prob in self.top(k)
            ],
        }


# --------------------------------------------------------------------------- local targets
class _LocalBackend:
    def __init__(self, target, *, model_name, version, label, signature):
        if label is not None:
            raise UsageError("--label needs a server (version labels live in models.config)")
        path = Path(target)
        self.description = str(path)
        if (
            (path / "config.yaml").is_file()
            or (path / "weights").is_dir()
            or path.suffix == ".keras"
        ):
            if model_name is not None or version is not None:
                raise UsageError(
                    f"--model-name and --version pick an export under a model base directory; "
                    f"{path} is a {'.keras file' if path.suffix == '.keras' else 'run folder'}"
                )
            from kerascnn.export import build_serving_module

            module = build_serving_module(path)
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
                shape = spec.structured_input_signature[1]["images"].shape
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

    def class_names(self):
        if self._names is None:
            import tensorflow as tf

            fn = self._functions.get(CLASS_NAMES_SIGNATURE)
            if fn is None:
                return None
            # probabilities' width is the class count; ask for every id.
            count = self._count_classes()
            labels = fn(class_id=tf.range(count, dtype=tf.int64))["label"].numpy()
            self._names = [s.decode("utf-8") for s in labels]
        return self._names

    def _count_classes(self):
        fn = self._functions[self.signature]
        return int(fn.structured_outputs["probabilities"].shape[-1])

    def predict(self, payload):
        import tensorflow as tf

        fn = self._functions[self.signature]
        try:
            if self.signature == PIXELS_SIGNATURE:
                out = fn(images=tf.constant(np.stack(payload), tf.float32))
            else:
                out = fn(image_bytes=tf.constant(payload, tf.string))
        except tf.errors.InvalidArgumentError as exc:
            raise ServerError(_tf_error_line(exc)) from None
        return _rows(
            out["probabilities"].numpy(),
            out["class_id"].numpy(),
            [s.decode("utf-8") for s in out["label"].numpy()],
        )


def _check_resolved(resolved: Path, model_name, version) -> None:
    """Refuse a ``model_name`` / ``version`` that the local export found does not match, rather
    than answer with another model than the one asked for."""
    if model_name is not None and resolved.parent.name != model_name:
        raise UsageError(f"--model-name {model_name!r} does not match the export {resolved}")
    if version is not None and resolved.name.isdigit() and int(resolved.name) != int(version):
        raise UsageError(f"--version {version} does not match the export {resolved}")


def _tf_error_line(exc) -> str:
    """The useful line of a TF runtime error text (the assertion's message), for one-line output."""
    text = exc if isinstance(exc, str) else getattr(exc, "message", str(exc))
    for line in text.splitlines():
        if "assertion failed:" in line:
            return line.strip()
    for line in text.splitlines():
        if line.strip() and "Graph execution error" not in line and "Detected at node" not in line:
            return line.strip()
    return text.strip()


def _rows(probabilities, class_ids, labels):
    return [
        (np.asarray(p, dtype="float32"), int(c), str(lab))
        for p, c, lab in zip(probabilities, class_ids, labels)
    ]


# --------------------------------------------------------------------------- REST
class _RestBackend:
    def __init__(self, url, *, model_name, version, label, signature, timeout):
        import requests

        self.url = url.rstrip("/")
        self.model_name = model_name
        self.signature = signature
        self.timeout = timeout
        self.session = requests.Session()
        path = f"/v1/models/{model_name}"
        if version is not None:
            path += f"/versions/{int(version)}"
        elif label is not None:
            path += f"/labels/{label}"
        self.model_path = self.url + path
        self.description = self.model_path
        self._names = None
        self.input_shape = None

    def _call(self, method, url, **kwargs):
        import requests

        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError:
            raise KerasCNNError(f"cannot reach the server at {self.url} (is it running?)") from None
        except requests.Timeout:
            raise KerasCNNError(
                f"the server at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        if response.status_code == 200:
            return response.json()
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text.strip() or response.reason
        if response.status_code == 404:
            raise UsageError(f"{self.url}: model {self.model_name!r} not found: {message}")
        raise ServerError(f"server error {response.status_code}: {_tf_error_line(str(message))}")

    def _predict_request(self, signature, instances):
        body = {"signature_name": signature, "instances": instances}
        return self._call("POST", self.model_path + ":predict", json=body)["predictions"]

    def class_names(self):
        if self._names is None:
            count = self._class_count
            if count is None:
                return None
            rows = self._predict_request(CLASS_NAMES_SIGNATURE, list(range(count)))
            self._names = [r["label"] if isinstance(r, dict) else r for r in rows]
        return self._names

    def predict(self, payload):
        if self.signature == PIXELS_SIGNATURE:
            instances = [p.tolist() for p in payload]
        else:
            instances = [{"b64": base64.b64encode(b).decode("ascii")} for b in payload]
        rows = self._predict_request(self.signature, instances)
        self._class_count = len(rows[0]["probabilities"]) if rows else None
        return [
            (np.asarray(r["probabilities"], "float32"), int(r["class_id"]), r["label"])
            for r in rows
        ]

    _class_count = None

    def fetch_input_shape(self):
        meta = self._call("GET", self.model_path + "/metadata")
        sig = meta["metadata"]["signature_def"]["signature_def"][self.signature]
        dims = sig["inputs"]["images"]["tensor_shape"]["dim"]
        return tuple(int(d["size"]) for d in dims[1:])


# --------------------------------------------------------------------------- gRPC
class _GrpcBackend:
    def __init__(self, target, *, model_name, version, label, signature, timeout):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.target = target
        self.url = f"grpc://{target}"
        self.model_name = model_name
        self.version = version
        self.label = label
        self.signature = signature
        self.timeout = timeout
        self.description = f"{self.url} model {model_name!r}"
        options = [
            ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
            ("grpc.max_send_message_length", GRPC_MAX_MESSAGE),
        ]
        self.channel = grpc.insecure_channel(target, options=options)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self._names = None
        self._class_count = None
        self.input_shape = None

    def _spec(self, signature):
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=self.model_name, signature_name=signature)
        if self.version is not None:
            spec.version.value = int(self.version)
        elif self.label is not None:
            spec.version_label = self.label
        return spec

    def _rpc(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise KerasCNNError(f"cannot reach the server at {self.url} ({details})") from None
            if code == grpc.StatusCode.NOT_FOUND:
                raise UsageError(
                    f"{self.url}: model {self.model_name!r} not found: {details}"
                ) from None
            raise ServerError(
                f"server error {code.name}: {_tf_error_line(details or '')}"
            ) from None

    def _predict_request(self, signature, input_name, value):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(model_spec=self._spec(signature))
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
        response = self._rpc(self.stub.Predict, request)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def class_names(self):
        if self._names is None:
            if self._class_count is None:
                return None
            out = self._predict_request(
                CLASS_NAMES_SIGNATURE, "class_id", np.arange(self._class_count, dtype="int64")
            )
            self._names = [s.decode("utf-8") for s in out["label"]]
        return self._names

    def predict(self, payload):
        if self.signature == PIXELS_SIGNATURE:
            out = self._predict_request(
                self.signature, "images", np.stack(payload).astype("float32")
            )
        else:
            out = self._predict_request(
                self.signature, "image_bytes", np.array(payload, dtype=object)
            )
        self._class_count = out["probabilities"].shape[-1]
        return _rows(
            out["probabilities"], out["class_id"], [s.decode("utf-8") for s in out["label"]]
        )

    def fetch_input_shape(self):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self._spec(self.signature)
        )
        request.metadata_field.append("signature_def")
        response = self._rpc(self.stub.GetModelMetadata, request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        dims = sig_map.signature_def[self.signature].inputs["images"].tensor_shape.dim
        return tuple(int(d.size) for d in dims[1:])


# --------------------------------------------------------------------------- the client
class Client:
    """Predict with a local SavedModel / run folder, a TF Serving REST URL or a gRPC target.

    Args:
        target: a SavedModel directory, ``BASE/NAME`` directory, base directory with one model,
            run folder or ``.keras`` file; ``http(s)://host:8501``; ``grpc://host:8500``; or
            ``HOST:PORT`` (not an existing path): gRPC when PORT is 8500, else REST.
        model_name: the served model's name (required for servers; picks a model in a base
            directory).
        version / label: a specific version number or version label (``label`` needs a server).
        signature: ``serving_default`` (encoded images) or ``serving_pixels`` (pixel arrays).
        timeout: seconds per request to a server.

    Example:
        >>> client = Client("grpc://localhost:8500", model_name="digits", label="stable")  # doctest: +SKIP
        >>> client.predict([open("7.png", "rb").read()])[0].label  # doctest: +SKIP
        '7'
    """

    def __init__(
        self,
        target,
        *,
        model_name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        signature: str = DEFAULT_SIGNATURE,
        timeout: float = 30.0,
    ):
        if version is not None and label is not None:
            raise UsageError("pass either --version or --label, not both")
        if signature not in PREDICT_SIGNATURES:
            from kerascnn.errors import unknown_name

            raise unknown_name("signature", signature, PREDICT_SIGNATURES)
        target = os.fspath(target)
        if "://" in target or (_HOST_PORT.match(target) and not Path(target).exists()):
            target = server_url(target)
        self.target = target
        self.signature = signature
        lowered = target.lower()
        if lowered.startswith(_SCHEMES):
            if not model_name:
                raise UsageError(
                    f"pass --model-name: the server at {target} can serve several models"
                )
            if lowered.startswith("grpc://"):
                self._backend = _GrpcBackend(
                    target[len("grpc://") :].rstrip("/"),
                    model_name=model_name,
                    version=version,
                    label=label,
                    signature=signature,
                    timeout=timeout,
                )
            else:
                self._backend = _RestBackend(
                    target,
                    model_name=model_name,
                    version=version,
                    label=label,
                    signature=signature,
                    timeout=timeout,
                )
        else:
            self._backend = _LocalBackend(
                target, model_name=model_name, version=version, label=label, signature=signature
            )

    @property
    def description(self) -> str:
        """Where predictions come from (a path or URL), for messages."""
        return self._backend.description

    def _input_shape(self):
        shape = self._backend.input_shape
        if shape is None:
            shape = self._backend.fetch_input_shape()
            self._backend.input_shape = shape
        return shape

    def _prepare(self, image, name):
        if self.signature == PIXELS_SIGNATURE:
            return image_to_pixels(image, self._input_shape(), name=name)
        return normalize_image(image, name=name)

    def predict(
        self,
        images: Sequence,
        *,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """Predict images; one :class:`Prediction` each, in order.

        ``images`` is a list of paths, encoded bytes, Pillow images or NumPy arrays (``H x W`` or
        ``H x W x C`` with C = 1, 3 or 4; ``uint8`` or numbers in 0..255), or one image on its own,
        or a 4-D array (a batch). Arrays and Pillow images are named ``<array #i>`` /
        ``<image #i>`` in the answers, bytes ``<bytes #i>``.

        A missing or unreadable file, or an image the server rejects (e.g. over the pixel
        limit), gets a Prediction with ``error`` set; the others still get answers. An
        unreachable server or unknown model raises, since no image can be answered.
        ``on_batch(n)`` is called after each batch with the number of images it covered.

        Example:
            >>> preds = Client("serving/models/digits").predict(["3.png", "missing.png"])  # doctest: +SKIP
            >>> [p.label or p.error for p in preds]  # doctest: +SKIP
            ['3', 'missing.png: no such file']
        """
        if batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
        images = _image_list(images)
        results = [Prediction(image=_image_name(i, im)) for i, im in enumerate(images)]
        pending = []
        for index, image in enumerate(images):
            try:
                pending.append((index, self._prepare(image, results[index].image)))
            except ImageError as exc:
                results[index].error = str(exc)
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            self._predict_chunk(chunk, results)
            if on_batch is not None:
                on_batch(len(chunk))
        failed = len(images) - len(pending)
        if on_batch is not None and failed:
            on_batch(failed)
        names = self.class_names() if any(r.ok for r in results) else None
        for result in results:
            result.class_names = names
        return results

    def _predict_chunk(self, chunk, results):
        try:
            rows = self._backend.predict([payload for _, payload in chunk])
        except ServerError as exc:
            if len(chunk) == 1:
                results[chunk[0][0]].error = f"{results[chunk[0][0]].image}: {exc}"
                return
            for item in chunk:  # find which image the server refused; answer the rest
                self._predict_chunk([item], results)
            return
        for (index, _), (probabilities, class_id, label) in zip(chunk, rows):
            results[index].probabilities = probabilities
            results[index].class_id = class_id
            results[index].label = label

    def class_names(self) -> list[str] | None:
        """The model's class names in index order (from its ``class_names`` signature)."""
        try:
            return self._backend.class_names()
        except ServerError:
            return None  # a model exported elsewhere without that signature: ids only


def _image_list(images) -> list:
    """``images`` as a list of single images: one image on its own (a path, bytes, Pillow image
    or 2-D/3-D array) becomes a list of one, a 4-D array a list of its images."""
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return list(images)
        if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4)):
            return [images]
        raise UsageError(
            f"a single array of shape {images.shape} is neither an image (H x W or H x W x C with "
            "C = 1, 3 or 4) nor a batch (N x H x W x C): pass a list of images"
        )
    if isinstance(images, str | bytes | bytearray | os.PathLike) or _is_pil_image(images):
        return [images]
    return list(images)


def _is_pil_image(value) -> bool:
    from PIL import Image

    return isinstance(value, Image.Image)


def _image_name(index: int, image) -> str:
    """What answers and errors call an image: its path, or its kind and position."""
    if isinstance(image, bytes | bytearray):
        return f"<bytes #{index}>"
    if isinstance(image, np.ndarray):
        return f"<array #{index}>"
    if _is_pil_image(image):
        return f"<image #{index}>"
    try:
        return os.fspath(image)
    except TypeError:
        raise UsageError(
            f"image #{index} is a {type(image).__name__}: pass a path, encoded bytes, a Pillow "
            "image or a NumPy array"
        ) from None


def format_table(predictions: Sequence[Prediction], top_k: int = 5) -> str:
    """Human-readable top-k table for each answered image (errors are reported separately).

    Example:
        >>> print(format_table([Prediction("a.png", np.array([0.2, 0.8]), 1, "dog", ["cat", "dog"])], 2))
        a.png  ->  dog (80.00%)
           1. dog              0.8000  ################
           2. cat              0.2000  ####
    """
    lines = []
    for pred in predictions:
        if not pred.ok:
            continue
        best = float(pred.probabilities[pred.class_id])
        lines.append(f"{pred.image}  ->  {pred.label} ({best:.2%})")
        for rank, (label, _, prob) in enumerate(pred.top(top_k), 1):
            bar = "#" * int(round(prob * 20))
            lines.append(f"   {rank}. {label:<16} {prob:.4f}  {bar}")
    return "\n".join(lines)


def prediction_json_lines(predictions: Sequence[Prediction], top_k: int = 5) -> str:
    """One JSON object per line per image (errors included as ``{"image", "error"}``)."""
    return "\n".join(json.dumps(p.to_dict(top_k)) for p in predictions)
