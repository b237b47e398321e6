"""Client and ``kerascnn predict``: local SavedModels and run folders, images as people have them,
and TF Serving REST/gRPC against the embedded server over real sockets.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _export_utils import CLASS_NAMES, encode, keras_reference, random_pixels
from _processes import ROOT
from PIL import Image

tf = pytest.importorskip("tensorflow")

from kerascnn.client import Client  # noqa: E402
from kerascnn.errors import KerasCNNError, UsageError  # noqa: E402
from kerascnn.export import export_model  # noqa: E402
from kerascnn.images import (  # noqa: E402
    expand_image_sources,
    load_image,
    normalize_image,
    prepare_image_bytes,
)
from kerascnn.loading import default_model, resolve_local_model  # noqa: E402


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Real image files of several formats and modes."""
    folder = tmp_path_factory.mktemp("images")
    files = {}
    specs = {
        "rgb.png": (random_pixels(16, 16, seed=1), "PNG", None),
        "big.png": (random_pixels(48, 40, seed=2), "PNG", None),
        "gray.png": (random_pixels(20, 20, seed=3), "PNG", "L"),
        "rgba.png": (random_pixels(16, 16, 4, seed=4), "PNG", None),
        "palette.png": (random_pixels(16, 16, seed=5), "PNG", "P"),
        "photo.jpg": (random_pixels(24, 24, seed=6), "JPEG", None),
        "pic.bmp": (random_pixels(18, 22, seed=7), "BMP", None),
    }
    for name, (pixels, fmt, mode) in specs.items():
        path = folder / name
        path.write_bytes(encode(pixels, fmt, mode=mode))
        files[name] = path
    return files


def _expected(model, source):
    """Keras' answer for the pixels of what the client sends for ``source``: a plain JPEG or PNG
    as it is, decoded by TensorFlow as training's pipeline does; anything else normalised by
    Pillow (``load_image``)."""
    prepared = prepare_image_bytes(source)
    if prepared.original:
        pixels = tf.io.decode_image(prepared.payload, expand_animations=False).numpy()
    else:
        pixels = np.asarray(load_image(source))
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return keras_reference(model, [pixels])[0]


# --------------------------------------------------------------------------- image normalisation
def test_exif_orientation_is_applied(tmp_path):
    upright = random_pixels(10, 30, seed=1)  # wide
    stored = Image.fromarray(np.rot90(upright, k=1))  # stored tall, rotated 90 deg CCW
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.png"
    stored.save(path, exif=exif)
    np.testing.assert_array_equal(np.asarray(load_image(path)), upright)


def test_modes_become_8bit_gray_or_rgb(tmp_path):
    sixteen = (np.arange(12 * 12, dtype=np.uint16).reshape(12, 12) * 450).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "deep.png")
    image = load_image(tmp_path / "deep.png")
    assert image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), (sixteen >> 8).astype(np.uint8))
    # TF's own PNG decoder agrees, so a raw 16-bit PNG sent as-is gives the same pixels.
    np.testing.assert_array_equal(
        tf.io.decode_png((tmp_path / "deep.png").read_bytes()).numpy()[..., 0], np.asarray(image)
    )

    rgb = random_pixels(8, 8, seed=2)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "print.jpg", quality=95)
    cmyk = load_image(tmp_path / "print.jpg")
    assert cmyk.mode == "RGB" and cmyk.size == (8, 8)

    Image.fromarray(random_pixels(8, 8, seed=3)).convert("1").save(tmp_path / "bw.png")
    assert load_image(tmp_path / "bw.png").mode == "L"

    rgba = random_pixels(8, 8, 4, seed=4)
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(np.asarray(load_image(tmp_path / "alpha.png")), rgba[..., :3])

    palette = Image.fromarray(random_pixels(8, 8, seed=5)).convert("P")
    palette.info["transparency"] = 0
    palette.save(tmp_path / "clear.png", transparency=0)
    assert load_image(tmp_path / "clear.png").mode == "RGB"


