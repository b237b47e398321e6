"""Grad-CAM (Selvaraju et al., 2017) as TensorFlow ops: one home for the in-process figure and the
served signature.

:class:`GradCam` cuts a Keras classifier at the layer it explains and computes, for a batch of
preprocessed images, the class score's gradient with respect to that layer's feature maps, the
spatial mean of the gradient as one weight per map, and the ReLU of the weighted sum, scaled so
each image's peak is 1. The gradient is taken with ``tf.gradients`` inside a ``tf.function``, so
the same code is

* what ``kerascnn visualize gradcam`` runs in this process (:mod:`kerascnn.visualize.grad_cam`),
  and
* an ordinary graph in the export's ``serving_gradcam`` signature (:func:`gradcam_signature`),
  which TF Serving, the TF1 session loader and ``kerascnn serve`` run unchanged.

The served heatmap therefore equals the in-process one by construction, not by a second copy.

Example:
    >>> explainer = GradCam(model)  # doctest: +SKIP
    >>> result = explainer(images, tf.constant([-1], tf.int64))  # doctest: +SKIP
    >>> result["heatmap"].shape  # [batch, h, w] at the explained layer's resolution  # doctest: +SKIP
    TensorShape([1, 8, 8])
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from kerascnn.contract import (
    CLASS_ID,
    GRADCAM_SIGNATURE,
    HEATMAP_OUTPUT,
    IMAGE_BYTES_INPUT,
    LABEL_OUTPUT,
    OVERLAY_OUTPUT,
    PROBABILITY_OUTPUT,
)
from kerascnn.errors import KerasCNNError, UsageError

SIGNATURE = GRADCAM_SIGNATURE  # the name lives in kerascnn.contract
"""The export's Grad-CAM signature: ``image_bytes`` and ``class_id`` (-1: the top class) in;
``heatmap``, ``heatmap_png_bytes``, ``class_id``, ``label``, ``probability`` out.

