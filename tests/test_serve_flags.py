"""TF Serving's command-line flags on ``kerascnn serve``, with TF Serving's meaning.

One real server started with the flags a user copies from TF Serving's documentation
(``model_servers/main.cc``): thread pools, CORS, the ``grpc.health.v1`` service, load retries,
MetaGraph tags, and flags the embedded server does not implement (accepted with a warning).
Flag errors are checked without paying for TensorFlow.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import requests
from _processes import run_cli
from _server_models import build_toy

from kerascnn.server import health
from kerascnn.server.config import ServerOptions

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET",
    "Access-Control-Allow-Headers": "Content-Type",
}


@pytest.fixture(scope="module")
def toy_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("flags") / "toy"
    build_toy(base / "1", 1)
    return base


@pytest.fixture(scope="module")
def server(serve, toy_base):
    return serve(
        model_base_path=toy_base,
        model_name="toy",
        extra_args=[
            "--tensorflow_intra_op_parallelism=2",
            "--tensorflow_inter_op_parallelism", "1",
            "--rest_api_enable_cors_support",
            "--enable_grpc_healthcheck_service=true",
            "--max_num_load_retries=0",
            "--load_retry_interval_micros=-1",
            "--saved_model_tags=serve",
            # TF Serving flags kerascnn does not implement: accepted, one warning line each.
            "--num_load_threads=4",
            "--flush_filesystem_caches", "false",
            "--enable_profiler",
        ],
    )


def _health_stubs(target):
    channel = grpc.insecure_channel(target)
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health.HealthCheckRequest.SerializeToString,
        response_deserializer=health.HealthCheckResponse.FromString,
    )
    watch = channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=health.HealthCheckRequest.SerializeToString,
        response_deserializer=health.HealthCheckResponse.FromString,
    )
    return channel, check, watch


# --- flags that are not implemented: a warning, not "No such option" ------------------------

def test_unimplemented_tf_serving_flags_warn_once_each(server):
    warnings = [line for line in server.output.splitlines() if "does not implement" in line]
    assert warnings == [
        f"kerascnn serve: --{flag} is a TF Serving flag the embedded server does not "
        "implement; ignored"
        for flag in ("num_load_threads", "flush_filesystem_caches", "enable_profiler")
    ], server.output
    ok = requests.get(f"{server.rest_url}/v1/models/toy", timeout=30)
    assert ok.status_code == 200


# --- thread pools -------------------------------------------------------------------------------

def test_thread_pool_flags_size_tensorflows_pools(server):
    assert "TensorFlow thread pools: intra-op 2, inter-op 1" in server.output


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_inter_op_pool_has_the_asked_number_of_threads(server):
    """TensorFlow names its inter-op pool threads tf_Compute; the flag asked for one."""
    requests.post(f"{server.rest_url}/v1/models/toy:predict",
                  json={"instances": [[1.0, 2.0]] * 8}, timeout=30).raise_for_status()
    tasks = Path(f"/proc/{server.process.pid}/task").iterdir()
    names = [(task / "comm").read_text().strip() for task in tasks]
    assert names.count("tf_Compute") == 1, names


def test_thread_pool_sizes_follow_tf_servings_rules():
    assert ServerOptions().thread_pool_sizes() == (0, 0)  # 0: TensorFlow chooses
    assert ServerOptions(tensorflow_session_parallelism=3).thread_pool_sizes() == (3, 3)
    # Either of intra/inter set: both are taken as given, the session value is ignored.
    assert ServerOptions(tensorflow_inter_op_parallelism=2,
                         tensorflow_session_parallelism=3).thread_pool_sizes() == (0, 2)


# --- CORS -----------------------------------------------------------------------------------------

def test_cors_headers_on_answers_and_errors(server):
    ok = requests.get(f"{server.rest_url}/v1/models/toy", timeout=30)
    missing = requests.get(f"{server.rest_url}/v1/models/nope", timeout=30)
    bad = requests.post(f"{server.rest_url}/v1/models/toy:predict", data="{", timeout=30)
    for resp, status in ((ok, 200), (missing, 404), (bad, 400)):
        assert resp.status_code == status
        for key, value in CORS.items():
            assert resp.headers.get(key) == value, (status, dict(resp.headers))
        assert resp.headers["Content-Type"] == "application/json"


def test_cors_preflight(server):
    url = f"{server.rest_url}/v1/models/toy:predict"
    ok = requests.options(url, headers={"Origin": "https://app.example",
                                        "Access-Control-Request-Method": "POST"}, timeout=30)
    assert ok.status_code == 200
    assert ok.content == b""
    assert {k: ok.headers.get(k) for k in CORS} == CORS
    # TF Serving: FAILED_PRECONDITION (400), and like every preflight an empty body.
    refused = requests.options(url, headers={"Origin": "app.example"}, timeout=30)
    assert refused.status_code == 400
    assert refused.content == b""


def test_a_browser_can_call_predict(server):
    """What a page on another origin does: preflight, then the POST with its Origin."""
    url = f"{server.rest_url}/v1/models/toy:predict"
    headers = {"Origin": "http://localhost:3000", "Content-Type": "application/json"}
    assert requests.options(url, headers=headers, timeout=30).status_code == 200
    resp = requests.post(url, json={"instances": [[1.0, 2.0]]}, headers=headers, timeout=30)
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.json()["predictions"][0]["y"] == [1.5, 2.0]


# --- grpc.health.v1 -------------------------------------------------------------------------------

def test_health_check_answers_serving_for_tf_servings_services(server):
    channel, check, _ = _health_stubs(server.grpc_target)
    with channel:
        for service in ("", "ModelService", "PredictionService"):
            reply = check(health.HealthCheckRequest(service=service), timeout=30)
            assert reply.status == health.SERVING, service
        with pytest.raises(grpc.RpcError) as info:
            check(health.HealthCheckRequest(service="tensorflow.serving.Nope"), timeout=30)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        assert info.value.details() == "service name unknown"


def test_health_watch_streams_the_status(server):
    channel, _, watch = _health_stubs(server.grpc_target)
    with channel:
        stream = watch(health.HealthCheckRequest(service="PredictionService"), timeout=30)
        assert next(stream).status == health.SERVING
        stream.cancel()
        unknown = watch(health.HealthCheckRequest(service="other"), timeout=30)
        assert next(unknown).status == health.SERVICE_UNKNOWN
        unknown.cancel()


def test_health_turns_not_serving_at_shutdown(serve, toy_base):
    with serve(model_base_path=toy_base, model_name="toy",
               extra_args=["--enable_grpc_healthcheck_service"]) as server:
        channel, _, watch = _health_stubs(server.grpc_target)
        with channel:
            stream = watch(health.HealthCheckRequest(service=""), timeout=120)
            assert next(stream).status == health.SERVING
            server.process.terminate()
            after = [reply.status for reply in stream]
        assert after == [health.NOT_SERVING]
        assert server.stop() == 0


def test_health_service_is_off_by_default(serve, toy_base):
    with serve(model_base_path=toy_base, model_name="toy") as server:
        channel, check, _ = _health_stubs(server.grpc_target)
        with channel, pytest.raises(grpc.RpcError) as info:
            check(health.HealthCheckRequest(service=""), timeout=30)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        resp = requests.get(f"{server.rest_url}/v1/models/toy", timeout=30)
        assert "Access-Control-Allow-Origin" not in resp.headers
        assert "TensorFlow thread pools: intra-op auto, inter-op auto" in server.output


# --- load retries and tags: TF Serving's defaults and meanings --------------------------------

def test_load_retry_and_tag_options_keep_tf_servings_meaning():
    default = ServerOptions()
    assert (default.max_num_load_retries, default.load_retry_interval_seconds()) == (5, 60.0)
    assert ServerOptions(load_retry_interval_micros=-5).load_retry_interval_seconds() == 0.0
    assert default.saved_model_tag_set() == ["serve"]
    assert ServerOptions(saved_model_tags="serve, tpu").saved_model_tag_set() == ["serve", "tpu"]


# --- flag errors: one line, exit 2, and no TensorFlow import ------------------------------------

PROBE = """
import sys
from kerascnn.cli import main
try:
    main({args!r})
