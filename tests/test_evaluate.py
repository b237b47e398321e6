"""Evaluation reports and the run-folder model loader (contract 4)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from _train_utils import digits_arrays, tiny_model

from kerascnn.errors import KerasCNNError, UsageError
from kerascnn.train_config import TrainConfig


def test_report_numbers_match_hand_computation():
    from kerascnn.evaluate import confusion, format_report, per_class_report

    labels = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 2, 2]
    matrix = confusion(labels, predicted, 3)
    assert matrix.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    rows = per_class_report(labels, predicted, ["a", "b", "c"])
    # class b: TP=1, predicted b twice, true b twice.
    assert rows[1] == {"class": "b", "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert rows[0]["precision"] == 1.0 and rows[0]["recall"] == pytest.approx(2 / 3)
    assert rows[2]["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    text = format_report(rows, accuracy=4 / 6)
    assert "macro avg" in text and "0.6667 on 6 images" in text


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from kerascnn.data import load_data
    from kerascnn.train import train

    project = tmp_path_factory.mktemp("runs")
    bundle = load_data(digits_arrays(), batch_size=64, seed=0)
    config = TrainConfig(epochs=2, learning_rate=0.01, project=str(project), name="tiny",
                         tensorboard=False)
    result = train(config, model=tiny_model(), data=bundle, verbose="quiet")
    return result, bundle


def test_evaluate_writes_confusion_report_and_top_losses(trained_run, capsys):
    from kerascnn.evaluate import evaluate

    result, bundle = trained_run
    evaluation = evaluate(result.run_dir, data=bundle, top_k=6)
    out = capsys.readouterr().out
    run = result.run_dir
    # The same held-out figures as a direct pass over the test split.
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in bundle.test])
    probs = result.model.predict(np.concatenate(xs), verbose=0)
    truth = np.concatenate(ys)
    assert evaluation.count == len(truth) == bundle.sizes["test"]
    assert evaluation.accuracy == pytest.approx(float(np.mean(probs.argmax(1) == truth)))
    assert evaluation.confusion.sum() == len(truth)
    assert np.trace(evaluation.confusion) == round(evaluation.accuracy * len(truth))
    for key in ("confusion_matrix", "report", "report_csv", "top_losses"):
        assert evaluation.files[key].is_file() and evaluation.files[key].parent == run
    assert (run / "confusion_matrix.png").stat().st_size > 5000
    csv_rows = (run / "classification_report.csv").read_text().splitlines()
    assert csv_rows[0] == "class,precision,recall,f1,support" and len(csv_rows) == 11
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["evaluation"]["test"]["accuracy"] == pytest.approx(evaluation.accuracy)
    assert "test_accuracy" in metrics  # train's own figures are kept
    assert "Results saved to" in out and "macro avg" in out


def test_top_losses_are_the_worst_predictions(trained_run):
    from kerascnn.evaluate import predict_dataset

    result, bundle = trained_run
    preds = predict_dataset(result.model, bundle.test, keep=5)
    assert len(preds.worst_losses) == 5
    assert list(preds.worst_losses) == sorted(preds.worst_losses, reverse=True)
    assert preds.worst_losses[0] == pytest.approx(preds.losses.max(), rel=1e-5)
    assert preds.worst_losses[-1] >= np.sort(preds.losses)[-5] - 1e-6
    assert preds.worst_images.shape[1:] == tuple(bundle.input_shape)


def test_evaluate_other_splits_get_their_own_files(trained_run):
    from kerascnn.evaluate import evaluate

    result, bundle = trained_run
    evaluation = evaluate(result.run_dir, data=bundle, split="val", verbose="quiet")
    assert evaluation.files["confusion_matrix"].name == "confusion_matrix_val.png"
    assert evaluation.files["confusion_matrix"].is_file()
    with pytest.raises(UsageError, match="did you mean 'test'"):
        evaluate(result.run_dir, data=bundle, split="tset")


def test_load_model_from_run_keras_file_and_name(trained_run, tmp_path):
    from kerascnn.loading import load_model

    result, _ = trained_run
    run = result.run_dir
    from_run = load_model(run)
    assert from_run.run_dir == run and from_run.class_names == [str(i) for i in range(10)]
    from_file = load_model(run / "weights" / "last.keras")
    assert from_file.class_names == from_run.class_names and from_file.run_dir == run
    loose = tmp_path / "model.keras"
    shutil.copy(run / "weights" / "best.keras", loose)
    assert load_model(loose).class_names == [str(i) for i in range(10)]
    (tmp_path / "labels.txt").write_text("".join(f"digit{i}\n" for i in range(10)))
    assert load_model(loose).class_names[2] == "digit2"
    fresh = load_model("lenet5")
    assert fresh.model.name == "lenet5" and fresh.run_dir is None and len(fresh.class_names) == 10


def test_load_model_errors_name_the_file(tmp_path):
    from kerascnn.loading import load_model

    with pytest.raises(UsageError, match="missing.keras does not exist"):
        load_model(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(KerasCNNError, match="cannot load model .*corrupt.keras"):
        load_model(corrupt)
    empty_run = tmp_path / "run"
    empty_run.mkdir()
    with pytest.raises(UsageError, match="has no weights/best.keras"):
        load_model(empty_run)
    with pytest.raises(UsageError, match="did you mean 'lenet5'"):
        load_model("lenet55")


def test_evaluate_cli_needs_data_for_a_bare_model(tmp_path, cli):
    proc = cli("evaluate", "lenet5", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "pass --data" in proc.stderr and "Traceback" not in proc.stderr
