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

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerascnn.client.prediction import MissingSignature, as_text
from kerascnn.contract import (
    CLASS_ID,
    GRADCAM_SIGNATURE,
    HEATMAP_OUTPUT,
    IMAGE_BYTES_INPUT,
    LABEL_OUTPUT,
    OVERLAY_OUTPUT,
    PROBABILITY_OUTPUT,
)
from kerascnn.errors import UsageError, positive_int


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
    inputs = {
        IMAGE_BYTES_INPUT: np.array(payloads, dtype=object),
        CLASS_ID: np.array(class_ids, "int64"),
    }
    try:
        columns = client.call_signature(GRADCAM_SIGNATURE, inputs)
    except MissingSignature:
        raise UsageError(
            f"{client.description} has no {GRADCAM_SIGNATURE} signature: export the model "
            "again with kerascnn export (without --no-gradcam)"
        ) from None
    return [
        {
            "heatmap": np.asarray(columns[HEATMAP_OUTPUT][i], "float32"),
            # Over REST the name's "_bytes" ending makes TF Serving send it as {"b64": ...},
            # which the transport decodes: bytes on every transport.
            "heatmap_png": columns[OVERLAY_OUTPUT][i],
            "class_id": int(columns[CLASS_ID][i]),
            "label": as_text(columns[LABEL_OUTPUT][i]),
            "probability": float(columns[PROBABILITY_OUTPUT][i]),
        }
        for i in range(len(payloads))
    ]


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

    positive_int(batch_size, "--batch-size")
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
