"""What a prediction is, on every transport: one image's answer, the server's error, the
warning for images that do not fit the model, and how answers print (``kerascnn predict``'s
table and JSON lines).

Example:
    >>> p = Prediction("a.png", np.array([0.1, 0.9]), 1, "dog", ["cat", "dog"])
    >>> p.to_dict(1)["top_k"][0]["label"]
    'dog'
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from kerascnn.contract import (
    CLASS_ID,
    IMAGE_BYTES_INPUT,
    LABEL_OUTPUT,
    PIXELS_INPUT,
    PIXELS_SIGNATURE,
    PROBABILITIES_OUTPUT,
)
from kerascnn.errors import KerasCNNError


class ServerError(KerasCNNError):
    """The server answered with an error about the request (bad image, too many pixels...)."""


class MissingSignature(ServerError):
    """The model has no signature named ``signature`` (an export made elsewhere, or without
    ``serving_gradcam``). The message is the server's own, so predicting through a missing
    signature reads as it always did.

    Example:
        >>> MissingSignature('Serving signature key "serving_gradcam" not found.',
        ...                  "serving_gradcam").signature
        'serving_gradcam'
    """

    def __init__(self, message: str, signature: str):
        super().__init__(message)
        self.signature = signature

    @classmethod
    def from_server(cls, error: ServerError, signature: str) -> ServerError:
        """``error`` as a MissingSignature when the server said ``signature`` is not there
        (TF Serving: ``Serving signature key "NAME" not found.``), else ``error`` itself.

        Example:
            >>> error = ServerError('server error 400: Serving signature key "x" not found.')
            >>> type(MissingSignature.from_server(error, "x")).__name__
            'MissingSignature'
            >>> type(MissingSignature.from_server(ServerError("bad image"), "x")).__name__
            'ServerError'
        """
        text = str(error)
        if f'"{signature}"' in text and "not found" in text.lower():
            return cls(text, signature)
        return error


@dataclass
class Prediction:
    """One image's answer (or the one-line reason it has none).

    Example:
        >>> p = Prediction("a.png", np.array([0.1, 0.9]), 1, "dog", ["cat", "dog"])
        >>> p.top(1)
        [('dog', 1, 0.9...)]
    """

    image: str
    probabilities: np.ndarray | None = None
    class_id: int | None = None
    label: str | None = None
    class_names: list[str] | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def top(self, k: int = 5) -> list[tuple[str, int, float]]:
        """The ``k`` most probable classes as ``(label, class_id, probability)``, best first."""
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        names = self.class_names
        return [
            (names[i] if names and i < len(names) else str(i), int(i), float(self.probabilities[i]))
            for i in order
        ]

    def to_dict(self, k: int = 5) -> dict:
        """JSON-ready form (what ``kerascnn predict --json`` prints per line)."""
        if self.error is not None:
            return {"image": self.image, "error": self.error}
        return {
            "image": self.image,
            "label": self.label,
            "class_id": self.class_id,
            "probability": float(self.probabilities[self.class_id]),
            "top_k": [
                {"label": label, "class_id": cid, "probability": prob}
                for label, cid, prob in self.top(k)
            ],
        }


def tf_error_line(exc) -> str:
    """The useful line of a TF runtime error text (the assertion's message), for one-line output."""
    text = exc if isinstance(exc, str) else getattr(exc, "message", str(exc))
    for line in text.splitlines():
        if "assertion failed:" in line:
            return line.strip()
    for line in text.splitlines():
        if line.strip() and "Graph execution error" not in line and "Detected at node" not in line:
            return line.strip()
    return text.strip()


def as_text(value) -> str:
    """A string tensor's element as text: bytes from TensorFlow, already text from JSON.

    Example:
        >>> as_text(b"dog"), as_text("dog")
        ('dog', 'dog')
    """
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def predict_inputs(signature: str, payload: list) -> dict:
    """A predict signature's inputs for a batch of prepared images: ``serving_pixels`` takes
    pixel arrays, ``serving_default`` encoded bytes.

    Example:
        >>> predict_inputs("serving_default", [b"png"])
        {'image_bytes': array([b'png'], dtype=object)}
    """
    if signature == PIXELS_SIGNATURE:
        return {PIXELS_INPUT: np.stack(payload).astype("float32")}
    return {IMAGE_BYTES_INPUT: np.array(payload, dtype=object)}


def prediction_rows(outputs: dict):
    """``(probabilities, class_id, label)`` per image, as every backend answers, from a predict
    signature's outputs ({output name: a column})."""
    return [
        (np.asarray(p, dtype="float32"), int(c), as_text(lab))
        for p, c, lab in zip(outputs[PROBABILITIES_OUTPUT], outputs[CLASS_ID], outputs[LABEL_OUTPUT])
    ]


def format_table(predictions: Sequence[Prediction], top_k: int = 5) -> str:
    """Human-readable top-k table for each answered image (errors are reported separately).

    Example:
        >>> print(format_table([Prediction("a.png", np.array([0.2, 0.8]), 1, "dog", ["cat", "dog"])], 2))
        a.png  ->  dog (80.00%)
           1. dog              0.8000  ################
           2. cat              0.2000  ####
    """
    lines = []
    for pred in predictions:
        if not pred.ok:
            continue
        best = float(pred.probabilities[pred.class_id])
        lines.append(f"{pred.image}  ->  {pred.label} ({best:.2%})")
        for rank, (label, _, prob) in enumerate(pred.top(top_k), 1):
            bar = "#" * int(round(prob * 20))
            lines.append(f"   {rank}. {label:<16} {prob:.4f}  {bar}")
    return "\n".join(lines)


def prediction_json_lines(predictions: Sequence[Prediction], top_k: int = 5) -> str:
    """One JSON object per line per image (errors included as ``{"image", "error"}``)."""
    return "\n".join(json.dumps(p.to_dict(top_k)) for p in predictions)


# An image this many times larger than the model's input on both sides is squeezed past
# recognition (a 1000 x 1000 photo for a 32 x 32 model); a 12-megapixel photo for a 224 x 224
# model (13.5 times) is everyday use and passes. Enlarging 8 times (28 x 28 digits for 224 x 224)
# means the wrong data or the wrong model.
SHRINK_WARNING = 16
GROW_WARNING = 8
_EXAMPLES_NAMED = 3


class InputMismatchWarning(UserWarning):
    """Images differ a lot from the model's input (size, or colour for a gray model)."""


class InputMismatches:
    """Tally images that differ a lot from the model's input, for one warning per call.

    ``model_input()`` gives the model's ``(height, width, channels)`` or None; it is asked once,
    at the first image (a server needs a metadata request for it).

    Example:
        >>> tally = InputMismatches(lambda: (32, 32, 1))
        >>> tally.check("photo.jpg", width=1000, height=800, colored=True)
        >>> tally.check("digit.png", width=32, height=32, colored=False)
        >>> tally.message(2)
        "1 of 2 images differs a lot from the model's 32x32 gray input: photo.jpg (1000x800, colour); its predictions may mean little (is this the right model?)"
    """

    def __init__(self, model_input: Callable[[], tuple[int, int, int] | None]):
        self._model_input = model_input
        self._shape: tuple[int, int, int] | None = None
        self._asked = False
        self.count = 0
        self.examples: list[str] = []

    def check(self, name: str, prepared=None, *, width=None, height=None, colored=None) -> None:
        """Count ``name`` if it differs a lot; ``prepared`` has ``width``, ``height``, ``colored``."""
        if prepared is not None:
            width, height, colored = prepared.width, prepared.height, prepared.colored
        if not self._asked:
            self._asked, self._shape = True, self._model_input()
        if self._shape is None or len(self._shape) != 3 or not width or not height:
            return
        model_height, model_width, channels = self._shape
        problems = []
        if min(width / model_width, height / model_height) >= SHRINK_WARNING or min(
            model_width / width, model_height / height
        ) >= GROW_WARNING:
            problems.append(f"{width}x{height}")
        if colored and channels == 1:
            problems.append("colour")
        if problems:
            self.count += 1
            if len(self.examples) < _EXAMPLES_NAMED:
                self.examples.append(f"{name} ({', '.join(problems)})")

    def message(self, total: int) -> str | None:
        """The one line that names how many images differ and a few of them, or None."""
        if not self.count:
            return None
        height, width, channels = self._shape
        kind = "gray" if channels == 1 else "colour"
        more = f" and {self.count - len(self.examples)} more" if self.count > len(self.examples) else ""
        verb, their = ("differs", "its") if self.count == 1 else ("differ", "their")
        return (
            f"{self.count} of {total} images {verb} a lot from the model's {height}x{width} "
            f"{kind} input: {', '.join(self.examples)}{more}; {their} predictions may mean "
            "little (is this the right model?)"
        )

    def warn(self, total: int) -> None:
        """Issue :class:`InputMismatchWarning` once, if any image differed."""
        text = self.message(total)
        if text is not None:
            warnings.warn(text, InputMismatchWarning, stacklevel=3)
