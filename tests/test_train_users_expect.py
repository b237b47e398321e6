"""What users of Keras, ultralytics and fastai expect from ``kerascnn train`` (issue 14):
their own Keras callbacks, Keras' TensorBoard (histograms, profiler), enumerated options as
choices, the test-split evaluation at the end of training, a resume hint on Ctrl-C, and a
warning when the batch is larger than the training split."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _train_utils import digits_arrays, tiny_model

from kerascnn.train_config import TrainConfig


@pytest.fixture(scope="module")
def digits_bundle():
    from kerascnn.data import load_data

    return load_data(digits_arrays(), batch_size=64, seed=0)


def _train(*args, **kwargs):
    from kerascnn.train import train

    return train(*args, **kwargs)


def test_user_keras_callbacks_attach_and_see_every_epoch(tmp_path, digits_bundle):
    import keras

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs, self.logs = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(epoch)
            self.logs.append(dict(logs or {}))

    recorder = Recorder()
    config = TrainConfig(epochs=2, project=str(tmp_path), tensorboard=False)
    result = _train(config, model=tiny_model(), data=digits_bundle, callbacks=[recorder],
                    verbose="quiet")
    assert recorder.epochs == [0, 1]
    assert {"loss", "val_loss", "accuracy"} <= set(recorder.logs[-1])
    assert recorder.model is result.model


def _tensor_tags(folder: Path) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return set(events.Tags()["tensors"])


def test_tensorboard_is_keras_own_with_histograms_and_profiler(tmp_path, digits_bundle):
    config = TrainConfig(epochs=2, project=str(tmp_path), name="tb", histogram_freq=1,
                         profile_batch=2)
    result = _train(config, model=tiny_model(), data=digits_bundle, verbose="quiet")
    train_tags = _tensor_tags(result.run_dir / "logs" / "train")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= train_tags
    assert any(tag.endswith("kernel/histogram") for tag in train_tags), train_tags
    assert "epoch_loss" in _tensor_tags(result.run_dir / "logs" / "validation")
    traces = list((result.run_dir / "logs").rglob("*.xplane.pb"))
    assert traces, sorted(p.name for p in (result.run_dir / "logs").rglob("*"))


def test_tensorboard_settings_are_checked(tmp_path):
    from kerascnn.errors import UsageError

    with pytest.raises(UsageError, match="histogram_freq must be a whole number >= 0"):
        TrainConfig(histogram_freq=-1).validate()
    with pytest.raises(UsageError, match="profile_batch"):
        TrainConfig(profile_batch=1.5).validate()
