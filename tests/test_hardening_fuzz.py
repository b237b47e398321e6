"""Hostile input against ``kerascnn serve``: property-based (hypothesis) and mutation fuzzing
of REST bodies and gRPC requests.

Whatever arrives, the server must not crash, must not answer 5xx where TF Serving answers 4xx
(everything here is a client error or a valid request: TF Serving answers 400/404/413, gRPC
INVALID_ARGUMENT/NOT_FOUND/FAILED_PRECONDITION/RESOURCE_EXHAUSTED), must stay within a memory
bound (peak RSS of the server process), and must answer a good request correctly afterwards.

The server runs with ``--max-request-bytes 32 MiB`` so the 200 MB body is over the limit.
CI runs a few dozen examples per property; ``pytest -m stress`` runs thousands.
"""

from __future__ import annotations

import base64
import json
import random

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from _hardening_utils import (
    PeakRss,
    VersionedModel,
    export_version,
    jpeg,
    png,
    png_bomb,
    rss_bytes,
    stream_until_answered,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

MODEL = "m"
BODY_LIMIT = 32 * 1024 * 1024
MEMORY_BOUND = 600 * 1024 * 1024  # peak RSS growth over the idle server
GRPC_CLIENT_CODES = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
                     grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION,
                     grpc.StatusCode.RESOURCE_EXHAUSTED}
CI = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)
V1 = VersionedModel(1)


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz") / "models"
    export_version(V1, base, MODEL)
    srv = serve(model_base_path=base / MODEL, model_name=MODEL,
                extra_args=["--max-request-bytes", BODY_LIMIT])
    srv.session = requests.Session()
    srv.predict_url = f"{srv.rest_url}/v1/models/{MODEL}:predict"
    good_check(srv)
    srv.idle_rss = rss_bytes(srv.process.pid)
    srv.peak = PeakRss(srv.process.pid).__enter__()
    yield srv
    # Still running here: ``serve`` stops it after this fixture's teardown.
    srv.peak.__exit__(None, None, None)
    assert srv.process.poll() is None, "the server died:\n" + srv.output[-3000:]
    assert "Traceback" not in srv.output, srv.output[-3000:]
    assert srv.peak.peak - srv.idle_rss < MEMORY_BOUND, (
        f"server RSS grew by {(srv.peak.peak - srv.idle_rss) / 2**20:.0f} MiB")


def good_check(srv):
    """A good REST and gRPC request still get version 1's exact answer."""
    body = {"instances": [{"b64": base64.b64encode(png(seed=7)).decode()}]}
    r = requests.post(srv.predict_url, json=body, timeout=60)
    assert r.status_code == 200, r.text
    row = r.json()["predictions"][0]
    assert V1.check(row["probabilities"], row["label"]), row
    with grpc.insecure_channel(srv.grpc_target) as channel:
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            grpc_request([png(seed=8)]), timeout=60)
    assert V1.check(tf.make_ndarray(reply.outputs["probabilities"])[0],
                    tf.make_ndarray(reply.outputs["label"])[0].decode())


def post(srv, body: bytes, path=None):
    """POST raw bytes; the answer must be a client error or success, with a JSON body."""
    r = srv.session.post(path or srv.predict_url, data=body,
                         headers={"Content-Type": "application/json"}, timeout=120)
    assert r.status_code < 500, (r.status_code, r.text[:500], body[:200])
    doc = r.json()
    if r.status_code != 200:
        assert set(doc) == {"error"} and isinstance(doc["error"], str) and doc["error"], doc
    return r


def grpc_request(images, *, name=MODEL, signature=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if signature:
        request.model_spec.signature_name = signature
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    return request


# ----------------------------------------------------------------------------- REST: hypothesis
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=6),
                            st.dictionaries(st.sampled_from(
                                ["instances", "inputs", "b64", "signature_name", "images",
                                 "image_bytes", "x"]) | st.text(max_size=8), inner, max_size=4)),
    max_leaves=30,
)


def _as_body(value) -> bytes:
    # allow_nan: Python writes NaN/Infinity literals, which TF Serving's parser also sees
    return json.dumps(value, allow_nan=True).encode()


def rest_property(srv, value, wrapper, signature):
    doc = value if wrapper == "raw" else {wrapper: value}
    if signature and isinstance(doc, dict):
        doc = {**doc, "signature_name": signature}
    post(srv, _as_body(doc))


@settings(max_examples=40, **CI)
@given(value=json_values, wrapper=st.sampled_from(["raw", "instances", "inputs"]),
       signature=st.sampled_from(["", "serving_pixels", "serving_default", "nope"]))
def test_rest_random_json(server, value, wrapper, signature):
    rest_property(server, value, wrapper, signature)


