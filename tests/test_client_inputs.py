"""Inputs as people have them: NumPy arrays and PIL images for ``Client.predict``, ``host:port``
without a scheme for ``--server``, and ``--model-name`` / ``--version`` picking a local export.
"""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from _export_utils import CLASS_NAMES, encode, keras_reference, random_pixels
from PIL import Image

tf = pytest.importorskip("tensorflow")

from kerascnn.client import Client  # noqa: E402
from kerascnn.errors import UsageError  # noqa: E402
from kerascnn.export import export_model  # noqa: E402


# --------------------------------------------------------------------------- arrays and PIL images
@pytest.mark.parametrize("signature", ["serving_default", "serving_pixels"])
def test_predict_accepts_arrays_and_pil_images(exported, keras_model, signature):
    rgb = random_pixels(16, 16, seed=11)
    gray = random_pixels(16, 16, 1, seed=12)[..., 0]
    client = Client(exported, signature=signature)
    reference = client.predict([encode(rgb), encode(gray)])
    np.testing.assert_allclose(reference[0].probabilities, keras_reference(keras_model, [rgb])[0], atol=1e-5)

    sources = [rgb, rgb.astype("float64"), Image.fromarray(rgb), gray, gray[..., None], gray.astype("float32")]
    got = client.predict(sources)
    assert [p.error for p in got] == [None] * len(sources)
    assert [p.image for p in got] == [
        "<array #0>", "<array #1>", "<image #2>", "<array #3>", "<array #4>", "<array #5>",
    ]
    for pred, ref in zip(got, [reference[0]] * 3 + [reference[1]] * 3):
        np.testing.assert_allclose(pred.probabilities, ref.probabilities, atol=1e-5)
        assert pred.label == ref.label and pred.label in CLASS_NAMES

    # One image on its own (not in a list), and a 4-D batch, are understood too.
    assert client.predict(rgb)[0].label == reference[0].label
    assert client.predict(Image.fromarray(gray))[0].label == reference[1].label
    batch = client.predict(np.stack([rgb, rgb]))
    assert [p.label for p in batch] == [reference[0].label] * 2


def test_bad_arrays_get_one_line_errors_and_the_others_answers(exported):
    good = random_pixels(16, 16, seed=1)
    bad = [
        np.zeros((16, 16, 2), "uint8"),
        np.full((16, 16, 3), 300.0),
        np.full((16, 16), np.nan),
        np.zeros(16, "uint8"),
        np.zeros((16, 16, 3), complex),
    ]
    predictions = Client(exported).predict([good, *bad, good])
    assert [p.ok for p in predictions] == [True, False, False, False, False, False, True]
    errors = [p.error for p in predictions[1:-1]]
    assert errors[0].startswith("<array #1>: ") and "2 channels" in errors[0]
    assert "outside 0..255" in errors[1] and "NaN" in errors[2]
    assert "(16,)" in errors[3] and "complex" in errors[4]
    assert all("\n" not in e for e in errors)
    with pytest.raises(UsageError, match=r"a single array .*\(2, 16, 16\)"):
        Client(exported).predict(np.zeros((2, 16, 16), "uint8"))


# --------------------------------------------------------------------------- host:port without a scheme
def test_server_address_rule():
    from kerascnn.client import server_url

    assert server_url("localhost:8501") == "http://localhost:8501"
    assert server_url("127.0.0.1:8500") == "grpc://127.0.0.1:8500"
    assert server_url("models.example.com:9000") == "http://models.example.com:9000"
    assert server_url("[::1]:8500") == "grpc://[::1]:8500"
    assert server_url("grpc://host:9000") == "grpc://host:9000"
    assert server_url("https://host") == "https://host"
    for wrong in ("localhost", "host:port", "ftp://host:1"):
        with pytest.raises(UsageError, match=r"http://host:8501 .* grpc://host:8500"):
            server_url(wrong)


def _port_is_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_cli_server_without_scheme_picks_rest_or_grpc(cli, tmp_path):
    (tmp_path / "a.png").write_bytes(encode(random_pixels(16, 16)))
    proc = cli("predict", tmp_path / "a.png", "--server", "127.0.0.1:9", "--model-name", "m", "--timeout", "5")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: cannot reach the server at http://127.0.0.1:9 (is it running?)"
    )
    if not _port_is_free(8500):
        pytest.skip("port 8500 is in use here")
    proc = cli("predict", tmp_path / "a.png", "--server", "127.0.0.1:8500", "--model-name", "m", "--timeout", "5")
    assert proc.returncode == 1, proc.stderr
    assert "Error: cannot reach the server at grpc://127.0.0.1:8500" in proc.stderr
    proc = cli("predict", tmp_path / "a.png", "--server", "localhost", "--model-name", "m")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "use http://host:8501 (REST) or grpc://host:8500 (gRPC)" in proc.stderr
    help_text = cli("predict", "--help").stdout
    assert "HOST:PORT" in help_text and "8500" in help_text


# --------------------------------------------------------------------------- --model-name for local models
def test_cli_model_name_and_version_pick_a_local_export(cli, keras_file, tmp_path):
    work = tmp_path / "project"
    base = work / "serving" / "models"
    export_model(keras_file, base=base, name="shapes")
    export_model(keras_file, base=base, name="letters", class_names=["x", "y", "z"])
    export_model(keras_file, base=base, name="letters", class_names=["p", "q", "r"])
    image = tmp_path / "a.png"
    image.write_bytes(encode(random_pixels(16, 16, seed=3)))

    def labels(*args):
        proc = cli("predict", image, "--json", *args, cwd=work)
        assert proc.returncode == 0, proc.stderr
        return [t["label"] for t in json.loads(proc.stdout)["top_k"]]

    # The default base directory, then an explicit one; the newest version unless --version.
    assert sorted(labels("--model-name", "shapes")) == sorted(CLASS_NAMES)
    assert sorted(labels("--model-name", "letters")) == ["p", "q", "r"]
    assert sorted(labels("--model", base, "--model-name", "letters", "--version", "1")) == ["x", "y", "z"]

    proc = cli("predict", image, "--model-name", "digits", cwd=work)
    assert proc.returncode == 2 and "unknown model under" in proc.stderr and "'digits'" in proc.stderr
    proc = cli("predict", image, "--model", base / "shapes", "--model-name", "letters", cwd=work)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--model-name 'letters' does not match" in proc.stderr
