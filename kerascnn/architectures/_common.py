"""Heads shared by every family: the classifier top and the optional global pooling."""

from __future__ import annotations

from keras import layers

from kerascnn import blocks


def predictions(logits, classifier_activation, *, name: str = "predictions"):
    """The classifier's activation as its own float32 layer, so mixed precision stays exact
    where probabilities are formed; every head ends in it.

    Example:
        >>> import keras
        >>> predictions(keras.Input((10,)), "softmax").dtype
        'float32'
    """
    return layers.Activation(classifier_activation or "linear", dtype="float32", name=name)(
        logits
    )


def classifier(x, num_classes: int, classifier_activation, *, kernel_regularizer=None):
    """``logits`` Dense → ``predictions`` activation (float32, so mixed precision stays exact).

    Example:
        >>> import keras
        >>> y = classifier(keras.Input((84,)), 10, "softmax")
        >>> tuple(y.shape)
        (None, 10)
    """
    x = blocks.dense(x, num_classes, kernel_regularizer=kernel_regularizer, name="logits")
    return predictions(x, classifier_activation)


def features_head(x, pooling: str | None):
    """The ``include_top=False`` output: the feature map, or its global avg/max pooling.

    Example:
        >>> import keras
        >>> tuple(features_head(keras.Input((7, 7, 512)), "max").shape)
        (None, 512)
    """
    if pooling is None:
        return x
    return blocks.global_pool(x, pooling, name=f"{pooling}_pool")
