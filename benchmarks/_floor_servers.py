"""The cheapest Python servers of the same protocols: the floor any Python server stands on.

``serving.py`` loads these with the same generator as ``kerascnn serve`` and records their CPU
per request: what grpcio's Python server (a ThreadPoolExecutor, as ``kerascnn serve`` uses) and
aiohttp cost for one request when the handler does nothing but answer a fixed reply.

    python benchmarks/_floor_servers.py grpc PORT THREADS    # Predict answers a fixed reply
    python benchmarks/_floor_servers.py rest PORT            # :predict answers fixed JSON

Example:
    >>> FIXED_JSON.startswith(b'{"predictions"')
    True
"""

from __future__ import annotations

import sys

FIXED_JSON = b'{"predictions": [{"class_id": 1, "label": "1", "probabilities": [0.1, 0.9]}]}'


def _fixed_predict_response() -> bytes:
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    response.model_spec.name = "floor"
    probabilities = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=[0.1] * 10,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[{"size": 1}, {"size": 10}]))
    response.outputs["probabilities"].CopyFrom(probabilities)
    return response.SerializeToString()


def serve_grpc(port: int, threads: int) -> None:
    """A grpcio server whose Predict returns pre-serialized bytes (no parsing either way)."""
    from concurrent import futures

    import grpc

    reply = _fixed_predict_response()
    handler = grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {"Predict": grpc.unary_unary_rpc_method_handler(lambda request, context: reply)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def serve_rest(port: int) -> None:
    """An aiohttp app whose ``:predict`` reads the body and answers fixed JSON."""
    from aiohttp import web

    async def predict(request):
        await request.read()
        return web.Response(body=FIXED_JSON, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/models/{name}:predict", predict)
    app.router.add_get("/v1/models/{name}", lambda request: web.json_response({}))
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "grpc":
        serve_grpc(port, int(sys.argv[3]))
    else:
        serve_rest(port)
