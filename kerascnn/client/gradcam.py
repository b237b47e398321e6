"""Grad-CAM through an export's ``serving_gradcam`` signature, on every transport: heatmaps and
their overlays from a local SavedModel, TF Serving's REST API or its gRPC API.

This is what ``kerascnn predict --gradcam out/`` runs: the overlays are the PNGs the signature
itself draws (``heatmap_png_bytes``), so they are the same whichever server answers.

Example:
    >>> from kerascnn.client import Client
    >>> client = Client("http://localhost:8501", model_name="digits")  # doctest: +SKIP
    >>> write_gradcam_overlays(client, ["three.png"], "cams")  # doctest: +SKIP
    [PosixPath('cams/three_gradcam.png')]
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerascnn.client.grpc_api import GrpcBackend
from kerascnn.client.local import LocalBackend
from kerascnn.client.prediction import ServerError, tf_error_line
from kerascnn.client.rest import RestBackend
from kerascnn.contract import GRADCAM_SIGNATURE
from kerascnn.errors import UsageError

"""The export's Grad-CAM signature (:data:`kerascnn.gradcam.SIGNATURE`; kept TensorFlow-free
here so a REST client needs no TensorFlow)."""

OVERLAY_OUTPUT = "heatmap_png_bytes"
"""The signature's PNG overlay output (:data:`kerascnn.gradcam.OVERLAY_OUTPUT`)."""


@dataclass
class Explanation:
    """One image's Grad-CAM answer from ``serving_gradcam``.

    Example:
        >>> e = Explanation("a.png", np.zeros((2, 2), "float32"), b"", 1, "dog", 0.9)
        >>> e.heatmap.shape, e.label
        ((2, 2), 'dog')
    """

    image: str
    heatmap: np.ndarray
    heatmap_png: bytes
    class_id: int
    label: str
    probability: float


def explain(client, payloads: list[bytes], class_ids: list[int]) -> list[dict]:
    """Call ``serving_gradcam`` on encoded images through ``client``'s transport.

    Returns one dict per image: ``heatmap`` (``[h, w]`` float32), ``heatmap_png`` (bytes),
    ``class_id``, ``label``, ``probability``. A server without the signature (an export made
    with ``--no-gradcam`` or elsewhere) is a one-line UsageError.

    Example:
        >>> explain(client, [png_bytes], [-1])[0]["label"]  # doctest: +SKIP
        'dog'
    """
    backend = client._backend
    if isinstance(backend, LocalBackend):
        columns = _explain_local(backend, payloads, class_ids)
    elif isinstance(backend, RestBackend):
        columns = _explain_rest(backend, payloads, class_ids)
    elif isinstance(backend, GrpcBackend):
        columns = _explain_grpc(backend, payloads, class_ids)
    else:  # pragma: no cover - every Client has one of the three
        raise UsageError(f"Grad-CAM is not available through {client.description}")
    return [
        {
            "heatmap": np.asarray(columns["heatmap"][i], "float32"),
            "heatmap_png": columns["heatmap_png"][i],
            "class_id": int(columns["class_id"][i]),
            "label": _text(columns["label"][i]),
            "probability": float(columns["probability"][i]),
        }
        for i in range(len(payloads))
    ]


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _missing(description: str) -> UsageError:
    return UsageError(
        f"{description} has no {GRADCAM_SIGNATURE} signature: export the model again with "
        "kerascnn export (without --no-gradcam)"
    )


def _explain_local(backend, payloads, class_ids):
    import tensorflow as tf

    fn = backend._functions.get(GRADCAM_SIGNATURE)
    if fn is None:
        raise _missing(backend.description)
    try:
        out = fn(
            image_bytes=tf.constant(payloads, tf.string),
            class_id=tf.constant(class_ids, tf.int64),
        )
    except tf.errors.InvalidArgumentError as exc:
        raise ServerError(tf_error_line(exc)) from None
    columns = {key: value.numpy() for key, value in out.items()}
    columns["heatmap_png"] = columns.pop(OVERLAY_OUTPUT)
    return columns


