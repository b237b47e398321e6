"""TF Serving's own JSON tests (``json_tensor_test.cc``, ``JsontensorTest.*``) replayed.

Each request-side case is replayed over REST against a real ``kerascnn serve`` whose
signatures are the tests' tensor maps and echo their inputs (``_conformance_models``), so the
response shows the tensor the server made of the JSON. Response-side cases whose tensors no
echo signature can produce (several outputs of different batch sizes, complex64, an empty map)
run on ``json_tensor`` in-process. Then the sweep the issue asked for: a bare value where a list
was expected, for every dtype, in row and columnar form; nested lists of mixed depth; base64
as tools wrap it; gRPC's missing-input text; and what a client sees for an image that is empty
or no image, compared with the TF1 session run TF Serving does.
"""

from __future__ import annotations

import base64
import json
import math
import re

import grpc
import numpy as np
import pytest
import requests
from _conformance_models import build_conformance_model

from kerascnn.server.json_tensor import predict_response_to_json
from kerascnn.server.status import ServingError

HELLO, WORLD = "aGVsbG8=", "d29ybGQ="


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    base = tmp_path_factory.mktemp("conformance") / "json"
    build_conformance_model(base / "1")
    return serve(model_base_path=base, model_name="json")


def predict(server, body, signature=None):
    if not isinstance(body, (bytes, str)):
        if signature:
            body = {"signature_name": signature, **body}
        body = json.dumps(body)
    return requests.post(f"{server.rest_url}/v1/models/json:predict", data=body, timeout=60)


def same(got, want) -> bool:
    """Equal JSON values, NaN equal to NaN."""
    if isinstance(want, float) and math.isnan(want):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(same, got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            same(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def answer(resp, status=200):
    assert resp.status_code == status, resp.text
    return json.loads(resp.text)  # Python's json reads NaN and Infinity as RapidJSON writes them


def error(resp, status=400):
    body = answer(resp, status)
    assert list(body) == ["error"], body
    return body["error"]


# --- JsontensorTest, the request side, over REST -----------------------------------------------

NESTED = "[" * 500_000 + "]" * 500_000
FLOAT_MAX = 1.7976931348623157e308
FLOAT_MIN = 2.2250738585072014e-308
PRECISION_LOSS = float(f"{np.float32(1435774380):.9g}")

REPLAYED = {
    # case: (signature, raw JSON body, expected answer)
    "SingleUnnamedTensor": ("int_default", '{"instances": [[1,2],[3,4],[5,6]]}',
                            {"predictions": [[1, 2], [3, 4], [5, 6]]}),
    "DeeplyNestedWellFormed": ("int_default", '{"instances":[1], "nested":' + NESTED + "}",
                               {"predictions": [1]}),
    "MixedInputForFloatTensor": ("float_default",
                                 '{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}',
                                 {"predictions": [1.0, 2.0, 3.0, 4.0, 5.003, 0.007, 0.0]}),
    "MixedInputForDoubleTensor": ("double_default",
                                  '{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}',
                                  {"predictions": [1.0, 2.0, 3.0, 4.0, 0.662, 0.0, 0.0]}),
    # float32 holds 1435774336; six digits do not round-trip it, so nine are written.
    "FloatTensorWithPrecisionLoss": ("float_default", '{"instances": [1435774380]}',
                                     {"predictions": [PRECISION_LOSS]}),
    "FloatTensorWithPrecisionLoss(decimal point)": (
        "float_default", '{"instances": [1435774380.0]}', {"predictions": [PRECISION_LOSS]}),
    "FloatTensorThatExceedsMaxReturnsInf": ("float_default",
                                            f'{{"instances": [{FLOAT_MAX!r}, {-FLOAT_MAX!r}]}}',
                                            {"predictions": [math.inf, -math.inf]}),
    "FloatTensorThatExceedsMinReturnsZero": ("float_default",
                                             f'{{"instances": [{FLOAT_MIN!r}, {-FLOAT_MIN!r}]}}',
                                             {"predictions": [0.0, -0.0]}),
    "SingleUnnamedTensorWithSignature": (None,
                                         '{"signature_name": "int_default", '
                                         '"instances": [[1,2]]}',
                                         {"predictions": [[1, 2]]}),
    "TensorFromNonNullTerminatedBuffer": ("int_default",
                                          '{"instances": [[1,2],[3,4],[5,6]]}X',
                                          {"predictions": [[1, 2], [3, 4], [5, 6]]}),
    "SingleUnnamedTensorBase64Scalars": ("str_default",
                                         f'{{"instances": [{{"b64": "{HELLO}"}}, '
                                         f'{{"b64": "{WORLD}"}}]}}',
                                         {"predictions": ["hello", "world"]}),
    "SingleUnnamedTensorBase64Lists": ("str_default",
                                       f'{{"instances": [[{{"b64": "{HELLO}"}}], '
                                       f'[{{"b64": "{WORLD}"}}]]}}',
                                       {"predictions": [["hello"], ["world"]]}),
    "SingleNamedTensorBase64": ("str_default",
                                f'{{"instances": [{{"default": [[{{"b64": "{HELLO}"}}], '
                                f'[{{"b64": "{WORLD}"}}]]}}]}}',
                                {"predictions": [[["hello"], ["world"]]]}),
    "MultipleNamedTensor": ("multi_four", """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
         "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
        {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
         "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}""",
        {"predictions": [
            {"dbl_tensor": [math.nan], "float_tensor": [1.0, math.nan],
             "int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"]},
            {"dbl_tensor": [2.0], "float_tensor": [2.0, math.inf],
             "int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"]}]}),
    "SingleUnnamedTensorColumnarFormat": ("int_tensor_only",
                                          '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}',
                                          {"outputs": [[[1, 2], [3, 4], [5, 6]]]}),
    "SingleUnnamedTensorColumnarFormat(unnamed)": ("int_tensor_only",
                                                   '{"inputs": [[[1,2],[3,4],[5,6]]]}',
                                                   {"outputs": [[[1, 2], [3, 4], [5, 6]]]}),
    # The 500: a bare {"b64": ...} is a scalar string tensor (shape []).
    "MultipleNamedTensorColumnarFormat": ("multi_three", f"""{{"inputs": {{
        "int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],
        "bin_tensor": {{"b64": "{HELLO}"}}}}}}""",
        {"outputs": {"bin_tensor": "hello", "int_tensor": [[[1, 2], [3, 4], [5, 6]]],
                     "str_tensor": ["foo", "bar"]}}),
}


