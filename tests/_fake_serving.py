"""Loopback stand-ins for TF Serving that record what a client sends and answer as scripted:
503s, UNAVAILABLE, a connection dropped mid-request, then TF Serving's own answer shapes.

They run as threads of the test process (no child process to stop) and exist for what a real
server cannot be made to do on cue. Each answers every image with the same probabilities, so a
test asserts on what arrived, not on what a model thinks.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROBABILITIES = [0.2, 0.3, 0.5]
LABELS = ["a", "b", "c"]
DROP = "drop"  # a scripted answer: close the connection without answering


class FakeRestServing:
    """TF Serving's REST API on 127.0.0.1: ``with FakeRestServing(answers=[503, 503]) as fake``.

    ``answers`` are used up one per ``serving_default`` predict request (an HTTP status, or
    :data:`DROP`); after them every request gets 200. ``pixel_input`` (H, W, C) is what the
    metadata reports for ``serving_pixels`` (None: metadata answers 404). ``on_predict(k)`` runs
    when the k-th predict request arrives (1-based), before it is answered.
    """

    def __init__(self, answers=(), *, pixel_input=None, on_predict: Callable[[int], None] | None = None):
        self.answers = list(answers)
        self.pixel_input = pixel_input
        self.on_predict = on_predict
        self.bodies: list[dict] = []  # every serving_default predict body, in arrival order
        self.metadata_requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def sent_images(self) -> list[bytes]:
        """The image bytes of every predict request, decoded from ``{"b64": ...}``, in order."""
        return [base64.b64decode(i["b64"]) for body in self.bodies for i in body["instances"]]

    def batch_sizes(self) -> list[int]:
        return [len(body["instances"]) for body in self.bodies]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.metadata_requests += self.path.endswith("/metadata")
                if self.path.endswith("/metadata") and fake.pixel_input is not None:
                    dims = [{"size": "-1"}] + [{"size": str(d)} for d in fake.pixel_input]
                    inputs = {"images": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dims}}}
                    signatures = {"serving_pixels": {"inputs": inputs}}
                    self._answer(200, {"metadata": {"signature_def": {"signature_def": signatures}}})
                else:
                    self._answer(404, {"error": "not found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                instances = body["instances"]
                if body.get("signature_name") == "class_names":
                    self._answer(200, {"predictions": [{"label": LABELS[i]} for i in instances]})
                    return
                with fake._lock:
                    fake.bodies.append(body)
                    count = len(fake.bodies)
                    answer = fake.answers.pop(0) if fake.answers else 200
                if fake.on_predict is not None:
                    fake.on_predict(count)
                if answer == DROP:
                    self.close_connection = True
                    return
                if answer != 200:
                    self._answer(answer, {"error": "Batch scheduler queue is full"})
                    return
                row = {"probabilities": PROBABILITIES, "class_id": 2, "label": LABELS[2]}
                self._answer(200, {"predictions": [row] * len(instances)})

        return Handler


class FakeGrpcServing:
    """TF Serving's ``PredictionService`` on 127.0.0.1, answering ``UNAVAILABLE`` to the first
    ``unavailable`` predict requests (all of them when ``unavailable`` is None)."""

    def __init__(self, unavailable: int | None = 0):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.unavailable = unavailable
        self.requests: list = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _servicer(self), self._server
        )
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{port}"

    def __enter__(self):
        self._server.start()
        return self

    def __exit__(self, *exc):
        self._server.stop(None).wait()

    def sent_images(self) -> list[bytes]:
        return [b for r in self.requests for b in r.inputs["image_bytes"].string_val]


def _servicer(fake):
    """A ``PredictionServiceServicer`` for ``fake`` (built here: the base class needs TF Serving's
    APIs, imported only when a gRPC test runs)."""
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            import grpc
            import numpy as np
            import tensorflow as tf
            from tensorflow_serving.apis import predict_pb2

            response = predict_pb2.PredictResponse()
            if request.model_spec.signature_name == "class_names":
                ids = tf.make_ndarray(request.inputs["class_id"])
                labels = np.array([LABELS[i].encode() for i in ids], dtype=object)
                response.outputs["label"].CopyFrom(tf.make_tensor_proto(labels))
                return response
            fake.requests.append(request)
            if fake.unavailable is None or len(fake.requests) <= fake.unavailable:
                context.abort(grpc.StatusCode.UNAVAILABLE, "Batch scheduler queue is full")
            count = len(request.inputs["image_bytes"].string_val)
            outputs = {
                "probabilities": np.tile(np.array(PROBABILITIES, "float32"), (count, 1)),
                "class_id": np.full(count, 2, "int64"),
                "label": np.array([LABELS[2].encode()] * count, dtype=object),
            }
            for key, value in outputs.items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
            return response

        def GetModelMetadata(self, request, context):
            import grpc

            context.abort(grpc.StatusCode.NOT_FOUND, "no metadata in this stand-in")

    return Servicer()
