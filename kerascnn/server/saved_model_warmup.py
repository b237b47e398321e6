"""Replay a SavedModel's warmup records before its version serves.

Mirrors ``tensorflow_serving/servables/tensorflow/saved_model_warmup.cc``: the PredictionLog
records in ``assets.extra/tf_serving_warmup_requests`` (at most 1000) are each run
``num_request_iterations_for_warmup`` times through the servable, so the first real request
does not pay for tracing; a record that fails makes the load fail.

Example:
    >>> warmup_path(Path("serving/models/digits/1"))
    PosixPath('serving/models/digits/1/assets.extra/tf_serving_warmup_requests')
"""

from __future__ import annotations

import time
from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from kerascnn.contract import ASSETS_EXTRA, WARMUP_FILE
from kerascnn.server.classify_regress import run_multi_inference
from kerascnn.server.status import invalid
from kerascnn.server.tensor_proto import array_from_proto

MAX_WARMUP_RECORDS = 1000


def warmup_path(version_path: Path) -> Path:
    """Where a version keeps its warmup records (see the module example)."""
    return version_path / ASSETS_EXTRA / WARMUP_FILE


def replay_warmup_requests(servable, iterations: int = 1) -> int:
    """Replay the servable's warmup records; returns how many records were read.

    Example:
        >>> replay_warmup_requests(servable, iterations=1)  # doctest: +SKIP
        2
    """
    path = warmup_path(servable.path)
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
            _replay(servable, record)
    if servable.metrics:
        servable.metrics.record_warmup(str(servable.path), count, (time.monotonic() - start) * 1e6)
    return count


def _replay(servable, record):
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        req = record.predict_log.request
        inputs = {k: array_from_proto(v) for k, v in req.inputs.items()}
        servable.predict(req.model_spec.signature_name, inputs, req.output_filter)
    elif kind == "classify_log":
        req = record.classify_log.request
        servable.classify(req.model_spec.signature_name, req.input)
    elif kind == "regress_log":
        req = record.regress_log.request
        servable.regress(req.model_spec.signature_name, req.input)
    elif kind == "multi_inference_log":
        run_multi_inference(servable, record.multi_inference_log.request)
    else:
        raise invalid(f"Unsupported log_type for warmup: {kind}")
