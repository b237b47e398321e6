"""Load with a hot swap: REST and gRPC clients hammer ``kerascnn serve`` while a new model
version is exported (``kerascnn export`` in a subprocess, into the served base path) and the
server swaps to it. Zero failed requests; every answer is exactly the answer of the version
that gave it (each version's model outputs its own constant distribution and labels).

CI variant: >= 600 requests at 8 concurrency; stress variant (``pytest -m stress``): >= 10,000
requests at 32 concurrency.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from _hardening_utils import VersionedModel, export_version, png
from _processes import ROOT
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

MODEL = "m"


class LoadRun:
    """Shared counters of one load run (threads append; lists are thread-safe for append)."""

    def __init__(self, versions):
        self.versions = {v.version: v for v in versions}
        self.by_label = {v.label: v for v in versions}
        self.done = threading.Event()
        self.answers: list[tuple[str, int, float]] = []  # (protocol, version, time)
        self.failures: list[str] = []

    def record(self, protocol, label, probabilities, reported_version=None):
        model = self.by_label.get(label)
        if model is None:
            self.failures.append(f"{protocol}: unknown label {label!r}")
            return
        if not model.check(probabilities, label):
            self.failures.append(f"{protocol}: probabilities {probabilities} are not version "
                                 f"{model.version}'s {model.probabilities.tolist()}")
            return
        if reported_version is not None and reported_version != model.version:
            self.failures.append(f"{protocol}: answer of version {model.version} reported as "
                                 f"version {reported_version}")
            return
        self.answers.append((protocol, model.version, time.monotonic()))


def rest_client(run: LoadRun, url: str, seed: int):
    session = requests.Session()
    rng = np.random.default_rng(seed)
    while not run.done.is_set():
        image = png(seed=int(rng.integers(1 << 30)))
        body = {"instances": [{"b64": base64.b64encode(image).decode()}]}
        try:
            r = session.post(url, json=body, timeout=60)
        except requests.RequestException as exc:
            run.failures.append(f"REST: {exc}")
            continue
        if r.status_code != 200:
            run.failures.append(f"REST {r.status_code}: {r.text[:200]}")
            continue
        row = r.json()["predictions"][0]
        run.record("REST", row["label"], row["probabilities"])


def grpc_client(run: LoadRun, target: str, seed: int):
    rng = np.random.default_rng(seed)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        while not run.done.is_set():
            request = predict_pb2.PredictRequest()
            request.model_spec.name = MODEL
            image = png(seed=int(rng.integers(1 << 30)))
            request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([image]))
            try:
                reply = stub.Predict(request, timeout=60)
            except grpc.RpcError as exc:
                run.failures.append(f"gRPC {exc.code()}: {exc.details()}")
                continue
            label = tf.make_ndarray(reply.outputs["label"])[0].decode()
            probs = tf.make_ndarray(reply.outputs["probabilities"])[0]
            run.record("gRPC", label, probs, reply.model_spec.version.value)


def load_with_hot_swap(serve, tmp_path, *, total: int, concurrency: int, after_swap: int,
                       deadline_s: float):
    v1, v2 = VersionedModel(1), VersionedModel(2)
    base = tmp_path / "models"
    export_version(v1, base, MODEL)
    source = v2.save_keras(tmp_path / "src")
    run = LoadRun([v1, v2])
    with serve(model_base_path=base / MODEL, model_name=MODEL,
               extra_args=["--file-system-poll-wait-seconds", "1"]) as server:
        url = f"{server.rest_url}/v1/models/{MODEL}:predict"
        threads = [
            threading.Thread(
                target=rest_client if i % 2 == 0 else grpc_client,
                args=(run, url if i % 2 == 0 else server.grpc_target, i), daemon=True)
            for i in range(concurrency)
        ]
        for t in threads:
            t.start()
        start = time.monotonic()
        try:
            # Some traffic on version 1 first, then export version 2 mid-run.
            while len(run.answers) < total // 3 and time.monotonic() - start < deadline_s:
                time.sleep(0.05)
            export_started = time.monotonic()
            export = subprocess.run(
                [sys.executable, "-m", "kerascnn", "export", str(source), "--base", str(base),
                 "--name", MODEL, "--version", "2"],
                cwd=ROOT, capture_output=True, text=True, timeout=deadline_s,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
            assert export.returncode == 0, export.stdout + export.stderr
            exported_at = time.monotonic()

            def v2_answers():
                return sum(1 for _, v, _ in run.answers if v == 2)

            while ((len(run.answers) < total or v2_answers() < after_swap)
                   and time.monotonic() - start < deadline_s and len(run.failures) < 50):
                time.sleep(0.05)
        finally:
            run.done.set()
            for t in threads:
                t.join(timeout=90)
        status = requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=30).json()

    assert run.failures == [], f"{len(run.failures)} failed requests, e.g. {run.failures[:5]}"
    assert len(run.answers) >= total, f"only {len(run.answers)} answers before the deadline"
    versions = [v for _, v, _ in run.answers]
    assert versions.count(1) > 0 and versions.count(2) >= after_swap, (
        versions.count(1), versions.count(2))
    assert {p for p, _, _ in run.answers} == {"REST", "gRPC"}
    # Version 2 answers only after its export began; version 1 stops soon after the swap.
    last_v1 = max(t for _, v, t in run.answers if v == 1)
    first_v2 = min(t for _, v, t in run.answers if v == 2)
    assert first_v2 >= export_started
    assert last_v1 - exported_at < 60, "version 1 kept answering long after the swap"
    print(f"{len(run.answers)} answers: {versions.count(1)} by v1, {versions.count(2)} by v2, "
          f"0 failed")
    states = {s["version"]: s["state"] for s in status["model_version_status"]}
    assert states.get("2") == "AVAILABLE", status
    assert states.get("1") in (None, "END"), status


@pytest.mark.slow
def test_hot_swap_under_mixed_load(serve, tmp_path):
    load_with_hot_swap(serve, tmp_path, total=600, concurrency=8, after_swap=100, deadline_s=240)


@pytest.mark.stress
def test_hot_swap_under_mixed_load_stress(serve, tmp_path):
    load_with_hot_swap(serve, tmp_path, total=10_000, concurrency=32, after_swap=2_000,
                       deadline_s=1_800)