def test_animated_gif_gives_its_first_frame(tmp_path):
    red = Image.new("RGB", (8, 8), (255, 0, 0))
    blue = Image.new("RGB", (8, 8), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    with Image.open(tmp_path / "anim.gif") as check:
        assert check.n_frames == 2
    pixels = np.asarray(load_image(tmp_path / "anim.gif"))
    assert pixels.shape == (8, 8, 3)
    assert (pixels[..., 0] > 200).all() and (pixels[..., 2] < 50).all()
    assert normalize_image(tmp_path / "anim.gif").startswith(b"\x89PNG")


def test_unreadable_inputs_name_the_file(tmp_path):
    from kerascnn.images import ImageError

    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError, match=r"notes.txt: not an image"):
        load_image(tmp_path / "notes.txt")
    with pytest.raises(ImageError, match=r"gone.png: no such file"):
        load_image(tmp_path / "gone.png")
    (tmp_path / "cut.png").write_bytes(encode(random_pixels(30, 30))[:60])
    with pytest.raises(ImageError, match=r"cut.png: "):
        load_image(tmp_path / "cut.png")


def test_expand_files_dirs_and_globs(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.png", "d/a.jpg", "d/sub/c.gif", "d/readme.txt", "x1.png", "x2.png"):
        (tmp_path / name).write_bytes(b"")
    found = expand_image_sources(
        [tmp_path / "x2.png", tmp_path / "d", str(tmp_path / "x*.png"), tmp_path / "missing.png"]
    )
    rel = [str(Path(f).relative_to(tmp_path)) for f in found]
    assert rel == ["x2.png", "d/a.jpg", "d/b.png", "d/sub/c.gif", "x1.png", "x2.png", "missing.png"]


# --------------------------------------------------------------------------- local predictions
def test_local_savedmodel_matches_keras_for_every_mode(exported, keras_model, images):
    client = Client(exported)
    predictions = client.predict(list(images.values()), batch_size=3)
    assert [p.error for p in predictions] == [None] * len(images)
    for pred, source in zip(predictions, images.values()):
        expected = _expected(keras_model, source)
        np.testing.assert_allclose(pred.probabilities, expected, atol=1e-5, err_msg=str(source))
        assert pred.class_id == int(expected.argmax())
        assert pred.label == CLASS_NAMES[pred.class_id]
        assert [t[0] for t in pred.top(3)] == [CLASS_NAMES[i] for i in np.argsort(-expected)]
    assert len({p.class_id for p in predictions}) > 1, "the test model should not be constant"


def test_run_folder_and_keras_file_targets_match_the_export(exported, keras_file, images, tmp_path):
    run = tmp_path / "runs" / "shapes"
    (run / "weights").mkdir(parents=True)
    shutil.copy(keras_file, run / "weights" / "best.keras")
    shutil.copy(keras_file.parent / "labels.txt", run / "labels.txt")
    sources = [images["rgb.png"], images["gray.png"]]
    reference = Client(exported).predict(sources)
    for target in (run, keras_file):
        got = Client(target).predict(sources)
        for a, b in zip(got, reference):
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-6)
            assert a.label == b.label


def test_bytes_and_pixels_signatures(exported, keras_model, images):
    data = images["rgb.png"].read_bytes()
    by_bytes = Client(exported).predict([data])[0]
    assert by_bytes.image == "<bytes #0>"
    np.testing.assert_allclose(by_bytes.probabilities, _expected(keras_model, data), atol=1e-5)
    # 16x16 RGB is the model's own size: the pixels path is then exact too.
    by_pixels = Client(exported, signature="serving_pixels").predict([data])[0]
    np.testing.assert_allclose(by_pixels.probabilities, by_bytes.probabilities, atol=1e-5)


