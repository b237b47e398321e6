"""docker-compose.yml, Dockerfile and serving/*.config, checked without a Docker engine.

The compose file is parsed with PyYAML; every config file it passes to TF Serving must exist in
the repository (through the bind mounts) and parse as the protobuf TF Serving reads:
ModelServerConfig from tensorflow-serving-api, and BatchingParameters / MonitoringConfig declared
below with the fields and numbers of TF Serving's .proto files (the pip package does not ship
those two), all with ``google.protobuf.text_format``.
"""

from __future__ import annotations

import importlib.metadata
import posixpath
import shlex
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml
from _processes import ROOT
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

COMPOSE = ROOT / "docker-compose.yml"


def _declare(name, fields):
    """A message class from (field name, number, type, label, type_name) rows."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(
        name=f"test_{name}.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    for message_name, rows in fields.items():
        message = fdp.message_type.add(name=message_name)
        for field_name, number, kind, type_name in rows:
            label = F.LABEL_REPEATED if kind == "repeated_int64" else F.LABEL_OPTIONAL
            ftype = {
                "message": F.TYPE_MESSAGE,
                "bool": F.TYPE_BOOL,
                "string": F.TYPE_STRING,
                "repeated_int64": F.TYPE_INT64,
            }[kind]
            message.field.add(name=field_name, number=number, type=ftype, label=label, type_name=type_name)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(wrappers_pb2.DESCRIPTOR.serialized_pb))
    pool.Add(fdp)
    return pool


# tensorflow_serving/servables/tensorflow/session_bundle_config.proto
_BATCHING_POOL = _declare(
    "batching",
    {
        "BatchingParameters": [
            ("max_batch_size", 1, "message", ".google.protobuf.Int64Value"),
            ("batch_timeout_micros", 2, "message", ".google.protobuf.Int64Value"),
            ("max_enqueued_batches", 3, "message", ".google.protobuf.Int64Value"),
            ("num_batch_threads", 4, "message", ".google.protobuf.Int64Value"),
            ("thread_pool_name", 5, "message", ".google.protobuf.StringValue"),
            ("allowed_batch_sizes", 6, "repeated_int64", None),
            ("pad_variable_length_inputs", 7, "bool", None),
        ]
    },
)
# tensorflow_serving/config/monitoring_config.proto
_MONITORING_POOL = _declare(
    "monitoring",
    {
        "PrometheusConfig": [("enable", 1, "bool", None), ("path", 2, "string", None)],
        "MonitoringConfig": [
            ("prometheus_config", 1, "message", ".tensorflow.serving.PrometheusConfig")
        ],
    },
)
BatchingParameters = message_factory.GetMessageClass(
    _BATCHING_POOL.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
)
MonitoringConfig = message_factory.GetMessageClass(
    _MONITORING_POOL.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")
)


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def _flags(service) -> dict:
    flags = {}
    for arg in service["command"]:
        assert arg.startswith("--") and "=" in arg, f"flag not in --name=value form: {arg!r}"
        key, value = arg[2:].split("=", 1)
        flags[key] = value
    return flags


def _mounts(service):
    mounts = []
    for volume in service["volumes"]:
        assert isinstance(volume, dict) and volume["type"] == "bind", volume
        mounts.append((volume["target"], ROOT / volume["source"], bool(volume.get("read_only"))))
    return mounts


def _host_path(service, container_path: str) -> Path:
    """Where a path inside the container comes from in the repository (longest mount wins)."""
    best = None
    for target, source, _ in _mounts(service):
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best[0]):
                best = (target, source)
    assert best is not None, f"{container_path} is not inside any mount of the service"
    relative = PurePosixPath(container_path).relative_to(best[0])
    return best[1] / relative


def _parse(path: Path, message):
    return text_format.Parse(path.read_text(), message)


def test_tfserving_image_is_pinned_to_the_exporting_tensorflow(compose):
    version = importlib.metadata.version("tensorflow")
    services = compose["services"]
    assert services["tfserving"]["image"] == f"tensorflow/serving:{version}"
    assert services["tfserving-gpu"]["image"] == f"tensorflow/serving:{version}-gpu"


def test_tfserving_ports_mounts_and_flags(compose):
    service = compose["services"]["tfserving"]
    assert set(service["ports"]) == {"8500:8500", "8501:8501"}
    mounts = {target: (source, ro) for target, source, ro in _mounts(service)}
    assert mounts["/serving"] == (ROOT / "serving", True)
    assert all(ro for _, ro in mounts.values()), "the server must not write to the repository"
    assert service["entrypoint"] == ["tensorflow_model_server"]
    flags = _flags(service)
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert flags["enable_batching"] == "true"
    for key in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        assert _host_path(service, flags[key]).is_file(), key


def test_every_config_file_parses_as_tf_serving_reads_it(compose):
    service = compose["services"]["tfserving"]
    flags = _flags(service)

    models = _parse(
        _host_path(service, flags["model_config_file"]), model_server_config_pb2.ModelServerConfig()
    )
    configs = models.model_config_list.config
    assert [c.name for c in configs] == ["digits"]
    for config in configs:
        assert config.model_platform == "tensorflow"
        assert posixpath.isabs(config.base_path)
        host = _host_path(service, config.base_path)
        assert host.parent == ROOT / "serving" / "models"
        assert config.model_version_policy.WhichOneof("policy_choice") == "latest"
        assert config.model_version_policy.latest.num_versions >= 1
        assert dict(config.version_labels) == {"stable": 1}

    batching = _parse(_host_path(service, flags["batching_parameters_file"]), BatchingParameters())
    assert batching.max_batch_size.value >= 1
    assert batching.num_batch_threads.value >= 1
    assert batching.batch_timeout_micros.value > 0

    monitoring = _parse(_host_path(service, flags["monitoring_config_file"]), MonitoringConfig())
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_a_typo_in_a_config_is_caught(tmp_path):
    """The parsers above are strict: they would catch a misspelled field."""
    bad = tmp_path / "batching.config"
    bad.write_text("max_batch_sise { value: 8 }\n")
    with pytest.raises(text_format.ParseError):
        _parse(bad, BatchingParameters())


def test_healthcheck_asks_the_rest_status_url(compose):
    service = compose["services"]["tfserving"]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD"
    script = " ".join(test[1:])
    assert "/dev/tcp/127.0.0.1/8501" in script
    assert "GET /v1/models/digits " in script and "AVAILABLE" in script
    # The script is valid bash.
    body = test[-1]
    proc = subprocess.run(["bash", "-n", "-c", body], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_gpu_variant_reserves_gpus_behind_a_profile(compose):
    gpu = compose["services"]["tfserving-gpu"]
    cpu = compose["services"]["tfserving"]
    assert gpu["profiles"] == ["gpu"]
    assert "profiles" not in cpu
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert gpu["command"] == cpu["command"] and gpu["volumes"] == cpu["volumes"]


def test_trainer_builds_the_repo_and_exports_where_the_server_looks(compose):
    trainer = compose["services"]["trainer"]
    assert (ROOT / trainer["build"]["context"] / trainer["build"]["dockerfile"]).is_file()
    script = trainer["command"][-1].replace("$$", "$")
    steps = [shlex.split(step) for step in script.split("&&")]
    verbs = [step[1] for step in steps if step[0] == "kerascnn"]
    assert verbs == ["train", "export"]
    export = next(step for step in steps if step[:2] == ["kerascnn", "export"])
    base = export[export.index("--base") + 1]
    name = export[export.index("--name") + 1]
    mounts = {target: (source, ro) for target, source, ro in _mounts(trainer)}
    assert mounts[base] == (ROOT / "serving" / "models", False)
    served = _parse(ROOT / "serving" / "models.config", model_server_config_pb2.ModelServerConfig())
    assert f"/models/{name}" in [c.base_path for c in served.model_config_list.config]


def test_trainer_uses_real_cli_options(compose):
    """Every option the trainer passes exists on that kerascnn verb."""
    from kerascnn.cli import LazyGroup

    script = compose["services"]["trainer"]["command"][-1].replace("$$", "$")
    for step in script.split("&&"):
        words = shlex.split(step)
        if words[0] != "kerascnn":
            continue
        command = LazyGroup._load(words[1])
        if command is None:
            pytest.skip(f"kerascnn {words[1]} is not built yet")
        known = {opt for param in command.params for opt in param.opts}
        for word in words[2:]:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"kerascnn {words[1]} has no option {word}"


def test_dockerfile_and_dockerignore():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3" in dockerfile
    assert "pip install" in dockerfile
    assert 'ENTRYPOINT ["kerascnn"]' in dockerfile
    for copied in ("pyproject.toml", "kerascnn"):
        assert (ROOT / copied).exists()
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".venv", "runs", "serving/models", ".git"):
        assert entry in ignored


def test_models_directory_is_kept_but_its_contents_are_ignored():
    assert (ROOT / "serving" / "models").is_dir()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "serving/models/digits/1/saved_model.pb"], cwd=ROOT
    )
    assert ignored.returncode == 0
    kept = subprocess.run(["git", "check-ignore", "-q", "serving/models/.gitkeep"], cwd=ROOT)
    assert kept.returncode == 1
