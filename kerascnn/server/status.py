"""Request errors carrying TF Serving's status codes, and their HTTP mapping.

Every failure a request can meet is a :class:`ServingError` with a canonical code name
(``INVALID_ARGUMENT``, ``NOT_FOUND``, ...). REST turns it into ``{"error": message}`` with the
HTTP status TF Serving's ``ToHTTPStatusCode`` uses; gRPC aborts with the same code.

Example:
    >>> err = ServingError("NOT_FOUND", "Servable not found for request: Latest(foo)")
    >>> err.http_status
    404
"""

from __future__ import annotations

import re

# TF Serving's http_server.cc ToHTTPStatusCode.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}

# tensorflow::error::Code numbers, for StatusProto in ModelService answers.
CODE_NUMBER = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
CODE_NAME = {number: name for name, number in CODE_NUMBER.items()}


class ServingError(Exception):
    """A request failed with a TF Serving status code and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status TF Serving answers for this code."""
        return HTTP_STATUS.get(self.code, 500)

    def __str__(self):
        return self.message

    def to_string(self) -> str:
        """``CODE: message`` as absl::Status::ToString writes it (used inside nested errors)."""
        return f"{self.code}: {self.message}"


def invalid(message: str) -> ServingError:
    """An INVALID_ARGUMENT error (HTTP 400).

    Example:
        >>> invalid("bad").code
        'INVALID_ARGUMENT'
    """
    return ServingError("INVALID_ARGUMENT", message)


def as_serving_error(exc: BaseException) -> ServingError:
    """A request's failure as TF Serving's status: a ``ServingError`` as it is, anything else
    INTERNAL with its type and message (never a traceback on the wire).

    Example:
        >>> as_serving_error(KeyError("x")).to_string()
        "INTERNAL: KeyError: 'x'"
    """
    if isinstance(exc, ServingError):
        return exc
    return ServingError("INTERNAL", f"{type(exc).__name__}: {exc}")


def from_tensorflow(exc: BaseException) -> ServingError:
    """Map an exception raised while running a model to TF Serving's status.

    ``tf.errors.OpError`` carries its own code; the binding errors a concrete function raises for
    a wrong shape or dtype are INVALID_ARGUMENT, as TensorFlow's session reports them.

    Example:
        >>> from_tensorflow(ValueError("Incompatible shapes")).code
        'INVALID_ARGUMENT'
    """
    if isinstance(exc, ServingError):
        return exc
    code = getattr(exc, "error_code", None)
    if code is not None and hasattr(exc, "message"):
        return ServingError(
            CODE_NAME.get(int(code), "UNKNOWN"), _first_lines(session_message(exc.message))
        )
    if isinstance(exc, (ValueError, TypeError)):
        return invalid(_first_lines(str(exc)))
    return ServingError("INTERNAL", f"{type(exc).__name__}: {_first_lines(str(exc))}")


_EAGER_HEADER = re.compile(
    r"^Graph execution error:\s*Detected at node \S+ defined at \(most recent call last\):\n"
    r"(?:<stack traces unavailable>\n|[ \t][^\n]*\n)*"
)
_EAGER_OP_SUFFIX = re.compile(r" \[Op:[^\]\n]*\]$")


def session_message(text: str) -> str:
    """A TF2 function's error as a TF1 session reports it, which is what TF Serving shows.

    Calling a restored function wraps the op's own message in a "Graph execution error:
    Detected at node ..." header and an ``[Op:...]`` suffix; TF Serving's ``Session::Run``
    answers the op's message alone, so both servers say the same thing.

    Example:
        >>> session_message("Graph execution error:\\n\\nDetected at node a/Assert defined at "
        ...     "(most recent call last):\\n<stack traces unavailable>\\nassertion failed: "
        ...     "[image_bytes[0] is empty]\\n\\t [[{{node a/Assert}}]] [Op:__inference_f_9]")
        'assertion failed: [image_bytes[0] is empty]\\n\\t [[{{node a/Assert}}]]'
    """
    stripped, found = _EAGER_HEADER.subn("", text, count=1)
    if not found:
        return text
    return _EAGER_OP_SUFFIX.sub("", stripped.rstrip())


def _first_lines(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "..."
