"""``kerascnn predict`` on many images: one batch read at a time, a progress bar that moves from
the first batch, files sent as they are when nothing needs fixing, retries while a server is
busy (told apart from a server that cannot be reached), and one warning for images far from
the model's input.

What arrives at a server is captured by loopback stand-ins (``_fake_serving``); what a model
answers for those bytes is checked against the real export in-process.
"""

from __future__ import annotations

import io
import os
import pty
import socket
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
from _export_utils import encode, keras_reference, random_pixels, save_tiny_model
from _fake_serving import DROP, LABELS, FakeGrpcServing, FakeRestServing
from PIL import Image

tf = pytest.importorskip("tensorflow")

from kerascnn.client import Client, InputMismatchWarning, ServerUnavailable  # noqa: E402
from kerascnn.errors import KerasCNNError  # noqa: E402
from kerascnn.export import export_model  # noqa: E402
from kerascnn.images import load_image  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KERASCNN = [sys.executable, "-m", "kerascnn"]
FAST_RETRY = {"retry_delay": 0.01}


def _smooth_pixels(height, width, channels=3, seed=0):
    """A photo-like image (smooth colour gradients), so JPEG keeps its colours."""
    small = random_pixels(3, 4, channels, seed=seed)
    image = Image.fromarray(small[..., 0] if channels == 1 else small)
    return np.asarray(image.resize((width, height), Image.BICUBIC))


def _with_orientation(pixels, orientation) -> bytes:
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def _sixteen_bit_png(seed) -> bytes:
    values = random_pixels(12, 14, 1, seed=seed)[..., 0].astype("uint16") * 257
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Files that need no fixing (``plain``) and files that do (``fixed``), by name."""
    folder = tmp_path_factory.mktemp("photos")
    plain = {
        "rgb.jpg": encode(_smooth_pixels(30, 40, seed=1), "JPEG", quality=90),
        "gray.jpg": encode(_smooth_pixels(20, 24, 1, seed=2), "JPEG"),
        "progressive.jpg": encode(_smooth_pixels(24, 24, seed=3), "JPEG", progressive=True),
        "rgb.png": encode(random_pixels(18, 16, seed=4)),
        "gray.png": encode(random_pixels(16, 20, 1, seed=5)),
    }
    fixed = {
        "rotated.jpg": _with_orientation(_smooth_pixels(20, 30, seed=6), 6),
        "cmyk.jpg": encode(_smooth_pixels(16, 16, seed=7), "JPEG", mode="CMYK"),
        "deep.png": _sixteen_bit_png(8),
        "palette.png": encode(random_pixels(16, 16, seed=9), mode="P"),
        "alpha.png": encode(random_pixels(16, 16, 4, seed=10)),
        "first-frame.gif": encode(random_pixels(16, 16, seed=11), "GIF"),
    }
    paths = {}
    for name, data in {**plain, **fixed}.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return {"plain": {n: paths[n] for n in plain}, "fixed": {n: paths[n] for n in fixed}}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- original bytes
def _check_what_arrived(sources, arrived, photos):
    for source, data in zip(sources, arrived):
        if isinstance(source, bytes) or source.name in photos["plain"]:
            original = source if isinstance(source, bytes) else source.read_bytes()
            assert data == original, f"{source}: not sent as it is"
        else:  # re-encoded as PNG with the fix applied (upright, 8-bit, RGB or gray)
            assert data.startswith(PNG_SIGNATURE), source
            sent = np.asarray(Image.open(io.BytesIO(data)))
            np.testing.assert_array_equal(sent, np.asarray(load_image(source)), err_msg=str(source))


def test_plain_jpeg_and_png_files_are_sent_as_they_are_over_rest(photos):
    sources = [*photos["plain"].values(), *photos["fixed"].values()]
    sources.append(photos["plain"]["rgb.jpg"].read_bytes())  # encoded bytes from Python too
    with FakeRestServing() as fake:
        predictions = Client(fake.url, model_name="m").predict(sources, batch_size=4)
    assert [p.error for p in predictions] == [None] * len(sources)
    assert [p.label for p in predictions] == [LABELS[2]] * len(sources)
    _check_what_arrived(sources, fake.sent_images(), photos)


def test_plain_jpeg_and_png_files_are_sent_as_they_are_over_grpc(photos):
    pytest.importorskip("tensorflow_serving")
    sources = [*photos["plain"].values(), *photos["fixed"].values()]
    with FakeGrpcServing() as fake:
        predictions = Client(f"grpc://{fake.target}", model_name="m").predict(sources, batch_size=5)
    assert all(p.ok for p in predictions), [p.error for p in predictions]
    _check_what_arrived(sources, fake.sent_images(), photos)


def test_original_jpeg_is_decoded_in_the_graph_as_training_decodes_it(exported, keras_model, photos):
    """The export decodes the file itself with TensorFlow, the decoder training's pipeline uses;
    the answer is Keras' on those pixels."""
    path = photos["plain"]["rgb.jpg"]
    answer = Client(exported).predict([path])[0]
    pixels = tf.io.decode_image(path.read_bytes(), channels=3, expand_animations=False).numpy()
    np.testing.assert_allclose(answer.probabilities, keras_reference(keras_model, [pixels])[0], atol=1e-5)