def test_bad_images_get_errors_and_the_others_answers(exported, images, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    sources = [images["rgb.png"], tmp_path / "notes.txt", tmp_path / "gone.png", images["pic.bmp"]]
    predictions = Client(exported).predict(sources, batch_size=8)
    assert [p.ok for p in predictions] == [True, False, False, True]
    assert "notes.txt: not an image" in predictions[1].error
    assert "gone.png: no such file" in predictions[2].error


def test_pixel_limit_rejects_one_image_and_answers_the_rest(keras_file, tmp_path):
    path = export_model(keras_file, base=tmp_path, max_pixels=40 * 40)
    sources = [encode(random_pixels(16, 16, seed=1)), encode(random_pixels(50, 50)), encode(random_pixels(40, 40))]
    predictions = Client(path).predict(sources, batch_size=3)
    assert [p.ok for p in predictions] == [True, False, True]
    assert "50x50 = 2500 pixels, over the limit of 1600" in predictions[1].error


def test_resolving_local_targets(keras_file, tmp_path):
    base = tmp_path / "models"
    with pytest.raises(UsageError, match="found no exported model"):
        default_model(base)
    export_model(keras_file, base=base, name="a")
    export_model(keras_file, base=base, name="a")
    assert default_model(base) == base / "a" / "2"
    assert resolve_local_model(base / "a", version=1) == base / "a" / "1"
    with pytest.raises(UsageError, match="no version 9"):
        resolve_local_model(base / "a", version=9)
    export_model(keras_file, base=base, name="b")
    with pytest.raises(UsageError, match=r"pass --model PATH .* or --server URL \(found a, b\)"):
        default_model(base)
    assert resolve_local_model(base, model_name="b") == base / "b" / "1"
    with pytest.raises(UsageError, match="unknown model under .* 'c'"):
        resolve_local_model(base, model_name="c")
    with pytest.raises(UsageError, match="needs a server"):
        Client(base / "a", label="stable")


# --------------------------------------------------------------------------- CLI (local)
@pytest.mark.slow
def test_cli_predict_table_json_and_errors(cli, exported, images, keras_model, tmp_path):
    (tmp_path / "junk.png").write_text("not really a png")
    proc = cli(
        "predict", images["rgb.png"], images["gray.png"], tmp_path / "junk.png", tmp_path / "gone.jpg",
        "--model", exported, "--top-k", "2",
    )
    assert proc.returncode == 1
    expected = _expected(keras_model, images["rgb.png"])
    best = CLASS_NAMES[int(expected.argmax())]
    assert f"rgb.png  ->  {best} ({expected.max():.2%})" in proc.stdout
    assert "gray.png  ->  " in proc.stdout
    assert proc.stdout.count("   1. ") == 2 and proc.stdout.count("   3. ") == 0
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 2
    assert "junk.png: not an image" in errors[0] and "gone.jpg: no such file" in errors[1]
    assert "Traceback" not in proc.stderr

    proc = cli("predict", images["rgb.png"], images["palette.png"], "--model", exported, "--json", "--top-k", "3")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["image"]).name for r in rows] == ["rgb.png", "palette.png"]
    assert rows[0]["label"] == best and len(rows[0]["top_k"]) == 3
    assert abs(rows[0]["probability"] - float(expected.max())) < 1e-5