The overlay's name ends in ``_bytes`` on purpose: TF Serving's REST API base64-encodes a string
output (``{"b64": ...}``) only when its name ends so; any other name would put raw PNG bytes
into the JSON answer, which no JSON parser reads back intact."""


OVERLAY_MAX_SIDE = 1024
"""``heatmap_png_bytes`` is drawn over the input image shrunk to at most this many pixels a side, so a
large photo does not make a large answer."""

IMAGE_WEIGHT = 0.55
"""The overlay is ``IMAGE_WEIGHT`` x image + (1 - ``IMAGE_WEIGHT``) x jet(heatmap), as in the
``visualize gradcam`` figure."""

# matplotlib's "jet" colormap as its published segment data (x, value) per channel; carried
# over as facts so the served overlay needs no matplotlib and matches the figure's colours.
_JET_SEGMENTS = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}


def jet_lookup_table(size: int = 256) -> np.ndarray:
    """The jet colormap as a ``[size, 3]`` float32 table of RGB in 0..1 (matplotlib's lookup).

    Example:
        >>> table = jet_lookup_table()
        >>> table.shape, table[0].round(2).tolist(), table[-1].round(2).tolist()
        ((256, 3), [0.0, 0.0, 0.5], [0.5, 0.0, 0.0])
    """
    x = np.linspace(0.0, 1.0, size)
    channels = []
    for name in ("red", "green", "blue"):
        points = np.array(_JET_SEGMENTS[name])
        channels.append(np.interp(x, points[:, 0], points[:, 1]))
    return np.stack(channels, axis=-1).astype("float32")


# --------------------------------------------------------------------------- which layer
def feature_map_layers(model):
    """Layers (not the input) whose output is a ``[B, H, W, C]`` feature map, in graph order.

    Example:
        >>> [lyr.name for lyr in feature_map_layers(lenet)][:2]  # doctest: +SKIP
        ['conv1', 'conv1_tanh']
    """
    found = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue  # a layer used more than once, or not called in this graph
        if len(shape) == 4:
            found.append(layer)
    return found


def _is_conv(layer) -> bool:
    import keras

    return isinstance(
        layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D | keras.layers.SeparableConv2D
    )


def explained_layer(model):
    """The layer Grad-CAM explains: the output of the last conv that still has a spatial map.

    That is the last conv with more than 1x1 outputs (LeNet-5's C5 is a conv with a 1x1 map:
    nothing to localise), followed through the layers that keep its resolution (BN,
    activation, residual add) up to the pooling that would coarsen it.

    Example:
        >>> explained_layer(kerascnn.build("resnet20")).name  # doctest: +SKIP
        'stage3_block3_out'
    """
    four_d = feature_map_layers(model)
    convs = [i for i, lyr in enumerate(four_d) if _is_conv(lyr)]
    if not convs:
        raise UsageError(f"model {model.name!r} has no conv layer for Grad-CAM")
    spatial = [i for i in convs if math.prod(d or 2 for d in four_d[i].output.shape[1:3]) > 1]
    convs = spatial or convs
    index = convs[-1]
    size = tuple(four_d[index].output.shape[1:3])
    while index + 1 < len(four_d) and tuple(four_d[index + 1].output.shape[1:3]) == size:
        index += 1
    return four_d[index]


def _scores_tensor(model):
    """The symbolic pre-softmax scores when the model ends in softmax, else the output.

    Grad-CAM on saturated probabilities gives vanishing gradients; the scores before softmax
    do not saturate. Returns ``(tensor, finish)`` where ``finish`` maps the tensor to scores.
    """
    import keras

    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    is_softmax = (
        activation is keras.activations.softmax or getattr(activation, "__name__", "") == "softmax"
    )
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and is_softmax
    ):
        return last.input, lambda t: t
    if isinstance(last, keras.layers.Dense) and is_softmax:

        def finish(t):
            scores = keras.ops.matmul(t, last.kernel)
            return scores + last.bias if last.use_bias else scores

        return last.input, finish
    return model.outputs[0], lambda t: t


def _outputs_logits(model) -> bool:
    """True when the last layer is linear: its outputs are scores, probabilities need a softmax
    (the export's rule too)."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") == "linear"


# --------------------------------------------------------------------------- the computation
class GradCam:
    """A classifier cut at the explained layer; calling it computes Grad-CAM for a batch.

    Args:
        model: a Keras classifier (output ``[batch, classes]``) with a static input size.
        layer: the layer to explain (a layer of ``model``); default :func:`explained_layer`.

    Calling ``explainer(images, class_id)`` with preprocessed ``[B, H, W, C]`` float32 images
    and ``[B]`` int64 class ids (-1: the top class) returns tensors: ``heatmap`` (``[B, h, w]``
    in 0..1, each image's peak scaled to 1, all zeros when no evidence), ``cam`` (the same
    before scaling), ``class_id`` (``[B]`` int64), ``probabilities`` (``[B, classes]``) and
    ``probability`` (``[B]``, of the explained class). Traced once per batch shape.

    Example:
        >>> explainer = GradCam(model)  # doctest: +SKIP
        >>> explainer(images, tf.constant([-1], tf.int64))["class_id"]  # doctest: +SKIP
        <tf.Tensor: shape=(1,), dtype=int64, numpy=array([3])>
    """

    def __init__(self, model, layer=None):
        import keras

        if len(model.outputs[0].shape) != 2:
            raise UsageError(
                f"Grad-CAM needs a classifier (output [batch, classes]); {model.name!r} outputs "
                f"{tuple(model.outputs[0].shape)[1:]} (built with include_top=False?)"
            )
        self.layer = layer if layer is not None else explained_layer(model)
        self.model = model
        self.num_classes = int(model.outputs[0].shape[-1])
        score_input, self._finish = _scores_tensor(model)
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        self._probe = keras.Model(inputs, [self.layer.output, score_input, model.outputs[0]])
        self._softmax = _outputs_logits(model)
        self.compute = tf.function(self._compute, autograph=False)

    def __call__(self, images, class_id):
        return self.compute(
            tf.convert_to_tensor(images, tf.float32), tf.convert_to_tensor(class_id, tf.int64)
        )

    def _compute(self, images, class_id):
        maps, pre_scores, outputs = self._probe(images, training=False)
        scores = tf.cast(self._finish(pre_scores), tf.float32)
        outputs = tf.cast(outputs, tf.float32)
        probabilities = tf.nn.softmax(outputs, axis=-1) if self._softmax else outputs
        top = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        in_range = tf.debugging.Assert(
            tf.reduce_all((class_id >= -1) & (class_id < self.num_classes)),
            [f"class_id must be -1 (the top class) or 0..{self.num_classes - 1}"],
        )
        with tf.control_dependencies([in_range]):
            chosen = tf.where(class_id < 0, top, class_id)
        # Each image's score for its own class; images do not interact (training=False), so
        # one gradient of the sum is every image's own gradient.
        score = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))
        (grads,) = tf.gradients(score, [maps])
        if grads is None:
            raise KerasCNNError(f"no gradient flows from the output to layer {self.layer.name!r}")
        maps = tf.cast(maps, tf.float32)
        weights = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1))
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        heatmap = tf.clip_by_value(tf.math.divide_no_nan(cam, peak), 0.0, 1.0)
        return {
            "heatmap": heatmap,
            "cam": cam,
            "class_id": chosen,
            "probabilities": probabilities,
            "probability": tf.gather(probabilities, chosen, axis=1, batch_dims=1),
        }


