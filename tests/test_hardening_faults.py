"""Faults: ``kill -9`` of training at a random point of epochs 2-4 and of ``export`` midway,
a corrupt checkpoint on resume, and a full disk during export.

Everything runs as a user would: ``python -m kerascnn ...`` subprocesses killed with SIGKILL
(no cleanup code runs), a real server polling the base path, a real tmpfs that fills up.
The random kill point is printed (and can be fixed with KERASCNN_FAULT_SEED) so a failure
can be replayed. ``pytest -m stress`` repeats the kills at many points.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from _hardening_utils import VersionedModel, export_version, png
from _processes import ROOT

EPOCHS = 5
MODEL = "m"


def kerascnn(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kerascnn", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, **kwargs)


def history_rows(run: Path) -> list[dict]:
    try:
        with open(run / "history.csv", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return []


def one_error_line(proc) -> str:
    """The CLI's failure output: exactly one 'Error: ...' line and no traceback."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def fault_rng() -> random.Random:
    seed = int(os.environ.get("KERASCNN_FAULT_SEED", random.SystemRandom().randrange(10**6)))
    print(f"fault seed {seed} (KERASCNN_FAULT_SEED={seed} replays it)")
    return random.Random(seed)


# ------------------------------------------------------------------------------- training
def train_args(project):
    # batch 8: ~180 steps per epoch, long enough to land a kill inside a chosen epoch
    return ["train", "--model", "lenet5", "--data", "digits", "--batch-size", "8",
            "--epochs", EPOCHS, "--project", project, "--name", "crash", "--no-tensorboard"]


