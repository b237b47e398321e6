"""serving/kubernetes/: every manifest checked offline, and the commands in them really run.

``kubectl apply -k`` is not available here, so ``kustomize_build`` below builds a kustomization
the way kustomize does for the few fields these use (resources, a configMapGenerator without a
name hash, images) and refuses any other field, so that it cannot silently differ from kustomize.
Every object it yields is validated with kubernetes-validate against the Kubernetes OpenAPI
schemas (strict: unknown fields fail) of the oldest and newest releases tested.

The containers' shell commands run here too: the TF Serving command with a stand-in
``tensorflow_model_server`` that records its flags and the models.config it would read, the
readiness probe against a socket answering as TF Serving's status endpoint, and the training
Job's command, once per worker index, with a stand-in ``kerascnn`` that records the TF_CONFIG it
got, which ``kerascnn.distribute`` then parses.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from _processes import ROOT
from _tf_serving_status import probe_passes, status_endpoint
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

KUBERNETES = ROOT / "serving" / "kubernetes"
TRAINING = KUBERNETES / "training"
# The oldest release with every API used here as GA (autoscaling/v2, indexed Jobs) that
# kubernetes-validate still ships, and a recent one.
KUBERNETES_VERSIONS = ("1.29.0", "1.35.0")
_KNOWN_FIELDS = {"apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "images"}


# --------------------------------------------------------------------------- kustomize, emulated
def kustomize_build(folder: Path) -> list[dict]:
    """The objects ``kubectl kustomize FOLDER`` prints, for the fields these files use."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _KNOWN_FIELDS
    assert not unknown, f"{folder}/kustomization.yaml uses {unknown}: teach kustomize_build first"
    objects = []
    for resource in kustomization.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir():
            objects += kustomize_build(path)
        else:
            assert path.is_relative_to(folder.resolve()), f"kustomize refuses {path}"
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    if kustomization.get("configMapGenerator"):
        # With a hash suffix, kustomize renames the ConfigMap and every reference to it.
        assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True
    for generator in kustomization.get("configMapGenerator", []):
        assert set(generator) <= {"name", "files"}, generator
        data = {}
        for entry in generator["files"]:
            key, _, relative = entry.rpartition("=")
            path = (folder / relative).resolve()
            assert path.is_relative_to(folder.resolve()), f"kustomize refuses {path}"
            data[key or path.name] = path.read_text()
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": generator["name"]}, "data": data})
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _pod_spec(obj).get("containers", []) if _pod_spec(obj) else []:
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    new_tag = image.get("newTag", tag)
                    container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")
    return objects


