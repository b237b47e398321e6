"""Distribution: MirroredStrategy on two logical CPUs, and a real two-process multi-worker job.

Both run in subprocesses: logical devices must be configured before TensorFlow initializes,
and each multi-worker task is its own process talking gRPC over loopback, as on a cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _processes import free_port

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    from kerascnn.train import TrainConfig, train

    config = TrainConfig(model="lenet5", data="digits", epochs=2, batch_size=64,
                         learning_rate=3e-3, strategy="mirrored", project=sys.argv[1],
                         name="mirrored", tensorboard=False)
    result = train(config, verbose="line")
    # Every replica must hold the same values for every variable.
    spread = 0.0
    for variable in result.model.trainable_variables:
        backing = getattr(variable, "_value", variable)  # Keras Variable -> tf MirroredVariable
        values = [np.asarray(v) for v in getattr(backing, "values", [backing])]
        spread = max(spread, max(float(np.abs(v - values[0]).max()) for v in values))
        copies = len(values)
    print("RESULT " + json.dumps({
        "replicas": result.replicas, "strategy": result.strategy, "copies": copies,
        "spread": spread, "val_accuracy": result.metrics["val_accuracy"],
    }))
    """
)

WORKER_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from kerascnn.train import TrainConfig, train
    from kerascnn.distribute import keras_has_multiworker_bug

    project, out = sys.argv[1], sys.argv[2]
    config = TrainConfig(model="lenet5", data="digits", epochs=2, batch_size=64,
                         learning_rate=3e-3, strategy="multiworker", project=project,
                         name="mw", tensorboard=True)
    result = train(config, verbose="line")
    np.savez(out, *[np.asarray(w) for w in result.model.get_weights()])
    print("RESULT " + json.dumps({
        "replicas": result.replicas, "strategy": result.strategy,
        "run_dir": str(result.run_dir) if result.run_dir else None,
        "epochs": result.epochs_completed, "patched": keras_has_multiworker_bug(),
        "val_accuracy": result.metrics["val_accuracy"],
    }))
    """
)


def _result(output: str) -> dict:
    lines = [ln for ln in output.splitlines() if ln.startswith("RESULT ")]
    assert lines, output[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    result = _result(proc.stdout)
    assert result["strategy"] == "MirroredStrategy"
    assert result["replicas"] == 2 and result["copies"] == 2
    assert result["spread"] == 0.0
    assert result["val_accuracy"] > 0.5  # it learned (chance is 0.1)
    assert (tmp_path / "runs" / "mirrored" / "weights" / "best.keras").is_file()


@pytest.mark.slow
def test_two_worker_multiworker_training(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    project = tmp_path / "runs"
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(project), str(tmp_path / f"weights{index}.npz")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=540)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-5000:]
    chief, worker = (_result(output) for output in outputs)
    assert chief["strategy"] == worker["strategy"] == "MultiWorkerMirroredStrategy"
    assert chief["replicas"] == worker["replicas"] == 2
    assert chief["epochs"] == worker["epochs"] == 2
    assert chief["val_accuracy"] > 0.3
    # Identical weights on both workers after training.
    first = np.load(tmp_path / "weights0.npz")
    second = np.load(tmp_path / "weights1.npz")
    assert len(first.files) == len(second.files) > 0
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
    # Only the chief wrote a run folder.
    assert chief["run_dir"] == str(project / "mw") and worker["run_dir"] is None
    assert sorted(p.name for p in project.iterdir()) == ["mw"]
    for name in ("config.yaml", "history.csv", "metrics.json", "weights/best.keras",
                 "weights/last.keras"):
        assert (project / "mw" / name).is_file(), name
    assert "Results saved to" in outputs[0] and "Results saved to" not in outputs[1]


def test_multiworker_needs_tf_config(tmp_path, cli):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "kerascnn", "train", "--strategy", "multiworker", "--epochs", "1",
         "--project", str(tmp_path / "runs")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert "needs TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_chief_detection_and_version_guard(monkeypatch):
    from kerascnn.distribute import is_chief, keras_has_multiworker_bug

    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    for index, expected in ((0, True), (1, False)):
        monkeypatch.setenv("TF_CONFIG", json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        assert is_chief() is expected
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {**cluster, "chief": ["c:3"]}, "task": {"type": "worker", "index": 0}}))
    assert is_chief() is False
    assert keras_has_multiworker_bug("3.15.1") and keras_has_multiworker_bug("3.0.0")
    assert not keras_has_multiworker_bug("2.15.0")
