"""The REST transport: TF Serving's ``/v1/models/NAME[/versions/N|/labels/L]:predict`` API.

Example:
    >>> RestBackend("http://localhost:8501", model_name="digits", version=None, label=None,
    ...             signature="serving_default", timeout=30).model_path  # doctest: +SKIP
    'http://localhost:8501/v1/models/digits'
"""

from __future__ import annotations

import base64

import numpy as np

from kerascnn.client.prediction import ServerError, tf_error_line
from kerascnn.client.retry import ServerUnavailable
from kerascnn.contract import CLASS_NAMES_SIGNATURE, PIXELS_SIGNATURE
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
        """``(height, width, channels)`` of the model's pixel input, or None if it has none."""
        meta = self._call("GET", self.model_path + "/metadata")
        sig = meta["metadata"]["signature_def"]["signature_def"].get(PIXELS_SIGNATURE)
        if sig is None or "images" not in sig.get("inputs", {}):
            return None
        dims = sig["inputs"]["images"]["tensor_shape"]["dim"]
        return tuple(int(d["size"]) for d in dims[1:])


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
