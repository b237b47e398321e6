"""TF Serving's REST API on aiohttp (``model_servers/http_rest_api_handler.cc``).

Paths and dispatch follow ``http_rest_api_util.cc``: everything under ``/v1/`` (any case) is
handled by the API and answers ``{"error": ...}`` on failure (``Malformed request: POST /v1/foo``
when the path or verb is not one of the API's); other paths are 404 with an empty body. Model
work runs on a thread pool so the event loop keeps accepting; a request that takes longer than
``--rest-api-timeout-in-ms`` answers 504. Bodies over ``--max-request-bytes`` are refused with
413 from the ``Content-Length`` header, or while streaming, never buffered whole.

Example:
    $ curl -d '{"instances": [[1.0, 2.0]]}' http://127.0.0.1:8501/v1/models/m:predict
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_to_bytes

from aiohttp import web
from google.protobuf import json_format

from kerascnn.contract import DEFAULT_SIGNATURE
from kerascnn.server import json_example, json_tensor, jsonparse
from kerascnn.server.servable import model_spec_for
from kerascnn.server.server_core import ServerCore
from kerascnn.server.status import ServingError, as_serving_error, invalid

PREDICT_RE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
STATUS_RE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE,
)
API_RE = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
JSON_HEADERS = {"Content-Type": "application/json"}
# http_rest_api_util.cc AddCORSHeaders (--rest_api_enable_cors_support).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}
ORIGIN_RE = re.compile(r"https?://")


def _decode(text: str) -> str:
    """curl_easy_unescape: percent-decoding only ('+' stays '+')."""
    return unquote_to_bytes(text).decode("utf-8", "replace")


class RestApi:
    """The aiohttp application for one ServerCore."""

    def __init__(
        self,
        core: ServerCore,
        *,
        timeout_ms: int,
        max_request_bytes: int,
        num_threads: int,
        prometheus_path: str | None,
        cors: bool = False,
    ):
        self.core = core
        self.cors = cors
        self.metrics = core.metrics
        self.timeout = timeout_ms / 1000 if timeout_ms and timeout_ms > 0 else None
        self.max_request_bytes = max_request_bytes
        self.prometheus_path = prometheus_path
        self.pool = ThreadPoolExecutor(max_workers=max(1, num_threads), thread_name_prefix="rest")
        self.app = web.Application(client_max_size=max_request_bytes)
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path.split("?", 1)[0]
        if self.prometheus_path is not None and raw == self.prometheus_path:
            return web.Response(
                body=self.metrics.render().encode(), headers={"Content-Type": "text/plain"}
            )
        if not API_RE.fullmatch(raw):
            return web.Response(status=404)
        if request.method == "OPTIONS":
            return self._preflight(request)
        response = await self._api(request, raw)
        if self.cors:
            response.headers.update(CORS_HEADERS)
        return response

    def _preflight(self, request: web.Request) -> web.Response:
        """A CORS preflight, as TF Serving's http_server.cc answers it: 200 when the Origin
        header holds an http(s) URL, else 400; an empty body either way, and the CORS headers
        only with ``--rest_api_enable_cors_support``."""
        ok = ORIGIN_RE.search(request.headers.get("Origin", ""))
        self.metrics.record_request(
            "", "OK" if ok else "FAILED_PRECONDITION", api="", entrypoint="REST", micros=0
        )
        return web.Response(status=200 if ok else 400, headers=CORS_HEADERS if self.cors else None)

    async def _api(self, request: web.Request, path: str) -> web.Response:
        start = time.monotonic()
        method = request.method
        model_name, api = "", ""
        try:
            body = await self._read_body(request)
            model_name, api, call = self._route(method, path, body)
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self.pool, call)
            try:
                payload = await asyncio.wait_for(asyncio.shield(future), self.timeout)
            except asyncio.TimeoutError:
                raise ServingError("DEADLINE_EXCEEDED", "Deadline Exceeded") from None
            status = "OK"
            response = web.Response(body=payload, headers=JSON_HEADERS)
        except web.HTTPRequestEntityTooLarge:
            status = "RESOURCE_EXHAUSTED"
            response = self._too_large()
        except Exception as exc:  # never a traceback to the client, never a dead server
            err = as_serving_error(exc)
            status = err.code
            response = web.Response(
                status=err.http_status,
                body=json_tensor.error_to_json(err.message),
                headers=JSON_HEADERS,
            )
        self.metrics.record_request_since(start, model_name, status, api=api, entrypoint="REST")
        return response

    def _too_large(self):
        return web.Response(
            status=413,
            body=json_tensor.error_to_json(
                f"Request body is larger than the limit of {self.max_request_bytes} bytes "
                "(--max-request-bytes)"
            ),
            headers=JSON_HEADERS,
        )

    async def _read_body(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_request_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self.max_request_bytes, actual_size=length)
        if not request.can_read_body:
            return b""
        return await request.read()  # aiohttp stops at client_max_size while streaming

    # -- routing (ParseModelInfo) --------------------------------------------------------
    def _route(self, method: str, path: str, body: bytes):
        malformed = invalid(f"Malformed request: {method} {path}")
        if method == "POST":
            m = PREDICT_RE.fullmatch(path)
            if not m:
                raise malformed
            name, version, label, verb = m.groups()
            verb = verb.lower()
        elif method == "GET":
            m = STATUS_RE.fullmatch(path)
            if not m:
                raise malformed
            name, version, label, sub = m.groups()
            verb = "metadata" if sub else "status"
        else:
            raise malformed
        name = _decode(name) if name else ""
        version_num = None
        if version:
            try:
                version_num = int(version)
                if version_num > 2**63 - 1:
                    raise ValueError
            except ValueError:
                raise invalid(f"Failed to convert version: {version} to numeric.") from None
        label = _decode(label) if label else None
        if version_num is not None and label is not None:  # unreachable by the regex
            raise invalid(
                f"Both model version ({version_num}) and model version label "
                f"({label}) cannot be supplied."
            )
        handlers = {
            "predict": self._predict,
            "classify": self._classify,
            "regress": self._regress,
            "metadata": self._metadata,
            "status": self._status,
        }
        handler = handlers[verb]
        if verb in ("metadata", "status") and not name:
            raise invalid("Missing model name in request.")
        return (
            name,
            (verb if method == "POST" else ""),
            (lambda: handler(name, version_num, label, body)),
        )

    # -- handlers (run on the thread pool) -----------------------------------------------
    def _parse(self, body: bytes):
        if not body:
            raise invalid("JSON Parse error: The document is empty")
        try:
            doc = jsonparse.parse(body)
        except jsonparse.JsonParseError as exc:
            raise invalid(f"JSON Parse error: {exc}") from None
        if not isinstance(doc, jsonparse.JsonObject):
            raise invalid(f"JSON Value: {jsonparse.debug_string(doc)} Is not object")
        return doc

    def _predict(self, name, version, label, body) -> bytes:
        doc = self._parse(body)
        signature_name = json_tensor.signature_name_from_json(doc)
        with self.core.handle(name, version, label) as servable:
            key = signature_name or DEFAULT_SIGNATURE
            sig = servable.signatures.get(key)
            if sig is None:
                raise invalid(f'Serving signature name: "{key}" not found in signature def')
            dtypes = sig.input_dtypes
            if not dtypes:
                raise invalid(
                    f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
                )
            arrays, fmt = json_tensor.predict_request_from_json(doc, dtypes)
            outputs = servable.predict(signature_name, arrays)
        return json_tensor.predict_response_to_json(outputs, fmt)

    def _classify(self, name, version, label, body) -> bytes:
        doc = self._parse(body)
        signature_name = json_tensor.signature_name_from_json(doc)
        inp = json_example.examples_from_json(doc, "classify")
        with self.core.handle(name, version, label) as servable:
            result = servable.classify(signature_name, inp)
        return json_example.classification_result_to_json(result)

    def _regress(self, name, version, label, body) -> bytes:
        doc = self._parse(body)
        signature_name = json_tensor.signature_name_from_json(doc)
        inp = json_example.examples_from_json(doc, "classify")  # TF Serving's message says classify
        with self.core.handle(name, version, label) as servable:
            result = servable.regress(signature_name, inp)
        return json_example.regression_result_to_json(result)

    def _status(self, name, version, label, body) -> bytes:
        response = self.core.model_status(name, version, label)
        return _proto_json(response, preserve=False).encode()

    def _metadata(self, name, version, label, body) -> bytes:
        with self.core.handle(name, version, label) as servable:
            spec = model_spec_for(servable)
            sdm = servable.signature_def_map()
        # TF Serving concatenates the two JSON documents exactly like this.
        text = (
            '{\n"model_spec":' + _proto_json(spec, preserve=True) + ',\n"metadata": {'
            '"signature_def": ' + _proto_json(sdm, preserve=True) + "}\n}\n"
        )
        return text.encode()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=False)


def _proto_json(message, *, preserve: bool) -> str:
    return json_format.MessageToJson(
        message,
        preserving_proto_field_name=preserve,
        always_print_fields_with_no_presence=True,
        indent=1,
    )
