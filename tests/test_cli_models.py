"""``kerascnn models`` and ``kerascnn summary`` run as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import re

import pytest

from kerascnn.architectures import get_model_info, list_models


def _total(text: str, label: str) -> int:
    match = re.search(rf"{label}: ([\d,]+)", text)
    assert match, f"no {label!r} line in:\n{text}"
    return int(match.group(1).replace(",", ""))


def test_models_table_lists_every_registered_model(cli):
    proc = cli("models")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "model", "family", "input", "classes", "params", "MACs", "depth", "RF", "reference"
    ]
    names = [line.split()[0] for line in lines[2:] if line.strip() and not line.startswith(" ")]
    registered = list_models()
    assert names[: len(registered)] == registered
    lenet = next(line for line in lines if line.startswith("lenet5 "))
    assert "32x32x1" in lenet and "61,706" in lenet
    resnet50 = next(line for line in lines if line.startswith("resnet50 "))
    assert "25,557,032" in resnet50 and "224x224x3" in resnet50
    # columns line up: every row's params column ends where the header's does
    end = lines[0].index("params") + len("params")
    assert all(line[end - 1] != " " for line in lines[2 : 2 + len(registered)])


def test_models_named_in_order_with_depth_and_receptive_field(cli):
    """The lecture's path as one table: the names asked for, in that order."""
    path = ["lenet5", "alexnet", "vgg16", "googlenet", "resnet50", "densenet121", "mobilenet_v2"]
    proc = cli("models", *path)
    assert proc.returncode == 0, proc.stderr
    header, _, *rows = proc.stdout.splitlines()[: 2 + len(path)]
    assert [row.split()[0] for row in rows] == path

    def column(title):  # right-aligned numbers end where their header does
        end = header.index(f" {title} ") + len(title) + 1
        return {row.split()[0]: int(row[:end].split()[-1]) for row in rows}

    assert column("depth") == {"lenet5": 5, "alexnet": 8, "vgg16": 16, "googlenet": 22,
                               "resnet50": 50, "densenet121": 121, "mobilenet_v2": 53}
    assert column("RF")["resnet50"] == 427
    unknown = cli("models", "resnet5O")
    assert unknown.returncode == 2 and "did you mean 'resnet50'" in unknown.stderr


def test_models_json_lists_every_registered_model(cli):
    proc = cli("models", "--json")
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)
    assert [e["name"] for e in entries] == list_models()
    by_name = {e["name"]: e for e in entries}
    assert by_name["lenet5"]["params"] == 61_706
    assert by_name["lenet5"]["default_input_shape"] == [32, 32, 1]
    for name, entry in by_name.items():
        info = get_model_info(name)
        assert entry["params"] == info.params and entry["macs"] == info.macs, name
        assert entry["reference"], name


def test_summary_lenet5_totals(cli):
    proc = cli("summary", "lenet5")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert _total(out, "total params") == 61_706
    assert _total(out, "trainable") == 61_706
    assert _total(out, "non-trainable") == 0
    # the classic LeNet-5 (fully connected C3) at 32x32x1: 416,520 MACs
    assert "total MACs: 416.52 K  (416,520)" in out
    header = out.splitlines()[0].split()
    assert header == ["layer", "type", "output", "params", "MACs", "RF", "jump"]
    assert get_model_info("lenet5").macs == 416_520


def test_summary_resnet18_json_at_a_small_input(cli):
    proc = cli("summary", "resnet18", "--input-shape", "64,64,3", "--classes", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["model"] == "resnet18"
    assert report["input_shape"] == [64, 64, 3]
    layers, totals = report["layers"], report["totals"]
    assert layers[-1]["output_shape"] == [10]
    # torchvision's 11,689,512 with a 10-class head instead of 1000: 512*10 + 10 weights
    assert totals["trainable_params"] == 11_689_512 - 513 * 1000 + 513 * 10
    assert totals["non_trainable_params"] == 2 * 4_800  # BN moving mean/variance of 4,800 channels
    assert totals["params"] == totals["trainable_params"] + totals["non_trainable_params"]
    assert totals["macs"] == sum(layer["macs"] for layer in layers)
    # total stride 32: the last feature map is 2x2 with jump 32, and ResNet-18's last
    # 3x3 conv sees a 435-pixel window (the published receptive field)
    convs = [layer for layer in layers if layer["type"] == "Conv2D"]
    assert convs[-1]["output_shape"][:2] == [2, 2]
    assert convs[-1]["jump"] == [32, 32]
    assert max(layer["receptive_field"][0] for layer in convs) == 435


@pytest.mark.slow
def test_summary_resnet50_macs_match_the_published_4_09_g(cli):
    proc = cli("summary", "resnet50", "--json")
    assert proc.returncode == 0, proc.stderr
    totals = json.loads(proc.stdout)["totals"]
    assert totals["trainable_params"] == 25_557_032
    assert 4.08e9 <= totals["macs"] <= 4.10e9
    assert totals["macs"] == get_model_info("resnet50").macs


@pytest.mark.parametrize(
    "args, words",
    [
        (("summary", "resnt50"), "did you mean 'resnet50'"),
        (("summary", "lenet5", "--input-shape", "32,32"), "--input-shape"),
        (("summary", "lenet5", "--input-shape", "a,b,c"), "is not a shape"),
        (("summary", "resnet18", "--input-shape", "8,8,3"), "too small"),
        (("summary", "lenet5", "--classes", "0"), "--classes"),
    ],
)
def test_summary_errors_are_one_line_and_exit_2(cli, args, words):
    proc = cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1
