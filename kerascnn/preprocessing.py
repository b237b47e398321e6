"""The one preprocessing function shared by training and serving.

Training's ``tf.data`` pipeline maps it over decoded images and export puts the very same
function inside the SavedModel's serving signatures, so a served model sees exactly what the
trained model saw: raw 0-255 pixels in, the model's input out.

Example:
    >>> import numpy as np
    >>> from kerascnn.preprocessing import preprocess
    >>> batch = np.full((2, 8, 8, 3), 255, dtype="uint8")
    >>> preprocess(batch, (32, 32, 1)).shape  # doctest: +SKIP
    TensorShape([2, 32, 32, 1])
"""

from __future__ import annotations

# Pixel scaling applied after resizing: raw 0..255 -> 0..1.
PIXEL_SCALE = 1.0 / 255.0


def convert_channels(images, channels: int):
    """Convert a ``[B, H, W, c]`` float batch with c in {1, 3, 4} to ``channels`` channels.

    RGBA drops alpha; RGB -> gray uses ITU-R 601 luma (``tf.image.rgb_to_grayscale``);
    gray -> RGB repeats the plane. Other counts must already match.
    """
    import tensorflow as tf

    have = images.shape[-1]
    if have == channels:
        return images
    if have == 4:
        images, have = images[..., :3], 3
        if channels == 3:
            return images
    if have == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(images)
    if have == 1 and channels in (3, 4):
        rgb = tf.repeat(images, 3, axis=-1)
        if channels == 4:
            return tf.concat([rgb, tf.fill(tf.shape(images), 255.0)], axis=-1)
        return rgb
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def preprocess(images, input_shape):
    """Turn raw pixels into model input.

    Args:
        images: ``[B, h, w, c]`` tensor or array of 0-255 values (uint8 or float), c in
            {1, 3, 4}; any ``h, w``.
        input_shape: the model's ``(H, W, C)``.

    Returns:
        float32 ``[B, H, W, C]`` scaled to 0..1: channels converted, then bilinear resize
        (with antialiasing when shrinking) when the size differs.

    Example:
        >>> preprocess(np.zeros((1, 8, 8, 1), "uint8"), (32, 32, 1))  # doctest: +SKIP
    """
    import tensorflow as tf

    height, width, channels = (int(d) for d in input_shape)
    images = tf.cast(images, tf.float32)
    images = convert_channels(images, channels)
    static_hw = tuple(images.shape[1:3])
    if None in static_hw:
        # Size known only at run time (decoded files and request bytes). An antialiased resize
        # to the same size is an identity that costs ~3x a JPEG decode, so skip it then.
        shape = tf.shape(images)
        same = tf.logical_and(tf.equal(shape[1], height), tf.equal(shape[2], width))
        images = tf.cond(
            same,
            lambda: images,
            lambda: tf.image.resize(images, (height, width), method="bilinear", antialias=True),
        )
        images = tf.ensure_shape(images, [None, height, width, images.shape[-1]])
    elif static_hw != (height, width):
        images = tf.image.resize(images, (height, width), method="bilinear", antialias=True)
    return images * PIXEL_SCALE
