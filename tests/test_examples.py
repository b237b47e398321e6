"""Every example in examples/ runs as a user would run it (a real subprocess), with tiny settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(args, *, cwd, env=None, timeout=600):
    """Run ``python examples/X.py ...`` or ``bash examples/X.sh`` and return the result."""
    script = EXAMPLES / args[0]
    command = (["bash", str(script)] if script.suffix == ".sh" else [sys.executable, str(script)])
    full_env = {**os.environ, "PYTHON": sys.executable, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run([*command, *map(str, args[1:])], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_every_example_has_a_test():
    tested = {"build_models.py", "train_digits.py", "train_folder.py", "export_and_serve.sh",
              "multiworker.sh", "inside_the_cnn.py", "fine_tune_photos.py"}
    present = {p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh")}
    assert present == tested


LEAKY_TESTS = """
import multiprocessing.resource_tracker
import subprocess
import sys

def test_orphan():  # the shell exits at once; its background child is re-parented to init
    subprocess.run(["bash", "-c", "sleep 3001 &"], check=True)

def test_child():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3002)"])

def test_helper():  # a long-lived helper of the pytest process itself: not a leak
    multiprocessing.resource_tracker.ensure_running()
"""


def test_session_fails_when_a_test_leaves_a_process_behind(tmp_path):
    """The check in conftest.py that guards every example (and every test): a session whose
    tests leave processes running fails, names them and stops them."""
    for helper in ("conftest.py", "_processes.py"):
        shutil.copy(Path(__file__).with_name(helper), tmp_path / helper)
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY_TESTS))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_leaky.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert "2 process(es) left running by the tests (now stopped)" in proc.stdout
    assert "sleep 3001" in proc.stdout and "time.sleep(3002)" in proc.stdout
    assert "resource_tracker" not in proc.stdout
    still_running = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                     if p.info["cmdline"] and ("sleep 3001" in " ".join(p.info["cmdline"])
                                               or "sleep(3002)" in " ".join(p.info["cmdline"]))]
    assert still_running == []


@pytest.mark.slow
def test_build_models(tmp_path):
    out = run_example(["build_models.py", "--tiny"], cwd=tmp_path).stdout
    table = out[out.index("model       input"):]
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert set(lines) == {"lenet5", "vgg16", "resnet50", "custom_cnn"}
    assert lines["lenet5"].split()[2:4] == ["61,706", "61,706"]  # built == published
    assert "138,357,544" in lines["vgg16"] and "25,557,032" in lines["resnet50"]
    layers = out.split("custom_cnn layers: ")[1].splitlines()[0].split(", ")
    # conv-pool-dropout-residual, with stable hierarchical names
    for name in ("stem_conv", "stem_pool", "stem_dropout", "stage1_block1_add",
                 "stage2_block1_downsample_conv", "predictions"):
        assert name in layers, name


@pytest.mark.slow
def test_inside_the_cnn(tmp_path):
    out = run_example(["inside_the_cnn.py", "--tiny", "--out", tmp_path / "pics"], cwd=tmp_path)
    pictures = [Path(line) for line in out.stdout.splitlines() if line.endswith(".png")]
    names = {p.name for p in pictures}
    assert {"kernels.png", "filters.png", "gradcam_temple.png", "gradcam_flower.png",
            "padding.png", "conv_matrix.png"} <= names
    assert sum(p.parent.name == "features" for p in pictures) == 3  # one sheet per stage
    for picture in pictures:
        path = picture if picture.is_absolute() else tmp_path / picture
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert (tmp_path / "pics" / "model.keras").is_file()
    assert (tmp_path / "pics" / "labels.txt").read_text().split() == ["temple", "flower"]


@pytest.mark.slow
def test_train_digits(tmp_path):
    out = run_example(
        ["train_digits.py", "--epochs", "1", "--project", tmp_path / "runs",
         "--serving-base", tmp_path / "models"], cwd=tmp_path).stdout
    run_dir = tmp_path / "runs" / "digits_api"
    assert (run_dir / "weights" / "best.keras").is_file()
    assert (run_dir / "config.yaml").is_file()
    assert (tmp_path / "models" / "digits" / "1" / "saved_model.pb").is_file()
    accuracy = float(out.split("test accuracy: ")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0
    predictions = [line for line in out.splitlines() if line.startswith("digit ")]
    assert len(predictions) == 8


@pytest.mark.slow
def test_train_folder_resumes(tmp_path):
    out = run_example(["train_folder.py", "--tiny", "--project", tmp_path / "runs"],
                      cwd=tmp_path).stdout
    assert "stopped after 1 epochs" in out
    assert "resumed from epoch 1, finished 2 epochs" in out
    data = tmp_path / "runs" / "folder_resnet_data"
    assert sorted(p.name for p in data.iterdir()) == ["flower", "temple"]
    assert len(list((data / "temple").glob("*.png"))) == 24
    run_dir = tmp_path / "runs" / "folder_resnet"
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 2  # header + both epochs, across the interruption
    assert "resnet20" in (run_dir / "config.yaml").read_text()


@pytest.mark.slow
def test_fine_tune_photos(tmp_path):
    """Offline, the weights are a torchvision ResNet-18 state dict (random values) that
    torchvision itself wrote; the example's mechanics are what is checked."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    weights = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, weights)
    out = run_example(["fine_tune_photos.py", "--tiny", "--weights", weights, "--project",
                       tmp_path / "runs"], cwd=tmp_path).stdout
    data = tmp_path / "runs" / "fine_tune_photos_data"
    assert sorted(p.name for p in data.iterdir()) == ["flower", "temple"]
    assert len(list((data / "flower").glob("*.jpg"))) == 16
    assert "Fine-tuning every layer (batch norm frozen) from epoch 2 at lr 0.0001" in out
    run_dir = tmp_path / "runs" / "fine_tune_photos"
    record = json.loads((run_dir / "pretrained.json").read_text())
    assert record["path"] == str(weights) and record["input_spec"]["name"] == "torchvision"
    from kerascnn.export import read_metadata

    metadata = read_metadata(tmp_path / "runs" / "models" / "photos" / "1")
    assert metadata["input_spec"]["mean"] == [0.485, 0.456, 0.406]
    assert metadata["class_names"] == ["flower", "temple"]


