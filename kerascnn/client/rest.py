"""The REST transport: TF Serving's ``/v1/models/NAME[/versions/N|/labels/L]:predict`` API.

Example:
    >>> RestBackend("http://localhost:8501", model_name="digits", version=None, label=None,
    ...             signature="serving_default", timeout=30).model_path  # doctest: +SKIP
    'http://localhost:8501/v1/models/digits'
"""

from __future__ import annotations

import base64

import numpy as np

from kerascnn.client.prediction import (
    MissingSignature,
    ServerError,
    prediction_rows,
    tf_error_line,
)
from kerascnn.client.retry import ServerUnavailable
from kerascnn.contract import (
    CLASS_ID,
    CLASS_NAMES_SIGNATURE,
    LABEL_OUTPUT,
    PIXELS_INPUT,
    PIXELS_SIGNATURE,
    PROBABILITIES_OUTPUT,
)
from kerascnn.errors import KerasCNNError, UsageError


class RestBackend:
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
        self._class_count = None
        self._signature_defs = None
        self.input_shape = None
        self._answered = False  # once the server answered, a lost connection is worth a retry

    def _call(self, method, url, **kwargs):
        import requests

        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            if self._answered or _dropped_mid_request(exc):
                raise ServerUnavailable(self.url, f"connection lost: {_wrapped_errors(exc)[-1]!r}") from None
            raise KerasCNNError(f"cannot reach the server at {self.url} (is it running?)") from None
        except requests.Timeout:
            raise KerasCNNError(
                f"the server at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        self._answered = True
        if response.status_code == 200:
            return response.json()
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text.strip() or response.reason
        if response.status_code == 404:
            raise UsageError(f"{self.url}: model {self.model_name!r} not found: {message}")
        if response.status_code == 503:  # TF Serving's UNAVAILABLE: loading, or queue full
            raise ServerUnavailable(self.url, f"HTTP 503: {tf_error_line(str(message))}")
        raise ServerError(f"server error {response.status_code}: {tf_error_line(str(message))}")

    def _predict(self, body: dict, signature: str, answer: str):
        body = {"signature_name": signature, **body}
        try:
            return self._call("POST", self.model_path + ":predict", json=body)[answer]
        except ServerError as exc:
            raise MissingSignature.from_server(exc, signature) from None

    def call_signature(self, signature: str, inputs: dict) -> dict:
        """Run ``signature`` on ``inputs`` ({input name: NumPy array of its dtype, a batch})
        with one columnar ``:predict`` request; {output name: NumPy array} back, string outputs
        as bytes (numbers as JSON carries them: float64, int64). A signature the model lacks
        raises :class:`MissingSignature`, a refused input :class:`ServerError`."""
        columns = {name: json_value(value) for name, value in inputs.items()}
        outputs = self._predict({"inputs": columns}, signature, "outputs")
        if not isinstance(outputs, dict) or set(outputs) == {"b64"}:
            # TF Serving leaves out the name of a signature's only output.
            outputs = {self._output_names(signature)[0]: outputs}
        return {name: array_from_json(value) for name, value in outputs.items()}

    def _output_names(self, signature: str) -> list[str]:
        return sorted(self._signature_def(signature).get("outputs", {}))

    def _signature_def(self, signature: str) -> dict:
        """``signature``'s SignatureDef from the model's metadata, asked once per client."""
        if self._signature_defs is None:
            meta = self._call("GET", self.model_path + "/metadata")
            self._signature_defs = meta["metadata"]["signature_def"]["signature_def"]
        return self._signature_defs.get(signature, {})

    def class_names(self):
        if self._names is None:
            count = self._class_count
            if count is None:
                return None
            rows = self._predict({"instances": list(range(count))}, CLASS_NAMES_SIGNATURE,
                                 "predictions")
            self._names = [r[LABEL_OUTPUT] if isinstance(r, dict) else r for r in rows]
        return self._names

    def predict(self, payload):
        rows = self._predict({"instances": json_value(payload)}, self.signature, "predictions")
        self._class_count = len(rows[0][PROBABILITIES_OUTPUT]) if rows else None
        outputs = (PROBABILITIES_OUTPUT, CLASS_ID, LABEL_OUTPUT)
        return prediction_rows({name: [row[name] for row in rows] for name in outputs})

    def fetch_input_shape(self):
        """``(height, width, channels)`` of the model's pixel input, or None if it has none."""
        inputs = self._signature_def(PIXELS_SIGNATURE).get("inputs", {})
        if PIXELS_INPUT not in inputs:
            return None
        return tuple(int(d["size"]) for d in inputs[PIXELS_INPUT]["tensor_shape"]["dim"][1:])


def json_value(value):
    """A tensor value as TF Serving's REST API reads it: bytes as ``{"b64": ...}``, arrays as
    nested lists.

    Example:
        >>> json_value(np.array([b"hi", b"yo"], dtype=object))
        [{'b64': 'aGk='}, {'b64': 'eW8='}]
        >>> json_value([np.array([1.5, 2.0], "float32")])
        [[1.5, 2.0]]
    """
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if isinstance(value, bytes | bytearray):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value


def array_from_json(value) -> np.ndarray:
    """An output as TF Serving's REST API writes it, as a NumPy array: ``{"b64": ...}`` and text
    become bytes (in an object array, as TensorFlow gives strings), numbers stay numbers.

    Example:
        >>> array_from_json([{"b64": "aGk="}, "yo"])
        array([b'hi', b'yo'], dtype=object)
        >>> array_from_json([[0.5, 1.0]]).shape
        (1, 2)
    """
    def convert(item):
        if isinstance(item, dict) and set(item) == {"b64"}:
            return base64.b64decode(item["b64"])
        if isinstance(item, str):
            return item.encode("utf-8")
        if isinstance(item, list):
            return [convert(element) for element in item]
        return item

    converted = convert(value)
    array = np.array(converted)
    if array.dtype.kind in "SU":  # NumPy's fixed-width bytes would drop trailing NUL bytes
        array = np.array(converted, dtype=object)
    return array


def _wrapped_errors(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors inside it, outermost first: requests and urllib3 nest the socket's
    error in ``args`` and ``reason`` (``ConnectionError(MaxRetryError(reason=...))``)."""
    chain: list[BaseException] = []
    while isinstance(exc, BaseException) and exc not in chain and len(chain) < 10:
        chain.append(exc)
        reason = getattr(exc, "reason", None)
        nested = [arg for arg in exc.args if isinstance(arg, BaseException)]
        exc = reason if isinstance(reason, BaseException) else (nested[-1] if nested else exc.__cause__)
    return chain


def _dropped_mid_request(exc) -> bool:
    """Whether a connection was made and then lost (reset, closed without an answer), as
    opposed to never made (refused, unknown host): only the first is worth another try."""
    from urllib3.exceptions import NewConnectionError, ProtocolError

    for error in _wrapped_errors(exc):
        if isinstance(error, NewConnectionError):
            return False
        if isinstance(error, ProtocolError):
            return True
    return False
