"""What a prediction is, on every transport: one image's answer, the server's error, and how
answers print (``kerascnn predict``'s table and JSON lines).

Example:
    >>> p = Prediction("a.png", np.array([0.1, 0.9]), 1, "dog", ["cat", "dog"])
    >>> p.to_dict(1)["top_k"][0]["label"]
    'dog'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kerascnn.errors import KerasCNNError


class ServerError(KerasCNNError):
    """The server answered with an error about the request (bad image, too many pixels...)."""


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


def prediction_rows(probabilities, class_ids, labels):
    """``(probabilities, class_id, label)`` per image, as every backend answers."""
    return [
        (np.asarray(p, dtype="float32"), int(c), str(lab))
        for p, c, lab in zip(probabilities, class_ids, labels)
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
