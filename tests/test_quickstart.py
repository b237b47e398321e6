"""The README's main job, run as a user runs it: ``kerascnn quickstart`` in a fresh folder."""

import json
import re

import pytest
import tensorflow as tf


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
