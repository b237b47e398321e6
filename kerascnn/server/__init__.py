"""The embedded TF-Serving-compatible server behind ``kerascnn serve``.

Modules: ``config`` (flags and TF Serving's text-proto configs), ``registry`` (models, versions,
polling, hot swap, warmup), ``jsonparse`` + ``tensors`` (TF Serving's JSON and TensorProto
rules), ``batching`` (dynamic batcher), ``metrics`` (Prometheus), ``rest`` (aiohttp),
``grpc_service`` (PredictionService, ModelService) and ``app`` (wiring and signals).
Importing this package does not import TensorFlow; ``registry`` and what uses it do.

Example:
    >>> from kerascnn.server.config import ServerOptions
    >>> ServerOptions(model_name="digits", model_base_path="serving/models/digits").port
    8500
"""
