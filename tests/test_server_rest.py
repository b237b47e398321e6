"""``kerascnn serve`` REST API, case by case against TF Serving's own tests.

The cases follow tensorflow/serving's ``http_rest_api_handler_test.cc``, ``json_tensor_test.cc``
and ``tensorflow_model_server_test.py``: one real server process on free ports, raw HTTP.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
from _server_models import build_toy

CONFIG = """
model_config_list {{
  config {{
    name: "toy"
    base_path: "{base}"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
}}
"""


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    root = tmp_path_factory.mktemp("rest")
    base = root / "models" / "toy"
    build_toy(base / "1", 1)
    build_toy(base / "2", 2)
    config = root / "models.config"
    config.write_text(CONFIG.format(base=base))
    # TF Serving's REST surface exactly: without the browser page kerascnn adds at / (its own
    # tests are in test_server_ui.py).
    return serve(model_config_file=config, extra_args=["--no-ui"])


def post(server, path, body, **kwargs):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.rest_url}{path}", data=data, timeout=60, **kwargs)


def get(server, path):
    return requests.get(f"{server.rest_url}{path}", timeout=60)


def error_of(resp, status):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert list(body) == ["error"], body
    return body["error"]


# --- model status ----------------------------------------------------------------------------

def test_status_lists_versions_newest_first(server):
    resp = get(server, "/v1/models/toy")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
    ]}


def test_status_of_one_version_and_label(server):
    one = get(server, "/v1/models/toy/versions/1").json()
    assert [s["version"] for s in one["model_version_status"]] == ["1"]
    labelled = get(server, "/v1/models/toy/labels/canary").json()
    assert [s["version"] for s in labelled["model_version_status"]] == ["2"]


def test_status_errors(server):
    assert error_of(get(server, "/v1/models/foo"), 404) == "Could not find any versions of model foo"
    assert error_of(get(server, "/v1/models/toy/versions/99"), 404) == (
        "Could not find version 99 of model toy"
    )
    assert error_of(get(server, "/v1/models/toy/labels/nope"), 400) == (
        "Unrecognized servable version label: nope"
    )


# --- metadata --------------------------------------------------------------------------------

def test_metadata_uses_tf_serving_field_names(server):
    resp = get(server, "/v1/models/toy/metadata")
    assert resp.status_code == 200
    body = resp.json()
    assert body["model_spec"] == {"name": "toy", "signature_name": "", "version": "2"}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "single", "strings", "typed"} <= set(sigs)
    x = sigs["serving_default"]["inputs"]["x"]
    assert x["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in x["tensor_shape"]["dim"]] == ["-1", "2"]
    assert sigs["serving_default"]["method_name"] == "tensorflow/serving/predict"
    assert sigs["strings"]["outputs"]["echo_bytes"]["dtype"] == "DT_STRING"
    v1 = get(server, "/v1/models/toy/versions/1/metadata").json()
    assert v1["model_spec"]["version"] == "1"
    assert get(server, "/v1/models/toy/labels/stable/metadata").json()["model_spec"][
        "version"] == "1"


def test_metadata_unknown_model_is_404(server):
    assert error_of(get(server, "/v1/models/foo/metadata"), 404) == (
        "Servable not found for request: Latest(foo)"
    )


# --- predict: formats ------------------------------------------------------------------------

def test_predict_row_format_several_outputs_one_object_per_row(server):
    resp = post(server, "/v1/models/toy:predict", {"instances": [[1.0, 2.0], [3, 4]]})
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"predictions": [
        {"y": [2.5, 3.0], "version": 2},
        {"y": [3.5, 4.0], "version": 2},
    ]}


def test_predict_row_format_single_output_drops_its_name(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "single", "instances": [[1.0, 2.0], [3.0, 4.0]]})
    assert resp.json() == {"predictions": [[2.5, 3.0], [3.5, 4.0]]}


def test_answers_are_byte_for_byte_tf_servings(server):
    # The layout TF Serving's RapidJSON PrettyWriter produces (see its README's curl examples).
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "single", "instances": [[1.0, 2.0], [3.0, 4.0]]})
    assert resp.content == b'{\n    "predictions": [[2.5, 3.0], [3.5, 4.0]\n    ]\n}'
    resp = post(server, "/v1/models/toy:predict", {"signature_name": "wide", "inputs": [1, 2]})
    assert resp.content == b'{\n    "outputs": [\n        2,\n        4\n    ]\n}'
    assert post(server, "/v1/models/foo:predict", {"instances": [1]}).content == (
        b'{\n    "error": "Servable not found for request: Latest(foo)"\n}')
    assert get(server, "/v1/models/toy/versions/1").content.decode() == (
        '{\n "model_version_status": [\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n'
        '   "status": {\n    "error_code": "OK",\n    "error_message": ""\n   }\n  }\n ]\n}')
    resp = post(server, "/v1/models/toy:regress",
                {"signature_name": "regress", "examples": [{"x": 1.0}, {"x": 2.0}]})
    assert resp.content == b'{\n    "results": [4.0, 6.0]\n}'


def test_predict_columnar_format(server):
    single = post(server, "/v1/models/toy:predict",
                  {"signature_name": "single", "inputs": [[3.0, 4.0]]})
    assert single.json() == {"outputs": [[3.5, 4.0]]}
    several = post(server, "/v1/models/toy:predict", {"inputs": {"x": [[3.0, 4.0]]}})
    assert several.json() == {"outputs": {"y": [[3.5, 4.0]], "version": [2]}}


def test_predict_named_instances(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "typed", "instances": [{"i": 1, "b": True},
                                                          {"i": -5, "b": False}]})
    assert resp.json() == {"predictions": [{"i_plus": 2, "b_not": False},
                                           {"i_plus": -4, "b_not": True}]}


def test_predict_by_version_and_label(server):
    body = {"signature_name": "single", "instances": [[1.0, 2.0]]}
    assert post(server, "/v1/models/toy/versions/1:predict", body).json() == {
        "predictions": [[1.5, 2.0]]}
    assert post(server, "/v1/models/toy/labels/stable:predict", body).json() == {
        "predictions": [[1.5, 2.0]]}
    assert post(server, "/v1/models/toy/labels/canary:predict", body).json() == {
        "predictions": [[2.5, 3.0]]}


def test_float_outputs_use_six_significant_digits(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "single", "instances": [[0.1, 1e7]]})
    # 0.1*0.5+2 = 2.05 (float32) prints as 2.05; 5e6+2 prints exactly.
    assert "2.05" in resp.text and "5000002.0" in resp.text
    assert resp.json()["predictions"][0][0] == pytest.approx(2.05)


# --- predict: strings and base64 -------------------------------------------------------------

def test_b64_inputs_and_bytes_outputs(server):
    payload = b"\x00\xffbinary"
    resp = post(server, "/v1/models/toy:predict", {
        "signature_name": "strings",
        "instances": [{"b64": base64.b64encode(payload).decode()}, "abc"],
    })
    assert resp.status_code == 200, resp.text
    rows = resp.json()["predictions"]
    assert base64.b64decode(rows[0]["echo_bytes"]["b64"]) == payload
    assert rows[1] == {"echo_bytes": {"b64": "YWJj"}, "length": 3, "upper": "ABC"}
    assert rows[0]["length"] == len(payload)


def test_b64_rejects_web_safe_alphabet_and_extra_keys(server):
    bad = post(server, "/v1/models/toy:predict",
               {"signature_name": "strings", "instances": [{"b64": "-_-_"}]})
    assert "Unable to base64 decode" in error_of(bad, 400)
    extra = post(server, "/v1/models/toy:predict",
                 {"signature_name": "strings", "inputs": [{"b64": "YWJj", "x": 1}]})
    assert "not formatted correctly for base64 data" in error_of(extra, 400)


def test_unpadded_b64_is_accepted(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "strings", "inputs": [{"b64": "YWI"}]})
    assert resp.json()["outputs"]["upper"] == ["AB"]


# --- predict: dtypes come from the signature -------------------------------------------------

def test_ints_fill_float_inputs(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "single", "instances": [[1, 2]]})
    assert resp.json() == {"predictions": [[2.5, 3.0]]}


def test_float_literal_rejected_for_int_input(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "typed", "inputs": {"i": [1.0], "b": [True]}})
    assert error_of(resp, 400) == (
        "JSON Value: 1.0 Type: Number is not of expected type: int32"
    )


def test_only_true_false_fill_bool_inputs(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "typed", "inputs": {"i": [1], "b": [1]}})
    assert error_of(resp, 400) == "JSON Value: 1 Type: Number is not of expected type: bool"


def test_int64_values_round_trip_exactly(server):
    big = 2**52 + 1
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "wide", "instances": [big, -3]})
    assert resp.json() == {"predictions": [2 * big, -6]}


def test_string_for_float_input_is_type_error(server):
    resp = post(server, "/v1/models/toy:predict", {"instances": ["x", "y"]})
    assert "not of expected type: float" in error_of(resp, 400)


# --- predict: malformed requests -------------------------------------------------------------

def test_empty_body(server):
    assert error_of(post(server, "/v1/models/toy:predict", b""), 400) == (
        "JSON Parse error: The document is empty"
    )


@pytest.mark.parametrize("body,message", [
    (b"{", "JSON Parse error: Missing a name for object member. at offset: 1"),
    (b"garbage", "JSON Parse error: Invalid value. at offset: 0"),
    (b'{"instances": [1, 2}', "JSON Parse error: Missing a comma or ']' after an array element."
                              " at offset: 19"),
    (b'{"instances" [1]}', "JSON Parse error: Missing a colon after a name of object member. "
                          "at offset: 13"),
    (b"   ", "JSON Parse error: The document is empty. at offset: 3"),
])
def test_malformed_json(server, body, message):
    assert error_of(post(server, "/v1/models/toy:predict", body), 400) == message


def test_body_must_be_an_object(server):
    assert error_of(post(server, "/v1/models/toy:predict", b"[1]"), 400) == (
        "JSON Value: [1] Is not object"
    )


def test_both_or_neither_of_instances_and_inputs(server):
    both = post(server, "/v1/models/toy:predict", {"instances": [[1, 2]], "inputs": [[1, 2]]})
    assert "Not formatted correctly expecting only one of 'inputs' or 'instances' keys" in (
        error_of(both, 400))
    neither = post(server, "/v1/models/toy:predict", {"signature_name": "single"})
    assert error_of(neither, 400) == "Missing 'inputs' or 'instances' key"


def test_empty_instances(server):
    resp = post(server, "/v1/models/toy:predict", {"instances": []})
    assert "No values in 'instances' array" in error_of(resp, 400)


def test_ragged_and_mismatched_rows(server):
    ragged = post(server, "/v1/models/toy:predict", {"instances": [[1, 2], [3, 4], [5, 6, 7]]})
    assert "Expecting tensor size: 2 but got: 3" in error_of(ragged, 400)
    mismatched = post(server, "/v1/models/toy:predict", {"instances": [[1, 2], [[5, 6]]]})
    assert "Expecting shape [2] but got: [1,2]" in error_of(mismatched, 400)
    mixed = post(server, "/v1/models/toy:predict", {"instances": [1, [1]]})
    assert "Expecting shape" in error_of(mixed, 400)
    inner = post(server, "/v1/models/toy:predict", {"inputs": [[1, 2], [3]]})
    assert "Encountered list at unexpected size: 1 at level: 1 expected size: 2" in (
        error_of(inner, 400))


def test_named_instances_must_be_consistent(server):
    resp = post(server, "/v1/models/toy:predict",
                {"signature_name": "typed", "instances": [{"i": 1, "b": True}, [1]]})
    assert "Expecting object but got list at item 1 of input list" in error_of(resp, 400)
    missing = post(server, "/v1/models/toy:predict",
                   {"signature_name": "typed", "instances": [{"i": 1}]})
    assert "keys must be equal to: b,i" in error_of(missing, 400)
    plain = post(server, "/v1/models/toy:predict",
                 {"signature_name": "typed", "instances": [1, 2]})
    assert "instances is a plain list, but expecting list of objects" in error_of(plain, 400)
    columns = post(server, "/v1/models/toy:predict",
                   {"signature_name": "typed", "inputs": {"i": [1]}})
    assert error_of(columns, 400) == "Missing named input: b in 'inputs' object."


def test_wrong_shape_is_left_to_tensorflow(server):
    resp = post(server, "/v1/models/toy:predict", {"instances": [[1, 2, 3]]})
    assert resp.status_code == 400
    assert "error" in resp.json()
    assert get(server, "/v1/models/toy").status_code == 200  # still alive


def test_unknown_signature(server):
    resp = post(server, "/v1/models/toy:predict", {"signature_name": "nope", "instances": [1]})
    assert error_of(resp, 400) == 'Serving signature name: "nope" not found in signature def'


def test_signature_name_must_be_a_string(server):
    resp = post(server, "/v1/models/toy:predict", {"signature_name": 100, "instances": [1]})
    assert "'signature_name' key must be a string value." in error_of(resp, 400)


def test_unknown_model_version_and_label(server):
    body = {"instances": [[1, 2]]}
    assert error_of(post(server, "/v1/models/foo:predict", body), 404) == (
        "Servable not found for request: Latest(foo)")
    assert error_of(post(server, "/v1/models/toy/versions/99:predict", body), 404) == (
        "Servable not found for request: Specific(toy, 99)")
    assert error_of(post(server, "/v1/models/toy/labels/x:predict", body), 400) == (
        "Unrecognized servable version label: x")


# --- JSON parser quirks, matching RapidJSON as TF Serving configures it -----------------------

def test_nan_and_infinity_are_accepted_and_returned(server):
    resp = post(server, "/v1/models/toy:predict",
                b'{"signature_name": "single", "instances": [[NaN, Infinity], [-Infinity, 1]]}')
    assert resp.status_code == 200, resp.text
    assert "NaN" in resp.text and "Infinity" in resp.text and "-Infinity" in resp.text
    rows = json.loads(resp.text)["predictions"]  # Python's json reads them back too
    assert rows[1][1] == 2.5


def test_trailing_bytes_after_the_document_are_ignored(server):
    resp = post(server, "/v1/models/toy:predict",
                b'{"signature_name": "single", "instances": [[1,2]]}X trailing junk')
    assert resp.json() == {"predictions": [[2.5, 3.0]]}


def test_duplicate_keys_first_one_wins(server):
    resp = post(server, "/v1/models/toy:predict",
                b'{"signature_name": "single", "signature_name": "nope", '
                b'"instances": [[1,2]], "instances": "ignored"}')
    assert resp.json() == {"predictions": [[2.5, 3.0]]}


def test_deep_nesting_in_an_unused_key_is_fine(server):
    depth = 100_000
    body = b'{"signature_name": "single", "instances": [[1, 2]], "nested": ' + (
        b"[" * depth + b"]" * depth + b"}")
    assert post(server, "/v1/models/toy:predict", body).json() == {"predictions": [[2.5, 3.0]]}


def test_deep_nesting_as_signature_name_is_a_clean_error(server):
    depth = 100_000
    body = b'{"signature_name": ' + b"[" * depth + b"]" * depth + b"}"
    resp = post(server, "/v1/models/toy:predict", body)
    assert "key must be a string value" in error_of(resp, 400)


def test_deep_nesting_as_instances_is_a_clean_error(server):
    depth = 20_000
    body = b'{"instances": ' + b"[" * depth + b"1" + b"]" * depth + b"}"
    resp = post(server, "/v1/models/toy:predict", body)
    assert resp.status_code == 400
    assert get(server, "/v1/models/toy").status_code == 200


def test_numbers_too_big_for_a_double(server):
    resp = post(server, "/v1/models/toy:predict", b'{"instances": [[1e400, 1]]}')
    assert "Number too big to be stored in double." in error_of(resp, 400)


@pytest.mark.parametrize("number", [b"9" * 25, b"-" + b"9" * 25, b"9" * 400, b"1" * 5000])
def test_huge_integers(server, number):
    resp = post(server, "/v1/models/toy:predict",
                b'{"signature_name": "single", "instances": [[' + number + b', 1]]}')
    if len(number) < 300:  # still a double: RapidJSON turns it into one
        assert resp.status_code == 200, resp.text
    else:
        assert "Number too big to be stored in double." in error_of(resp, 400)


def test_huge_double_overflows_float_to_infinity(server):
    resp = post(server, "/v1/models/toy:predict",
                b'{"signature_name": "single", "instances": [[1.7976931348623157e308, 1]]}')
    assert resp.status_code == 200
    assert resp.text.count("Infinity") == 1


# --- classify / regress ------------------------------------------------------------------------

def test_classify_with_tf_example_signature(server):
    resp = post(server, "/v1/models/toy:classify",
                {"signature_name": "classify", "examples": [{"x": 0.5}, {"x": 1.5}]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"results": [[["neg", 0.5], ["pos", 2.5]], [["neg", 1.5], ["pos", 3.5]]]}


def test_regress_with_context(server):
    resp = post(server, "/v1/models/toy/versions/1:regress",
                {"signature_name": "regress", "context": {"x": 3.0}, "examples": [{}, {"x": 1.0}]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"results": [7.0, 3.0]}


def test_classify_on_a_predict_only_signature_names_the_problem(server):
    resp = post(server, "/v1/models/toy:classify", {"examples": [{"x": 1.0}]})
    assert "No classification inputs found in SignatureDef" in error_of(resp, 400)
    three = post(server, "/v1/models/toy:classify",
                 {"signature_name": "strings", "examples": [{"x": 1.0}]})
    assert error_of(three, 400) == "Expected one or two output Tensors, found 3"
    regress = post(server, "/v1/models/toy:regress", {"examples": [{"x": 1.0}]})
    assert error_of(regress, 400) == "Expected one output Tensor."


def test_classify_body_errors(server):
    resp = post(server, "/v1/models/toy:classify", {"signature_name": "classify"})
    assert "When method is classify, key 'examples' is expected and was not found" in (
        error_of(resp, 400))
    null = post(server, "/v1/models/toy:classify", {"examples": [{"names": [None]}]})
    assert "names has element with unexpected JSON type: Null" in error_of(null, 400)
    mixed = post(server, "/v1/models/toy:classify", {"examples": [{"names": ["a", 1]}]})
    assert "feature: names expecting type: bytes" in error_of(mixed, 400)


# --- paths -------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,message", [
    ("GET", "/v1/foo", "Malformed request: GET /v1/foo"),
    ("POST", "/v1/foo", "Malformed request: POST /v1/foo"),
    ("GET", "/v1/models/debug/model_name", "Malformed request: GET /v1/models/debug/model_name"),
    ("POST", "/v1/models", "Malformed request: POST /v1/models"),
    ("GET", "/v1/models/foo:predict", "Malformed request: GET /v1/models/foo:predict"),
    ("GET", "/v1/models/foo/version/50:predict",
     "Malformed request: GET /v1/models/foo/version/50:predict"),
    ("POST", "/v1/models/foo/versions/HELLO:regress",
     "Malformed request: POST /v1/models/foo/versions/HELLO:regress"),
    ("POST", "/v1/models/foo/metadata", "Malformed request: POST /v1/models/foo/metadata"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress",
     "Malformed request: POST /v1/models/foo/versions/50/labels/some_label:regress"),
    ("PUT", "/v1/models/toy", "Malformed request: PUT /v1/models/toy"),
    ("DELETE", "/v1/models/toy:predict", "Malformed request: DELETE /v1/models/toy:predict"),
])
def test_malformed_paths_and_verbs_under_v1(server, method, path, message):
    resp = requests.request(method, f"{server.rest_url}{path}", data=b"{}", timeout=30)
    assert error_of(resp, 400) == message


def test_missing_model_name(server):
    assert error_of(get(server, "/v1/models"), 400) == "Missing model name in request."


def test_version_that_does_not_fit_int64(server):
    resp = post(server, "/v1/models/toy/versions/99999999999999999999:predict", {"instances": [1]})
    assert "Failed to convert version" in error_of(resp, 400)


def test_paths_are_case_insensitive(server):
    assert get(server, "/V1/MODELS/toy").status_code == 200
    resp = post(server, "/v1/models/toy:PREDICT", {"signature_name": "single", "instances": [[1, 2]]})
    assert resp.json() == {"predictions": [[2.5, 3.0]]}


def test_query_strings_are_ignored(server):
    assert get(server, "/v1/models/toy?x=1").status_code == 200


@pytest.mark.parametrize("path", ["/", "/index", "/statuspage", "/v2/models/toy", "/v1"])
def test_other_paths_are_404(server, path):
    assert requests.get(f"{server.rest_url}{path}", timeout=30).status_code == 404


@pytest.mark.parametrize("name", ["..", "%2e%2e", "%2E%2E%2Ftoy", "%2Fetc%2Fpasswd", "toy%00",
                                  "..%2F..%2Fetc"])
def test_model_names_cannot_escape(server, name):
    resp = post(server, f"/v1/models/{name}:predict", {"instances": [[1, 2]]})
    assert resp.status_code == 404
    assert resp.json()["error"].startswith("Servable not found for request: Latest(")
    if "%" in name:  # a literal ".." segment is normalised away by the HTTP client itself
        assert error_of(get(server, f"/v1/models/{name}"), 404).startswith(
            "Could not find any versions of model ")


def test_slash_in_path_segment_is_malformed(server):
    resp = post(server, "/v1/models/../toy:predict", {"instances": [[1, 2]]})
    assert resp.status_code in (400, 404)
    assert "error" in resp.json() or resp.status_code == 404


def test_cors_preflight(server):
    """TF Serving's http_server.cc answers a preflight itself: 200 when Origin holds an http(s)
    URL, 400 (FAILED_PRECONDITION) otherwise, an empty body either way, and no CORS headers
    unless --rest_api_enable_cors_support (tests/test_serve_flags.py)."""
    ok = requests.options(f"{server.rest_url}/v1/models/toy:predict",
                          headers={"Origin": "http://example.com"}, timeout=30)
    assert (ok.status_code, ok.content) == (200, b"")
    assert "Access-Control-Allow-Origin" not in ok.headers
    missing = requests.options(f"{server.rest_url}/v1/models/toy:predict", timeout=30)
    assert (missing.status_code, missing.content) == (400, b"")


# --- the RapidJSON-compatible parser itself (in process, property-based) ------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kerascnn.server import jsonparse  # noqa: E402


def _plain(value):
    if isinstance(value, jsonparse.JsonObject):
        return {_text(k): _plain(v) for k, v in reversed(value.members)}  # first one wins
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, str)):
        return _text(value)
    if value is jsonparse.NULL:
        return None
    return value


def _text(value):
    return jsonparse.as_bytes(value).decode("utf-8", "surrogatepass")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_json_values, st.booleans())
def test_parser_agrees_with_python_json_on_valid_documents(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    fast = _plain(jsonparse.parse(text.encode()))
    exact = _plain(jsonparse._parse_exact(text.encode()))  # the path for unusual documents
    assert fast == exact == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_parser_only_ever_raises_its_own_error(data):
    try:
        jsonparse.parse(data)
    except jsonparse.JsonParseError as exc:
        assert exc.offset >= 0


def test_parser_number_kinds_follow_rapidjson():
    doc = jsonparse.parse(b"[1, 1.0, 1e2, -0, 18446744073709551615, 18446744073709551616, -Inf]")
    assert [type(v).__name__ for v in doc] == ["int", "float", "float", "int", "int", "float",
                                               "float"]
    assert doc[-1] == float("-inf")
    with pytest.raises(jsonparse.JsonParseError, match="Missing fraction part in number"):
        jsonparse.parse(b"[1.]")
    with pytest.raises(jsonparse.JsonParseError, match="Incorrect hex digit"):
        jsonparse.parse(b'"\\u12G4"')
    assert jsonparse.parse(b'"\\ud83d\\ude00"') == "\N{GRINNING FACE}".encode()


# --- fuzzing the live server: never a 500, never a traceback, never down ------------------------

_fuzz_docs = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
    | st.just({"b64": "YWJj"}),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["instances", "inputs", "signature_name", "x", "i", "b", "b64",
                         "examples", "context"]), inner, max_size=3),
    max_leaves=12,
)


def _check_answer(resp):
    assert resp.status_code in (200, 400, 404), (resp.status_code, resp.text)
    assert "Traceback" not in resp.text
    body = resp.json() if "NaN" not in resp.text else json.loads(resp.text)
    assert isinstance(body, dict)


@settings(max_examples=60, deadline=None)
@given(doc=_fuzz_docs, verb=st.sampled_from(["predict", "classify", "regress"]),
       signature=st.sampled_from([None, "single", "strings", "typed", "wide", "classify"]))
def test_fuzzed_json_bodies_get_clean_answers(server, doc, verb, signature):
    if signature and isinstance(doc, dict):
        doc = {**doc, "signature_name": signature}
    _check_answer(post(server, f"/v1/models/toy:{verb}", json.dumps(doc, allow_nan=True)))


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=80))
def test_fuzzed_raw_bodies_get_clean_answers(server, body):
    _check_answer(post(server, "/v1/models/toy:predict", body))
