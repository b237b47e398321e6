"""Another try when a server is there but cannot answer now: HTTP 503, gRPC ``UNAVAILABLE``, a
connection dropped mid-request. TF Serving answers so while it loads a model or while its batch
queue is full; a replica behind a Kubernetes Service does while it restarts. A server that could
never be reached (connection refused, unknown host) is another matter, reported at once as
"cannot reach" by the transports: waiting would only hide a wrong address.

Example:
    >>> answers = iter([ServerUnavailable("http://h:8501", "HTTP 503: busy"), "ok"])
    >>> def call():
    ...     answer = next(answers)
    ...     if isinstance(answer, Exception):
    ...         raise answer
    ...     return answer
    >>> call_with_retries(call, retries=3, sleep=lambda seconds: None)
    'ok'
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from kerascnn.errors import KerasCNNError

DEFAULT_RETRIES = 3
"""Retries after the first attempt (``kerascnn predict --retries``)."""

FIRST_DELAY = 0.5
"""Seconds before the first retry; each later one waits twice as long, up to :data:`MAX_DELAY`."""

MAX_DELAY = 8.0

T = TypeVar("T")


class ServerUnavailable(KerasCNNError):
    """The server at ``server`` cannot answer now (``reason``); a later attempt may succeed."""

    def __init__(self, server: str, reason: str, attempts: int = 1):
        self.server, self.reason, self.attempts = server, reason, attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"the server at {server} is busy or unavailable{tries} ({reason})")


def backoff_delay(retry: int, *, first: float = FIRST_DELAY, rng=random.random) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): exponential, with jitter.

    Half of the delay is fixed and half random, so that clients refused together (a full
    batch queue refuses many at once) do not all come back at the same moment.

    Example:
        >>> [backoff_delay(r, rng=lambda: 1.0) for r in range(6)]
        [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        >>> backoff_delay(0, rng=lambda: 0.0)
        0.25
    """
    ceiling = min(MAX_DELAY, first * 2**retry)
    return ceiling / 2 + ceiling / 2 * rng()


def call_with_retries(
    call: Callable[[], T],
    *,
    retries: int = DEFAULT_RETRIES,
    first_delay: float = FIRST_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, tried again up to ``retries`` times while it raises :class:`ServerUnavailable`.

    When every attempt failed, the last :class:`ServerUnavailable` is raised again, saying how
    many attempts were made. Any other error is raised at once.
    """
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    for retry in range(retries + 1):
        try:
            return call()
        except ServerUnavailable as exc:
            if retry == retries:
                raise ServerUnavailable(exc.server, exc.reason, attempts=retries + 1) from None
            sleep(backoff_delay(retry, first=first_delay))
    raise AssertionError("unreachable")
