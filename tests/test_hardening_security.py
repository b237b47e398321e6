"""Security: model names cannot reach outside the base path, the server binds loopback by
default, ``.keras`` files load in Keras safe mode (a Lambda layer's code never runs), and a
request over the body limit is refused before it is buffered whole.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import psutil
import pytest
import requests
import tensorflow as tf
from _hardening_utils import (
    VersionedModel,
    export_version,
    png,
    raw_http,
    stream_until_answered,
)
from _processes import ROOT
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerascnn.errors import KerasCNNError, UsageError

MODEL = "m"
LIMIT = 1024 * 1024


def kerascnn(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kerascnn", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def one_error_line(proc) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """base/m/1 is served; secret/1 (another model) sits beside the base path."""
    root = tmp_path_factory.mktemp("sec")
    served, secret = VersionedModel(1), VersionedModel(2)
    export_version(served, root / "base", MODEL)
    export_version(secret, root, "secret")
    return root, served, secret


@pytest.fixture(scope="module")
def server(serve, layout):
    root, _, _ = layout
    return serve(model_base_path=root / "base" / MODEL, model_name=MODEL,
                 extra_args=["--max-request-bytes", LIMIT])


def escaping_names(root: Path) -> list[str]:
    secret = root / "secret"
    return ["..", "../secret", "%2e%2e", "%2e%2e%2fsecret", "..%2fsecret", "%2E%2E%2Fsecret",
            "m%2f..%2f..%2fsecret", "m/../../secret", "%2F" + "%2F".join(secret.parts[1:]),
            str(secret).replace("/", "%2f"), "....//secret", "%252e%252e%252fsecret"]


def test_rest_names_cannot_escape_the_base_path(server, layout):
    root, served, secret = layout
    body = json.dumps({"instances": [{"b64": base64.b64encode(png()).decode()}]}).encode()
    for name in escaping_names(root):
        for method, path in (("POST", f"/v1/models/{name}:predict"),
                             ("GET", f"/v1/models/{name}"),
                             ("GET", f"/v1/models/{name}/metadata"),
                             ("POST", f"/v1/models/{MODEL}/labels/{name}:predict")):
            # raw bytes on the socket: no client-side normalisation of '..'
            payload = body if method == "POST" else b""
            request = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
                       ).encode() + payload
            status, answer = raw_http(server.rest_port, request)
            assert status in (400, 404), (path, status, answer[:200])
            assert secret.label.encode() not in answer, (path, answer[:300])
    # the real model still answers
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", data=body, timeout=30)
    assert r.status_code == 200 and r.json()["predictions"][0]["label"] == served.label


def test_grpc_names_cannot_escape_the_base_path(server, layout):
    root, _, secret = layout
    names = ["..", "../secret", "../../secret", str(root / "secret"), "m/../../secret",
             "%2e%2e/secret", "m/../m"]
    with grpc.insecure_channel(server.grpc_target) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus
        for name in names:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([png()]))
            with pytest.raises(grpc.RpcError) as err:
                predict(request, timeout=30)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND, (name, err.value.details())
            sreq = get_model_status_pb2.GetModelStatusRequest()
            sreq.model_spec.name = name
            with pytest.raises(grpc.RpcError) as err:
                status(sreq, timeout=30)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND, name


@pytest.mark.parametrize("name", ["..", "../escape", "a/../../escape", "/tmp/escape",
                                  "%2e%2e", "a\\..\\b", "a/b", ".hidden"])
def test_export_refuses_names_that_are_paths(tmp_path, name):
    from kerascnn.export import export_model

    base = tmp_path / "base"
    with pytest.raises(UsageError):
        export_model(VersionedModel(1).keras_model(), base=base, name=name,
                     class_names=VersionedModel(1).class_names)
    outside = [p for p in tmp_path.rglob("*") if base not in p.parents and p != base]
    assert outside == [], outside
    assert not (base.exists() and any(base.iterdir()))


def test_local_client_model_name_cannot_escape_the_base(layout):
    from kerascnn.loading import resolve_local_model

    root, _, _ = layout
    base = root / "base"
    for name in ("../secret", str(root / "secret"), "m/../../secret"):
        try:
            found = resolve_local_model(base, model_name=name)
        except (UsageError, KerasCNNError):
            continue
        assert base.resolve() in found.resolve().parents, f"{name!r} reached {found}"


def test_server_binds_loopback_by_default(server):
    proc = psutil.Process(server.process.pid)
    deadline = time.monotonic() + 30
    listening = []
    while time.monotonic() < deadline:
        listening = [c for c in proc.net_connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN]
        if {c.laddr.port for c in listening} >= {server.rest_port, server.grpc_port}:
            break
        time.sleep(0.2)
    ports = {c.laddr.port: c.laddr.ip for c in listening}
    assert server.rest_port in ports and server.grpc_port in ports, listening
    assert all(c.laddr.ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") for c in listening), listening
    # and it is not reachable on the machine's other addresses
    others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
              if a.family.name == "AF_INET" and not a.address.startswith("127.")]
    for address in others[:3]:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{address}:{server.rest_port}/v1/models/{MODEL}", timeout=5)


# ------------------------------------------------------------------------------ safe mode
def evil_keras(directory: Path, marker: Path) -> Path:
    """A .keras whose Lambda layer writes ``marker`` when the model is rebuilt."""
    import keras

    code = f"lambda x: (open({str(marker)!r}, 'w').write('pwned'), x)[1]"
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(eval(code))(inputs)  # noqa: S307 - the attack under test
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    path = directory / "evil.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)
    (directory / "labels.txt").write_text("a\nb\nc\n")
    return path


def test_keras_file_with_lambda_code_is_refused(tmp_path):
    import keras

    from kerascnn.loading import load_model

    marker = tmp_path / "pwned.txt"
    evil = evil_keras(tmp_path, marker)
    # The attack is real: outside safe mode, loading runs the code.
    keras.saving.load_model(evil, safe_mode=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises((KerasCNNError, UsageError)) as err:
        load_model(evil)
    assert "\n" not in str(err.value) and "evil.keras" in str(err.value)
    assert not marker.exists()

    proc = kerascnn("export", evil, "--base", tmp_path / "base", "--name", "evil")
    assert proc.returncode in (1, 2)
    line = one_error_line(proc)
    assert "evil.keras" in line and ("safe" in line.lower() or "lambda" in line.lower()), line
    assert not marker.exists()
    assert not (tmp_path / "base" / "evil").exists() or not any(
        p.name.isdigit() for p in (tmp_path / "base" / "evil").iterdir())


# ------------------------------------------------------------------------------ body limit
def test_body_over_the_limit_is_refused_before_it_is_buffered(server):
    path = f"/v1/models/{MODEL}:predict"
    # Declared too large: answered from the header, with nothing of the body sent.
    status, sent = stream_until_answered(server.rest_port, path, 100 * LIMIT, chunked=False,
                                         chunk_size=LIMIT // 4)
    assert status == 413 and sent < 100 * LIMIT, (status, sent)
    # Streamed without a length: refused once past the limit, long before the end.
    rss = psutil.Process(server.process.pid).memory_info().rss
    status, sent = stream_until_answered(server.rest_port, path, 100 * LIMIT, chunked=True,
                                         chunk_size=LIMIT // 4)
    assert status == 413 and sent < 50 * LIMIT, (status, sent)
    assert psutil.Process(server.process.pid).memory_info().rss - rss < 64 * LIMIT
    # Just under the limit is read and parsed (a 400 for the filler, not a 413).
    r = requests.post(server.rest_url + path, data=b"[" + b"1," * (LIMIT // 2 - 8) + b"1]",
                      timeout=60)
    assert r.status_code == 400, r.status_code
    # gRPC: a message over the limit is refused by the transport.
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([b"x" * (2 * LIMIT)]))
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value.details()