@pytest.mark.parametrize("case", list(REPLAYED))
def test_json_tensor_request_cases(server, case):
    signature, body, expected = REPLAYED[case]
    if signature:
        body = body.replace("{", f'{{"signature_name": "{signature}", ', 1)
    got = answer(predict(server, body.encode()))
    assert same(got, expected), (got, expected)


FAILING = {
    # case: (signature, body, a part of TF Serving's message the test checks)
    "DeeplyNestedMalformed": (None, '{"signature_name":' + NESTED + "}",
                              "key must be a string value"),
    "SingleUnnamedTensorErrors(empty)": ("int_default", "", "document is empty"),
    "SingleUnnamedTensorErrors(signature 5)": (
        None, '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
        "must be a string value"),
    "SingleUnnamedTensorErrors(both keys)": (
        "int_default", '{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}',
        "Not formatted correctly"),
    "SingleUnnamedTensorErrors(size)": ("int_default", '{"instances": [[1,2],[3,4],[5,6,7]]}',
                                        "Expecting tensor size"),
    "SingleUnnamedTensorErrors(shape)": ("int_default", '{"instances": [[1,2],[3,4],[[5,6]]]}',
                                         "Expecting shape"),
    "SingleUnnamedTensorErrors(scalar then list)": ("int_default", '{"instances": [1, [1]]}',
                                                    "Expecting shape"),
    "SingleUnnamedTensorErrors(type)": ("int_default", '{"instances": [[1,2],["a", "b"]]}',
                                        "not of expected type"),
    "MultipleNamedTensorErrors(shape)": ("multi_two", """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
        {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}""",
        "Expecting shape"),
    "MultipleNamedTensorErrors(size)": ("multi_two", """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]},
        {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]}""",
        "Expecting tensor size"),
    "MultipleNamedTensorErrors(object then list)": ("multi_two", """{"instances": [
        {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
        [1, 20, 30],
        {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}""",
        "Expecting object but got list"),
    "MultipleNamedTensorErrors(list then object)": ("str_tensor_only", """{"instances": [
        ["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}""",
        "Expecting value/list but got object"),
}


@pytest.mark.parametrize("case", list(FAILING))
def test_json_tensor_request_errors(server, case):
    signature, body, part = FAILING[case]
    if signature and body:
        body = body.replace("{", f'{{"signature_name": "{signature}", ', 1)
    assert part in error(predict(server, body.encode()))


# --- JsontensorTest, the response side ---------------------------------------------------------

INT_2x3x2 = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]


def test_from_json_single_tensor_row_and_columnar(server):
    row = answer(predict(server, {"instances": INT_2x3x2}, "int_default"))
    columnar = answer(predict(server, {"inputs": INT_2x3x2}, "int_default"))
    assert row == {"predictions": INT_2x3x2}
    assert columnar == {"outputs": INT_2x3x2}