@pytest.mark.slow
def test_cli_predict_defaults_to_the_only_model(cli, keras_file, images, tmp_path):
    work = tmp_path / "project"
    export_model(keras_file, base=work / "serving" / "models", name="shapes")
    proc = cli("predict", images["rgb.png"], cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "rgb.png  ->  " in proc.stdout
    export_model(keras_file, base=work / "serving" / "models", name="other")
    proc = cli("predict", images["rgb.png"], cwd=work)
    assert proc.returncode == 2
    assert "pass --model PATH" in proc.stderr and "found other, shapes" in proc.stderr


def test_cli_predict_many_images_shows_progress(cli, exported, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(25):
        (folder / f"{i:02d}.png").write_bytes(encode(random_pixels(16, 16, seed=i)))
    proc = cli("predict", folder, "--model", exported, "--json", "--batch-size", "8")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 25
    assert "Predicting 25 images" in proc.stderr


def test_cli_predict_argument_errors(cli, exported, images):
    proc = cli("predict", images["rgb.png"], "--model", exported, "--version", "1", "--label", "x")
    assert proc.returncode == 2 and "either --version or --label" in proc.stderr
    proc = cli("predict", images["rgb.png"], "--server", "ftp://host:1", "--model-name", "m")
    assert proc.returncode == 2 and "unsupported server URL" in proc.stderr
    proc = cli("predict", images["rgb.png"], "--server", "http://127.0.0.1:1")
    assert proc.returncode == 2 and "pass --model-name" in proc.stderr


# --------------------------------------------------------------------------- remote (embedded server)
@pytest.fixture(scope="module")
def server(serve, keras_file, tmp_path_factory):
    """The embedded server started with the repository's own serving/*.config files."""
    serving = tmp_path_factory.mktemp("repo_serving") / "serving"
    serving.mkdir()
    for name in ("models.config", "batching.config", "monitoring.config"):
        shutil.copy(ROOT / "serving" / name, serving / name)
    export_model(keras_file, base=serving / "models", name="digits", version=1)
    export_model(keras_file, base=serving / "models", name="digits", version=2, class_names=["x", "y", "z"])
    args = [
        "--enable_batching=true",
        f"--batching_parameters_file={serving / 'batching.config'}",
        f"--monitoring_config_file={serving / 'monitoring.config'}",
        "--enable_model_warmup=true",  # replays the export's assets.extra warmup records
    ]
    running = serve(model_config_file=serving / "models.config", extra_args=args)
    running.export = serving / "models" / "digits" / "2"
    return running


@pytest.mark.slow
def test_rest_and_grpc_answer_like_local(server, images):
    sources = list(images.values())
    local = Client(server.export).predict(sources)
    for target in (server.rest_url, f"grpc://{server.grpc_target}"):
        remote = Client(target, model_name="digits").predict(sources, batch_size=4)
        for a, b in zip(remote, local):
            assert a.error is None, a.error
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-5)
            assert (a.class_id, a.label) == (b.class_id, b.label)
        assert remote[0].class_names == ["x", "y", "z"]  # newest version's names, fetched remotely
        pixels = Client(target, model_name="digits", signature="serving_pixels").predict([sources[0]])
        np.testing.assert_allclose(pixels[0].probabilities, local[0].probabilities, atol=1e-5)


@pytest.mark.slow
def test_versions_and_labels_from_models_config(server, images):
    for target in (server.rest_url, f"grpc://{server.grpc_target}"):
        stable = Client(target, model_name="digits", label="stable").predict([images["rgb.png"]])[0]
        assert stable.label in CLASS_NAMES and stable.class_names == CLASS_NAMES
        two = Client(target, model_name="digits", version=2).predict([images["rgb.png"]])[0]
        assert two.label in ["x", "y", "z"]
    metrics = __import__("requests").get(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=10)
    assert metrics.status_code == 200 and ":tensorflow:serving:" in metrics.text


@pytest.mark.slow
def test_remote_errors_are_one_clear_line(server, images, tmp_path):
    for target in (server.rest_url, f"grpc://{server.grpc_target}"):
        with pytest.raises(UsageError, match=r"model 'digitz' not found"):
            Client(target, model_name="digitz").predict([images["rgb.png"]])
    for target in ("http://127.0.0.1:9", "grpc://127.0.0.1:9"):
        with pytest.raises(KerasCNNError, match=r"cannot reach the server at (http|grpc)://127.0.0.1:9"):
            Client(target, model_name="digits", timeout=5).predict([images["rgb.png"]])


@pytest.mark.slow
def test_cli_predict_against_servers(cli, server, images, keras_file, tmp_path):
    local = cli("predict", images["rgb.png"], images["gray.png"], "--model", server.export, "--json")
    assert local.returncode == 0, local.stderr
    for url in (server.rest_url, f"grpc://{server.grpc_target}"):
        remote = cli("predict", images["rgb.png"], images["gray.png"], "--server", url, "--model-name", "digits", "--json")
        assert remote.returncode == 0, remote.stderr
        for a, b in zip(remote.stdout.splitlines(), local.stdout.splitlines()):
            ra, rb = json.loads(a), json.loads(b)
            assert ra["label"] == rb["label"]
            assert abs(ra["probability"] - rb["probability"]) < 1e-5
    proc = cli("predict", images["rgb.png"], "--server", "http://127.0.0.1:9", "--model-name", "digits")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: cannot reach the server at http://127.0.0.1:9 (is it running?)"
    )
    proc = cli("predict", images["rgb.png"], "--server", server.rest_url, "--model-name", "nope")
    assert proc.returncode == 2 and "model 'nope' not found" in proc.stderr


