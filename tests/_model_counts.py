"""Counting a built Keras model the way the zoo's table does, written independently of
kerascnn.arithmetic so the tests check it rather than repeat it."""

from __future__ import annotations

import keras
import numpy as np


def trainable_params(model) -> int:
    """Trainable weights, counted from their shapes."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def conv_dense_macs(model) -> int:
    """Batch-1 multiply-accumulates of every Conv2D (out_h*out_w*k*k*c_in/g*c_out), every
    DepthwiseConv2D (out_h*out_w*k*k*c_in*depth_multiplier: its kernel is k×k×c_in×m) and Dense."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            _, height, width, _ = layer.output.shape
            total += height * width * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def layer_names(model) -> list[str]:
    """Every layer's name, in graph order."""
    return [layer.name for layer in model.layers]