# --------------------------------------------------------------------------- one batch at a time
def test_images_are_read_one_batch_at_a_time(exported, tmp_path):
    """A file deleted after the first batch was answered is missing for the last batch: it had
    not been read yet (all of them used to be read and encoded before the first request)."""
    files = []
    for i in range(5):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(encode(random_pixels(16, 16, seed=i)))
    covered = []

    def after_batch(count):
        covered.append(count)
        if len(covered) == 1:
            files[-1].unlink()

    predictions = Client(exported).predict(files, batch_size=2, on_batch=after_batch)
    assert covered == [2, 2, 1]
    assert [p.ok for p in predictions] == [True, True, True, True, False]
    assert predictions[-1].error == f"{files[-1]}: no such file"
    with FakeRestServing() as fake:
        Client(fake.url, model_name="m").predict(files[:4], batch_size=3)
    assert fake.batch_sizes() == [3, 1]


def _run_cli_watching_stderr(args, stderr_seen: list[str], *, terminal: bool):
    """The command ``args`` with stderr on a pseudo-terminal (``terminal``: click draws
    its bar) or a pipe, collected into ``stderr_seen`` as it is written; returns (exit code,
    stdout)."""
    if terminal:
        reading_end, child_end = pty.openpty()
    else:
        reading_end, child_end = os.pipe()
    proc = subprocess.Popen(
        list(map(str, args)),
        stdout=subprocess.PIPE, stderr=child_end, stdin=subprocess.DEVNULL, text=True,
    )
    os.close(child_end)

    def pump():
        while True:
            try:
                data = os.read(reading_end, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            stderr_seen.append(data.decode("utf-8", "replace"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        stdout, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=30)
        os.close(reading_end)
    return proc.returncode, stdout


def _shows(stderr_seen: list[str], text: str, patience: float = 20.0) -> bool:
    """Whether ``text`` reaches stderr (the reader thread may lag a little behind the child)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if text in "".join(stderr_seen):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(
    "terminal",
    [False, True],
    ids=["pipe", "terminal"],
)
def test_cli_progress_moves_batch_by_batch_while_images_are_read(terminal, tmp_path):
    """Over a real socket: the bar is on stderr before the first batch is sent and, on a
    terminal, has moved by one batch when each next batch arrives; the last image, rewritten
    after the first batch, is sent as it is then (read just in time, not at the start)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.jpg").write_bytes(encode(_smooth_pixels(20, 20, seed=i), "JPEG"))
    replacement = encode(_smooth_pixels(20, 20, seed=99), "JPEG")
    stderr_seen: list[str] = []
    shown = {}

    def on_predict(count):
        if terminal:  # once the bar has not moved, waiting for it again only slows the test
            moved = all(shown.get(k, True) for k in range(1, count))
            shown[count] = moved and _shows(stderr_seen, f"{2 * (count - 1)}/5", patience=10.0)
        if count == 1:
            shown["label"] = _shows(stderr_seen, "Predicting 5 images")
            (folder / "4.jpg").write_bytes(replacement)

    with FakeRestServing(on_predict=on_predict) as fake:
        code, stdout = _run_cli_watching_stderr(
            [*KERASCNN, "predict", folder, "--server", fake.url, "--model-name", "m", "--batch-size",
             "2", "--json", "--timeout", "120"],
            stderr_seen, terminal=terminal,
        )
    assert code == 0, "".join(stderr_seen)
    assert len(stdout.splitlines()) == 5
    assert fake.batch_sizes() == [2, 2, 1]
    assert fake.sent_images()[-1] == replacement
    assert shown.pop("label"), "".join(stderr_seen)
    if terminal:
        assert shown == {1: True, 2: True, 3: True}, "".join(stderr_seen)
        assert "5/5" in "".join(stderr_seen)


# --------------------------------------------------------------------------- retries
def test_rest_retries_503_and_dropped_connections_then_answers(photos):
    source = photos["plain"]["rgb.jpg"]
    for answers in ([503, 503], [DROP], [503, DROP, 503]):
        with FakeRestServing(answers=answers) as fake:
            predictions = Client(fake.url, model_name="m", **FAST_RETRY).predict([source])
        assert predictions[0].label == LABELS[2], answers
        assert len(fake.bodies) == len(answers) + 1


def test_rest_busy_server_is_told_apart_from_an_unreachable_one(photos):
    source = photos["plain"]["rgb.jpg"]
    with FakeRestServing(answers=[503] * 10) as fake:
        client = Client(fake.url, model_name="m", retries=2, **FAST_RETRY)
        with pytest.raises(ServerUnavailable) as busy:
            client.predict([source])
    assert len(fake.bodies) == 3
    assert str(busy.value) == (
        f"the server at {fake.url} is busy or unavailable after 3 attempts "
        "(HTTP 503: Batch scheduler queue is full)"
    )
    with FakeRestServing(answers=[503]) as fake:
        with pytest.raises(ServerUnavailable, match="busy or unavailable \\(HTTP 503"):
            Client(fake.url, model_name="m", retries=0).predict([source])
    port = _closed_port()
    with pytest.raises(KerasCNNError) as unreachable:
        Client(f"http://127.0.0.1:{port}", model_name="m", **FAST_RETRY).predict([source])
    assert not isinstance(unreachable.value, ServerUnavailable)
    assert str(unreachable.value) == f"cannot reach the server at http://127.0.0.1:{port} (is it running?)"


def test_grpc_unavailable_is_retried_and_told_apart_from_unreachable(photos):
    pytest.importorskip("tensorflow_serving")
    source = photos["plain"]["gray.png"]
    with FakeGrpcServing(unavailable=2) as fake:
        predictions = Client(f"grpc://{fake.target}", model_name="m", **FAST_RETRY).predict([source])
    assert predictions[0].label == LABELS[2] and len(fake.requests) == 3
    with FakeGrpcServing(unavailable=None) as fake:
        with pytest.raises(ServerUnavailable, match=r"busy or unavailable after 2 attempts \(UNAVAILABLE: Batch"):
            Client(f"grpc://{fake.target}", model_name="m", retries=1, **FAST_RETRY).predict([source])
    port = _closed_port()
    with pytest.raises(KerasCNNError, match=f"cannot reach the server at grpc://127.0.0.1:{port}") as unreachable:
        Client(f"grpc://127.0.0.1:{port}", model_name="m", **FAST_RETRY).predict([source])
    assert not isinstance(unreachable.value, ServerUnavailable)


def test_cli_retries_option_and_busy_message(cli, photos):
    source = photos["plain"]["rgb.jpg"]
    with FakeRestServing(answers=[503] * 10) as fake:
        proc = cli("predict", source, "--server", fake.url, "--model-name", "m", "--retries", "1")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"Error: the server at {fake.url} is busy or unavailable after 2 attempts "
        "(HTTP 503: Batch scheduler queue is full)"
    )
    assert len(fake.bodies) == 2


# --------------------------------------------------------------------------- input mismatch warning
@pytest.fixture(scope="module")
def gray_export(tmp_path_factory):
    """A 16 x 16 x 1 model, exported."""
    keras_file = save_tiny_model(tmp_path_factory.mktemp("gray"), input_shape=(16, 16, 1))
    return export_model(keras_file, base=tmp_path_factory.mktemp("serving"), name="gray")


def test_images_far_from_the_model_input_get_one_warning(gray_export, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(encode(_smooth_pixels(1000, 1000, seed=1), "JPEG"))
    colour = tmp_path / "colour.png"
    colour.write_bytes(encode(_smooth_pixels(16, 16, seed=2)))
    gray_scan_saved_as_rgb = tmp_path / "scan.jpg"
    scan = _smooth_pixels(16, 16, 1, seed=3)
    gray_scan_saved_as_rgb.write_bytes(encode(np.repeat(scan[..., None], 3, -1), "JPEG"))
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(encode(random_pixels(2, 2, 1, seed=4)))
    fitting = tmp_path / "digit.png"
    fitting.write_bytes(encode(random_pixels(16, 16, 1, seed=5)))
    sources = [photo, colour, gray_scan_saved_as_rgb, tiny, fitting]
    with pytest.warns(InputMismatchWarning) as caught:
        predictions = Client(gray_export).predict(sources, batch_size=2)
    assert all(p.ok for p in predictions)
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "3 of 5 images differ a lot from the model's 16x16 gray input: "
        f"{photo} (1000x1000, colour), {colour} (colour), {tiny} (2x2); "
        "their predictions may mean little (is this the right model?)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client(gray_export).predict([fitting, gray_scan_saved_as_rgb])  # no warning


def test_rest_model_input_comes_from_the_metadata_for_the_warning(photos):
    sources = [photos["plain"]["rgb.jpg"], photos["plain"]["gray.png"]]
    with FakeRestServing(pixel_input=(16, 16, 1)) as fake:
        client = Client(fake.url, model_name="m")
        for _ in range(2):
            with pytest.warns(InputMismatchWarning, match="1 of 2 images differs a lot from the model's 16x16 gray input"):
                client.predict(sources)
    assert fake.metadata_requests == 1  # asked once per client, not once per call
    with FakeRestServing() as fake, warnings.catch_warnings():  # no pixel input: no warning
        warnings.simplefilter("error")
        Client(fake.url, model_name="m").predict([photos["plain"]["rgb.jpg"]])


def test_cli_prints_the_warning_once_and_still_predicts(cli, gray_export, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(encode(_smooth_pixels(600, 800, seed=i), "JPEG"))
    proc = cli("predict", folder, "--model", gray_export, "--json", "--batch-size", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3
    warned = [line for line in proc.stderr.splitlines() if "Warning" in line]
    assert warned == [
        "Warning: 3 of 3 images differ a lot from the model's 16x16 gray input: "
        f"{folder / '0.jpg'} (800x600, colour), {folder / '1.jpg'} (800x600, colour), "
        f"{folder / '2.jpg'} (800x600, colour); their predictions may mean little (is this "
        "the right model?)"
    ]
