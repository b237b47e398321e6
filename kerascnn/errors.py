"""User-facing errors: one clear line, never a traceback.

Library code raises these; the CLI turns them into ``Error: <message>`` and an exit code.
``UsageError`` means the user asked for something impossible (exit 2); ``KerasCNNError``
means a well-formed request failed (exit 1).

Example:
    >>> from kerascnn.errors import unknown_name
    >>> str(unknown_name("model", "resnet5O", ["resnet50", "resnet18"]))
    "unknown model 'resnet5O' (did you mean 'resnet50'?)"
"""

from __future__ import annotations

import difflib
import numbers
import os
from collections.abc import Iterable


class KerasCNNError(Exception):
    """A failure to report as one line (CLI exit code 1)."""

    exit_code = 1


class UsageError(KerasCNNError, ValueError):
    """Bad input from the user: unknown name, bad shape, missing file (CLI exit code 2)."""

    exit_code = 2


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, with what the user needs to carry on (CLI exit code 130).

    A ``KeyboardInterrupt``, so code that catches that keeps working; ``str()`` is the line
    to print: how far the run got and the command that resumes it.
    """

    exit_code = 130

    def __init__(self, message: str, run_dir=None, epochs_completed: int = 0):
        super().__init__(message)
        self.run_dir = run_dir
        self.epochs_completed = epochs_completed


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """Return the closest choice to ``name``, or None when nothing is close.

    Example:
        >>> did_you_mean("vgg61", ["vgg19", "vgg16"])
        'vgg16'
        >>> did_you_mean("resnet5O", ["resnet56", "resnet50"])
        'resnet50'
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered:
        return lowered[name.lower()]
    wanted = name.lower()

    def closeness(candidate):
        ratio = difflib.SequenceMatcher(None, wanted, candidate).ratio()
        shared_prefix = len(os.path.commonprefix([wanted, candidate]))
        # Ties go to the longer shared prefix, then to the smaller typo (conv3 -> conv2,
        # resnet5O -> resnet50), then alphabetically.
        return (-ratio, -shared_prefix, _typo_gap(wanted, candidate), candidate)

    best = min(lowered, key=closeness, default=None)
    if best is None or difflib.SequenceMatcher(None, wanted, best).ratio() < 0.6:
        return None
    return lowered[best]


# Look-alike characters people type for digits.
_LOOKALIKES = str.maketrans({"o": "0", "l": "1", "i": "1"})


def _typo_gap(typed: str, candidate: str) -> int:
    """How far apart two names are key by key: the sum of character-code differences."""
    typed, candidate = typed.translate(_LOOKALIKES), candidate.translate(_LOOKALIKES)
    gap = sum(abs(ord(a) - ord(b)) for a, b in zip(typed, candidate))
    return gap + 128 * abs(len(typed) - len(candidate))


def positive_int(value, what: str) -> int:
    """``value`` as an ``int`` if it is a whole number >= 1, else a UsageError naming ``what``.
    ``bool`` is refused (Python counts it as an int, no user does); NumPy integers pass.

    Example:
        >>> positive_int(3, "stride")
        3
        >>> positive_int(0, "stride")
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: stride must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise UsageError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    """Build the error for an unknown ``kind`` (model, optimizer, ...) with a suggestion.

    Example:
        >>> raise unknown_name("optimizer", "adamm", ["adam", "sgd"])  # doctest: +SKIP
    """
    choices = sorted(choices)
    guess = did_you_mean(name, choices)
    if guess:
        return UsageError(f"unknown {kind} {name!r} (did you mean {guess!r}?)")
    return UsageError(f"unknown {kind} {name!r}; choose from: {', '.join(choices)}")