def kill_training_once(project: Path, rng: random.Random) -> tuple[int, float]:
    """Start training, SIGKILL it at a random point of epoch 2, 3 or 4; returns the point."""
    run = project / "crash"
    epoch = rng.choice([2, 3, 4])
    fraction = rng.random()
    proc = subprocess.Popen([sys.executable, "-m", "kerascnn", *map(str, train_args(project))],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        deadline = time.monotonic() + 300
        while len(history_rows(run)) < epoch - 1:  # epoch `epoch` has begun
            assert proc.poll() is None, f"training exited early ({proc.returncode})"
            assert time.monotonic() < deadline, "training made no progress"
            time.sleep(0.02)
        rows = history_rows(run)
        # How long an epoch takes: the last one, unless that is epoch 1, whose time includes
        # tracing the train step (then about half of it, so the kill stays in epoch 2).
        seconds = float(rows[-1]["seconds"]) * (0.5 if len(rows) == 1 else 1.0)
        time.sleep(fraction * seconds)
        assert proc.poll() is None, "training finished before the kill"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    return epoch, fraction


def check_finished_run(run: Path):
    rows = history_rows(run)
    epochs = [int(r["epoch"]) for r in rows]
    assert epochs == list(range(1, EPOCHS + 1)), epochs  # same count, no duplicates
    assert len(rows) == len({r["epoch"] for r in rows})
    state = json.loads((run / "resume.json").read_text())
    assert state["status"] == "finished" and state["epoch"] == EPOCHS, state
    assert (run / "metrics.json").is_file() and (run / "weights" / "last.keras").is_file()
    assert not (run.parent / "crash2").exists()


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A run killed at a random point of epochs 2-4, then finished by re-running the command."""
    project = tmp_path_factory.mktemp("faults") / "runs"
    epoch, fraction = kill_training_once(project, fault_rng())
    print(f"killed training in epoch {epoch} at {fraction:.0%} of it")
    done = len(history_rows(project / "crash"))
    print(f"the kill landed in epoch {done + 1} (epochs completed: {done})")
    # epoch-1 completed: killed inside the chosen epoch; one more: in the checkpoint window
    # right after it or at the start of the next (epoch times jitter on a busy machine).
    assert epoch - 1 <= done <= epoch and done < EPOCHS, (epoch, done)
    again = kerascnn(*train_args(project))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Resuming" in again.stdout, again.stdout
    return project / "crash"


@pytest.mark.slow
def test_kill_9_in_epochs_2_to_4_then_rerun_finishes_without_duplicates(resumed_run):
    check_finished_run(resumed_run)


@pytest.mark.stress
def test_kill_9_training_many_times(tmp_path):
    rng = fault_rng()
    for i in range(8):
        project = tmp_path / f"p{i}"
        kill_training_once(project, rng)
        again = kerascnn(*train_args(project))
        assert again.returncode == 0, again.stderr
        check_finished_run(project / "crash")


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_checkpoint_on_resume_is_one_clear_line(resumed_run, tmp_path, damage):
    run = tmp_path / "crash"
    shutil.copytree(resumed_run, run)
    last = run / "weights" / "last.keras"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2] if damage == "truncated" else os.urandom(len(data)))
    history_before = (run / "history.csv").read_text()
    proc = kerascnn("train", "--resume", run, "--epochs", EPOCHS + 2)
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "last.keras" in line, line
    # a failed resume leaves the run as it was
    assert (run / "history.csv").read_text() == history_before
    assert not (run.parent / "crash2").exists()


# ------------------------------------------------------------------------------- export
def numeric_versions(model_dir: Path) -> list[str]:
    return sorted(p.name for p in model_dir.iterdir() if p.name.isdigit())


def served_answer(server) -> str:
    body = {"instances": [{"b64": base64.b64encode(png(seed=11)).decode()}]}
    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", json=body, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["predictions"][0]["label"]


# Moments of an export, in order: the hidden staging directory exists; TensorFlow has begun
# writing the variables; the graph (saved_model.pb) is written, warmup records and metadata not.
EXPORT_STAGES = ("staging directory", "variables", "saved_model.pb")


def _export_stage_reached(model_dir: Path, stage: str) -> bool:
    staging = [p for p in model_dir.iterdir() if p.name.startswith(".export")]
    if stage == "staging directory":
        return bool(staging)
    target = "variables" if stage == "variables" else "saved_model.pb"
    return any((p / target).exists() for p in staging)


def kill_export_midway(source: Path, base: Path, rng: random.Random) -> str:
    """SIGKILL ``kerascnn export`` at a randomly chosen stage of writing (polled every ms)."""
    stage = rng.choice(EXPORT_STAGES)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kerascnn", "export", str(source), "--base", str(base),
         "--name", MODEL, "--version", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        deadline = time.monotonic() + 300
        while not _export_stage_reached(base / MODEL, stage):
            assert proc.poll() is None, f"export exited ({proc.returncode}) before {stage}"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the export finished before it was killed"
    return stage


@pytest.mark.slow
def test_kill_9_of_export_leaves_no_version_and_server_keeps_serving(serve, tmp_path):
    v1, v2 = VersionedModel(1), VersionedModel(2)
    base = tmp_path / "models"
    export_version(v1, base, MODEL)
    source = v2.save_keras(tmp_path / "src")
    rng = fault_rng()
    with serve(model_base_path=base / MODEL, model_name=MODEL,
               extra_args=["--file-system-poll-wait-seconds", "1"]) as server:
        assert served_answer(server) == v1.label
        stage = kill_export_midway(source, base, rng)
        print(f"killed export once it had written: {stage}")
        assert numeric_versions(base / MODEL) == ["1"], list((base / MODEL).iterdir())
        time.sleep(3)  # several poll intervals: the server saw the debris and ignored it
        assert served_answer(server) == v1.label
        assert server.process.poll() is None
        status = requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=30).json()
        assert [s["version"] for s in status["model_version_status"]] == ["1"], status
        # The debris does not block the next export, which the server then picks up.
        proc = kerascnn("export", source, "--base", base, "--name", MODEL, "--version", 2)
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 60
        while served_answer(server) != v2.label:
            assert time.monotonic() < deadline, "the server never loaded version 2"
            time.sleep(0.2)


def try_mount_tmpfs(mount: Path, size="256k") -> bool:
    """Mount a tiny tmpfs at ``mount`` (needs root and mount(8)); False where that fails."""
    mount.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    return proc.returncode == 0


def check_nothing_partial(model_dir: Path):
    left = sorted(p.name for p in model_dir.iterdir()) if model_dir.exists() else []
    assert not [n for n in left if n.isdigit() or n.startswith(".export")], left


def export_under_file_size_limit(source: Path, base: Path) -> subprocess.CompletedProcess:
    """``kerascnn export`` in a subprocess whose writes fail past 4 KiB (EFBIG), as a full
    disk would fail them, where no tmpfs can be mounted."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))\n"
        "from kerascnn.cli import main\n"
        f"sys.argv = ['kerascnn', 'export', {str(source)!r}, '--base', {str(base)!r}, "
        f"'--name', {MODEL!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def big_keras_file(tmp_path: Path) -> Path:
    """A model with ~1 MB of weights: it cannot fit in the small disk."""
    import keras

    inputs = keras.Input((16, 16, 1))
    outputs = keras.layers.Dense(3, activation="softmax")(
        keras.layers.Dense(1024)(keras.layers.Flatten()(inputs)))
    source = tmp_path / "src" / "big.keras"
    source.parent.mkdir()
    keras.Model(inputs, outputs).save(source)
    return source


@pytest.mark.slow
def test_disk_full_during_export_says_so_and_leaves_nothing(tmp_path):
    source = big_keras_file(tmp_path)
    disk = tmp_path / "disk"
    if try_mount_tmpfs(disk):
        try:
            proc = kerascnn("export", source, "--base", disk, "--name", MODEL)
            expected = "No space left on device"
            leftovers = disk / MODEL
            check = (proc, expected)
            check_nothing_partial(leftovers)
        finally:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    else:  # no tmpfs here: the same failure path through a write error the OS raises
        base = tmp_path / "models"
        proc = export_under_file_size_limit(source, base)
        check = (proc, "File too large")
        check_nothing_partial(base / MODEL)
    proc, expected = check
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert expected in line, line


@pytest.mark.stress
def test_export_write_error_in_subprocess(tmp_path):
    """The no-tmpfs path of the test above, run even where a tmpfs can be mounted."""
    source = big_keras_file(tmp_path)
    base = tmp_path / "models"
    proc = export_under_file_size_limit(source, base)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "File too large" in one_error_line(proc)
    check_nothing_partial(base / MODEL)
