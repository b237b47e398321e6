"""Export a trained model as a versioned SavedModel that TF Serving loads as it is.

``export_model`` writes ``BASE/NAME/VERSION/`` (TF Serving's layout) atomically: everything is
written into a hidden, non-numeric directory beside the version, then renamed into place, so a
server polling the base path never sees half a model. The SavedModel carries:

* ``serving_default``: ``image_bytes`` (DT_STRING ``[-1]``, encoded PNG/JPEG/BMP/GIF) ->
  ``probabilities`` (``[-1, C]`` float32), ``class_id`` (``[-1]`` int64), ``label`` (``[-1]``
  string);
* ``serving_pixels``: ``images`` (DT_FLOAT ``[-1, H, W, C]``, raw 0-255) -> the same outputs;
* ``class_names``: ``class_id`` (DT_INT64 ``[-1]``) -> ``label``, so a remote client can name
  its top-k classes;
* decoding, channel conversion, resizing and scaling inside the graph, through
  :func:`kerascnn.preprocessing.preprocess` (the function training used);
* a pixel limit checked from the image header *before* decoding (decompression bombs fail with
  INVALID_ARGUMENT in TF Serving too);
* ``assets/labels.txt``, ``assets.extra/kerascnn.json`` (export metadata) and
  ``assets.extra/tf_serving_warmup_requests`` (PredictionLog records TF Serving replays at load).

Example:
    >>> from kerascnn.export import export_model
    >>> path = export_model("runs/digits-lenet5", name="digits")  # doctest: +SKIP
    >>> path  # doctest: +SKIP
    PosixPath('serving/models/digits/1')
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerascnn.contract import (
    ASSETS_EXTRA,
    CLASS_ID,
    CLASS_NAMES_SIGNATURE,
    DEFAULT_BASE,
    DEFAULT_MAX_PIXELS,
    DEFAULT_SIGNATURE,
    GRADCAM_SIGNATURE,
    IMAGE_BYTES_INPUT,
    LABEL_OUTPUT,
    LABELS_FILE,
    METADATA_FILE,
    PIXELS_INPUT,
    PIXELS_SIGNATURE,
    PROBABILITIES_OUTPUT,
    WARMUP_FILE,
    check_name,
    version_numbers,
)
from kerascnn.errors import KerasCNNError, UsageError, positive_int
from kerascnn.gradcam import gradcam_signature
from kerascnn.loading import load_keras_model
from kerascnn.preprocessing import UNIT, InputSpec, preprocess
from kerascnn.runs import write_labels


# --------------------------------------------------------------------------- in-graph header checks
def _bytes_at(data, pos: int, length: int):
    """``length`` bytes of ``data`` from ``pos`` as int64 values."""
    return tf.cast(tf.io.decode_raw(tf.strings.substr(data, pos, length), tf.uint8), tf.int64)


def _big_endian(data, pos: int, length: int):
    value = tf.constant(0, tf.int64)
    raw = _bytes_at(data, pos, length)
    for i in range(length):
        value = value * 256 + raw[i]
    return value


def _little_endian(data, pos: int, length: int, signed: bool = False):
    raw = _bytes_at(data, pos, length)
    value = tf.constant(0, tf.int64)
    for i in reversed(range(length)):
        value = value * 256 + raw[i]
    if signed:  # two's complement, e.g. BMP's negative height for top-down rows
        bits = 8 * length
        value = tf.where(value >= 2 ** (bits - 1), value - 2**bits, value)
    return value


def _sentence(*parts):
    """An assertion message from text and int64 tensors (tf.strings.format would quote the
    element's name)."""
    return tf.strings.join(
        [tf.strings.as_string(p) if isinstance(p, tf.Tensor) and p.dtype != tf.string else p
         for p in parts]
    )


def _require_length(data, length: int, what: str, which="image"):
    # ``which`` names the element ("image_bytes[3]"), so a batch's bad image can be found.
    size = tf.strings.length(data)
    return tf.debugging.Assert(
        size >= length,
        [
            _sentence(
                which,
                f" is a truncated {what} header: not a valid image (",
                size,
                f" bytes, the header alone needs {length}); send the whole image file",
            )
        ],
    )


def _png_size(data, which="image"):
    with tf.control_dependencies([_require_length(data, 24, "PNG", which)]):
        return _big_endian(data, 20, 4), _big_endian(data, 16, 4)


def _gif_size(data, which="image"):
    with tf.control_dependencies([_require_length(data, 10, "GIF", which)]):
        return _little_endian(data, 8, 2), _little_endian(data, 6, 2)


def _bmp_size(data, which="image"):
    with tf.control_dependencies([_require_length(data, 26, "BMP", which)]):
        header_size = _little_endian(data, 14, 4)

        def core():  # BITMAPCOREHEADER: 16-bit width and height
            return _little_endian(data, 20, 2), _little_endian(data, 18, 2)

        def info():
            return tf.abs(_little_endian(data, 22, 4, signed=True)), _little_endian(
                data, 18, 4, signed=True
            )

        return tf.cond(header_size == 12, core, info)


def _jpeg_size(data):
    shape = tf.cast(tf.io.extract_jpeg_shape(data), tf.int64)
    return shape[0], shape[1]


def image_size_from_header(data, which="image"):
    """(height, width) of one encoded PNG/JPEG/GIF/BMP image, read from its header only.

    Empty, unknown or truncated bytes fail with INVALID_ARGUMENT and a sentence naming
    ``which`` element it was (``image_bytes[3]``), what it held and what is accepted, because
    TF Serving shows a client the assertion's text as it is. Runs in graph mode inside the
    signatures.

    Example:
        >>> png = tf.io.encode_png(tf.zeros((3, 5, 1), tf.uint8))
        >>> [int(v) for v in image_size_from_header(png)]
        [3, 5]
    """
    head = tf.strings.substr(data, 0, 8)
    is_png = tf.equal(head, b"\x89PNG\r\n\x1a\n")
    is_jpeg = tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff")
    is_gif = tf.equal(tf.strings.substr(head, 0, 4), b"GIF8")
    is_bmp = tf.equal(tf.strings.substr(head, 0, 2), b"BM")
    size = tf.strings.length(data)
    accepted = "expected the bytes of a PNG, JPEG, GIF or BMP file"
    problem = tf.where(
        size == 0,
        _sentence(which, " is empty (0 bytes): unsupported image format, " + accepted),
        _sentence(
            which,
            " is not an image: unsupported image format in its ",
            size,
            " bytes; " + accepted + " (base64-encode the file itself, once)",
        ),
    )
    known = tf.debugging.Assert(is_png | is_jpeg | is_gif | is_bmp, [problem])
    index = tf.where(is_png, 0, tf.where(is_jpeg, 1, tf.where(is_gif, 2, 3)))
    with tf.control_dependencies([known]):
        index = tf.identity(index)
    size = tf.switch_case(
        index,
        [
            lambda: tf.stack(_png_size(data, which)),
            lambda: tf.stack(_jpeg_size(data)),
            lambda: tf.stack(_gif_size(data, which)),
            lambda: tf.stack(_bmp_size(data, which)),
        ],
    )
    return size[0], size[1]


# --------------------------------------------------------------------------- the serving module
def _outputs_probabilities(model) -> bool:
    """False when the last layer is linear (logits), so the export adds a softmax."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") != "linear"


class ServingModule(tf.Module):
    """A ``tf.Module`` wrapping a Keras classifier with the serving signatures.

    Also used directly (without saving) by :class:`kerascnn.client.Client` for run folders, so
    a local prediction runs exactly the graph TF Serving would.

    Example:
        >>> module = ServingModule(model, ["cat", "dog"])  # doctest: +SKIP
        >>> module.serving_default(image_bytes=tf.constant([png]))["label"]  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        class_names,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        gradcam: bool = True,
        input_spec: InputSpec = UNIT,
    ):
        super().__init__(name="kerascnn_serving")
        shape = tuple(model.input_shape[1:])
        if len(shape) != 3 or any(d is None for d in shape):
            raise UsageError(
                f"model {model.name!r} has input shape {shape}; export needs a fixed (H, W, C)"
            )
        # The tf.Variables behind Keras 3's, tracked before the model: without them the
        # MetaGraph's restore op fills copies the signatures never read, and TF Serving's C++
        # loader (a TF1 session) fails with "Could not find variable" (keras-team/keras#20095).
        self.tf_variables = [variable.value for variable in model.variables]
        self.model = model
        self.input_shape = tuple(int(d) for d in shape)
        self.max_pixels = int(max_pixels)
        # What the weights expect (a pretrained model's mean/std, BGR, resize + crop); every
        # signature preprocesses with it, as training did.
        self.input_spec = input_spec
        self.class_names_list = [str(c) for c in class_names]
        self._apply_softmax = not _outputs_probabilities(model)
        self._names = tf.constant(self.class_names_list, dtype=tf.string)
        height, width, channels = self.input_shape

        self.serving_default = tf.function(
            self._from_bytes,
            input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES_INPUT)],
        )
        self.serving_pixels = tf.function(
            self._from_pixels,
            input_signature=[
                tf.TensorSpec([None, height, width, channels], tf.float32, name=PIXELS_INPUT)
            ],
        )
        self.class_names = tf.function(
            self._labels_for,
            input_signature=[tf.TensorSpec([None], tf.int64, name=CLASS_ID)],
        )
        # None for a model Grad-CAM cannot explain (no conv layer): no signature then.
        self.serving_gradcam = (
            gradcam_signature(model, self._decode_one, self._names, self.input_shape)
            if gradcam
            else None
        )

    # Each signature's Python argument name is its stable input name: it must equal the
    # contract's constant (IMAGE_BYTES_INPUT, PIXELS_INPUT, CLASS_ID) that its TensorSpec names.
    def _from_bytes(self, image_bytes):
        # Each image travels with its index so that an error can say which one it was.
        positions = tf.range(tf.shape(image_bytes, out_type=tf.int64)[0])
        images = tf.map_fn(
            self._decode_one,
            (positions, image_bytes),
            fn_output_signature=tf.TensorSpec(self.input_shape, tf.float32),
        )
        return self._classify(images)

    def _from_pixels(self, images):
        return self._classify(preprocess(images, self.input_shape, self.input_spec))

    def _labels_for(self, class_id):
        return {LABEL_OUTPUT: tf.gather(self._names, class_id)}

    def _decode_one(self, item):
        # ``item`` is ``(index, bytes)`` from serving_default (errors then name the element),
        # or the bytes alone.
        if isinstance(item, tuple):
            position, data = item
            which = tf.strings.format(IMAGE_BYTES_INPUT + "[{}]", (position,))
        else:
            data, which = item, "image"
        height, width = image_size_from_header(data, which)
        too_big = tf.debugging.Assert(
            height * width <= self.max_pixels,
            [
                _sentence(
                    which, " is ", width, "x", height, " = ", height * width,
                    f" pixels, over the limit of {self.max_pixels} set at export",
                )
            ],
        )
        with tf.control_dependencies([too_big]):
            image = tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False)
        # The decoded channel count is only known at run time: 1 gray, 2 gray+alpha, 3 RGB,
        # 4 RGBA. Give each case a static count so preprocess() can convert channels.
        return tf.switch_case(
            tf.shape(image)[-1] - 1,
            [
                lambda: self._preprocess_one(image[..., :1], 1),
                lambda: self._preprocess_one(image[..., :1], 1),
                lambda: self._preprocess_one(image[..., :3], 3),
                lambda: self._preprocess_one(image[..., :4], 4),
            ],
        )

    def _preprocess_one(self, image, channels):
        # set_shape is static only: it cannot fail at run time in a branch not taken.
        image.set_shape([None, None, channels])
        # Resizing to the same size is an exact identity, so images already at the model's
        # size get the very pixels training saw.
        return preprocess(image[tf.newaxis], self.input_shape, self.input_spec)[0]

    def _classify(self, images):
        probabilities = tf.cast(self.model(images, training=False), tf.float32)
        if self._apply_softmax:
            probabilities = tf.nn.softmax(probabilities, axis=-1)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            PROBABILITIES_OUTPUT: probabilities,
            CLASS_ID: class_id,
            LABEL_OUTPUT: tf.gather(self._names, class_id),
        }

    def signatures(self) -> dict:
        signatures = {
            DEFAULT_SIGNATURE: self.serving_default,
            PIXELS_SIGNATURE: self.serving_pixels,
            CLASS_NAMES_SIGNATURE: self.class_names,
        }
        if self.serving_gradcam is not None:
            signatures[GRADCAM_SIGNATURE] = self.serving_gradcam
        return signatures


