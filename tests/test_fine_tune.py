"""Fine-tuning from pretrained weights (issue 12): a head phase on a frozen backbone with batch
norm in inference mode, then every layer at its own learning rate, in one resumable run folder
that records the weights it started from and preprocesses as they expect everywhere after.

The pretrained weights are torchvision's ResNet-18 with random values, written by torchvision
itself: what matters here is what moves and what does not, not the values.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from _train_utils import kill_9_after, wait_for_epoch, write_png_folder

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

INPUT = (48, 48, 3)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("fine_tune")
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None)
    with torch.no_grad():  # BN statistics that are not the defaults, so a move would show
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 1.5)
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    save_file(state, root / "resnet18.safetensors")
    write_png_folder(root / "shapes", per_class=10, size=40)
    return root


def _config(workspace, **changes):
    from kerascnn.train_config import TrainConfig

    settings = dict(model="resnet18", weights=str(workspace / "resnet18.safetensors"),
                    data=str(workspace / "shapes"), input_shape=INPUT, batch_size=8,
                    val_split=0.2, test_split=0.1, project=str(workspace / "runs"),
                    tensorboard=False, learning_rate=0.01, seed=1)
    settings.update(changes)
    return TrainConfig(**settings)


def _weights_by_layer(model) -> dict:
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers
            if layer.get_weights()}


def _lr_column(run_dir: Path) -> list[float]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [float(row["learning_rate"]) for row in csv.DictReader(handle)]


def test_head_phase_moves_only_the_head_and_batch_norm_never_moves(workspace):
    from kerascnn.train import Run
    from kerascnn.weights import build

    initial = _weights_by_layer(build("resnet18", weights=str(workspace / "resnet18.safetensors"),
                                      num_classes=3, input_shape=INPUT))
    config = _config(workspace, name="head", epochs=2, freeze="backbone").with_absolute_paths()
    run = Run(config, verbosity="quiet", started=time.perf_counter())
    run.prepare()
    run.claim_folder()
    try:
        run.fit()
        run.finish()
    finally:
        run.release_folder()
    after = _weights_by_layer(run.net)
    moved = {name for name in initial if name != "logits"
             and any(not np.array_equal(a, b) for a, b in zip(initial[name], after[name]))}
    assert moved == set(), sorted(moved)[:5]
    assert {w.path.split("/")[0] for w in run.net.trainable_weights} == {"logits"}
    bn = [layer.name for layer in run.net.layers if layer.name.endswith(("_bn", "_bn1", "_bn2"))]
    assert bn and all(not run.net.get_layer(name).trainable for name in bn)
    record = json.loads((run.run_dir / "pretrained.json").read_text())
    assert record["layout"] == "torchvision" and record["input_spec"]["name"] == "torchvision"
    assert len(record["sha256"]) == 64


def test_fine_tune_phase_unfreezes_at_its_own_rates_keeping_batch_norm(workspace):
    from kerascnn.loading import load_keras_file
    from kerascnn.train import train
    from kerascnn.weights import build

    initial = _weights_by_layer(build("resnet18", weights=str(workspace / "resnet18.safetensors"),
                                      num_classes=3, input_shape=INPUT))
    result = train(_config(workspace, name="ft", epochs=3, fine_tune_epochs=1,
                           fine_tune_lr=0.0005, stage_lr_decay=0.5), verbose="quiet")
    rates = _lr_column(result.run_dir)
    assert rates[:2] == pytest.approx([0.01, 0.01]) and rates[2] == pytest.approx(0.0005)
    # the last epoch's weights: result.model holds the best epoch's, maybe one of the head phase
    after = _weights_by_layer(load_keras_file(result.run_dir / "weights" / "last.keras"))
    changed = lambda name: any(not np.array_equal(a, b)  # noqa: E731
                               for a, b in zip(initial[name], after[name]))
    assert changed("stem_conv") and changed("stage1_block1_conv1")
    # Adam moves a weight by about its rate per step: the stem (0.5 ** 5 of the rate) moves far
    # less than the last stage (0.5 ** 1); with one rate for all they would move alike.
    moved = lambda name: float(np.abs(after[name][0] - initial[name][0]).max())  # noqa: E731
    assert moved("stem_conv") < 0.25 * moved("stage4_block2_conv2")
    batch_norms = [layer.name for layer in result.model.layers
                   if type(layer).__name__ == "BatchNormalization"]
    assert batch_norms and not any(changed(name) for name in batch_norms)
    state = json.loads((result.run_dir / "resume.json").read_text())
    assert state["fine_tune_from"] == 2 and state["status"] == "finished"


def test_freeze_n_keeps_the_stem_and_first_stages(workspace):
    from kerascnn.factories import set_trainable
    from kerascnn.weights import build

    model = build("resnet18", num_classes=3, input_shape=INPUT)
    set_trainable(model, freeze="2", phase="head")
    trainable = {w.path.split("/")[0].split("_")[0] for w in model.trainable_weights}
    assert trainable == {"stage3", "stage4", "logits"}
    set_trainable(model, freeze="none", phase="head")
    assert any(w.path.startswith("stem_conv") for w in model.trainable_weights)
    set_trainable(model, freeze="backbone", phase="fine_tune")
    assert not any("_bn" in w.path for w in model.trainable_weights)


@pytest.mark.slow
def test_kill_9_in_either_phase_resumes(workspace, cli):
    run = workspace / "runs" / "crash"
    args = ["train", "--model", "resnet18", "--weights", workspace / "resnet18.safetensors",
            "--data", workspace / "shapes", "--input-shape", "48,48,3", "--batch-size", "8",
            "--project", workspace / "runs", "--name", "crash", "--no-tensorboard",
            "--epochs", "40", "--fine-tune-epochs", "38", "--fine-tune-lr", "0.0002"]
    for reached in (1, 3):  # in the head phase (2 epochs), then in the fine-tune phase
        with kill_9_after(*args) as trainer:
            wait_for_epoch(run, reached, trainer, timeout=300)
    done = json.loads((run / "resume.json").read_text())["epoch"]
    assert done >= 3
    resumed = cli("train", "--resume", run, "--epochs", done + 1)
    assert resumed.returncode == 0, resumed.stderr
    rates = _lr_column(run)
    assert len(rates) == done + 1
    assert rates[:2] == pytest.approx([0.001, 0.001])
    assert all(rate < 0.0002 * 1.0001 for rate in rates[2:])  # fine-tune rate, its own schedule
    assert json.loads((run / "resume.json").read_text())["status"] == "finished"
