"""The serving contract: names and limits that the exporter, the server, the client and the CLI
must agree on. One home for each, TensorFlow-free, so the CLI can read them for its defaults
without loading TensorFlow.

A change here changes what TF Serving sees on disk or on the wire: exports written before a change
keep the old names, so treat every value as part of a published format.

Example:
    >>> from kerascnn import contract
    >>> contract.DEFAULT_BASE, contract.DEFAULT_SIGNATURE
    ('serving/models', 'serving_default')
    >>> contract.check_name("digits", "model name")
    'digits'
"""

from __future__ import annotations

import re
from pathlib import Path

from kerascnn.errors import UsageError

# --- the export layout (TF Serving's: BASE/NAME/VERSION/) -------------------------------------
DEFAULT_BASE = "serving/models"
"""Where exports go and where ``predict`` looks for them, relative to the working directory."""

ASSETS_EXTRA = "assets.extra"
"""TF Serving reads this folder of a SavedModel but never loads it into the graph."""

WARMUP_FILE = "tf_serving_warmup_requests"
"""PredictionLog records in ``assets.extra/`` that TF Serving replays before a version serves."""

METADATA_FILE = "kerascnn.json"
"""kerascnn's own description of an export (class names, input shape, signatures), in
``assets.extra/``."""

LABELS_FILE = "labels.txt"
"""One class name per line, in class-index order (run folders and exports' ``assets/``)."""

# --- signatures ----------------------------------------------------------------------------------
DEFAULT_SIGNATURE = "serving_default"
"""Encoded images in (``image_bytes``), probabilities, class ids and labels out."""

PIXELS_SIGNATURE = "serving_pixels"
"""Raw 0-255 pixels in (``images``), the same outputs as the default signature."""

CLASS_NAMES_SIGNATURE = "class_names"
"""``class_id`` in, ``label`` out: how a remote client names its top-k classes."""

GRADCAM_SIGNATURE = "serving_gradcam"
"""``image_bytes`` and ``class_id`` (-1: the top class) in, Grad-CAM ``heatmap`` and its
overlay ``heatmap_png_bytes`` out (kerascnn.gradcam); left out for a model without convs."""

SIGNATURES = (DEFAULT_SIGNATURE, PIXELS_SIGNATURE, CLASS_NAMES_SIGNATURE, GRADCAM_SIGNATURE)
"""Every signature an export can carry (serving_gradcam when the model has a conv layer)."""

PREDICT_SIGNATURES = (DEFAULT_SIGNATURE, PIXELS_SIGNATURE)
"""The signatures a client may predict through."""

# --- tensor names: the inputs and outputs the signatures above take and answer ----------------
IMAGE_BYTES_INPUT = "image_bytes"
"""``serving_default``'s and ``serving_gradcam``'s input: encoded images, DT_STRING ``[-1]``."""

PIXELS_INPUT = "images"
"""``serving_pixels``' input: raw 0-255 pixels, DT_FLOAT ``[-1, H, W, C]``."""

CLASS_ID = "class_id"
"""Class indices, DT_INT64 ``[-1]``: an output of the predict signatures and of
``serving_gradcam``, the input of ``class_names`` and ``serving_gradcam`` (-1: the top class)."""

PROBABILITIES_OUTPUT = "probabilities"
"""Every class's probability, float32 ``[-1, C]`` (the predict signatures)."""

LABEL_OUTPUT = "label"
"""The class name of ``class_id``, DT_STRING ``[-1]``: an output of every signature."""

PROBABILITY_OUTPUT = "probability"
"""The explained class's probability, float32 ``[-1]`` (``serving_gradcam``)."""

HEATMAP_OUTPUT = "heatmap"
"""Grad-CAM's ``[-1, h, w]`` float32 map in 0..1 at the explained layer's resolution."""

OVERLAY_OUTPUT = "heatmap_png_bytes"
"""The heatmap over the image as PNG. The name ends in ``_bytes`` on purpose: TF Serving's REST
API base64-encodes a string output (``{"b64": ...}``) only when its name ends so."""

# --- images --------------------------------------------------------------------------------------
DEFAULT_MAX_PIXELS = 50_000_000
"""Largest width x height an export decodes; checked from the header, before decoding."""

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
"""Files read with Pillow: ``predict`` on a folder picks these, and training folders take them
(the pipeline decodes the ones outside :data:`GRAPH_IMAGE_SUFFIXES` with Pillow)."""

GRAPH_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
"""Files TensorFlow's ``decode_image`` reads inside a graph (what an export's
``serving_default`` decodes; the client re-encodes anything else as PNG first)."""

# --- versions ----------------------------------------------------------------------------------
def version_numbers(model_dir) -> list[int]:
    """The numeric version folders under ``model_dir`` (``BASE/NAME``), ascending, as TF
    Serving's file-system source sees them: every all-digit folder, whether or not it holds a
    complete SavedModel (an empty list when ``model_dir`` is missing or unreadable).

    Example:
        >>> version_numbers("/nonexistent")
        []
    """
    try:
        entries = list(Path(model_dir).iterdir())
    except OSError:
        return []
    # isascii: "²".isdigit() is True too, but int() refuses it.
    return sorted(
        int(p.name) for p in entries if p.name.isascii() and p.name.isdigit() and p.is_dir()
    )


# --- names ---------------------------------------------------------------------------------------
NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
"""One folder name: a letter or digit, then letters, digits, ``.``, ``_`` or ``-``.
Run names and model names follow it, so neither can climb out of its parent folder."""


def check_name(name, what: str = "name") -> str:
    """Return ``name`` when it is one safe folder name, else raise a one-line UsageError.

    Example:
        >>> check_name("exp-2", "run name")
        'exp-2'
        >>> check_name("../x", "run name")
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: run name '../x' is not valid: use letters, digits, '_', '-' or '.', starting with a letter or digit
    """
    if not isinstance(name, str) or not NAME_RULE.match(name) or name in (".", ".."):
        raise UsageError(
            f"{what} {name!r} is not valid: use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name