@pytest.mark.stress
@settings(max_examples=2000, **{**CI, "derandomize": False})
@given(value=json_values, wrapper=st.sampled_from(["raw", "instances", "inputs"]),
       signature=st.sampled_from(["", "serving_pixels", "serving_default", "nope"]))
def test_rest_random_json_stress(server, value, wrapper, signature):
    rest_property(server, value, wrapper, signature)


pixel_arrays = st.builds(
    lambda shape, fill: np.full(shape, fill).tolist(),
    st.sampled_from([(1, 8, 8, 1), (2, 8, 8, 1), (1, 8, 8), (1, 9, 9, 1), (1, 8, 8, 3),
                     (0, 8, 8, 1), (1, 1, 1, 1), (8, 8, 1), (1, 8, 8, 1, 1)]),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
              st.booleans(), st.just("x")),
)


@settings(max_examples=30, **CI)
@given(pixels=pixel_arrays, columnar=st.booleans())
def test_rest_pixels_wrong_shapes_and_dtypes(server, pixels, columnar):
    doc = ({"signature_name": "serving_pixels", "inputs": {"images": pixels}} if columnar
           else {"signature_name": "serving_pixels", "instances": pixels})
    r = post(server, _as_body(doc))
    if r.status_code == 200:  # only well-shaped numeric input may succeed
        arr = np.asarray(pixels)
        assert arr.ndim == 4 and arr.shape[1:] == (8, 8, 1) or (columnar is False and
                                                                  arr.ndim == 4)


# ----------------------------------------------------------------------------- REST: crafted
def pixels_body(instances_text: str) -> bytes:
    """A serving_pixels row-format body with ``instances_text`` spliced in verbatim."""
    return ('{"signature_name": "serving_pixels", "instances": [' + instances_text
            + "]}").encode()