def _pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in ("Deployment", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def _find(objects, kind, name=None) -> dict:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def _env(container) -> dict:
    return {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}


@pytest.fixture(scope="module")
def serving():
    return kustomize_build(KUBERNETES)


@pytest.fixture(scope="module")
def training():
    return kustomize_build(TRAINING)


def _served_model_names() -> list[str]:
    config = text_format.Parse((ROOT / "serving" / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    return [c.name for c in config.model_config_list.config]


# --------------------------------------------------------------------------- schemas
def test_every_manifest_is_valid_kubernetes(serving, training):
    objects = serving + training
    assert sorted(o["kind"] for o in objects) == sorted(
        ["ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "HorizontalPodAutoscaler",
         "Service", "Job"]
    )
    for obj in objects:
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    # Every manifest file in the folder is in a kustomization.
    listed = {(folder / r).resolve() for folder in (KUBERNETES, TRAINING)
              for r in yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]}
    for path in KUBERNETES.rglob("*.yaml"):
        assert path.name == "kustomization.yaml" or path.resolve() in listed, path


def test_the_validator_is_strict(serving):
    hpa = json.loads(json.dumps(_find(serving, "HorizontalPodAutoscaler")))
    hpa["spec"]["minReplica"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, KUBERNETES_VERSIONS[0], strict=True)


# --------------------------------------------------------------------------- serving
def test_the_configmap_is_serving_s_config_files(serving):
    """One models.config for Compose, `kerascnn serve` and Kubernetes: the ConfigMap is made
    from the files themselves, under the names the flags use."""
    config_map = _find(serving, "ConfigMap", "tfserving-config")
    for name in ("models.config", "batching.config", "monitoring.config"):
        assert config_map["data"][name] == (ROOT / "serving" / name).read_text()
    pod = _find(serving, "Deployment", "tfserving")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    assert volume["configMap"]["name"] == "tfserving-config"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    assert mount["mountPath"] == "/serving" and "subPath" not in mount  # subPath never refreshes


def _run_server_command(container, tmp_path, env=None):
    """Run the TF Serving container's command with /serving, /models and /tmp moved under
    tmp_path and a stand-in tensorflow_model_server; returns (its flags, the models.config
    it was given)."""
    command = container["command"] + container["args"]
    assert command[:2] == ["/bin/sh", "-c"]
    script = command[2]
    assert "$(" not in script, "Kubernetes expands $(NAME) in args"
    serving_dir, tmp_dir, bin_dir = tmp_path / "serving", tmp_path / "tmp", tmp_path / "bin"
    for folder in (serving_dir, tmp_dir, bin_dir):
        folder.mkdir()
    for name in ("models.config", "batching.config", "monitoring.config"):
        (serving_dir / name).write_text((ROOT / "serving" / name).read_text())
    record = tmp_path / "server.json"
    stand_in = bin_dir / "tensorflow_model_server"
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "flags = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
        "config = open(flags['model_config_file']).read()\n"
        f"json.dump({{'flags': flags, 'config': config}}, open({str(record)!r}, 'w'))\n"
    )
    stand_in.chmod(0o755)
    # The background loop would outlive the test: run the rest, and render() by hand.
    lines = [ln for ln in script.splitlines() if "while sleep" not in ln]
    assert len(lines) == len(script.splitlines()) - 1
    places = {"/serving/": f"{serving_dir}/", "/tmp/": f"{tmp_dir}/"}
    moved = re.sub(r"(?<=[\s=])(/serving/|/tmp/)", lambda m: places[m[1]], "\n".join(lines))
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **_env(container), **(env or {})}
    proc = subprocess.run(["/bin/sh", "-c", moved], env=environment, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(record.read_text())
    for key, value in result["flags"].items():  # back to the paths inside the container
        for inside, here in places.items():
            value = value.replace(here, inside)
        result["flags"][key] = value
    return result["flags"], result["config"], moved, environment, serving_dir, tmp_dir


def test_tf_serving_runs_as_compose_runs_it(serving, tmp_path):
    """The same flags as docker-compose.yml's tfserving, and models.config's base paths on the
    models volume (MODEL_STORE=/models)."""
    container = _find(serving, "Deployment", "tfserving")["spec"]["template"]["spec"]["containers"][0]
    flags, config, *_ = _run_server_command(container, tmp_path)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["tfserving"]
    compose_flags = dict(arg[2:].split("=", 1) for arg in compose["command"])
    assert flags.pop("model_config_file") == "/tmp/models.config"
    assert compose_flags.pop("model_config_file") == "/serving/models.config"
    assert flags == compose_flags
    assert config == (ROOT / "serving" / "models.config").read_text()
    # The same image Compose runs by default: the TensorFlow release kerascnn exports with.
    assert container["image"] == f"tensorflow/serving:{importlib.metadata.version('tensorflow')}"


def test_models_can_come_from_an_object_store(serving, tmp_path):
    container = _find(serving, "Deployment", "tfserving")["spec"]["template"]["spec"]["containers"][0]
    assert _env(container)["MODEL_STORE"] == "/models"
    _, config, *_ = _run_server_command(container, tmp_path, {"MODEL_STORE": "gs://bucket/kerascnn/"})
    parsed = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
    assert [c.base_path for c in parsed.model_config_list.config] == ["gs://bucket/kerascnn/digits"]
    expected = (ROOT / "serving" / "models.config").read_text().replace(
        'base_path: "/models/', 'base_path: "gs://bucket/kerascnn/')
    assert config == expected  # nothing else changed
    secret = container["envFrom"][0]["secretRef"]
    assert secret["optional"] is True  # credentials only where a store needs them


def test_a_moved_label_reaches_the_running_server(serving, tmp_path):
    """render() rewrites /tmp/models.config when the ConfigMap's file changes (TF Serving then
    reloads it) and leaves it alone otherwise (no reload for nothing)."""
    container = _find(serving, "Deployment", "tfserving")["spec"]["template"]["spec"]["containers"][0]
    _, _, script, environment, serving_dir, tmp_dir = _run_server_command(container, tmp_path)
    render = script[: script.index("render ||")]
    rendered = tmp_dir / "models.config"
    before = rendered.stat().st_ino
    subprocess.run(["/bin/sh", "-c", render + "render"], env=environment, check=True, timeout=30)
    assert rendered.stat().st_ino == before
    source = serving_dir / "models.config"
    source.write_text(source.read_text().replace('value: 1', 'value: 2'))
    subprocess.run(["/bin/sh", "-c", render + "render"], env=environment, check=True, timeout=30)
    assert "value: 2" in rendered.read_text() and rendered.stat().st_ino != before
    assert list(tmp_dir.iterdir()) == [rendered]


def test_readiness_waits_for_the_model_liveness_only_for_the_server(serving):
    pod = _find(serving, "Deployment", "tfserving")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    model = _env(container)["MODEL_NAME"]
    assert model in _served_model_names()
    command = container["readinessProbe"]["exec"]["command"]
    assert command[:2] == ["bash", "-c"]
    with status_endpoint() as (port, available):
        assert not probe_passes(command[2], port, _env(container))  # nothing exported yet
        available.add(model)
        assert probe_passes(command[2], port, _env(container))
    liveness = container["livenessProbe"]["httpGet"]
    monitoring = (ROOT / "serving" / "monitoring.config").read_text()
    assert f'path: "{liveness["path"]}"' in monitoring
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[liveness["port"]] == 8501


def test_service_autoscaler_and_volume_agree_with_the_deployment(serving):
    deployment = _find(serving, "Deployment", "tfserving")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}

    service = _find(serving, "Service", "tfserving")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert {p["port"]: ports[p["targetPort"]] for p in service["spec"]["ports"]} == {8500: 8500, 8501: 8501}

    hpa = _find(serving, "HorizontalPodAutoscaler", "tfserving")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "tfserving")
    assert "replicas" not in deployment["spec"], "kubectl apply would reset the autoscaler's count"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    # A CPU utilization target is relative to the request, so every container needs one.
    metric = hpa["spec"]["metrics"][0]["resource"]
    assert metric["name"] == "cpu" and container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]

    claim = _find(serving, "PersistentVolumeClaim")
    volume = next(v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]  # many replicas, many nodes
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    config = text_format.Parse((ROOT / "serving" / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    for model in config.model_config_list.config:
        assert model.base_path.startswith(mount["mountPath"] + "/")


# --------------------------------------------------------------------------- training
def _run_worker(job, index: int, tmp_path: Path) -> list[dict]:
    """Run the Job's command as pod ``index`` would, with a stand-in ``kerascnn`` recording
    its arguments and TF_CONFIG; returns the recorded calls."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    command = container["command"] + container["args"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "$(" not in command[2], "Kubernetes expands $(NAME) in args"
    bin_dir = tmp_path / f"bin{index}"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / f"calls{index}.jsonl"
    stand_in = bin_dir / "kerascnn"
    stand_in.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(calls)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'TF_CONFIG': os.environ.get('TF_CONFIG')}) + '\\n')\n"
    )
    stand_in.chmod(0o755)
    environment = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **_env(container),
                   "JOB_COMPLETION_INDEX": str(index)}  # set by Kubernetes in an indexed Job
    proc = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in calls.read_text().splitlines()]


def test_job_workers_find_each_other_through_the_headless_service(training):
    job = _find(training, "Job", "kerascnn-train")
    spec, pod = job["spec"], job["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = _env(container)
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(env["WORKERS"]) >= 2
    assert env["JOB_NAME"] == job["metadata"]["name"]  # pod INDEX's hostname is JOB_NAME-INDEX
    service = _find(training, "Service", "kerascnn-train-workers")
    assert service["spec"]["clusterIP"] == "None"
    assert env["WORKER_SERVICE"] == pod["spec"]["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert int(env["WORKER_PORT"]) == container["ports"][0]["containerPort"] == service["spec"]["ports"][0]["port"]
    assert env["MODEL_NAME"] in _served_model_names()
    assert container["image"] == "kerascnn:latest"  # the images transform of training/


def test_job_gives_each_worker_the_tf_config_kerascnn_expects(training, tmp_path, monkeypatch):
    from kerascnn import distribute
    from kerascnn.cli import LazyGroup

    job = _find(training, "Job", "kerascnn-train")
    env = _env(job["spec"]["template"]["spec"]["containers"][0])
    workers = int(env["WORKERS"])
    expected = [f"{env['JOB_NAME']}-{i}.{env['WORKER_SERVICE']}:{env['WORKER_PORT']}"
                for i in range(workers)]
    chiefs = []
    for index in range(workers):
        calls = _run_worker(job, index, tmp_path)
        monkeypatch.setenv("TF_CONFIG", calls[0]["TF_CONFIG"])
        config = distribute.tf_config()
        assert config == {"cluster": {"worker": expected}, "task": {"type": "worker", "index": index}}
        if distribute.is_chief():
            chiefs.append(index)
        verbs = [call["argv"][0] for call in calls]
        # Only the chief writes: its run folder, then the export into the models volume.
        assert verbs == (["train", "export"] if index == 0 else ["train"])
        train = calls[0]["argv"]
        assert train[train.index("--strategy") + 1] == "multiworker"
        for call in calls:
            command = LazyGroup._load(call["argv"][0])
            known = {opt for param in command.params for opt in param.opts}
            for word in call["argv"][1:]:
                if word.startswith("--"):
                    assert word in known, f"kerascnn {call['argv'][0]} has no option {word}"
    assert chiefs == [0]
    chief_export = _run_worker(job, 0, tmp_path / "chief")[-1]["argv"]
    assert chief_export[chief_export.index("--base") + 1] == "/models"
    mounts = {m["name"]: m["mountPath"] for m in job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
              for v in job["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v}
    assert {mounts[name]: claim for name, claim in claims.items()} == {"/models": "kerascnn-models"}


def test_train_args_reach_kerascnn_train_as_words(training, tmp_path):
    job = json.loads(json.dumps(_find(training, "Job", "kerascnn-train")))
    container = job["spec"]["template"]["spec"]["containers"][0]
    for item in container["env"]:
        if item["name"] == "TRAIN_ARGS":
            item["value"] = "--epochs 30 --batch-size 256"
    calls = _run_worker(job, 1, tmp_path)
    assert calls[0]["argv"][-4:] == shlex.split("--epochs 30 --batch-size 256")


def test_kubernetes_never_expands_the_commands():
    """Kubernetes replaces $(NAME) in command and args; the shell must see its own text."""
    for path in KUBERNETES.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            spec = _pod_spec(doc) if doc and "kind" in doc else None
            for container in (spec or {}).get("containers", []):
                text = " ".join(container.get("command", []) + container.get("args", []))
                assert not re.search(r"\$\(|\$\$", text), path


def test_readme_kubernetes_commands_match_the_manifests(serving, training):
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Kubernetes")
    section = text[start:text.index("\n## ", start + 1)]
    lines = [ln for block in re.findall(r"```bash\n(.*?)```", section, re.S)
             for ln in block.splitlines() if ln.strip()]
    objects = serving + training
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    short = {"service": "Service", "hpa": "HorizontalPodAutoscaler", "job": "Job",
             "deployment": "Deployment"}
    checked = 0
    for line in lines:
        words = shlex.split(line.lstrip("("), comments=True)
        for i, word in enumerate(words):
            if word == "-k":
                assert (ROOT / words[i + 1] / "kustomization.yaml").is_file(), line
                checked += 1
            elif "/" in word and word.split("/")[0] in short:
                kind, name = word.split("/", 1)
                assert (short[kind], name) in names, line
                checked += 1
            elif word == "-l":
                selector = dict(pair.split("=") for pair in words[i + 1].split(","))
                if "job-name" in selector:  # set by the Job controller
                    assert ("Job", selector.pop("job-name")) in names, line
                    selector.pop("batch.kubernetes.io/job-completion-index")
                pods = [o["spec"]["template"]["metadata"]["labels"] for o in objects if _pod_spec(o)]
                assert any(selector.items() <= labels.items() for labels in pods), line
                checked += 1
            elif word == "image" and words[i - 1] == "set":
                image_name = words[i + 1].split("=")[0]
                kustomization = yaml.safe_load((TRAINING / "kustomization.yaml").read_text())
                assert image_name in [image["name"] for image in kustomization["images"]], line
                checked += 1
        if words[:2] == ["kubectl", "edit"]:
            assert (short[words[2]], words[3]) in names, line
            checked += 1
    assert checked >= 7