# --------------------------------------------------------------------------- the overlay
def overlay_png(image_bytes, heatmap, *, max_side: int = OVERLAY_MAX_SIDE):
    """One encoded image with its ``[h, w]`` heatmap blended over it in jet colours, as PNG.

    The image is decoded as RGB (gray repeated), shrunk to at most ``max_side`` pixels a side,
    the heatmap resized bilinearly to it. Graph-safe: used inside ``serving_gradcam``.

    Example:
        >>> png = tf.io.encode_png(tf.fill((6, 8, 1), tf.constant(200, tf.uint8)))
        >>> out = overlay_png(png, tf.ones((3, 4)))
        >>> tf.io.decode_png(out).shape.as_list()
        [6, 8, 3]
    """
    image = tf.io.decode_image(image_bytes, channels=3, dtype=tf.uint8, expand_animations=False)
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.minimum(1.0, max_side / tf.reduce_max(size))
    shown = tf.maximum(tf.cast(tf.round(size * scale), tf.int32), 1)
    pixels = tf.image.resize(tf.cast(image, tf.float32), shown, method="bilinear", antialias=True)
    heat = tf.image.resize(heatmap[..., tf.newaxis], shown, method="bilinear")[..., 0]
    # matplotlib's lookup: index floor(v * N), the top value folded into the last entry.
    index = tf.clip_by_value(tf.cast(tf.floor(heat * 256.0), tf.int32), 0, 255)
    colours = tf.gather(tf.constant(jet_lookup_table()), index)
    blend = IMAGE_WEIGHT * pixels / 255.0 + (1.0 - IMAGE_WEIGHT) * colours
    return tf.io.encode_png(tf.cast(tf.round(tf.clip_by_value(blend, 0.0, 1.0) * 255.0), tf.uint8))


# --------------------------------------------------------------------------- the signature
def gradcam_signature(model, decode_one, class_names, input_shape):
    """The ``serving_gradcam`` ``tf.function`` for an export, or None when Grad-CAM does not apply.

    Args:
        model: the exported Keras classifier.
        decode_one: the export's own decoding of one ``(index, encoded image)`` pair to model
            input (pixel limit, channels, resize, scaling): the very images ``serving_default``
            classifies, and its errors naming ``image_bytes[index]``.
        class_names: a string tensor of class names in index order.
        input_shape: the model's ``(H, W, C)``.

    Returns None for a model Grad-CAM cannot explain (no conv layer, not a classifier), so
    such exports simply go without the signature.

    Example:
        >>> fn = gradcam_signature(model, module._decode_one, names, (32, 32, 1))  # doctest: +SKIP
        >>> sorted(fn(image_bytes=[png], class_id=[-1]))  # doctest: +SKIP
        ['class_id', 'heatmap', 'heatmap_png_bytes', 'label', 'probability']
    """
    try:
        explainer = GradCam(model)
    except UsageError:
        return None

    def serving_gradcam(image_bytes, class_id):
        same_count = tf.debugging.Assert(
            tf.equal(tf.size(class_id), tf.size(image_bytes)),
            [
                tf.strings.format(
                    "class_id has {} entries for {} images in image_bytes: give one per image "
                    "(-1: its top class)",
                    (tf.size(class_id), tf.size(image_bytes)),
                )
            ],
        )
        # Each image travels with its index, so a decoding error names image_bytes[i].
        positions = tf.range(tf.shape(image_bytes, out_type=tf.int64)[0])
        with tf.control_dependencies([same_count]):
            images = tf.map_fn(
                decode_one,
                (positions, image_bytes),
                fn_output_signature=tf.TensorSpec(input_shape, tf.float32),
            )
        result = explainer.compute(images, class_id)
        # The overlay decodes again at full size: only after decode_one checked the header.
        with tf.control_dependencies([images]):
            pngs = tf.map_fn(
                lambda pair: overlay_png(pair[0], pair[1]),
                (image_bytes, result["heatmap"]),
                fn_output_signature=tf.TensorSpec([], tf.string),
            )
        return {
            HEATMAP_OUTPUT: result["heatmap"],
            OVERLAY_OUTPUT: pngs,
            CLASS_ID: result["class_id"],
            LABEL_OUTPUT: tf.gather(class_names, result["class_id"]),
            PROBABILITY_OUTPUT: result["probability"],
        }

    return tf.function(
        serving_gradcam,
        input_signature=[
            tf.TensorSpec([None], tf.string, name=IMAGE_BYTES_INPUT),
            tf.TensorSpec([None], tf.int64, name=CLASS_ID),
        ],
    )
