"""Every export loads and runs the way TF Serving's C++ loader runs it, not only through TF2.

TF Serving never calls ``tf.saved_model.load``: it reads the MetaGraphDef tagged ``serve``,
restores the variables into a session through the SaverDef's restore op, runs the main (init)
op, then runs each signature by the tensor names in its SignatureDef, and replays
``assets.extra/tf_serving_warmup_requests`` as PredictionLog records before serving.
``tf.compat.v1.saved_model.loader.load`` is the same procedure in Python. Here every signature
of one export per architecture family runs that way, on real PNGs (Pillow), and must give what
``tf.saved_model.load`` gives; every warmup record must parse and run.

This is the check that catches an export whose signatures read variables that the restore op
never assigns: TF2 loading resolves variables through the object graph and works, a session
(the procedure TF Serving's C++ loader follows) fails with ``FAILED_PRECONDITION: Could not
find variable``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _export_utils import encode, random_pixels

tf = pytest.importorskip("tensorflow")

from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402

from kerascnn.contract import ASSETS_EXTRA, WARMUP_FILE  # noqa: E402

NUM_CLASSES = 3
# The SignatureDef TF2 uses to carry the init op (the loader runs it; nobody serves it).
INIT_OP_KEY = "__saved_model_init_op"

# One small build per architecture family: (registry name, input shape, family overrides).
# The smallest input each family takes and narrow widths keep export time low.
FAMILIES = {
    "lenet": ("lenet5", (32, 32, 1), {}),
    "alexnet": ("alexnet", (63, 63, 3), {}),
    "vgg": ("vgg11", (32, 32, 3), {}),
    "resnet_v1": ("resnet18", (32, 32, 3), {}),
    "resnet_v2": ("resnet50v2", (32, 32, 3), {}),
    "resnet_cifar": ("resnet20", (32, 32, 3), {}),
    "densenet": ("densenet121", (32, 32, 3), {"growth_rate": 4}),
    "googlenet": ("googlenet", (32, 32, 3), {}),
    "inception_v3": ("inception_v3", (75, 75, 3), {}),
    "mobilenet_v1": ("mobilenet", (32, 32, 3), {"alpha": 0.25}),
    "mobilenet_v2": ("mobilenet_v2", (32, 32, 3), {"alpha": 0.35}),
    "mobilenet_v3": ("mobilenet_v3_small", (32, 32, 3), {"alpha": 0.75}),
}
# The two families every CI run checks; the rest run with the slow tests.
QUICK = {"lenet"}



def _export(tmp_path, family):
    import kerascnn
    from kerascnn.export import export_model

    name, shape, overrides = FAMILIES[family]
    model = kerascnn.build(name, input_shape=shape, num_classes=NUM_CLASSES, **overrides)
    return export_model(model, base=tmp_path, name=family, version=1,
                        class_names=["cat", "dog", "owl"]), shape


def _pngs(shape, count, seed):
    """Real PNGs: the model's size and channels, plus other sizes and channel counts."""
    height, width, channels = shape
    images = [encode(random_pixels(height, width, channels, seed=seed))]
    for k in range(1, count):
        size = (height + 5 * k, max(8, width - 3 * k))
        mode = ("L", "RGB", "RGBA")[k % 3]
        images.append(encode(random_pixels(*size, 3, seed=seed + k), mode=mode))
    return np.array(images, dtype=object)