except SystemExit as exc:
    print("EXIT=" + str(exc.code))
print("HEAVY=" + ",".join(sorted(m for m in ("tensorflow", "keras") if m in sys.modules)))
"""


def _probe(args):
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True,
                         text=True, timeout=120)
    return out.stdout, out.stderr


@pytest.mark.parametrize("args, message", [
    (["--rest_api_prot=9000"], "No such option '--rest_api_prot'. Did you mean '--rest_api_port'?"),
    (["--tensorflow_intra_op_parallelism=-1"], "x>=0"),
    (["--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1",
      "--tensorflow_session_parallelism=1"], "You cannot configure all."),
    (["--saved_model_tags", ","], "--saved_model_tags needs at least one tag"),
    (["stray"], "Got unexpected extra argument (stray)"),
])
def test_flag_errors_are_one_line_and_tensorflow_free(tmp_path, args, message):
    stdout, stderr = _probe(["serve", "--model-base-path", str(tmp_path), *args])
    assert "HEAVY=\n" in stdout + "\n", stdout
    assert message in stderr, stderr
    assert "Traceback" not in stderr


def test_help_names_the_tf_serving_flags():
    proc = run_cli("serve", "--help")
    assert proc.returncode == 0
    for flag in ("--tensorflow_intra_op_parallelism", "--rest_api_enable_cors_support",
                 "--enable_grpc_healthcheck_service", "--max_num_load_retries",
                 "--load_retry_interval_micros", "--saved_model_tags"):
        assert flag in proc.stdout, flag
    assert "accepted and ignored" in proc.stdout


# ---------------------------------------------------------------------------- load retries, tags


def test_a_version_that_fails_to_load_is_tried_again_as_tf_serving_does(toy_base, tmp_path):
    """--max_num_load_retries / --load_retry_interval_micros: the first attempt meets a folder
    still being copied (no saved_model.pb yet); when the copy completes, the retry loads it."""
    import logging
    import shutil

    from kerascnn.server.server_core import ServerCore

    base = tmp_path / "toy"
    shutil.copytree(toy_base / "1", base / "1")
    pb = base / "1" / "saved_model.pb"
    complete = pb.read_bytes()
    pb.unlink()
    attempts = []

    class FinishTheCopy(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if "retrying in" in message:
                attempts.append(message)
                pb.write_bytes(complete)

    handler = FinishTheCopy()
    logging.getLogger("kerascnn.serve").addHandler(handler)
    options = ServerOptions(model_name="toy", model_base_path=str(base), port=0,
                            rest_api_port=0, max_num_load_retries=2,
                            load_retry_interval_micros=100_000, file_system_poll_wait_seconds=0)
    core = ServerCore(options)
    try:
        core.start()
        servable = core.resolve("toy")
        assert servable.version == 1
        servable.release()
    finally:
        core.stop()
        logging.getLogger("kerascnn.serve").removeHandler(handler)
    assert len(attempts) == 1
    assert "failed (attempt 1 of 3)" in attempts[0] and "retrying in 0.1 s" in attempts[0]


def test_retries_run_out_with_tf_servings_error(toy_base, tmp_path, cli):
    import shutil

    shutil.copytree(toy_base / "1", tmp_path / "toy" / "1")
    (tmp_path / "toy" / "1" / "saved_model.pb").write_bytes(b"not a protobuf")
    proc = cli("serve", "--model-base-path", tmp_path / "toy", "--port", "0", "--rest-api-port",
               "0", "--max_num_load_retries", "1", "--load_retry_interval_micros", "1000")
    assert proc.returncode == 1
    assert proc.stderr.count("failed (attempt 1 of 2)") == 1
    assert "Can't parse" in proc.stderr.strip().splitlines()[-1]


def test_saved_model_tags_pick_the_meta_graph_as_tf_serving_does(toy_base, cli):
    proc = cli("serve", "--model-base-path", toy_base, "--port", "0", "--rest-api-port", "0",
               "--saved_model_tags", "serve,gpu", "--max_num_load_retries", "0")
    assert proc.returncode == 1
    assert ("Could not find meta graph def matching supplied tags: { serve gpu }. To inspect "
            "available tag-sets in the SavedModel, please use the SavedModel CLI: "
            "`saved_model_cli`") in proc.stderr