@pytest.mark.slow
def test_export_and_serve(tmp_path):
    work = tmp_path / "work"
    out = run_example(["export_and_serve.sh"], cwd=tmp_path,
                      env={"WORK": str(work), "EPOCHS": "1"}).stdout
    response = json.loads((work / "rest_response.json").read_text())
    prediction = response["predictions"][0]
    assert len(prediction["probabilities"]) == 10
    assert prediction["label"] == str(prediction["class_id"])
    grpc_line = (work / "grpc_response.txt").read_text().splitlines()[0]
    assert "seven.png" in grpc_line and "->" in grpc_line
    assert "server stopped" in out
    assert (work / "models" / "digits" / "1" / "saved_model.pb").is_file()
    # The script stopped the server itself, not a shell around it: nothing serves its models.
    serving = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
               if "serve" in (p.info["cmdline"] or []) and str(work) in " ".join(p.info["cmdline"])]
    assert serving == []


@pytest.mark.slow
def test_multiworker(tmp_path):
    work = tmp_path / "work"
    run_example(["multiworker.sh"], cwd=tmp_path, env={"WORK": str(work), "EPOCHS": "1"})
    run_dir = work / "runs" / "multiworker"
    assert (run_dir / "weights" / "last.keras").is_file()
    config = (run_dir / "config.yaml").read_text()
    assert "multiworker" in config
    # Only the chief wrote a run folder: no second one (multiworker2, ...) next to it.
    assert [p.name for p in (work / "runs").iterdir()] == ["multiworker"]