def build_serving_module(
    source, *, class_names=None, max_pixels=DEFAULT_MAX_PIXELS, weights=None
):
    """A :class:`ServingModule` for a run folder, ``.keras`` file, registry name (with
    ``weights``: pretrained) or model, preprocessing as its weights expect.

    Example:
        >>> module = build_serving_module("runs/digits-lenet5")  # doctest: +SKIP
    """
    loaded = load_keras_model(source, class_names=class_names, weights=weights)
    return ServingModule(
        loaded.model, loaded.class_names, max_pixels=max_pixels, input_spec=loaded.input_spec
    )


# --------------------------------------------------------------------------- warmup records
def _sample_png(input_shape, seed: int) -> bytes:
    height, width, channels = input_shape
    pixels = np.random.default_rng(seed).integers(
        0, 256, (height, width, min(channels, 4)), "uint8"
    )
    if channels not in (1, 3, 4):
        pixels = pixels[..., :1]
    return tf.io.encode_png(pixels).numpy()


def warmup_requests(module: ServingModule, model_name: str):
    """A few PredictRequests (as PredictionLogs) covering both signatures and two batch sizes.

    Example:
        >>> logs = warmup_requests(module, "digits")  # doctest: +SKIP
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    height, width, channels = module.input_shape
    logs = []
    requests = [
        (
            DEFAULT_SIGNATURE,
            IMAGE_BYTES_INPUT,
            np.array([_sample_png(module.input_shape, 0)], object),
        ),
        (
            DEFAULT_SIGNATURE,
            IMAGE_BYTES_INPUT,
            np.array([_sample_png(module.input_shape, s) for s in range(1, 5)], object),
        ),
        (PIXELS_SIGNATURE, PIXELS_INPUT, np.full((1, height, width, channels), 127.0, "float32")),
    ]
    for signature, input_name, value in requests:
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
        )
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
        logs.append(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
        )
    return logs


# --------------------------------------------------------------------------- versions
def next_version(base=DEFAULT_BASE, name: str = "") -> int:
    """1 + the highest numeric version under ``BASE/NAME`` (1 when there is none).

    Example:
        >>> next_version("/nonexistent", "digits")
        1
    """
    # Every numeric folder counts, a SavedModel or not: a new version must never land on one.
    versions = version_numbers(Path(base) / name)
    return versions[-1] + 1 if versions else 1


def _clean_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "model"
    return cleaned


# --------------------------------------------------------------------------- export
def export_model(
    source,
    *,
    base=DEFAULT_BASE,
    name: str | None = None,
    version: int | None = None,
    force: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    class_names=None,
    gradcam: bool = True,
    weights=None,
) -> Path:
    """Write ``source`` as a TF Serving SavedModel at ``BASE/NAME/VERSION`` and return that path.

    Args:
        source: a run folder, a ``.keras`` file (class names from a sibling ``labels.txt``), a
            registered model name (random weights), or a ``keras.Model``.
        base: the model base directory TF Serving watches.
        name: the served model name; default: the run folder's name (or the file's stem).
        version: the version number; default: one more than the highest existing version.
        force: replace an existing version (still atomically: the old one is moved aside first).
        max_pixels: images with more pixels (from the header) are rejected before decoding.
        class_names: override the class names (index order).
        weights: for a registered model name: "imagenet", a tag or a weights file (see
            :func:`kerascnn.weights.build`); the export then answers with ImageNet labels.
        gradcam: add the ``serving_gradcam`` signature (Grad-CAM heatmaps and overlays; see
            :mod:`kerascnn.gradcam`) when the model has a conv layer to explain.

    Example:
        >>> export_model("runs/digits-lenet5", name="digits", version=1)  # doctest: +SKIP
        PosixPath('serving/models/digits/1')
    """
    if max_pixels is None or int(max_pixels) <= 0:
        raise UsageError(f"--max-pixels must be a positive number, got {max_pixels!r}")
    if version is not None:
        positive_int(version, "--version")
    loaded = load_keras_model(source, class_names=class_names, weights=weights)
    name = check_name(name or _clean_name(loaded.name), "model name")
    model_dir = Path(base) / name
    version = int(version) if version is not None else next_version(base, name)
    final = model_dir / str(version)
    if final.exists() and not force:
        raise UsageError(
            f"{final} already exists; pass --force to replace it or pick another --version"
        )

    module = ServingModule(
        loaded.model,
        loaded.class_names,
        max_pixels=max_pixels,
        gradcam=gradcam,
        input_spec=loaded.input_spec,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    # Non-numeric name: TF Serving ignores it while it is being written.
    staging = Path(tempfile.mkdtemp(prefix=f".export-{version}-", dir=model_dir))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the model from a server's other user
    retired = None
    try:
        _write_saved_model(module, staging, loaded.class_names)
        _write_extras(module, staging, name, version, source, loaded.pretrained)
        if final.exists():
            retired = model_dir / f".replaced-{version}-{os.getpid()}-{int(time.time())}"
            os.rename(final, retired)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None and not final.exists():
            os.rename(retired, final)  # put the old version back
            retired = None
        raise
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)
    return final


def _write_saved_model(module: ServingModule, directory: Path, class_names) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        labels = Path(scratch) / LABELS_FILE
        write_labels(labels, class_names)
        module.labels_file = tf.saved_model.Asset(str(labels))  # -> assets/labels.txt
        try:
            tf.saved_model.save(module, str(directory), signatures=module.signatures())
        except Exception as exc:
            raise KerasCNNError(f"could not write SavedModel to {directory}: {exc}") from exc


def _write_extras(
    module: ServingModule, directory: Path, name: str, version: int, source, pretrained=None
) -> None:
    extra = directory / ASSETS_EXTRA
    extra.mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(extra / WARMUP_FILE)) as writer:
        for log in warmup_requests(module, name):
            writer.write(log.SerializeToString())
    metadata = {
        "name": name,
        "version": version,
        "source": str(source) if not hasattr(source, "layers") else f"keras.Model {source.name}",
        "model": module.model.name,
        "input_shape": list(module.input_shape),
        "class_names": module.class_names_list,
        "max_pixels": module.max_pixels,
        "input_spec": module.input_spec.to_dict(),
        "pretrained": pretrained,
        "signatures": list(module.signatures()),
        "tensorflow": tf.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (extra / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- inspection
def describe_signatures(path) -> dict:
    """Signature name -> {"inputs"/"outputs": {tensor name: (dtype, shape)}}, from the SavedModel.

    The same facts ``saved_model_cli show --all`` prints, read from ``saved_model.pb`` without
    loading variables. Unknown dimensions are -1.

    Example:
        >>> describe_signatures("serving/models/digits/1")["serving_default"]["inputs"]  # doctest: +SKIP
        {'image_bytes': ('DT_STRING', [-1])}
    """
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = Path(path) / "saved_model.pb"
    if not pb_path.is_file():
        raise UsageError(f"{path} is not a SavedModel directory (no saved_model.pb)")
    saved = saved_model_pb2.SavedModel.FromString(pb_path.read_bytes())
    result = {}
    for key, sig in saved.meta_graphs[0].signature_def.items():
        if key.startswith("__"):  # e.g. __saved_model_init_op
            continue

        def info(tensors):
            return {
                alias: (
                    types_pb2.DataType.Name(t.dtype),
                    [int(d.size) for d in t.tensor_shape.dim],
                )
                for alias, t in tensors.items()
            }

        result[key] = {"inputs": info(sig.inputs), "outputs": info(sig.outputs)}
    return result


def read_metadata(path) -> dict:
    """The export's ``assets.extra/kerascnn.json`` (empty dict when absent).

    Example:
        >>> read_metadata("serving/models/digits/1")["class_names"][:2]  # doctest: +SKIP
        ['0', '1']
    """
    meta = Path(path) / ASSETS_EXTRA / METADATA_FILE
    if not meta.is_file():
        return {}
    return json.loads(meta.read_text(encoding="utf-8"))
