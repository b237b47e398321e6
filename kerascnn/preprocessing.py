"""The one preprocessing function shared by training and serving, and the input each model expects.

Training's ``tf.data`` pipeline maps :func:`preprocess` over decoded images and export puts the
very same function inside the SavedModel's serving signatures, so a served model sees exactly
what the trained model saw: raw 0-255 pixels in, the model's input out.

An :class:`InputSpec` says what input a model's weights expect: channel order, scaling, mean and
std, and for torchvision-style evaluation a resize of the shorter side plus a center crop.
:data:`UNIT` (pixels / 255, the whole image resized to the model's input) is what every model
trained by kerascnn from scratch uses; pretrained weights declare their own (see
:data:`SPECS`). An InputSpec is plain data (no TensorFlow) and JSON-able, so a run folder or an
export can record it and read it back.

Example:
    >>> import numpy as np
    >>> from kerascnn.preprocessing import preprocess, SPECS
    >>> SPECS["caffe"].channel_order
    'bgr'
    >>> batch = np.full((2, 8, 8, 3), 255, dtype="uint8")
    >>> preprocess(batch, (32, 32, 1)).shape  # doctest: +SKIP
    TensorShape([2, 32, 32, 1])
"""

from __future__ import annotations

import dataclasses

from kerascnn.errors import UsageError, unknown_name

