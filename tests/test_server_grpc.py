"""``kerascnn serve`` over gRPC with the raw stubs from tensorflow-serving-api."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from _server_models import build_toy

tf = pytest.importorskip("tensorflow")

from tensorflow_serving.apis import (  # noqa: E402
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

CONFIG = """
model_config_list {{
  config {{
    name: "toy"
    base_path: "{base}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
  }}
}}
"""


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("grpc")
    base = root / "models" / "toy"
    build_toy(base / "1", 1)
    build_toy(base / "2", 2)
    other = root / "models" / "other"
    build_toy(other / "7", 7)
    config = root / "models.config"
    config.write_text(CONFIG.format(base=base))
    return {"root": root, "base": base, "other": other, "config": config}


@pytest.fixture(scope="module")
def server(serve, paths):
    return serve(model_config_file=paths["config"])


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(
        server.grpc_target,
        options=[("grpc.max_send_message_length", 64 << 20),
                 ("grpc.max_receive_message_length", 64 << 20)],
    )
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def predict_request(x, *, name="toy", signature="", version=None, label=None, alias="x"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if signature:
        request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    request.inputs[alias].CopyFrom(tf.make_tensor_proto(x))
    return request


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    return info.value.code(), info.value.details()


def test_predict_latest(stubs):
    predict, _ = stubs
    response = predict.Predict(predict_request(np.array([[1, 2], [3, 4]], np.float32)), timeout=60)
    assert response.model_spec.name == "toy"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [[2.5, 3.0], [3.5, 4.0]]
    assert tf.make_ndarray(response.outputs["version"]).tolist() == [2, 2]
    # TF Serving fills the typed value fields, which some clients read directly.
    assert list(response.outputs["y"].float_val) == [2.5, 3.0, 3.5, 4.0]


def test_predict_version_and_label(stubs):
    predict, _ = stubs
    x = np.array([[1, 2]], np.float32)
    by_version = predict.Predict(predict_request(x, version=1), timeout=60)
    assert by_version.model_spec.version.value == 1
    assert tf.make_ndarray(by_version.outputs["y"]).tolist() == [[1.5, 2.0]]
    by_label = predict.Predict(predict_request(x, label="stable"), timeout=60)
    assert by_label.model_spec.version.value == 1


def test_output_filter(stubs):
    predict, _ = stubs
    request = predict_request(np.array([[1, 2]], np.float32))
    request.output_filter.append("version")
    response = predict.Predict(request, timeout=60)
    assert list(response.outputs) == ["version"]
    request.output_filter.append("nope")
    code, details = rpc_error(predict.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("output tensor alias not found in signature: nope")
    dup = predict_request(np.array([[1, 2]], np.float32))
    dup.output_filter.extend(["y", "y"])
    assert rpc_error(predict.Predict, dup) == (
        grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias: y")


def test_strings_and_bytes(stubs):
    predict, _ = stubs
    request = predict_request(np.array([b"\x00\xffab", b"cd"], dtype=object),
                              signature="strings", alias="image_bytes")
    response = predict.Predict(request, timeout=60)
    assert list(response.outputs["echo_bytes"].string_val) == [b"\x00\xffab", b"cd"]
    assert tf.make_ndarray(response.outputs["length"]).tolist() == [4, 2]


@pytest.mark.parametrize("request_kwargs,code,message", [
    ({"name": "foo"}, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(foo)"),
    ({"version": 99}, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Specific(toy, 99)"),
    ({"label": "nope"}, grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: nope"),
    ({"signature": "nope"}, grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
])
def test_predict_status_codes(stubs, request_kwargs, code, message):
    predict, _ = stubs
    request = predict_request(np.array([[1, 2]], np.float32), **request_kwargs)
    assert rpc_error(predict.Predict, request) == (code, message)


def test_missing_model_spec_is_invalid_argument(stubs):
    predict, model = stubs
    code, details = rpc_error(predict.Predict, predict_pb2.PredictRequest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details == "Missing ModelSpec"
    code, _ = rpc_error(model.GetModelStatus, get_model_status_pb2.GetModelStatusRequest())
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_bad_inputs_are_invalid_argument(stubs):
    predict, _ = stubs
    wrong_dtype = predict_request(np.array([["a", "b"]], dtype=object))
    assert rpc_error(predict.Predict, wrong_dtype) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expects arg[0] to be float but string is provided")
    extra = predict_request(np.array([[1, 2]], np.float32))
    extra.inputs["z"].CopyFrom(tf.make_tensor_proto([1.0]))
    code, details = rpc_error(predict.Predict, extra)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("input size does not match signature: 2!=1")
    wrong_name = predict_request(np.array([[1, 2]], np.float32), alias="q")
    code, details = rpc_error(predict.Predict, wrong_name)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == (  # TF Serving 2.x's words (tensorflow/cc/saved_model/util.cc)
        "Signature input alias: x(feed name: serving_default_x:0) not found in request and no "
        "default value provided. Inputs expected to be in the request {q}, or default input "
        "alias set: ")
    wrong_shape = predict_request(np.array([[1, 2, 3]], np.float32))
    assert rpc_error(predict.Predict, wrong_shape)[0] == grpc.StatusCode.INVALID_ARGUMENT
    broken = predict_request(np.array([[1, 2]], np.float32))
    broken.inputs["x"].tensor_content = b"\x00\x01\x02"  # not 8 bytes
    assert rpc_error(predict.Predict, broken)[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_large_messages(stubs):
    predict, _ = stubs
    x = np.random.default_rng(0).random((600_000, 2), dtype=np.float32)  # ~4.8 MB each way
    response = predict.Predict(predict_request(x, signature="single"), timeout=120)
    y = tf.make_ndarray(response.outputs["y"])
    np.testing.assert_allclose(y, x * 0.5 + 2, rtol=1e-6)


def test_get_model_metadata(stubs):
    predict, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "toy"
    request.metadata_field.append("signature_def")
    response = predict.GetModelMetadata(request, timeout=60)
    assert response.model_spec.version.value == 2
    sdm = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sdm)
    x = sdm.signature_def["serving_default"].inputs["x"]
    assert x.dtype == tf.float32.as_datatype_enum
    assert [d.size for d in x.tensor_shape.dim] == [-1, 2]
    empty = get_model_metadata_pb2.GetModelMetadataRequest()
    empty.model_spec.name = "toy"
    assert rpc_error(predict.GetModelMetadata, empty) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "GetModelMetadataRequest must specify at least one metadata_field")
    request.metadata_field.append("bogus")
    assert rpc_error(predict.GetModelMetadata, request) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Metadata field bogus is not supported")


def _examples(target, values):
    for v in values:
        ex = target.examples.add()
        ex.features.feature["x"].float_list.value.append(v)


def test_classify_and_regress(stubs):
    predict, _ = stubs
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = "classify"
    _examples(request.input.example_list, [0.5])
    response = predict.Classify(request, timeout=60)
    classes = response.result.classifications[0].classes
    assert [(c.label, round(c.score, 4)) for c in classes] == [("neg", 0.5), ("pos", 2.5)]
    assert response.model_spec.version.value == 2

    reg = regression_pb2.RegressionRequest()
    reg.model_spec.name = "toy"
    reg.model_spec.signature_name = "regress"
    reg.model_spec.version.value = 1
    _examples(reg.input.example_list, [1.0, 2.0])
    values = [r.value for r in predict.Regress(reg, timeout=60).result.regressions]
    assert values == [3.0, 5.0]

    predict_only = classification_pb2.ClassificationRequest()
    predict_only.model_spec.name = "toy"
    _examples(predict_only.input.example_list, [1.0])
    code, details = rpc_error(predict.Classify, predict_only)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "No classification inputs found in SignatureDef" in details


def test_multi_inference(stubs):
    predict, _ = stubs
    request = inference_pb2.MultiInferenceRequest()
    for sig, method in (("classify", "tensorflow/serving/classify"),
                        ("regress", "tensorflow/serving/regress")):
        task = request.tasks.add()
        task.model_spec.name = "toy"
        task.model_spec.signature_name = sig
        task.method_name = method
    _examples(request.input.example_list, [1.0])
    response = predict.MultiInference(request, timeout=60)
    assert len(response.results) == 2
    assert response.results[1].regression_result.regressions[0].value == 4.0
    assert response.results[0].classification_result.classifications[0].classes[1].label == "pos"
    request.tasks[1].model_spec.name = "other"
    assert rpc_error(predict.MultiInference, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "All ModelSpecs in a MultiInferenceRequest must access the same model name.")


def test_get_model_status(stubs):
    _, model = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = model.GetModelStatus(request, timeout=60)
    assert [s.version for s in response.model_version_status] == [2, 1]
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert all(s.state == available for s in response.model_version_status)
    request.model_spec.name = "foo"
    assert rpc_error(model.GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model foo")


def _config(*entries):
    config = model_server_config_pb2.ModelServerConfig()
    for name, base, labels in entries:
        entry = config.model_config_list.config.add(name=name, base_path=str(base),
                                                    model_platform="tensorflow")
        for key, value in labels.items():
            entry.version_labels[key] = value
    return config


def test_reload_config_adds_and_removes_models(server, stubs, paths):
    predict, model = stubs
    reload = model_management_pb2.ReloadConfigRequest(
        config=_config(("toy", paths["base"], {}), ("other", paths["other"], {"prod": 7})))
    response = model.HandleReloadConfigRequest(reload, timeout=120)
    assert response.status.error_code == 0
    out = predict.Predict(predict_request(np.array([[0, 0]], np.float32), name="other",
                                          label="prod"), timeout=60)
    assert out.model_spec.version.value == 7
    # toy is now latest-only: version 1 was unloaded, 2 serves.
    status = model.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": "toy"}), timeout=60)
    states = {s.version: s.state for s in status.model_version_status}
    assert states == {2: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
                      1: get_model_status_pb2.ModelVersionStatus.END}

    bad = model_management_pb2.ReloadConfigRequest(
        config=_config(("toy", paths["base"], {"stable": 1})))
    code, details = rpc_error(model.HandleReloadConfigRequest, bad)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "which is not currently available for inference" in details
    assert rpc_error(predict.Predict, predict_request(np.zeros((1, 2), np.float32), label="stable"))[
        1] == "Unrecognized servable version label: stable"  # the rejected labels never applied

    remove = model_management_pb2.ReloadConfigRequest(config=_config(("toy", paths["base"], {})))
    assert model.HandleReloadConfigRequest(remove, timeout=120).status.error_code == 0
    assert rpc_error(predict.Predict, predict_request(np.zeros((1, 2), np.float32),
                                                      name="other"))[0] == grpc.StatusCode.NOT_FOUND