def _feeds_for(signature_def, shape, seed=0):
    """Inputs for any signature, chosen from its TensorInfos (dtype, rank)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for alias, info in sorted(signature_def.inputs.items()):
        dims = [d.size for d in info.tensor_shape.dim]
        if info.dtype == types_pb2.DT_STRING:
            feeds[alias] = _pngs(shape, 3, seed)
        elif info.dtype in (types_pb2.DT_FLOAT, types_pb2.DT_HALF, types_pb2.DT_DOUBLE):
            concrete = [2 if d < 0 else d for d in dims]
            dtype = tf.dtypes.as_dtype(info.dtype).as_numpy_dtype
            feeds[alias] = rng.uniform(0, 255, concrete).astype(dtype)
        elif info.dtype in (types_pb2.DT_INT64, types_pb2.DT_INT32):
            concrete = [3 if d < 0 else d for d in dims]
            dtype = tf.dtypes.as_dtype(info.dtype).as_numpy_dtype
            feeds[alias] = (np.arange(int(np.prod(concrete))) % NUM_CLASSES).reshape(
                concrete).astype(dtype)
        else:
            pytest.fail(f"no test input for {alias}: {tf.dtypes.as_dtype(info.dtype).name}")
    return feeds


class SessionServable:
    """A SavedModel loaded as TF Serving loads it: a TF1 session and SignatureDef names."""

    def __init__(self, path):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            # Reads the `serve` MetaGraphDef, runs the SaverDef's restore op on
            # variables/variables, then the main op (asset paths, tables): the C++ loader's steps.
            self.meta_graph = tf.compat.v1.saved_model.loader.load(
                self.session, ["serve"], str(path))

    def run(self, signature_key, inputs, output_filter=()):
        signature = self.meta_graph.signature_def[signature_key]
        aliases = list(output_filter) or sorted(signature.outputs)
        fetches = [signature.outputs[a].name for a in aliases]
        feed = {signature.inputs[alias].name: value for alias, value in inputs.items()}
        return dict(zip(aliases, self.session.run(fetches, feed)))

    def close(self):
        self.session.close()


def _assert_same(got: dict, want: dict, where: str):
    assert set(got) == set(want), where
    for alias, value in want.items():
        value = np.asarray(value)
        if value.dtype.kind == "f":
            np.testing.assert_allclose(got[alias], value, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{where}: {alias}")
        else:
            np.testing.assert_array_equal(got[alias], value, err_msg=f"{where}: {alias}")


def _warmup_records(path):
    raw = tf.data.TFRecordDataset(str(path / ASSETS_EXTRA / WARMUP_FILE)).as_numpy_iterator()
    return [prediction_log_pb2.PredictionLog.FromString(record) for record in raw]


def check_export_as_tf_serving_loads_it(path, shape):
    """Every signature and warmup record: session run == TF2 run."""
    loaded = tf.saved_model.load(str(path))
    servable = SessionServable(path)
    try:
        signature_defs = {k: v for k, v in servable.meta_graph.signature_def.items()
                          if k != INIT_OP_KEY}
        assert set(signature_defs) == set(loaded.signatures), "a signature is not callable"
        checked = set()
        for key, signature_def in signature_defs.items():
            feeds = _feeds_for(signature_def, shape)
            want = loaded.signatures[key](**{k: tf.constant(v) for k, v in feeds.items()})
            _assert_same(servable.run(key, feeds), {k: v.numpy() for k, v in want.items()},
                         f"signature {key}")
            checked.add(key)
        assert checked == set(signature_defs)

        records = _warmup_records(path)
        assert records, "the export has no warmup records"
        for index, record in enumerate(records):
            assert record.WhichOneof("log_type") == "predict_log", record
            request = record.predict_log.request
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            key = request.model_spec.signature_name or "serving_default"
            got = servable.run(key, inputs, request.output_filter)
            want = loaded.signatures[key](**{k: tf.constant(v) for k, v in inputs.items()})
            wanted = list(request.output_filter) or list(want)
            _assert_same(got, {k: want[k].numpy() for k in wanted}, f"warmup record {index}")
    finally:
        servable.close()


@pytest.mark.parametrize("family", sorted(QUICK))
def test_export_runs_in_a_tf1_session_like_tf_serving(tmp_path, family):
    path, shape = _export(tmp_path, family)
    check_export_as_tf_serving_loads_it(path, shape)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(set(FAMILIES) - QUICK))
def test_every_family_runs_in_a_tf1_session_like_tf_serving(tmp_path, family):
    path, shape = _export(tmp_path, family)
    check_export_as_tf_serving_loads_it(path, shape)


def test_session_answers_match_the_keras_model(tmp_path):
    """The session's variables are the trained ones, not zeros or fresh initial values."""
    import kerascnn
    from kerascnn.export import export_model
    from kerascnn.preprocessing import preprocess

    model = kerascnn.build("lenet5", input_shape=(32, 32, 1), num_classes=NUM_CLASSES)
    path = export_model(model, base=tmp_path, name="m", version=1,
                        class_names=["cat", "dog", "owl"])
    pixels = np.stack([random_pixels(32, 32, 1, seed=s) for s in range(4)]).astype("float32")
    servable = SessionServable(path)
    try:
        got = servable.run("serving_pixels", {"images": pixels})["probabilities"]
    finally:
        servable.close()
    want = np.asarray(model(preprocess(pixels, (32, 32, 1)), training=False))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
