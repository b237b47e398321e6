"""Each benchmark script runs end to end in ``--smoke`` mode and writes its JSON result.

No timing is asserted (figures on a shared CI machine mean nothing); the tests check that
the scripts work as a user runs them and that the result files carry the machine description,
the table and the target checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_FIELDS = {"cpu", "cores", "memory_gib", "tensorflow", "keras", "gpus", "python"}


def run_benchmark(name: str, out_dir: Path) -> dict:
    env = {**os.environ, "KERASCNN_BENCH_RESULTS": str(out_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--smoke"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"{name} --smoke failed:\n{proc.stdout}\n{proc.stderr}"
    path = out_dir / f"{name}.smoke.json"
    assert path.exists(), f"{name} wrote no {path.name}; output:\n{proc.stdout}"
    assert f"wrote {path}" in proc.stdout
    doc = json.loads(path.read_text())
    assert doc["benchmark"] == name and doc["smoke"] is True
    assert MACHINE_FIELDS <= set(doc["machine"]), doc["machine"]
    assert doc["machine"]["cores"] >= 1 and doc["machine"]["memory_gib"] > 0
    headers = doc["headers"]
    assert doc["rows"] and all(len(row) == len(headers) for row in doc["rows"])
    assert all(h in proc.stdout for h in headers), "the printed table lacks a column"
    return doc


def _check_targets(doc, names):
    targets = {t["target"]: t for t in doc["targets"]}
    for name in names:
        assert any(name in t for t in targets), (name, list(targets))
    for t in doc["targets"]:
        assert isinstance(t["value"], (int, float)) and t["met"] in (True, False)


@pytest.mark.slow
def test_train_throughput_smoke(tmp_path):
    doc = run_benchmark("train_throughput", tmp_path)
    names = {row[0] for row in doc["rows"]}
    assert {"plain Keras (image_dataset_from_directory)", "kerascnn load_data + fit",
            "in-memory tensors (tf.data)"} <= names
    for summary in doc["summary"].values():
        assert summary["epoch1_images_per_s"] > 0 and summary["epoch2plus_images_per_s"] > 0
        assert summary["images"] == doc["images"]
    for runs in doc["runs"].values():
        assert all(len(r["epoch_seconds"]) == doc["epochs"] >= 2 for r in runs)
    _check_targets(doc, ["epoch 1", "epochs >= 2", "in-memory"])


@pytest.mark.slow
def test_input_pipeline_smoke(tmp_path):
    doc = run_benchmark("input_pipeline", tmp_path)
    assert set(doc["results"]) == {"32x32", "224x224"}
    for entry in doc["results"].values():
        assert entry["model_images_per_s"] > 0
        for key in ("plain_keras", "kerascnn_no_cache", "kerascnn_cache"):
            assert entry[key]["images"] == entry["images"]
            assert entry[key]["epoch1_images_per_s"] > 0


@pytest.mark.slow
def test_serving_smoke(tmp_path):
    doc = run_benchmark("serving", tmp_path)
    results = doc["results"]
    for protocol in ("REST", "gRPC"):
        for clients in (1, 16):
            for batching in ("off", "on"):
                r = results[f"{protocol}/{clients}/{batching}"]
                assert r["errors"] == 0, r
                assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
                assert r["images_per_s"] > 0 and r["clients"] == clients
                assert r["generator"] in ("wrk", "h2load", "python threads")
    assert results["in_process"]["batched"]["batch"] == 32
    assert results["in_process"]["batched"]["cpu_ms_per_image"] > 0
    # Every row names the load generator that produced it.
    generators = {row[0]: row[1] for row in doc["rows"] if row[0] in ("REST", "gRPC")}
    assert generators["REST"] in ("wrk", "python threads")
    assert generators["gRPC"] in ("h2load", "python threads")
    summary = doc["summary"]
    assert summary["ratio"] > 0 and len(summary["load_average_before"]) == 3
    if generators["REST"] == "wrk":  # the do-nothing servers are measured with native tools
        for protocol in ("REST", "gRPC"):
            floor = results[f"floor/{protocol}"]
            assert floor["errors"] == 0 and floor["server_cpu_ms_per_request"] > 0, floor
    _check_targets(doc, ["in-process batch 32", "batching on / off", "beyond the model",
                         "p50 at 1 connection", "REST p50 overhead", "gRPC p50"])


@pytest.mark.slow
def test_cli_startup_smoke(tmp_path):
    doc = run_benchmark("cli_startup", tmp_path)
    results = doc["results"]
    assert results["kerascnn --help"]["exit_code"] == 0
    assert any(name.startswith("kerascnn predict 1 image") for name in results)
    _check_targets(doc, ["--help"])
