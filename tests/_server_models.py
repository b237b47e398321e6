"""Tiny SavedModels for the server tests, built with tf.Module + tf.function signatures.

``build_toy(path, version)`` writes a model whose outputs depend on ``version`` so tests can
tell versions apart. Signatures:

* ``serving_default``: ``x`` float [-1,2] -> ``y`` = x*0.5 + version (float [-1,2]),
  ``version`` (int64 [-1])
* ``single``: ``x`` float [-1,2] -> ``y`` only
* ``strings``: ``image_bytes`` string [-1] -> ``length`` int32, ``echo_bytes`` string,
  ``upper`` string
* ``typed``: ``i`` int32 [-1], ``b`` bool [-1] -> ``i_plus`` int32, ``b_not`` bool
* ``wide``: ``n`` int64 [-1] -> ``doubled`` int64
* ``classify``: ``inputs`` serialized tf.Example (feature ``x`` float) -> ``classes``, ``scores``
* ``regress``: ``inputs`` serialized tf.Example (feature ``x`` float) -> ``outputs``
* ``spin``: ``n`` int64 [-1] -> ``n`` after a busy loop of max(n) steps (a slow request)
"""

from __future__ import annotations

from pathlib import Path


def build_toy(path, version: int, *, warmup_records: int = 0) -> Path:
    """Save the toy model for ``version`` at ``path`` (``BASE/NAME/VERSION``)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    offset = float(version)

    class Toy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def default(self, x):
            n = tf.shape(x)[0]
            return {"y": x * 0.5 + offset,
                    "version": tf.fill([n], tf.constant(version, tf.int64))}

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def single(self, x):
            return {"y": x * 0.5 + offset}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def strings(self, image_bytes):
            return {"length": tf.strings.length(image_bytes),
                    "echo_bytes": tf.identity(image_bytes),
                    "upper": tf.strings.upper(image_bytes)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="i"),
                                      tf.TensorSpec([None], tf.bool, name="b")])
        def typed(self, i, b):
            return {"i_plus": i + 1, "b_not": tf.logical_not(b)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="n")])
        def wide(self, n):
            return {"doubled": n * 2}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def classify(self, inputs):
            feats = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([], tf.float32)})
            x = feats["x"]
            scores = tf.stack([x, x + offset], axis=1)
            n = tf.shape(x)[0]
            classes = tf.tile(tf.constant([["neg", "pos"]]), [n, 1])
            return {"classes": classes, "scores": scores}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
        def regress(self, inputs):
            feats = tf.io.parse_example(inputs, {"x": tf.io.FixedLenFeature([], tf.float32)})
            return {"outputs": feats["x"] * 2.0 + offset}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="n")])
        def spin(self, n):
            steps = tf.reduce_max(n)
            i = tf.constant(0, tf.int64)
            acc = tf.constant(0.0)
            i, acc = tf.while_loop(
                lambda i, a: i < steps, lambda i, a: (i + 1, a + tf.sin(a + 1.0)), [i, acc]
            )
            return {"n": n + tf.cast(acc * 0.0, tf.int64)}

    module = Toy()
    path = Path(path)
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.default, "single": module.single,
        "strings": module.strings, "typed": module.typed, "wide": module.wide,
        "classify": module.classify, "regress": module.regress, "spin": module.spin,
    })
    if warmup_records:
        extra = path / "assets.extra"
        extra.mkdir(exist_ok=True)
        with tf.io.TFRecordWriter(str(extra / "tf_serving_warmup_requests")) as writer:
            for _ in range(warmup_records):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = "toy"
                request.model_spec.signature_name = "serving_default"
                request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0]], tf.float32))
                log = prediction_log_pb2.PredictionLog(
                    predict_log=prediction_log_pb2.PredictLog(request=request)
                )
                writer.write(log.SerializeToString())
    return path