def _explain_rest(backend, payloads, class_ids):
    instances = [
        {"image_bytes": {"b64": base64.b64encode(data).decode("ascii")}, "class_id": int(cid)}
        for data, cid in zip(payloads, class_ids)
    ]
    body = {"signature_name": GRADCAM_SIGNATURE, "instances": instances}
    try:
        rows = backend._call("POST", backend.model_path + ":predict", json=body)["predictions"]
    except ServerError as exc:
        if GRADCAM_SIGNATURE in str(exc) and "not found" in str(exc).lower():
            raise _missing(backend.model_path) from None
        raise
    return {
        "heatmap": [r["heatmap"] for r in rows],
        # The name ends in "_bytes", so TF Serving's REST API sends it as {"b64": ...}.
        "heatmap_png": [_png_from_json(r[OVERLAY_OUTPUT]) for r in rows],
        "class_id": [r["class_id"] for r in rows],
        "label": [r["label"] for r in rows],
        "probability": [r["probability"] for r in rows],
    }


def _png_from_json(value) -> bytes:
    if not (isinstance(value, dict) and "b64" in value):
        raise ServerError(f"{OVERLAY_OUTPUT} did not come back as {{\"b64\": ...}}")
    return base64.b64decode(value["b64"])


def _explain_grpc(backend, payloads, class_ids):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest(model_spec=backend._spec(GRADCAM_SIGNATURE))
    request.inputs["image_bytes"].CopyFrom(
        tf.make_tensor_proto(np.array(payloads, dtype=object))
    )
    request.inputs["class_id"].CopyFrom(tf.make_tensor_proto(np.array(class_ids, "int64")))
    try:
        response = backend._rpc(backend.stub.Predict, request)
    except ServerError as exc:
        if GRADCAM_SIGNATURE in str(exc):
            raise _missing(backend.description) from None
        raise
    columns = {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
    columns["heatmap_png"] = columns.pop(OVERLAY_OUTPUT)
    return columns


def _overlay_names(sources) -> list[str]:
    """``<stem>_gradcam.png`` per image, numbered where two images share a stem."""
    names, seen = [], {}
    for index, source in enumerate(sources):
        try:
            stem = Path(os.fspath(source)).stem or f"image{index}"
        except TypeError:
            stem = f"image{index}"
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        names.append(f"{stem}_gradcam.png" if count == 0 else f"{stem}_{count + 1}_gradcam.png")
    return names


def write_gradcam_overlays(
    client, images, out, *, class_id: int = -1, batch_size: int = 8
) -> list[tuple[Path, Explanation]]:
    """Write each image's Grad-CAM overlay (from ``serving_gradcam``) into folder ``out``.

    ``images`` are paths, encoded bytes, Pillow images or arrays, normalised as
    :meth:`kerascnn.client.Client.predict` does; ``class_id`` -1 explains each image's top
    class. Files are ``out/<stem>_gradcam.png``. Returns ``(path, Explanation)`` pairs; an
    unreadable image or one the server refuses raises its one-line error.

    Example:
        >>> [str(p) for p, _ in write_gradcam_overlays(client, ["7.png"], "cams")]  # doctest: +SKIP
        ['cams/7_gradcam.png']
    """
    from kerascnn.images import normalize_image

    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    images = list(images)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = _overlay_names(images)
    written = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        payloads = [normalize_image(image, name=str(names[start + i])) for i, image in
                    enumerate(chunk)]
        answers = explain(client, payloads, [int(class_id)] * len(chunk))
        for offset, answer in enumerate(answers):
            path = out / names[start + offset]
            path.write_bytes(answer["heatmap_png"])
            source = chunk[offset]
            label = os.fspath(source) if isinstance(source, str | os.PathLike) else path.name
            written.append((path, Explanation(image=label, **answer)))
    return written
