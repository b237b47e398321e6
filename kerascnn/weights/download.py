"""Fetch a weights file once, check it, cache it; say exactly what to do when offline.

Files land in ``$KERASCNN_CACHE/weights/<model>/<tag>/<file name>`` (``KERASCNN_CACHE``
defaults to ``~/.cache/kerascnn``). Before downloading, the places other tools keep the same
file are looked at (nothing is written there): Keras' cache (``$KERAS_HOME/models``, default
``~/.keras/models``, where keras.applications puts its files) for Keras-layout files, and the
Hugging Face cache (``huggingface_hub.try_to_load_from_cache``) for Hub files.

A download goes to a temporary file next to its destination and is renamed into place only
after its length matches the server's ``Content-Length`` and its hash the table's (sha256, or
the md5 keras.applications declares) — or, where none is published, its first bytes are those
of its kind of file: a truncated or altered file is deleted, never used, never left in the
cache. A cached file is hash-checked again each time it is used (a file put there by
hand included). Hub files are fetched from their ``resolve`` URL on ``$HF_ENDPOINT`` (default
``https://huggingface.co``) by the same code, so one set of rules covers both and a loopback
server can stand in for either in tests.

When the network is not there the error is one line: the file, the URL tried, where to put
the file by hand, and that ``--weights PATH`` takes a local file.

Example:
    >>> from kerascnn.weights.download import cache_path
    >>> from kerascnn.weights.sources import find_source
    >>> cache_path(find_source("vgg16")).name
    'vgg16_weights_tf_dim_ordering_tf_kernels.h5'
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from kerascnn.weights.errors import WeightsUnavailable
from kerascnn.weights.files import is_hdf5
from kerascnn.weights.sources import WeightSource, find_source  # noqa: F401 (the examples use it)

DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
CHUNK = 1 << 20
TIMEOUT_S = 30.0


def cache_root() -> Path:
    """``$KERASCNN_CACHE`` or ``~/.cache/kerascnn``.

    Example:
        >>> cache_root().name in ("kerascnn", os.environ.get("KERASCNN_CACHE", "kerascnn"))  # doctest: +SKIP
        True
    """
    configured = os.environ.get("KERASCNN_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "kerascnn"


def cache_path(source: WeightSource) -> Path:
    """Where kerascnn keeps ``source``'s file (it may not be there yet).

    Example:
        >>> cache_path(find_source("vgg16")).parent.name
        'keras'
    """
    return cache_root() / "weights" / source.model / source.tag / source.file_name


def download_url(source: WeightSource) -> str:
    """The URL fetched for ``source``: a Hub file's ``resolve`` URL on ``$HF_ENDPOINT``,
    else the table's URL.

    Example:
        >>> download_url(find_source("vgg16")).startswith("https://storage.googleapis.com/")
        True
    """
    if source.hub_repo:
        endpoint = os.environ.get("HF_ENDPOINT", DEFAULT_HUB_ENDPOINT).rstrip("/")
        return f"{endpoint}/{source.hub_repo}/resolve/main/{source.file_name}"
    return source.url


def file_digest(path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks.

    Example:
        >>> len(file_digest(__file__, "sha256"))
        64
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_problem(path, source: WeightSource) -> str | None:
    """None when ``path`` has the hash the table declares (or none is declared), else why not.

    Example:
        >>> hash_problem(__file__, find_source("mobilenet")) is None  # no hash published
        True
    """
    for algorithm in ("sha256", "md5"):
        expected = getattr(source, algorithm)
        if expected:
            actual = file_digest(path, algorithm)
            if actual != expected.lower():
                return f"its {algorithm} is {actual}, the table says {expected}"
            return None
    return None


def content_problem(path, source: WeightSource) -> str | None:
    """None when ``path`` starts as its kind of file must (an HDF5 signature for the Keras
    layout, a safetensors header), else why not: a proxy's or portal's HTML page saved under the
    weights' name is caught even where no hash is published.

    Example:
        >>> content_problem(__file__, find_source("mobilenet"))
        'it is not an HDF5 file'
    """
    path = Path(path)
    if source.layout == "keras" and not is_hdf5(path):
        return "it is not an HDF5 file"
    if source.file_name.endswith(".safetensors"):
        with open(path, "rb") as handle:
            head = handle.read(9)
        size = path.stat().st_size
        if len(head) < 9 or head[8:9] != b"{" or int.from_bytes(head[:8], "little") + 8 > size:
            return "it is not a safetensors file"
    return None


def _known_copies(source: WeightSource) -> list[Path]:
    """Copies other tools may already hold, checked after kerascnn's own cache."""
    copies = []
    if source.layout == "keras":
        keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
        copies.append(keras_home / "models" / source.file_name)
    if source.hub_repo:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(source.hub_repo, source.file_name)
        except Exception:  # a broken or foreign cache is just not a copy
            found = None
        if isinstance(found, str):
            copies.append(Path(found))
    return copies


def _offline_hint(source: WeightSource) -> str:
    return (
        f"download it by hand to {cache_path(source)}, or pass "
        "--weights PATH (weights=PATH in Python) to use a local file"
    )


def fetch_weights(source: WeightSource) -> Path:
    """The local path of ``source``'s file, downloading it (atomically, hash-checked) if needed.

    Raises :class:`WeightsUnavailable` (one line) when it cannot be had: offline, HTTP error,
    truncated download, wrong hash.

    Example:
        >>> fetch_weights(find_source("vgg16"))  # doctest: +SKIP
        PosixPath('/home/me/.cache/kerascnn/weights/vgg16/keras/vgg16_weights_tf_dim_ordering_tf_kernels.h5')
    """
    url = download_url(source)
    destination = cache_path(source)
    if destination.is_file():
        problem = hash_problem(destination, source) or content_problem(destination, source)
        if problem is None:
            return destination
        # A bad file in our cache (put there by hand, or damaged): never use it, fetch again.
        destination.unlink(missing_ok=True)
    for copy in _known_copies(source):
        if copy.is_file() and not (hash_problem(copy, source) or content_problem(copy, source)):
            return copy
    _download(url, destination, source)
    return destination


def _download(url: str, destination: Path, source: WeightSource) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    temporary = Path(temporary)
    try:
        with os.fdopen(handle, "wb") as out:
            received, expected = _stream(url, out, source)
        if expected is not None and received != expected:
            raise WeightsUnavailable(
                f"download of {source.file_name} from {url} stopped after {received} of "
                f"{expected} bytes; nothing was kept. Try again, or {_offline_hint(source)}"
            )
        problem = hash_problem(temporary, source) or content_problem(temporary, source)
        if problem is not None:
            raise WeightsUnavailable(
                f"downloaded {source.file_name} from {url} is not the published file ({problem}); "
                f"nothing was kept; {_offline_hint(source)}"
            )
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def _stream(url: str, out, source: WeightSource) -> tuple[int, int | None]:
    """Copy ``url``'s body into ``out``; return (bytes received, Content-Length or None)."""
    request = urllib.request.Request(url, headers={"User-Agent": "kerascnn"})
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            while True:
                try:
                    chunk = response.read(CHUNK)
                except Exception:  # http.client.IncompleteRead and friends: a cut connection
                    break
                if not chunk:
                    break
                out.write(chunk)
                received += len(chunk)
    except urllib.error.HTTPError as error:
        raise WeightsUnavailable(
            f"cannot download {source.file_name} from {url}: HTTP {error.code} {error.reason}; "
            f"{_offline_hint(source)}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise WeightsUnavailable(
            f"cannot download {source.file_name} from {url} (offline? {reason}); "
            f"{_offline_hint(source)}"
        ) from None
    return received, expected