def test_from_json_single_scalar_tensor(server):
    assert answer(predict(server, {"instances": [1, 2, 3, 4, 5]}, "int_default")) == {
        "predictions": [1, 2, 3, 4, 5]}
    assert answer(predict(server, {"inputs": [1, 2, 3, 4, 5]}, "int_default")) == {
        "outputs": [1, 2, 3, 4, 5]}


def test_from_json_single_bytes_tensor(server):
    got = answer(predict(server, {"instances": [["hello", "world"], ["tf", "serving"]]},
                         "bytes_echo"))
    assert got == {"predictions": [[{"b64": HELLO}, {"b64": WORLD}],
                                   [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]}


def _numbers(text):
    return re.findall(r"-?(?:Infinity|NaN|[0-9][0-9.e+-]*)", text.split(":", 1)[1])


def test_from_json_float_six_digit_precision(server):
    resp = predict(server, {"instances": [[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]]},
                   "float_default")
    assert _numbers(resp.text) == ["9e+06", "999999.0", "0.5", "0.0003", "3e-05", "555557.5"]


def test_from_json_float_non_finite(server):
    resp = predict(server, b'{"signature_name": "float_default", '
                           b'"instances": [[NaN, Infinity], [3, -Infinity]]}')
    assert _numbers(resp.text) == ["NaN", "Infinity", "3.0", "-Infinity"]


def test_from_json_multiple_named_tensors():
    outputs = {
        "int_tensor": np.array(INT_2x3x2, np.int32),
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], object),
        "float_tensor": np.array([[1.0], [2.0]], np.float32),
        "double_scalar_tensor": np.array([8.0, 9.0]),
        "str_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], object),
    }
    row = json.loads(predict_response_to_json(outputs, "row"))
    assert row == {"predictions": [
        {"double_scalar_tensor": 8.0, "float_tensor": [1.0], "int_tensor": INT_2x3x2[0],
         "str_tensor": ["foo", "bar"], "str_tensor_bytes": [{"b64": HELLO}, {"b64": WORLD}]},
        {"double_scalar_tensor": 9.0, "float_tensor": [2.0], "int_tensor": INT_2x3x2[1],
         "str_tensor": ["baz", "bat"],
         "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]}]}
    columnar = json.loads(predict_response_to_json(outputs, "columnar"))
    assert columnar == {"outputs": {
        "double_scalar_tensor": [8.0, 9.0], "float_tensor": [[1.0], [2.0]],
        "int_tensor": INT_2x3x2, "str_tensor": [["foo", "bar"], ["baz", "bat"]],
        "str_tensor_bytes": [[{"b64": HELLO}, {"b64": WORLD}],
                             [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]}}


@pytest.mark.parametrize("outputs, part", [
    ({}, "empty tensor map"),
    ({"tensor": np.array([1 + 2j, 3 + 4j], np.complex64)}, "tensor type: complex64"),
    ({"tensor": np.array(1, np.int32)}, "no shape information"),
    ({"int_tensor": np.zeros((2, 3), np.int32), "str_tensor": np.array([[b"a"] * 3], object)},
     "inconsistent batch size"),
    ({"int_tensor": np.zeros((0, 2), np.int32), "str_tensor": np.array([[b"a", b"b"]], object)},
     "inconsistent batch size"),
])
def test_from_json_errors(outputs, part):
    with pytest.raises(ServingError, match=part) as info:
        predict_response_to_json(outputs, "row")
    assert info.value.code == "INVALID_ARGUMENT"


def test_from_json_zero_batch():
    one = {"int_tensor": np.zeros((0, 2), np.int32)}
    two = {"str_tensor": np.zeros((0, 1, 2), object), "float_tensor": np.zeros((0, 3, 4))}
    assert json.loads(predict_response_to_json(one, "row")) == {"predictions": []}
    assert json.loads(predict_response_to_json(two, "row")) == {"predictions": []}


def test_scalar_string_output_is_written_not_a_500():
    """TensorFlow hands a scalar string output back as ``bytes``, not an array."""
    text = predict_response_to_json({"bin_tensor": b"hello", "n": np.array(1)}, "columnar")
    assert json.loads(text) == {"outputs": {"bin_tensor": "hello", "n": 1}}


# --- the sweep: bare values for every dtype, row and columnar -----------------------------------

VALUES = {
    "float": 1.5, "double": 2.25, "int8": -3, "int16": 300, "int32": -70000, "int64": 2**40,
    "uint8": 200, "uint32": 4_000_000_000, "uint64": 2**63 + 5, "bool": True, "string": "s",
}
WRONG = {  # a JSON value of the wrong type for each dtype, and its RapidJSON type name
    "float": ('"a"', "String"), "double": ("true", "True"), "int8": ("1.5", "Number"),
    "int16": ('"a"', "String"), "int32": ("1.5", "Number"), "int64": ("false", "False"),
    "uint8": ('"a"', "String"), "uint32": ("-1", "Number"), "uint64": ("-1", "Number"),
    "bool": ("1", "Number"), "string": ("1", "Number"),
}


@pytest.mark.parametrize("dtype", list(VALUES))
def test_bare_scalars_of_every_dtype(server, dtype):
    value, sig = VALUES[dtype], f"echo_{dtype}"
    assert answer(predict(server, {"inputs": value}, sig)) == {"outputs": value}
    assert answer(predict(server, {"inputs": {"x": value}}, sig)) == {"outputs": value}
    assert answer(predict(server, {"instances": [value, value]}, sig)) == {
        "predictions": [value, value]}
    assert answer(predict(server, {"instances": [{"x": value}]}, sig)) == {
        "predictions": [value]}
    # "instances" must be a list, whatever it holds.
    message = error(predict(server, {"instances": value}, sig))
    assert message.endswith("Expecting 'instances' to be an list/array"), message


@pytest.mark.parametrize("dtype", list(WRONG))
def test_bare_value_of_the_wrong_type(server, dtype):
    text, kind = WRONG[dtype]
    body = f'{{"signature_name": "echo_{dtype}", "inputs": {text}}}'.encode()
    message = error(predict(server, body))
    assert message == f"JSON Value: {text} Type: {kind} is not of expected type: {dtype}"
    row = f'{{"signature_name": "echo_{dtype}", "instances": [{text}]}}'.encode()
    assert error(predict(server, row)) == (
        f"Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        f"JSON Value: {text} Type: {kind} is not of expected type: {dtype}")


def test_b64_object_for_a_number_is_a_type_error(server):
    message = error(predict(server, {"inputs": {"b64": HELLO}}, "echo_float"))
    assert message == f'JSON Value: {{\n    "b64": "{HELLO}"\n}} Type: Object is not of ' \
                      "expected type: float"


@pytest.mark.parametrize("dtype", ["half", "uint16"])
def test_dtypes_tf_serving_cannot_fill_from_json(server, dtype):
    resp = predict(server, {"inputs": 1}, f"echo_{dtype}")
    assert error(resp, 501) == f"Conversion of JSON Value: 1 to type: {dtype}"


@pytest.mark.parametrize("body, message", [
    ('{"inputs": [[1], 2]}',
     "JSON Value: 2 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
    ('{"inputs": [1, [2]]}', "Encountered list at unexpected level: 1 expected < 1"),
    ('{"inputs": [[1, 2], [3]]}',
     "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
    ('{"inputs": [[[1]], [2]]}',
     "JSON Value: 2 found at incorrect level: 3 in the JSON DOM. Expected at level: 3"),
    ('{"inputs": {"default": [[1], [[2]]]}}',
     "Encountered list at unexpected level: 2 expected < 2"),
    ('{"instances": [[1], 2]}',
     "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
     "Expecting shape [1] but got: []"),
    ('{"instances": [[[1, 2]], [3, [4]]]}',
     "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
     "Encountered list at unexpected level: 1 expected < 1"),
])
def test_nested_lists_of_mixed_depth(server, body, message):
    body = body.replace("{", '{"signature_name": "int_default", ', 1)
    assert error(predict(server, body.encode())) == message


# --- base64 as tools write it --------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "aGVs bG8=\n", "aGVsbG8=\r\n", "aGVs\nbG8=", " aGVsbG8", "aGVsbG8 =", "aGVsbG8.", "\taGVsbG8=\t",
])
def test_base64_with_whitespace_is_decoded(server, text):
    assert answer(predict(server, {"inputs": {"b64": text}}, "echo_string")) == {
        "outputs": "hello"}


@pytest.mark.parametrize("text", ["aGVsbG8==", "aGVsbG8=x", "aGk=aGk=", "a", "aGVs!bG8=",
                                  "aGVs-bG8_"])
def test_base64_absl_refuses(server, text):
    assert error(predict(server, {"inputs": {"b64": text}}, "echo_string")) == \
        "Unable to base64 decode"


def test_wrapped_base64_of_an_image_round_trips(server):
    blob = bytes(range(256)) * 3
    wrapped = base64.encodebytes(blob).decode()  # 76 columns and newlines, as MIME tools do
    got = answer(predict(server, {"instances": [{"b64": wrapped}]}, "bytes_echo"))
    assert base64.b64decode(got["predictions"][0]["b64"]) == blob


# --- gRPC: an input the signature lacks ------------------------------------------------------

def test_grpc_predict_with_an_input_the_signature_lacks(server):
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        meta = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        meta.model_spec.name = "json"
        sdm = get_model_metadata_pb2.SignatureDefMap()
        stub.GetModelMetadata(meta, timeout=60).metadata["signature_def"].Unpack(sdm)
        feed = sdm.signature_def["int_default"].inputs["default"].name
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "json"
        request.model_spec.signature_name = "int_default"
        request.inputs["key"].CopyFrom(tf.make_tensor_proto([1], tf.int32))
        with pytest.raises(grpc.RpcError) as info:
            stub.Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == (
        f"Signature input alias: default(feed name: {feed}) not found in request and no "
        "default value provided. Inputs expected to be in the request {key}, or default input "
        "alias set: ")


def test_grpc_scalar_string_tensor_round_trips(server):
    """The gRPC twin of MultipleNamedTensorColumnarFormat: a shape [] string in and out."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "json"
    request.model_spec.signature_name = "multi_three"
    request.inputs["bin_tensor"].CopyFrom(tf.make_tensor_proto(b"hello"))
    request.inputs["str_tensor"].CopyFrom(tf.make_tensor_proto([b"foo", b"bar"]))
    request.inputs["int_tensor"].CopyFrom(tf.make_tensor_proto([[1, 2]], tf.int32))
    with grpc.insecure_channel(server.grpc_target) as channel:
        reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request,
                                                                               timeout=60)
    scalar = reply.outputs["bin_tensor"]
    assert (list(scalar.string_val), list(scalar.tensor_shape.dim)) == ([b"hello"], [])
    assert tf.make_ndarray(reply.outputs["int_tensor"]).tolist() == [[1, 2]]


# --- image_bytes that is empty or no image: what a user reads, in both servers ---------------

@pytest.fixture(scope="module")
def image_server(serve, exported):
    return serve(model_base_path=exported.parent, model_name="shapes")


def _session_error(export_dir, images):
    """What TF Serving answers: its loader runs the SignatureDef's tensors in a TF1 session."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir))
        sig = meta.signature_def["serving_default"]
        fetches = [info.name for info in sig.outputs.values()]
        try:
            session.run(fetches, {sig.inputs["image_bytes"].name: images})
        except tf.errors.InvalidArgumentError as exc:
            # Python's session adds this header; TF Serving's C++ status carries the rest.
            return exc.message.removeprefix("Graph execution error:\n\n")
    raise AssertionError("the session accepted the images")


BAD_IMAGES = [
    ([b""], "image_bytes[0] is empty (0 bytes): unsupported image format, expected the bytes of "
            "a PNG, JPEG, GIF or BMP file"),
    ([b"\x89PNG\r\n\x1a\n"], "image_bytes[0] is a truncated PNG header: not a valid image (8 "
                            "bytes, the header alone needs 24); send the whole image file"),
    (["png", b"hello, world"], "image_bytes[1] is not an image: unsupported image format in its "
                               "12 bytes; expected the bytes of a PNG, JPEG, GIF or BMP file "
                               "(base64-encode the file itself, once)"),
]


def _images(images):
    import tensorflow as tf

    png = tf.io.encode_png(tf.zeros((16, 16, 3), tf.uint8)).numpy()
    return [png if image == "png" else image for image in images]


@pytest.mark.parametrize("images, says", BAD_IMAGES)
def test_bad_image_bytes_name_the_element_in_both_protocols(image_server, images, says):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    images = _images(images)
    body = {"instances": [{"b64": base64.b64encode(image).decode()} for image in images]}
    rest = error(requests.post(f"{image_server.rest_url}/v1/models/shapes:predict",
                               json=body, timeout=60))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "shapes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, tf.string))
    with grpc.insecure_channel(image_server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rest == info.value.details()
    # Session::Run's form, as TF Serving shows it: the assertion and the node, nothing of TF2's
    # eager wrapping ("Graph execution error: Detected at node ...", "[Op:...]").
    assert re.fullmatch(re.escape(f"assertion failed: [{says}]") + r"\n\t \[\[\{\{node map/while/"
                        r"[\w/]*Assert/Assert\}\}\]\]", rest), rest


@pytest.mark.parametrize("images, says", BAD_IMAGES[:1])
def test_tf_servings_session_shows_the_same_assertion(exported, images, says):
    assert _session_error(exported, _images(images)).startswith(f"assertion failed: [{says}]")
