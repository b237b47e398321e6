"""Downloading weights, against a real HTTP server on the loopback interface.

The server (``http.server`` in a thread of the test process) serves a good file, a truncated
one (it announces more bytes than it sends, then hangs up) and one whose bytes are not the
published file's. The code under test is the real downloader: the good file is cached and
used, the bad ones fail in one line and leave nothing in the cache, an unreachable server gives
the offline message. Hub files come from ``$HF_ENDPOINT``, here the same loopback server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import socket
import threading

import keras
import numpy as np
import pytest

from kerascnn.weights import build, describe
from kerascnn.weights import sources as sources_module
from kerascnn.weights.download import cache_path, fetch_weights
from kerascnn.weights.errors import WeightsUnavailable
from kerascnn.weights.sources import find_source

PAYLOAD = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4096  # an HDF5 signature, then 1 MiB


class _Files(http.server.BaseHTTPRequestHandler):
    routes: dict = {}  # path -> (body, announced length)
    requests: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        if self.path not in self.routes:
            self.send_error(404, "Not Found")
            return
        body, announced = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if announced != len(body):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASCNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    handler = type("Files", (_Files,), {"routes": {}, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _source(url, payload=PAYLOAD, **changes):
    """The mobilenet row (keras' own, no hash published) pointed at the loopback server."""
    row = find_source("mobilenet_v2", "keras")
    md5 = hashlib.md5(payload).hexdigest()
    return dataclasses.replace(row, url=url, md5=md5, **changes)


def _cache_files(tmp_path):
    root = tmp_path / "cache"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_good_file_is_downloaded_once_cached_and_reused(server, tmp_path):
    handler, base = server
    handler.routes["/w/good.h5"] = (PAYLOAD, len(PAYLOAD))
    source = _source(f"{base}/w/good.h5")
    path = fetch_weights(source)
    assert path == cache_path(source) and path.read_bytes() == PAYLOAD
    assert str(path).startswith(str(tmp_path / "cache" / "weights" / "mobilenet_v2" / "keras"))
    assert fetch_weights(source) == path
    assert handler.requests == ["/w/good.h5"]  # the second call used the cache
    assert _cache_files(tmp_path) == [source.file_name]


def test_a_truncated_download_fails_in_one_line_and_leaves_nothing(server, tmp_path):
    handler, base = server
    handler.routes["/w/cut.h5"] = (PAYLOAD[:300_000], len(PAYLOAD))
    source = _source(f"{base}/w/cut.h5")
    with pytest.raises(WeightsUnavailable) as error:
        fetch_weights(source)
    message = str(error.value)
    assert "\n" not in message
    assert f"stopped after 300000 of {len(PAYLOAD)} bytes; nothing was kept" in message
    assert "--weights PATH (weights=PATH in Python)" in message
    assert f"{base}/w/cut.h5" in message and "--weights PATH" in message
    assert _cache_files(tmp_path) == []


def test_a_file_with_the_wrong_hash_is_never_used_nor_kept(server, tmp_path):
    handler, base = server
    altered = PAYLOAD[:-1] + b"\x00"
    handler.routes["/w/altered.h5"] = (altered, len(altered))
    source = _source(f"{base}/w/altered.h5")  # the table's md5 is the real payload's
    with pytest.raises(WeightsUnavailable, match=r"is not the published file \(its md5 is [0-9a-f]{32}, the table says"):
        fetch_weights(source)
    assert _cache_files(tmp_path) == []


def test_without_a_published_hash_an_html_page_is_still_refused(server, tmp_path):
    """MobileNet v1/v2 files have no published hash; a proxy's login page must not pass."""
    handler, base = server
    page = b"<html><body>Please sign in to the proxy</body></html>"
    handler.routes["/w/portal.h5"] = (page, len(page))
    source = dataclasses.replace(find_source("mobilenet"), url=f"{base}/w/portal.h5")
    assert source.md5 is None and source.sha256 is None
    with pytest.raises(WeightsUnavailable, match=r"is not the published file \(it is not an HDF5 file\)"):
        fetch_weights(source)
    assert _cache_files(tmp_path) == []


def test_a_bad_file_in_the_cache_is_replaced_not_used(server, tmp_path):
    handler, base = server
    handler.routes["/w/good.h5"] = (PAYLOAD, len(PAYLOAD))
    source = _source(f"{base}/w/good.h5")
    cache_path(source).parent.mkdir(parents=True)
    cache_path(source).write_bytes(b"half a file")
    assert fetch_weights(source).read_bytes() == PAYLOAD
    assert handler.requests == ["/w/good.h5"]


def test_offline_says_which_file_the_url_where_to_put_it_and_weights_path(tmp_path, monkeypatch):
    monkeypatch.setenv("KERASCNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    source = dataclasses.replace(find_source("vgg16"), url=url)
    with pytest.raises(WeightsUnavailable) as error:
        fetch_weights(source)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("cannot download vgg16_weights_tf_dim_ordering_tf_kernels.h5 from " + url)
    assert f"download it by hand to {cache_path(source)}, or pass --weights PATH" in message
    assert _cache_files(tmp_path) == []


def test_http_errors_are_one_line(server):
    handler, base = server
    with pytest.raises(WeightsUnavailable, match="HTTP 404 Not Found; download it by hand to "):
        fetch_weights(_source(f"{base}/w/missing.h5"))


def test_keras_own_cache_is_used_when_it_holds_the_file(server, tmp_path):
    handler, base = server
    source = _source(f"{base}/never-asked.h5")
    keras_copy = tmp_path / "keras_home" / "models" / source.file_name
    keras_copy.parent.mkdir(parents=True)
    keras_copy.write_bytes(PAYLOAD)
    assert fetch_weights(source) == keras_copy and handler.requests == []
    keras_copy.write_bytes(b"a different file")  # wrong hash: not used, downloaded instead
    handler.routes["/never-asked.h5"] = (PAYLOAD, len(PAYLOAD))
    assert fetch_weights(source) == cache_path(source)


def test_build_imagenet_downloads_from_the_table_and_computes_keras_logits(server, monkeypatch, tmp_path):
    """The whole path: table row -> download -> cache -> load -> same logits as keras."""
    handler, base = server
    reference = keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3),
                                               classifier_activation=None)
    reference.save_weights(tmp_path / "v2.weights.h5")
    served = (tmp_path / "v2.weights.h5").read_bytes()
    handler.routes["/mobilenet_v2.h5"] = (served, len(served))
    rows = [dataclasses.replace(row, url=f"{base}/mobilenet_v2.h5", md5=hashlib.md5(served).hexdigest())
            if row.model == "mobilenet_v2" and row.layout == "keras" else row
            for row in sources_module.SOURCES]
    monkeypatch.setattr(sources_module, "SOURCES", rows)
    model = build("mobilenet_v2", weights="imagenet", input_shape=(64, 64, 3),
                  classifier_activation=None)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)
    record = model.pretrained.record()
    assert record["tag"] == "keras" and record["md5"] == hashlib.md5(served).hexdigest()
    assert record["path"] == str(cache_path(rows[[r.model for r in rows].index("mobilenet_v2")]))
    assert describe("mobilenet_v2")["input_spec"]["name"] == "tf"
    build("mobilenet_v2", weights="keras", input_shape=(64, 64, 3))
    assert handler.requests == ["/mobilenet_v2.h5"]


def test_hub_files_come_from_hf_endpoint(server, monkeypatch):
    """A Hub row (timm's safetensors) is fetched from $HF_ENDPOINT/<repo>/resolve/main/<file>."""
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    handler, base = server
    hub_rows = [row for row in sources_module.SOURCES if row.hub_repo]
    if not hub_rows:
        pytest.skip("no Hub rows in the table")
    row = hub_rows[0]
    blob = safetensors_numpy.save({"x": np.arange(4, dtype="float32")})
    handler.routes[f"/{row.hub_repo}/resolve/main/{row.file_name}"] = (blob, len(blob))
    monkeypatch.setenv("HF_ENDPOINT", base + "/")
    path = fetch_weights(row)
    assert path.read_bytes() == blob and path == cache_path(row)
    assert handler.requests == [f"/{row.hub_repo}/resolve/main/{row.file_name}"]
