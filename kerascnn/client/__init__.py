"""One client for a local SavedModel, TF Serving's REST API and TF Serving's gRPC API.

``Client(target)`` picks the transport from the target:

* a SavedModel directory, a ``BASE/NAME`` directory (newest version), a base directory holding
  one model, or a run folder (the export graph is built in memory; nothing is written): runs
  locally, no server;
* ``http://host:8501``: TF Serving REST, ``POST /v1/models/NAME[/versions/N|/labels/L]:predict``
  with ``{"signature_name": ..., "instances": [{"b64": ...}]}``;
* ``grpc://host:8500``: ``PredictionService/Predict`` with TensorProtos;
* ``HOST:PORT`` without a scheme (and not an existing path): gRPC when PORT is 8500, TF
  Serving's gRPC port, else REST (see :func:`server_url`).

Images are paths, encoded bytes, Pillow images or NumPy arrays (``H x W`` or ``H x W x C``,
``uint8`` or numbers in 0..255). A plain JPEG or PNG file is sent as it is; any other image is
normalised client-side first (EXIF rotation, first GIF frame, 8-bit gray/RGB PNG; see
:mod:`kerascnn.images`), so all three targets decode the same bytes and answer alike. Images
are read one batch at a time; a server that answers 503 / UNAVAILABLE is asked again
(``retry``).

The package: this module holds :class:`Client`, which picks a transport; ``local`` (in-process),
``rest`` and ``grpc_api`` are the three transports, each answering with
:func:`~kerascnn.client.prediction.prediction_rows`; ``prediction`` is what every one answers
(``Prediction``, ``ServerError``, the input-mismatch warning) and how answers print; ``address``
turns what a user types into a server URL; ``retry`` is the backoff for a busy server.

Example:
    >>> from kerascnn.client import Client
    >>> client = Client("http://localhost:8501", model_name="digits")  # doctest: +SKIP
    >>> [p.label for p in client.predict(["three.png"])]  # doctest: +SKIP
    ['3']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from kerascnn.client.address import HOST_PORT, SCHEMES, server_url
from kerascnn.client.grpc_api import GrpcBackend
from kerascnn.client.local import LocalBackend
from kerascnn.client.prediction import (
    InputMismatches,
    InputMismatchWarning,
    MissingSignature,
    Prediction,
    ServerError,
    format_table,
    prediction_json_lines,
)
from kerascnn.client.rest import RestBackend
from kerascnn.client.retry import DEFAULT_RETRIES, FIRST_DELAY, ServerUnavailable, call_with_retries
from kerascnn.contract import DEFAULT_SIGNATURE, PIXELS_SIGNATURE, PREDICT_SIGNATURES
from kerascnn.errors import KerasCNNError, UsageError, positive_int
from kerascnn.images import ImageError, ServingImage, prepare_image_bytes, prepare_image_pixels

__all__ = [
    "Client",
    "InputMismatchWarning",
    "MissingSignature",
    "Prediction",
    "ServerError",
    "ServerUnavailable",
    "format_table",
    "prediction_json_lines",
    "server_url",
]

_NOT_ASKED = object()  # the model's input shape, before anyone asked the target for it


class Client:
    """Predict with a local SavedModel / run folder, a TF Serving REST URL or a gRPC target.

    Args:
        target: a SavedModel directory, ``BASE/NAME`` directory, base directory with one model,
            run folder or ``.keras`` file; ``http(s)://host:8501``; ``grpc://host:8500``; or
            ``HOST:PORT`` (not an existing path): gRPC when PORT is 8500, else REST.
        model_name: the served model's name (required for servers; picks a model in a base
            directory).
        version / label: a specific version number or version label (``label`` needs a server).
        signature: ``serving_default`` (encoded images) or ``serving_pixels`` (pixel arrays).
        timeout: seconds per request to a server.
        retries: how many more times to send a request the server answered with HTTP 503 or
            gRPC UNAVAILABLE (loading, queue full, restarting), waiting ``retry_delay`` seconds
            before the first retry and twice as long before each next one (with jitter).

    Example:
        >>> client = Client("grpc://localhost:8500", model_name="digits", label="stable")  # doctest: +SKIP
        >>> client.predict([open("7.png", "rb").read()])[0].label  # doctest: +SKIP
        '7'
    """

    def __init__(
        self,
        target,
        *,
        model_name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        signature: str = DEFAULT_SIGNATURE,
        timeout: float = 30.0,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = FIRST_DELAY,
        weights=None,
    ):
        if version is not None and label is not None:
            raise UsageError("pass either --version or --label, not both")
        if signature not in PREDICT_SIGNATURES:
            from kerascnn.errors import unknown_name

            raise unknown_name("signature", signature, PREDICT_SIGNATURES)
        if retries < 0:
            raise UsageError(f"--retries must be 0 or more, got {retries}")
        self.retries, self.retry_delay = int(retries), float(retry_delay)
        self._model_input_shape = _NOT_ASKED
        target = os.fspath(target)
        if "://" in target or (HOST_PORT.match(target) and not Path(target).exists()):
            target = server_url(target)
        self.target = target
        self.signature = signature
        lowered = target.lower()
        # Which model and signature: every transport takes these; the rest is its own.
        model = {"model_name": model_name, "version": version, "label": label,
                 "signature": signature}
        if lowered.startswith(SCHEMES):
            if weights is not None:
                raise UsageError("--weights builds a model here; a server serves its own")
            if not model_name:
                raise UsageError(
                    f"pass --model-name: the server at {target} can serve several models"
                )
            if lowered.startswith("grpc://"):
                backend, address = GrpcBackend, target[len("grpc://") :].rstrip("/")
            else:
                backend, address = RestBackend, target
            self._backend = backend(address, timeout=timeout, **model)
        else:
            self._backend = LocalBackend(target, weights=weights, **model)

    @property
    def description(self) -> str:
        """Where predictions come from (a path or URL), for messages."""
        return self._backend.description

    def _input_shape(self):
        shape = self._backend.input_shape
        if shape is None:
            shape = self._call(self._backend.fetch_input_shape)
            self._backend.input_shape = shape
        return shape

    def _call(self, method, *args):
        """``method(*args)`` on the transport, tried again while the server is unavailable."""
        return call_with_retries(
            lambda: method(*args), retries=self.retries, first_delay=self.retry_delay
        )

    def _model_input(self):
        """The model's ``(height, width, channels)`` for the mismatch warning, or None; asked
        of a server once per client, not once per ``predict`` call."""
        if self._model_input_shape is _NOT_ASKED:
            try:
                self._model_input_shape = self._input_shape()
            except KerasCNNError:
                self._model_input_shape = None  # no serving_pixels signature: nothing to compare
        return self._model_input_shape

    def _prepare(self, image, name) -> ServingImage:
        if self.signature == PIXELS_SIGNATURE:
            return prepare_image_pixels(image, self._input_shape(), name=name)
        return prepare_image_bytes(image, name=name)

    def predict(
        self,
        images: Sequence,
        *,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """Predict images; one :class:`Prediction` each, in order.

        ``images`` is a list of paths, encoded bytes, Pillow images or NumPy arrays (``H x W`` or
        ``H x W x C`` with C = 1, 3 or 4; ``uint8`` or numbers in 0..255), or one image on its own,
        or a 4-D array (a batch). Arrays and Pillow images are named ``<array #i>`` /
        ``<image #i>`` in the answers, bytes ``<bytes #i>``.

        Images are read and prepared one batch at a time, just before that batch is sent, so
        memory does not grow with the number of images. ``on_batch(n)`` is called after each
        batch with the number of images it covered (answered or not).

        A missing or unreadable file, or an image the server rejects (e.g. over the pixel
        limit), gets a Prediction with ``error`` set; the others still get answers. An
        unreachable server or unknown model raises, since no image can be answered; so does a
        server still busy or unavailable (HTTP 503, gRPC UNAVAILABLE) after ``retries``.
        Images that differ a lot from the model's input (size, or colour for a gray model) get
        one :class:`InputMismatchWarning` for the whole call.

        Example:
            >>> preds = Client("serving/models/digits").predict(["3.png", "missing.png"])  # doctest: +SKIP
            >>> [p.label or p.error for p in preds]  # doctest: +SKIP
            ['3', 'missing.png: no such file']
        """
        positive_int(batch_size, "--batch-size")
        images = _image_list(images)
        results = [Prediction(image=_image_name(i, im)) for i, im in enumerate(images)]
        mismatches = InputMismatches(self._model_input)
        for start in range(0, len(images), batch_size):
            stop = min(start + batch_size, len(images))
            chunk = []
            for index in range(start, stop):
                try:
                    prepared = self._prepare(images[index], results[index].image)
                except ImageError as exc:
                    results[index].error = str(exc)
                    continue
                mismatches.check(results[index].image, prepared)
                chunk.append((index, prepared.payload))
            if chunk:
                self._predict_chunk(chunk, results)
            if on_batch is not None:
                on_batch(stop - start)
        names = self.class_names() if any(r.ok for r in results) else None
        for result in results:
            result.class_names = names
        mismatches.warn(len(images))
        return results

    def _predict_chunk(self, chunk, results):
        try:
            rows = self._call(self._backend.predict, [payload for _, payload in chunk])
        except ServerError as exc:
            if len(chunk) == 1:
                results[chunk[0][0]].error = f"{results[chunk[0][0]].image}: {exc}"
                return
            for item in chunk:  # find which image the server refused; answer the rest
                self._predict_chunk([item], results)
            return
        for (index, _), (probabilities, class_id, label) in zip(chunk, rows):
            results[index].probabilities = probabilities
            results[index].class_id = class_id
            results[index].label = label

    def call_signature(self, signature: str, inputs: dict) -> dict:
        """Run the model's signature ``signature`` on one batch, on any transport.

        ``inputs`` maps each input name to a NumPy array of its dtype (encoded images as an
        object array of bytes); the answer maps each output name to a NumPy array, string
        outputs as bytes on every transport. A signature the model lacks raises
        :class:`MissingSignature`; an input it refuses, :class:`ServerError`. A busy server is
        asked again, as for :meth:`predict`.

        Example:
            >>> client = Client("http://localhost:8501", model_name="digits")  # doctest: +SKIP
            >>> ids = np.array([0, 1], "int64")
            >>> client.call_signature("class_names", {"class_id": ids})["label"]  # doctest: +SKIP
            array([b'0', b'1'], dtype=object)
        """
        return self._call(self._backend.call_signature, signature, inputs)

    def class_names(self) -> list[str] | None:
        """The model's class names in index order (from its ``class_names`` signature)."""
        try:
            return self._call(self._backend.class_names)
        except ServerError:
            return None  # a model exported elsewhere without that signature: ids only


def _image_list(images) -> list:
    """``images`` as a list of single images: one image on its own (a path, bytes, Pillow image
    or 2-D/3-D array) becomes a list of one, a 4-D array a list of its images."""
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return list(images)
        if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4)):
            return [images]
        raise UsageError(
            f"a single array of shape {images.shape} is neither an image (H x W or H x W x C with "
            "C = 1, 3 or 4) nor a batch (N x H x W x C): pass a list of images"
        )
    if isinstance(images, str | bytes | bytearray | os.PathLike) or _is_pil_image(images):
        return [images]
    return list(images)


def _is_pil_image(value) -> bool:
    from PIL import Image

    return isinstance(value, Image.Image)


def _image_name(index: int, image) -> str:
    """What answers and errors call an image: its path, or its kind and position."""
    if isinstance(image, bytes | bytearray):
        return f"<bytes #{index}>"
    if isinstance(image, np.ndarray):
        return f"<array #{index}>"
    if _is_pil_image(image):
        return f"<image #{index}>"
    try:
        return os.fspath(image)
    except TypeError:
        raise UsageError(
            f"image #{index} is a {type(image).__name__}: pass a path, encoded bytes, a Pillow "
            "image or a NumPy array"
        ) from None
