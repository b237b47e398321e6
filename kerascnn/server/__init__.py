"""The embedded TF-Serving-compatible server behind ``kerascnn serve``.

Laid out like TF Serving's sources, one concern per module, each named after what it mirrors:

* ``config``: flags (``ServerOptions``) and the text-proto configs TF Serving reads (TF-free);
* ``server_core``: models, versions, polling, reloads, request lookups, model status;
* ``file_system_storage_path_source``: versions on disk and the aspired-version policy;
* ``availability_preserving_policy``: when a dropped version may unload;
* ``servable``: one loaded SavedModel version, its signatures and batchers;
* ``predict_util``, ``classify_regress``, ``saved_model_warmup``: the request rules run on a
  servable (Predict; Classify, Regress, MultiInference; warmup replay);
* ``json_tensor``, ``json_example``, ``tensor_proto``, ``dtypes``: TF Serving's JSON and
  TensorProto conversions (``jsonparse`` / ``jsonwrite``: RapidJSON's reader and writer);
* ``batching`` (dynamic batcher), ``metrics`` (Prometheus), ``status`` (error codes);
* ``rest`` (aiohttp), ``grpc_service`` (PredictionService, ModelService) and ``app`` (wiring and
  signals).

Importing this package does not import TensorFlow; ``server_core`` and what uses it do.

Known differences from TF Serving (everything else is meant to answer byte-for-byte the same
JSON values, status codes and error texts):

* with several outputs, JSON answers list them sorted by name (TF Serving follows its protobuf
  map's order, which is unspecified); the layout is RapidJSON's PrettyWriter's, byte for byte;
* a tensor whose shape the signature cannot take is refused before running, with our message
  (TF Serving lets the session fail with TensorFlow's text); both are 400 / INVALID_ARGUMENT;
* a duplicate key inside one ``instances`` object, or nesting deeper than 254 levels, is a clear
  400 (TF Serving produces a confusing size error);
* models run as TF2 concrete functions, not a TF1 session: signature ``defaults`` are not
  supported; a timed-out REST request answers 504 ``Deadline Exceeded`` but its computation is
  not cancelled;
* start-up with an empty base path serves 404s until a version appears (TF Serving waits
  without opening its ports);
* failed loads are retried when the version folder changes, not on a retry counter;
* ``--max-request-bytes`` (413 / RESOURCE_EXHAUSTED), ``--rest-api-host`` and ``--grpc-host``
  are ours; both ports bind 127.0.0.1 by default (TF Serving binds all interfaces);
* a missing ``/models/NAME`` base path in a config file falls back to ``models/NAME`` beside
  the config file (the docker-compose layout); a relative path that does not exist under the
  working directory is looked up beside the config file;
* only ``model_config_list`` with the ``tensorflow`` platform; no SSL, CORS headers, TFLite,
  request logging or ``max_execution_batch_size``; large-batch splitting runs the pieces one
  after another;
* metrics: request count/latency, runtime latency, batching and warmup metrics with TF
  Serving's names; label sets of the batching metrics are ours (``model_name``).

Example:
    >>> from kerascnn.server.config import ServerOptions
    >>> ServerOptions(model_name="digits", model_base_path="serving/models/digits").port
    8500
"""