# Pixel scaling applied after resizing: raw 0..255 -> 0..1.
PIXEL_SCALE = 1.0 / 255.0

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Keras "caffe" mode: the ImageNet mean pixel in 0..255, in BGR order (the channels it is
# subtracted from, after the RGB -> BGR swap).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CHANNEL_ORDERS = ("rgb", "bgr")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What input a model expects, from raw 0..255 pixels: ``((pixels * scale) - mean) / std``.

    ``channel_order``: "rgb" or "bgr" (channels reversed after any gray/RGBA conversion).
    ``mean`` / ``std``: per channel, applied after ``scale``; None means 0 / 1.
    ``resize_shorter`` / ``crop``: when set, the image's shorter side is first resized to
    ``resize_shorter`` (keeping the aspect ratio, torchvision's ``Resize(int)``) and then the
    central ``crop`` × ``crop`` square is cut out (``CenterCrop``); the result is then resized
    to the model's input if it still differs. Without them the whole image is resized.

    Example:
        >>> spec = InputSpec.from_dict(SPECS["torchvision"].to_dict())
        >>> spec == SPECS["torchvision"], spec.crop
        (True, 224)
    """

    name: str = "unit"
    channel_order: str = "rgb"
    scale: float = PIXEL_SCALE
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize_shorter: int | None = None
    crop: int | None = None

    def __post_init__(self):
        if self.channel_order not in CHANNEL_ORDERS:
            raise unknown_name("channel order", str(self.channel_order), CHANNEL_ORDERS)
        for field in ("mean", "std"):
            value = getattr(self, field)
            if value is not None:  # lists from JSON become tuples, so specs stay hashable
                object.__setattr__(self, field, tuple(float(v) for v in value))
        if (self.resize_shorter is None) != (self.crop is None):
            raise UsageError("an input spec sets resize_shorter and crop together, or neither")
        if self.crop is not None and not 0 < self.crop <= self.resize_shorter:
            raise UsageError(
                f"input spec crop {self.crop} must be positive and at most resize_shorter "
                f"{self.resize_shorter}"
            )

    def to_dict(self) -> dict:
        """Plain JSON-able dict; :meth:`from_dict` reads it back.

        Example:
            >>> UNIT.to_dict()["scale"] == 1 / 255
            True
        """
        return {
            "name": self.name,
            "channel_order": self.channel_order,
            "scale": self.scale,
            "mean": list(self.mean) if self.mean is not None else None,
            "std": list(self.std) if self.std is not None else None,
            "resize_shorter": self.resize_shorter,
            "crop": self.crop,
        }

    @classmethod
    def from_dict(cls, data) -> InputSpec:
        """The spec a :meth:`to_dict` dict (or a known spec's name) describes.

        Example:
            >>> InputSpec.from_dict("tf").mean
            (1.0, 1.0, 1.0)
        """
        if isinstance(data, str):
            return get_spec(data)
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown input spec field {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**data)


# Today's default: pixels / 255, whole image resized; existing models and runs use it.
UNIT = InputSpec()
# torchvision's ImageNet evaluation: Resize(256) + CenterCrop(224) + ToTensor + Normalize.
TORCHVISION = InputSpec(
    "torchvision", scale=PIXEL_SCALE, mean=IMAGENET_MEAN, std=IMAGENET_STD, resize_shorter=256,
    crop=224,
)
# keras.applications' preprocess_input modes (imagenet_utils): "caffe" = BGR minus the mean
# pixel; "tf" = [-1, 1]; "torch" = /255 then ImageNet mean/std (no resize or crop).
CAFFE = InputSpec("caffe", channel_order="bgr", scale=1.0, mean=CAFFE_MEAN_BGR)
TF = InputSpec("tf", scale=1.0 / 127.5, mean=(1.0, 1.0, 1.0))
TORCH = InputSpec("torch", scale=PIXEL_SCALE, mean=IMAGENET_MEAN, std=IMAGENET_STD)
# Inception v3 (keras.applications): the "tf" scaling, at its 299x299 input.
INCEPTION = dataclasses.replace(TF, name="inception")

SPECS = {spec.name: spec for spec in (UNIT, TORCHVISION, CAFFE, TF, TORCH, INCEPTION)}


def get_spec(name: str) -> InputSpec:
    """A named input spec ("unit", "torchvision", "caffe", "tf", "torch", "inception").

    Example:
        >>> get_spec("caffe").mean
        (103.939, 116.779, 123.68)
    """
    if name not in SPECS:
        raise unknown_name("input spec", str(name), SPECS)
    return SPECS[name]


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


def preprocess(images, input_shape, spec: InputSpec = UNIT):
    """Turn raw pixels into model input, as ``spec`` says.

    Args:
        images: ``[B, h, w, c]`` tensor or array of 0-255 values (uint8 or float), c in
            {1, 3, 4}; any ``h, w``.
        input_shape: the model's ``(H, W, C)``.
        spec: the :class:`InputSpec` the model's weights expect; :data:`UNIT` (0..1) by default.

    Returns:
        float32 ``[B, H, W, C]``: channels converted (then reversed for "bgr"), the spec's
        shorter-side resize and center crop if it has them, a bilinear resize (antialiased when
        shrinking) to ``(H, W)`` when the size still differs, then ``(x * scale - mean) / std``.

    Example:
        >>> preprocess(np.zeros((1, 8, 8, 1), "uint8"), (32, 32, 1))  # doctest: +SKIP
    """
    import tensorflow as tf

    height, width, channels = (int(d) for d in input_shape)
    images = tf.cast(images, tf.float32)
    images = convert_channels(images, channels)
    if spec.channel_order == "bgr":
        images = images[..., ::-1]
    if spec.resize_shorter is not None:
        images = _resize_shorter_and_crop(images, spec.resize_shorter, spec.crop)
    images = _resize_to(images, height, width)
    images = images * spec.scale
    return _mean_std(images, spec)


def in_unit_range(spec: InputSpec) -> InputSpec:
    """``spec``'s geometry (channel order, resize, crop) with pixels scaled to 0..1 only.

    The training pipeline prepares images with this, augments them (Keras' colour layers
    work on a 0..1 value range), then applies :func:`normalize`; together the two equal
    ``preprocess(images, shape, spec)``, since resizing is linear in the pixel values.

    Example:
        >>> in_unit_range(SPECS["caffe"]).mean, in_unit_range(SPECS["caffe"]).channel_order
        (None, 'bgr')
    """
    return dataclasses.replace(spec, scale=PIXEL_SCALE, mean=None, std=None)


def normalize(images, spec: InputSpec):
    """Map images prepared with :func:`in_unit_range` (0..1) to what ``spec`` expects.

    Example:
        >>> float(normalize(np.ones((1, 1, 1, 3), "float32"), SPECS["tf"])[0, 0, 0, 0])  # doctest: +SKIP
        1.0
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    if spec.scale != PIXEL_SCALE:
        images = images * (255.0 * spec.scale)
    return _mean_std(images, spec)


def _mean_std(images, spec: InputSpec):
    import tensorflow as tf

    for values, combine in ((spec.mean, tf.subtract), (spec.std, tf.divide)):
        if values is not None:
            if len(values) != images.shape[-1]:
                raise UsageError(
                    f"input spec {spec.name!r} has {len(values)} channel values but the model "
                    f"takes {images.shape[-1]} channels"
                )
            images = combine(images, tf.constant(values, tf.float32))
    return images


def _resize_to(images, height: int, width: int):
    import tensorflow as tf

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
        return tf.ensure_shape(images, [None, height, width, images.shape[-1]])
    if static_hw != (height, width):
        return tf.image.resize(images, (height, width), method="bilinear", antialias=True)
    return images


def _resize_shorter_and_crop(images, shorter: int, crop: int):
    """torchvision's ``Resize(shorter)`` then ``CenterCrop(crop)`` on a ``[B, h, w, c]`` batch.

    Sizes follow torchvision: the longer side becomes ``int(shorter * long / short)`` and the
    crop's top-left corner is ``round((side - crop) / 2)`` (half to even, as Python's round).
    (InputSpec guarantees ``crop <= shorter``, so the crop always fits.)
    """
    import tensorflow as tf

    shape = tf.shape(images)
    h, w = shape[1], shape[2]
    short = tf.minimum(h, w)
    long = tf.maximum(h, w)
    # int(shorter * long / short) in float64, as Python computes it, then truncated.
    new_long = tf.cast(
        tf.math.floor(tf.cast(shorter, tf.float64) * tf.cast(long, tf.float64)
                      / tf.cast(short, tf.float64)),
        tf.int32,
    )
    new_h = tf.where(h <= w, shorter, new_long)
    new_w = tf.where(h <= w, new_long, shorter)
    same = tf.logical_and(tf.equal(h, new_h), tf.equal(w, new_w))
    images = tf.cond(
        same,
        lambda: images,
        lambda: tf.image.resize(images, tf.stack([new_h, new_w]), method="bilinear",
                                antialias=True),
    )
    top = tf.cast(tf.round(tf.cast(new_h - crop, tf.float64) / 2.0), tf.int32)
    left = tf.cast(tf.round(tf.cast(new_w - crop, tf.float64) / 2.0), tf.int32)
    images = images[:, top : top + crop, left : left + crop, :]
    return tf.ensure_shape(images, [None, crop, crop, images.shape[-1]])