def crafted_bodies() -> list[tuple[str, bytes]]:
    good_png, good_jpeg = png(seed=3), jpeg(width=16, height=16, seed=3)
    # an image whose URL-safe base64 differs from the standard alphabet's
    seed = 0
    while True:
        candidate = png(seed=seed)
        if base64.urlsafe_b64encode(candidate) != base64.b64encode(candidate):
            break
        seed += 1
    urlsafe = base64.urlsafe_b64encode(candidate).decode()
    cases = [
        ("empty", b""), ("whitespace", b"   \n"), ("null", b"null"), ("array", b"[]"),
        ("string", b'"instances"'), ("trailing garbage", b'{"instances": []} xyz'),
        ("duplicate keys", b'{"instances": [], "instances": []}'),
        ("both instances and inputs", b'{"instances": [1], "inputs": [1]}'),
        ("NaN literal", b'{"instances": [NaN]}'), ("Infinity literal", b'{"instances": [Infinity]}'),
        ("-Infinity pixels", pixels_body(json.dumps(np.full((8, 8, 1), -1).tolist())
                                         .replace("-1", "-Infinity"))),
        ("NaN pixels", pixels_body(json.dumps(np.zeros((8, 8, 1)).tolist())
                                   .replace("0.0", "NaN"))),
        ("huge float", pixels_body(json.dumps(np.zeros((8, 8, 1)).tolist())
                                   .replace("0.0", "1e999"))),
        ("huge int", pixels_body(json.dumps(np.zeros((8, 8, 1), int).tolist())
                                 .replace("0", "9" * 400))),
        ("deep array nesting", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("deep object nesting", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        ("unclosed nesting", b"[" * 200_000),
        ("b64 not base64", b'{"instances": [{"b64": "!!!not base64!!!"}]}'),
        ("b64 bad padding", b'{"instances": [{"b64": "iVBORw0KGgo"}]}'),
        ("b64 url-safe alphabet", json.dumps({"instances": [{"b64": urlsafe}]}).encode()),
        ("b64 number", b'{"instances": [{"b64": 12}]}'),
        ("b64 extra key", b'{"instances": [{"b64": "aGk=", "x": 1}]}'),
        ("non-image bytes", json.dumps({"instances": [{"b64": base64.b64encode(
            bytes(range(256)) * 8).decode()}]}).encode()),
        ("empty image bytes", b'{"instances": [{"b64": ""}]}'),
        ("truncated PNG", json.dumps({"instances": [{"b64": base64.b64encode(
            good_png[: len(good_png) // 2]).decode()}]}).encode()),
        ("PNG header only", json.dumps({"instances": [{"b64": base64.b64encode(
            good_png[:33]).decode()}]}).encode()),
        ("truncated JPEG", json.dumps({"instances": [{"b64": base64.b64encode(
            good_jpeg[: len(good_jpeg) // 2]).decode()}]}).encode()),
        ("JPEG header only", json.dumps({"instances": [{"b64": base64.b64encode(
            good_jpeg[:20]).decode()}]}).encode()),
        ("string where bytes", b'{"instances": ["not an image"]}'),
        ("float where bytes", b'{"instances": [1.5]}'),
        ("ragged pixels", pixels_body("[[1]], [[1, 2]]")),
        ("invalid utf-8", b'{"instances": ["\xff\xfe"]}'),
        ("lone surrogate", b'{"instances": ["\\ud800"]}'),
        ("control chars", b'{"instances": ["\x00\x01"]}'),
    ]
    for cut in (1, 5, 12, 17, 30, 45, 60):
        body = json.dumps({"instances": [{"b64": base64.b64encode(good_png).decode()}]})
        cases.append((f"truncated JSON at {cut}", body[:cut].encode()))
    return cases


@pytest.mark.parametrize("case", [name for name, _ in crafted_bodies()])
def test_rest_crafted_bodies(server, case):
    body = dict(crafted_bodies())[case]
    r = post(server, body)
    if case.startswith(("b64", "non-image", "empty image", "truncated", "PNG header",
                        "JPEG header", "empty", "whitespace", "deep", "unclosed",
                        "duplicate", "both", "trailing", "string where", "float where",
                        "ragged", "invalid utf-8", "huge int")):
        assert r.status_code == 400, (case, r.status_code, r.text[:300])


def test_rest_decompression_bomb(server):
    bomb = png_bomb()
    assert len(bomb) < 2 * 1024 * 1024  # small on disk, 400 megapixels decoded
    with PeakRss(server.process.pid) as peak:
        r = post(server, json.dumps({"instances": [{"b64": base64.b64encode(bomb).decode()}]})
                 .encode())
    assert r.status_code == 400, r.text[:300]
    assert "pixel" in r.json()["error"].lower(), r.text[:300]
    assert peak.peak - server.idle_rss < 200 * 1024 * 1024, "the bomb was decoded"


def test_rest_200mb_body_refused_while_streaming(server):
    total = 200 * 1024 * 1024
    with PeakRss(server.process.pid) as peak:
        status, sent = stream_until_answered(server.rest_port, f"/v1/models/{MODEL}:predict",
                                             total, chunked=True)
    assert status == 413, status
    assert sent < total // 2, f"the client had to send {sent / 2**20:.0f} MiB before the answer"
    assert peak.peak - server.idle_rss < 4 * BODY_LIMIT
    # and with a Content-Length that says 200 MB: refused from the header, nothing read
    status, sent = stream_until_answered(server.rest_port, f"/v1/models/{MODEL}:predict",
                                         total, chunked=False)
    assert status == 413 and sent < total // 2, (status, sent)


# ----------------------------------------------------------------------------- REST: mutation
def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1) if data else 0
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = bytes([rng.choice(b'{}[]",:0123456789eE.-+ntfab\\\x00\xff')])
        elif op == 2 and data:
            del data[pos:pos + rng.randint(1, 16)]
        elif op == 3:
            data = data[:pos]
        else:
            chunk = data[pos:pos + rng.randint(1, 32)]
            data[pos:pos] = chunk * rng.randint(1, 50)
    return bytes(data)


def seeds_for_mutation():
    return [
        json.dumps({"instances": [{"b64": base64.b64encode(png(seed=1)).decode()}]}).encode(),
        json.dumps({"signature_name": "serving_pixels",
                    "instances": np.zeros((1, 8, 8, 1)).tolist()}).encode(),
        json.dumps({"inputs": {"image_bytes": [{"b64": base64.b64encode(
            jpeg(seed=2)).decode()}]}}).encode(),
    ]


def run_mutations(srv, count: int, seed: int):
    rng = random.Random(seed)
    bodies = seeds_for_mutation()
    for _ in range(count):
        post(srv, mutate(rng.choice(bodies), rng))


def test_rest_mutation_fuzz(server):
    run_mutations(server, 150, seed=1)


@pytest.mark.stress
def test_rest_mutation_fuzz_stress(server):
    run_mutations(server, 5000, seed=2)


# ----------------------------------------------------------------------------- gRPC
dtypes = st.sampled_from([types_pb2.DT_STRING, types_pb2.DT_FLOAT, types_pb2.DT_INT64,
                          types_pb2.DT_BOOL, types_pb2.DT_HALF, types_pb2.DT_INVALID,
                          types_pb2.DT_RESOURCE, types_pb2.DT_VARIANT, types_pb2.DT_COMPLEX64])
dims = st.lists(st.integers(-2, 10), max_size=5) | st.lists(
    st.sampled_from([0, 1, 2**31, 2**62, -1]), max_size=4)


@st.composite
def tensor_protos(draw):
    t = tensor_pb2.TensorProto(dtype=draw(dtypes))
    t.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in draw(dims)],
        unknown_rank=draw(st.booleans()) and draw(st.booleans())))
    kind = draw(st.sampled_from(["none", "string", "float", "int", "content", "bool"]))
    if kind == "string":
        t.string_val.extend(draw(st.lists(st.sampled_from(
            [b"", b"junk", png(seed=4), png(seed=4)[:20], png_bomb_small()]), max_size=3)))
    elif kind == "float":
        t.float_val.extend(draw(st.lists(st.floats(width=32), max_size=8)))
    elif kind == "int":
        t.int64_val.extend(draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8)))
    elif kind == "bool":
        t.bool_val.extend(draw(st.lists(st.booleans(), max_size=8)))
    elif kind == "content":
        t.tensor_content = draw(st.binary(max_size=64))
    return t


_BOMB = []


def png_bomb_small():
    if not _BOMB:
        _BOMB.append(png_bomb(20_000, 20_000))
    return _BOMB[0]


@st.composite
def predict_requests(draw):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = draw(st.sampled_from([MODEL, MODEL, "", "nope", "../m", "m/1"]))
    if draw(st.booleans()):
        request.model_spec.version.value = draw(st.sampled_from([0, 1, 2, -1, 2**63 - 1]))
    request.model_spec.signature_name = draw(st.sampled_from(
        ["", "serving_default", "serving_pixels", "class_names", "nope"]))
    for key in draw(st.lists(st.sampled_from(["image_bytes", "images", "class_id", "x", ""]),
                             max_size=3, unique=True)):
        request.inputs[key].CopyFrom(draw(tensor_protos()))
    request.output_filter.extend(draw(st.lists(st.sampled_from(
        ["probabilities", "label", "class_id", "nope"]), max_size=2)))
    return request


def grpc_property(srv, request):
    with grpc.insecure_channel(srv.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            stub.Predict(request, timeout=60)
        except grpc.RpcError as exc:
            assert exc.code() in GRPC_CLIENT_CODES, (exc.code(), exc.details(), request)


@settings(max_examples=50, **CI)
@given(request=predict_requests())
def test_grpc_random_requests(server, request):
    grpc_property(server, request)


@pytest.mark.stress
@settings(max_examples=3000, **{**CI, "derandomize": False})
@given(request=predict_requests())
def test_grpc_random_requests_stress(server, request):
    grpc_property(server, request)


@pytest.mark.parametrize("dtype, shape, unknown_rank", [
    (types_pb2.DT_STRING, [2**31], False),
    (types_pb2.DT_FLOAT, [2**28, 8, 8, 1], False),
    (types_pb2.DT_FLOAT, [2**30], True),
])
def test_grpc_broadcast_bomb(server, dtype, shape, unknown_rank):
    """One value and a huge shape: TensorProto repeats the value to fill the shape, so a
    40-byte request once asked the server for 16 GiB and got it OOM-killed."""
    t = tensor_pb2.TensorProto(dtype=dtype)
    t.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in shape],
        unknown_rank=unknown_rank))
    if dtype == types_pb2.DT_STRING:
        t.string_val.append(png(seed=1))
    else:
        t.float_val.append(1.0)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    if dtype != types_pb2.DT_STRING:
        request.model_spec.signature_name = "serving_pixels"
    request.inputs["image_bytes" if dtype == types_pb2.DT_STRING else "images"].CopyFrom(t)
    with PeakRss(server.process.pid) as peak:
        with grpc.insecure_channel(server.grpc_target) as channel:
            with pytest.raises(grpc.RpcError) as err:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                    request, timeout=60)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert peak.peak - server.idle_rss < 256 * 1024 * 1024
    assert server.process.poll() is None


def run_grpc_mutations(srv, count, seed):
    rng = random.Random(seed)
    good = grpc_request([png(seed=5)]).SerializeToString()
    with grpc.insecure_channel(srv.grpc_target) as channel:
        call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                   request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)
        for _ in range(count):
            data = mutate(good, rng)
            try:
                parsed = predict_pb2.PredictRequest.FromString(data)
            except Exception:
                parsed = None
            try:
                call(data, timeout=60)
            except grpc.RpcError as exc:
                if parsed is not None:  # a well-formed message gets a client-error status
                    assert exc.code() in GRPC_CLIENT_CODES, (exc.code(), exc.details())
                else:  # undecodable bytes: gRPC's own answer, but never a crash
                    assert exc.code() != grpc.StatusCode.UNAVAILABLE, exc.details()


def test_grpc_mutation_fuzz(server):
    run_grpc_mutations(server, 150, seed=3)


@pytest.mark.stress
def test_grpc_mutation_fuzz_stress(server):
    run_grpc_mutations(server, 5000, seed=4)


def test_good_request_after_fuzzing(server):
    """Runs last in this module: the server is alive and still exactly right."""
    good_check(server)
    assert server.process.poll() is None
