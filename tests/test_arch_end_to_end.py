"""The new architectures end to end, as a user runs them: ``kerascnn train`` on the bundled
digits, ``kerascnn export``, one ``kerascnn serve`` for all of them, ``kerascnn predict --server``.

Each model trains for one epoch at the smallest input it takes (at least 32x32, RGB: the digits
loader resizes the 8x8 grayscale images and repeats the channel). ``kerascnn train`` has no step
limit, and the cost is not the data but tracing the train step of a deep graph (DenseNet-121: ~45 s
on two cores), so the batch is chosen to trace it once: 5 % val and 5 % test leave 1,617 training
images, 11 full batches of 147, and the 90 val and 90 test images each fit one batch. Models train
and export two at a time (tracing is single-threaded Python); the server then loads them all.
"""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from _processes import run_cli
from PIL import Image

from kerascnn.architectures import get_model_info, list_models

pytestmark = pytest.mark.slow

NEW_MODELS = [
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "resnet101v2",
    "resnet152v2",
    "densenet121",
    "densenet169",
    "densenet201",
    "googlenet",
    "inception_v3",
]

VAL_SPLIT = TEST_SPLIT = 0.05
BATCH_SIZE = 147  # 1,617 training images = 11 x 147: every train batch the same shape
SPLIT_LINE = "on digits (1617 train / 90 val / 90 test images, 10 classes"
WORKERS = max(1, min(2, os.cpu_count() or 1))
DIGITS = [str(i) for i in range(10)]


def _input_size(name: str) -> int:
    return max(get_model_info(name).min_input_size, 32)


def _train_and_export(name: str, root: Path) -> dict:
    """``kerascnn train`` then ``kerascnn export`` for one model; never raises (the test says
    what failed), so one broken model does not hide the others."""
    size = _input_size(name)
    result = {"size": size}
    if name not in list_models():
        result["error"] = f"{name} is not registered (kerascnn models does not list it)"
        return result
    result["train"] = run_cli(
        "train", "--model", name, "--data", "digits", "--input-shape", f"{size},{size},3",
        "--epochs", 1, "--batch-size", BATCH_SIZE, "--val-split", VAL_SPLIT,
        "--test-split", TEST_SPLIT, "--no-tensorboard", "--project", root / "runs", "--name", name,
        timeout=1200,
    )  # fmt: skip
    if result["train"].returncode != 0:
        return result
    result["export"] = run_cli(
        "export", root / "runs" / name, "--base", root / "models", "--name", name,
        "--version", 1, timeout=1200,
    )  # fmt: skip
    return result


# The deepest variants of families the others already cover end to end (and whose exports
# tests/test_server_session_loading.py runs): by hand with pytest -m stress, for CI's budget.
STRESS_MODELS = {"mobilenet_v3_large", "resnet152v2", "densenet169", "densenet201"}


def _selected_models(request) -> list[str]:
    """The models whose tests this session runs (all of them under -m stress)."""
    return sorted({
        item.callspec.params["name"] for item in request.session.items
        if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
    })  # fmt: skip


@pytest.fixture(scope="module")
def trained(request, tmp_path_factory):
    """Every selected model trained and exported under one folder: ``(root, {name: result})``."""
    root = tmp_path_factory.mktemp("arch_end_to_end")
    # Deepest graphs first, so the two workers finish together.
    order = sorted(_selected_models(request), key=lambda n: -(get_model_info(n).params or 0)
                   if n in list_models() else 0)  # fmt: skip
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(zip(order, pool.map(lambda n: _train_and_export(n, root), order)))
    yield root, results
    shutil.rmtree(root, ignore_errors=True)  # ~2.6 GB of runs and exports: free them for the rest


def _exported(result: dict) -> bool:
    return "export" in result and result["export"].returncode == 0


@pytest.fixture(scope="module")
def server(serve, trained):
    """One ``kerascnn serve`` for every model that exported, from a models config."""
    root, results = trained
    entries = [
        f'config {{ name: "{name}" base_path: "{root / "models" / name}" '
        'model_platform: "tensorflow" }'
        for name, result in results.items()
        if _exported(result)
    ]
    if not entries:
        pytest.fail("no model trained and exported; see the per-model failures")
    config = root / "models.config"
    config.write_text("model_config_list { " + " ".join(entries) + " }\n")
    return serve(model_config_file=config, timeout=900)


@pytest.fixture(scope="module")
def digit_images(tmp_path_factory) -> list[Path]:
    """Three bundled digits (8x8 grayscale, 0-16) as PNG files, as a user would send them."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("digit_images")
    digits = load_digits()
    paths = []
    for index in (0, 1, 2):
        path = folder / f"digit{digits.target[index]}.png"
        pixels = (digits.images[index] * (255 / 16)).astype(np.uint8)
        Image.fromarray(pixels, "L").save(path)
        paths.append(path)
    return paths


def _failure(step: str, proc) -> str:
    return f"kerascnn {step} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.stress) if n in STRESS_MODELS else n for n in NEW_MODELS],
)
def test_trains_exports_and_answers_through_the_server(name, trained, server, digit_images, cli):
    root, results = trained
    result = results[name]
    assert "error" not in result, result.get("error")
    train = result["train"]
    assert train.returncode == 0, _failure("train", train)
    size = result["size"]
    assert f"Training {name} {SPLIT_LINE}, input ({size}, {size}, 3)" in train.stdout + train.stderr
    assert (root / "runs" / name / "weights" / "best.keras").is_file()
    assert result["export"].returncode == 0, _failure("export", result["export"])
    assert (root / "models" / name / "1" / "saved_model.pb").is_file()

    # the server serves this model at the size it was trained at
    metadata = requests.get(f"{server.rest_url}/v1/models/{name}/metadata", timeout=30).json()
    pixels = metadata["metadata"]["signature_def"]["signature_def"]["serving_pixels"]
    dims = [int(d["size"]) for d in pixels["inputs"]["images"]["tensor_shape"]["dim"]]
    assert dims == [-1, size, size, 3], metadata

    proc = cli("predict", *digit_images, "--server", server.rest_url, "--model-name", name,
               "--json", "--top-k", "10")  # fmt: skip
    assert proc.returncode == 0, _failure("predict", proc) + "\nserver:\n" + server.output[-4000:]
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(a["image"]).name for a in answers] == [p.name for p in digit_images]
    for answer in answers:
        assert "error" not in answer, answer
        assert answer["label"] in DIGITS and answer["label"] == DIGITS[answer["class_id"]]
        probabilities = [entry["probability"] for entry in answer["top_k"]]
        assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert answer["probability"] == max(probabilities)
