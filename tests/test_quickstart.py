"""The README's main job, run as a user runs it: ``kerascnn quickstart`` in a fresh folder."""

import json
import re
import shutil
from pathlib import Path

import pytest
import tensorflow as tf

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quickstart_trains_evaluates_exports_and_predicts(cli, tmp_path):
    proc = cli("quickstart", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr

    # Held-out accuracy: the recipe measures 99.4 %; the floor leaves room for other CPUs.
    accuracy = float(re.search(r"reached ([\d.]+)% test accuracy", proc.stdout).group(1))
    assert accuracy >= 97.0, proc.stdout
    metrics = json.loads((tmp_path / "runs" / "quickstart" / "metrics.json").read_text())
    assert metrics  # the run folder records its results
    for split in ("train", "validation"):  # TensorBoard can show the curves
        (events,) = (tmp_path / "runs" / "quickstart" / "logs" / split).glob("events.out.tfevents.*")
        tags = {
            value.tag
            for event in tf.compat.v1.train.summary_iterator(str(events))
            for value in event.summary.value
        }
        assert {"epoch_loss", "epoch_accuracy"} <= tags

    # Exported as TF Serving's layout, loadable by tf.saved_model.load, answering the digit.
    export = tmp_path / "serving" / "models" / "digits" / "1"
    assert (export / "saved_model.pb").is_file()
    digit_png = tmp_path / "runs" / "quickstart" / "digit.png"
    loaded = tf.saved_model.load(str(export))
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant([digit_png.read_bytes()]))
    label = outputs["label"].numpy()[0].decode()
    assert f"digit.png  ->  {label} (" in proc.stdout
    assert f"Exported to {export.relative_to(tmp_path)}" in proc.stdout or str(export) in proc.stdout


@pytest.mark.slow
def test_second_quickstart_exports_a_new_version_and_keeps_the_first(cli, tmp_path):
    """A second quickstart never replaces serving/models/digits/1 (the version models.config
    labels "stable", perhaps being served right now): it exports the next free version, says
    which, and says where the label still points."""
    serving = tmp_path / "serving"
    serving.mkdir()
    shutil.copy(ROOT / "serving" / "models.config", serving / "models.config")
    first = cli("quickstart", "--epochs", "1", cwd=tmp_path, timeout=900)
    assert first.returncode == 0, first.stderr
    version_1 = serving / "models" / "digits" / "1"
    assert "Exported to serving/models/digits/1" in first.stdout
    kept = {p.relative_to(version_1): p.read_bytes() for p in version_1.rglob("*") if p.is_file()}

    second = cli("quickstart", "--epochs", "1", cwd=tmp_path, timeout=900)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert {p.relative_to(version_1): p.read_bytes()
            for p in version_1.rglob("*") if p.is_file()} == kept  # untouched
    assert (serving / "models" / "digits" / "2" / "saved_model.pb").is_file()
    assert "Exported to serving/models/digits/2" in second.stdout
    assert "version 1 is kept" in second.stdout
    assert "serving/models.config labels version 1 'stable'" in second.stdout


def test_the_note_names_kept_versions_and_where_labels_point(tmp_path, monkeypatch):
    """What the second and third quickstart say, read from a serving/models.config that keeps
    the 2 newest versions and labels version 1 "stable" (the repository's own serves every
    version, so its label never goes stale; tests/test_deployment.py checks that)."""
    from kerascnn.quickstart import _kept_versions_note

    monkeypatch.chdir(tmp_path)
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "models.config").write_text(
        'model_config_list { config { name: "digits" base_path: "/models/digits" '
        'model_platform: "tensorflow" model_version_policy { latest { num_versions: 2 } } '
        'version_labels { key: "stable" value: 1 } } }\n'
    )
    digits = Path("serving/models/digits")
    (digits / "1").mkdir(parents=True)
    assert _kept_versions_note(digits / "1") == []  # the first export: nothing to say

    (digits / "2").mkdir()
    assert _kept_versions_note(digits / "2") == [
        "This is version 2; version 1 is kept (an export never replaces one).",
        "serving/models.config labels version 1 'stable' (edit it to promote 2).",
    ]
    (digits / "3").mkdir()
    assert _kept_versions_note(digits / "3") == [
        "This is version 3; versions 1, 2 are kept (an export never replaces one).",
        "serving/models.config labels version 1 'stable' (edit it to promote 3); a server "
        "keeping the 2 newest versions no longer loads it.",
    ]
    # Another base (no models.config beside it): only the versions.
    other = tmp_path / "elsewhere" / "digits"
    (other / "1").mkdir(parents=True)
    (other / "2").mkdir()
    assert _kept_versions_note(other / "2") == [
        "This is version 2; version 1 is kept (an export never replaces one)."]