@pytest.mark.slow
def test_server_address_without_a_scheme_is_rest_off_port_8500(cli, server, images):
    """``HOST:PORT`` (no scheme) on a port other than 8500 means REST, in Python and the CLI."""
    host_port = server.rest_url[len("http://"):]
    local = Client(server.export).predict([images["rgb.png"]])[0]
    client = Client(host_port, model_name="digits")
    assert client.description.startswith(f"{server.rest_url}/v1/models/digits")
    remote = client.predict([images["rgb.png"]])[0]
    np.testing.assert_allclose(remote.probabilities, local.probabilities, atol=1e-5)
    proc = cli("predict", images["rgb.png"], "--server", host_port, "--model-name", "digits", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["label"] == local.label


@pytest.mark.slow
def test_server_error_text_reaches_the_user(cli, serve, keras_file, tmp_path):
    """An over-limit image: TF Serving's error text, the other image still answered."""
    export_model(keras_file, base=tmp_path / "models", name="small", max_pixels=32 * 32)
    (tmp_path / "ok.png").write_bytes(encode(random_pixels(16, 16)))
    (tmp_path / "huge.png").write_bytes(encode(random_pixels(64, 64)))
    with serve(model_base_path=tmp_path / "models" / "small", model_name="small") as srv:
        for url in (srv.rest_url, f"grpc://{srv.grpc_target}"):
            proc = cli("predict", tmp_path / "ok.png", tmp_path / "huge.png", "--server", url, "--model-name", "small")
            assert proc.returncode == 1
            assert "ok.png  ->  " in proc.stdout
            error = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
            assert len(error) == 1
            assert "huge.png: server error" in error[0]
            assert "64x64 = 4096 pixels, over the limit of 1024 set at export" in error[0]


# --------------------------------------------------------------------------- documented snippets
CURL = (
    'curl -s -X POST {url}/v1/models/digits:predict -H "Content-Type: application/json" '
    "-d '{{\"signature_name\": \"serving_default\", \"instances\": [{{\"b64\": \"'\"$(base64 -w0 {image})\"'\"}}]}}'"
)

GRPC_SNIPPET = """
import sys
import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

target, image = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
request = predict_pb2.PredictRequest()
request.model_spec.name = "digits"
request.model_spec.signature_name = "serving_default"
request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([open(image, "rb").read()]))
response = stub.Predict(request, timeout=30)
print(tf.make_ndarray(response.outputs["label"])[0].decode(),
      tf.make_ndarray(response.outputs["probabilities"])[0].max())
"""


@pytest.mark.slow
def test_documented_curl_and_grpc_snippets_work(server, images):
    image = images["rgb.png"]
    local = Client(server.export).predict([image])[0]
    if shutil.which("curl"):
        command = CURL.format(url=server.rest_url, image=image)
        proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
        answer = json.loads(proc.stdout)["predictions"][0]
        assert answer["label"] == local.label
        np.testing.assert_allclose(answer["probabilities"], local.probabilities, atol=1e-5)
    proc = subprocess.run(
        [sys.executable, "-c", GRPC_SNIPPET, server.grpc_target, str(image)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    label, probability = proc.stdout.split()
    assert label == local.label and abs(float(probability) - local.probabilities.max()) < 1e-5
    # The same REST body built in Python, to be sure the b64 form is what the server decoded.
    body = {"instances": [{"b64": base64.b64encode(image.read_bytes()).decode()}]}
    import requests

    answer = requests.post(f"{server.rest_url}/v1/models/digits:predict", json=body, timeout=30).json()
    assert answer["predictions"][0]["label"] == local.label


# --------------------------------------------------------------------------- quickstart hook
def test_quickstart_serving_exports_lenet5_and_predicts_a_real_digit(tmp_path):
    """The quickstart's final step, on a registry LeNet-5 saved as a run folder."""
    import kerascnn
    from kerascnn.preprocessing import preprocess
    from kerascnn.quickstart import export_and_predict_digit

    model = kerascnn.build("lenet5", num_classes=10)
    run = tmp_path / "runs" / "quickstart"
    (run / "weights").mkdir(parents=True)
    model.save(run / "weights" / "best.keras")
    (run / "labels.txt").write_text("".join(f"{d}\n" for d in range(10)))
    lines = []
    path, prediction, truth = export_and_predict_digit(run, base=tmp_path / "serving" / "models", echo=lines.append)
    assert path == tmp_path / "serving" / "models" / "digits" / "1"
    assert 0 <= truth <= 9
    pixels = np.asarray(Image.open(run / "digit.png"))
    assert pixels.shape == (8, 8) and pixels.max() > 200  # a real digit: ink scaled to 0..255
    expected = model(preprocess(pixels[None, ..., None], model.input_shape[1:]), training=False)
    np.testing.assert_allclose(prediction.probabilities, np.asarray(expected)[0], atol=1e-5)
    text = "\n".join(lines)
    assert f"Exported to {path}" in text and f"digit.png  ->  {prediction.label}" in text
