"""Helpers for the hardening tests: tiny exported models whose answers name their version,
raw-socket HTTP, hostile payloads (PNG decompression bomb), and server-process memory.

Example:
    from _hardening_utils import VersionedModel, export_version

    v1 = VersionedModel(1)
    export_version(v1, base, "m")            # base/m/1, answers label "v1_a" with v1.probabilities
"""

from __future__ import annotations

import base64
import io
import json
import socket
import struct
import time
import zlib
from pathlib import Path

import numpy as np

INPUT_SHAPE = (8, 8, 1)
NUM_CLASSES = 3


class VersionedModel:
    """A Keras model whose output is a constant, version-specific distribution.

    The kernel is zero and the bias depends on ``version``, so every image gets the same
    probabilities; class names are ``v{version}_a``, ``v{version}_b``, ``v{version}_c`` and the
    winning class moves with the version. A response thus says which version answered.
    """

    def __init__(self, version: int):
        self.version = int(version)
        self.class_names = [f"v{self.version}_{c}" for c in "abc"]
        logits = np.zeros(NUM_CLASSES, np.float32)
        self.top = (self.version - 1) % NUM_CLASSES
        logits[self.top] = 1.0 + self.version  # a distinct peak per version
        e = np.exp(logits - logits.max())
        self.probabilities = (e / e.sum()).astype(np.float32)
        self.logits = logits
        self.label = self.class_names[self.top]

    def keras_model(self):
        import keras

        inputs = keras.Input(INPUT_SHAPE)
        x = keras.layers.Flatten()(inputs)
        dense = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="head")
        outputs = dense(x)
        model = keras.Model(inputs, outputs, name=f"versioned{self.version}")
        dense.set_weights([np.zeros((int(np.prod(INPUT_SHAPE)), NUM_CLASSES), np.float32),
                           self.logits])
        return model

    def save_keras(self, directory) -> Path:
        """``directory/v{N}.keras`` plus a sibling ``labels.txt`` (what ``kerascnn export`` reads)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"v{self.version}.keras"
        self.keras_model().save(path)
        (directory / "labels.txt").write_text("".join(f"{c}\n" for c in self.class_names))
        return path

    def check(self, probabilities, label) -> bool:
        """True when (probabilities, label) is exactly this version's answer."""
        return (label == self.label
                and np.allclose(np.asarray(probabilities, np.float32), self.probabilities,
                                atol=1e-5))


def export_version(model: VersionedModel, base, name: str) -> Path:
    """Export ``model`` in-process to ``base/name/VERSION`` with kerascnn's exporter."""
    from kerascnn.export import export_model

    return export_model(model.keras_model(), base=base, name=name, version=model.version,
                        class_names=model.class_names)


def png(width=8, height=8, mode="L", seed=0) -> bytes:
    """A small real PNG made with Pillow."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def jpeg(width=8, height=8, seed=0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
        buf, format="JPEG")
    return buf.getvalue()


def b64_body(images: list[bytes], *, urlsafe=False) -> bytes:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return json.dumps({"instances": [{"b64": encode(i).decode()} for i in images]}).encode()


def png_bomb(width=20_000, height=20_000) -> bytes:
    """A valid grayscale PNG of ``width`` x ``height`` zero pixels that is small on disk.

    Built by hand (zlib + struct): IHDR with the huge size, one IDAT of compressed zero
    rows (filter byte 0 + zero pixels), IEND. 400 megapixels compress to ~400 KB.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    parts = []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


def raw_http(port: int, request: bytes, *, timeout=30.0) -> tuple[int, bytes]:
    """Send raw bytes to 127.0.0.1:port; return (status code, body) of the HTTP reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_http_response(sock, timeout=timeout)


def read_http_response(sock, timeout=30.0) -> tuple[int, bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    length = None
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value.strip())
    deadline = time.monotonic() + timeout
    while length is not None and len(body) < length and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def receive_head(sock, data: bytes = b"") -> bytes:
    """Receive, after ``data``, up to the blank line that ends an HTTP reply's headers; stop
    early when the server closes the connection (or resets it: it may answer mid-upload)."""
    try:
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    except OSError:
        pass
    return data


def stream_until_answered(port: int, path: str, total_bytes: int, *, chunked: bool,
                          declared_length: int | None = None, chunk_size=1 << 20,
                          timeout=60.0) -> tuple[int, int]:
    """POST ``total_bytes`` of filler to ``path``, a chunk at a time, stopping as soon as the
    server answers or closes the connection. Returns (status, bytes of body actually sent).
    """
    headers = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if chunked:
        headers.append("Transfer-Encoding: chunked")
    else:
        headers.append(f"Content-Length: {declared_length or total_bytes}")
    sent = 0
    filler = b"[" + b"1," * (chunk_size // 2 - 1) + b"1"
    filler = filler[:chunk_size]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        sock.setblocking(False)
        deadline = time.monotonic() + timeout
        answered = b""
        while sent < total_bytes and time.monotonic() < deadline:
            try:
                got = sock.recv(65536)
                if got or got == b"":
                    answered = got
                    break
            except BlockingIOError:
                pass
            piece = filler[: min(chunk_size, total_bytes - sent)]
            frame = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") if chunked else piece
            try:
                sock.setblocking(True)
                sock.settimeout(5)
                sock.sendall(frame)
                sock.setblocking(False)
            except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
                break
            sent += len(piece)
        sock.setblocking(True)
        sock.settimeout(timeout)
        if answered:
            head = receive_head(sock, answered).split(b"\r\n", 1)[0]
            return (int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0), sent
        try:
            status, _ = read_http_response(sock, timeout=timeout)
        except OSError:
            status = 0
        return status, sent


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (and its children) now."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class PeakRss:
    """Samples a process's RSS in a background thread; ``.peak`` is the highest seen."""

    def __init__(self, pid: int, interval=0.05):
        import threading

        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except Exception:
                return
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
