"""Where a prediction goes: a server address as people type it, turned into a URL.

``http(s)://`` means TF Serving's REST API, ``grpc://`` its gRPC API; a bare ``HOST:PORT`` gets
a scheme by its port (:func:`server_url`).

Example:
    >>> server_url("localhost:8501")
    'http://localhost:8501'
"""

from __future__ import annotations

import os
import re

from kerascnn.errors import UsageError

GRPC_PORT = 8500  # TF Serving's gRPC port; a scheme-less HOST:PORT on any other port means REST
SCHEMES = ("http://", "https://", "grpc://")
HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})/?$")
_SERVER_FORMS = "use http://host:8501 (REST) or grpc://host:8500 (gRPC), or HOST:PORT"


def server_url(address: str) -> str:
    """The server URL ``address`` means: URLs stay as they are, ``HOST:PORT`` gets a scheme.

    The rule for ``HOST:PORT``: port 8500 (TF Serving's gRPC port) means ``grpc://``, any other
    port ``http://`` (REST, TF Serving's 8501 included). Write the scheme to serve gRPC on
    another port. Anything else is a one-line UsageError.

    Example:
        >>> server_url("localhost:8501"), server_url("127.0.0.1:8500")
        ('http://localhost:8501', 'grpc://127.0.0.1:8500')
        >>> server_url("grpc://models:9000")
        'grpc://models:9000'
        >>> server_url("localhost")
        Traceback (most recent call last):
        ...
        kerascnn.errors.UsageError: 'localhost' is not a server address: use http://host:8501 (REST) or grpc://host:8500 (gRPC), or HOST:PORT
    """
    address = os.fspath(address).strip()
    if address.lower().startswith(SCHEMES):
        return address
    if "://" in address:
        raise UsageError(f"unsupported server URL {address!r}: {_SERVER_FORMS}")
    match = HOST_PORT.match(address)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise UsageError(f"{address!r} is not a server address: {_SERVER_FORMS}")
    host, port = match.group(1), int(match.group(2))
    return f"{'grpc' if port == GRPC_PORT else 'http'}://{host}:{port}"
