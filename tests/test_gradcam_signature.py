"""``serving_gradcam``: Grad-CAM inside the SavedModel equals ``kerascnn visualize gradcam``.

Oracle: :func:`kerascnn.visualize.gradcam` in this process (its ``layer_heatmap``), for the same
model and image, read back through every way an export is served: ``tf.saved_model.load``, the
TF1 session loader TF Serving's C++ code mirrors (SignatureDef tensor names), and a real
``kerascnn serve`` over REST and gRPC. The quadrant models of ``_gradcam_models`` (a model that
can only see one quadrant) must light that quadrant through the server too.
"""

from __future__ import annotations

import base64
import io

import keras
import numpy as np
import pytest
import requests
import tensorflow as tf
from _export_utils import encode, random_pixels
from _gradcam_models import QUADRANTS, quadrant_model, temple_flower_export
from PIL import Image

from kerascnn import visualize as vis
from kerascnn.client import Client
from kerascnn.client.gradcam import write_gradcam_overlays
from kerascnn.export import export_model, read_metadata
from kerascnn.gradcam import OVERLAY_OUTPUT, SIGNATURE, jet_lookup_table

TOLERANCE = 1e-4


def _png(pixels) -> bytes:
    return encode(pixels, "PNG")


@pytest.fixture(scope="module")
def images():
    """Two real PNGs at the tiny model's size (RGB) and one larger one (resized in the graph)."""
    return [_png(random_pixels(16, 16, 3, seed=s)) for s in (1, 2)] + [
        _png(random_pixels(40, 24, 3, seed=3))
    ]


@pytest.fixture(scope="module")
def quadrant_exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("quadrants")
    paths = {}
    for quadrant in QUADRANTS:
        model = quadrant_model(quadrant)
        name = model.name
        paths[quadrant] = export_model(model, base=base, name=name, class_names=["yes", "no"])
    return base, paths


@pytest.fixture(scope="module")
def temple_flower(tmp_path_factory):
    """(export, half-temple half-flower picture, Keras model): ``_gradcam_models``."""
    return temple_flower_export(tmp_path_factory.mktemp("temple_flower"))


@pytest.fixture(scope="module")
def noise_png():
    image = np.random.default_rng(7).integers(60, 255, size=(16, 16, 1), dtype=np.uint8)
    return _png(image)


@pytest.fixture(scope="module")
def plain_export(keras_file, tmp_path_factory):
    """The tiny model exported with ``gradcam=False`` (``kerascnn export --no-gradcam``)."""
    return export_model(keras_file, base=tmp_path_factory.mktemp("plain"), name="plain",
                        gradcam=False)


@pytest.fixture(scope="module")
def server(serve, exported, plain_export, quadrant_exports, temple_flower, tmp_path_factory):
    """One ``kerascnn serve`` holding the tiny model (with and without ``serving_gradcam``),
    the four quadrant models and the temple/flower model."""
    base, paths = quadrant_exports
    entries = [f'config {{ name: "shapes" base_path: "{exported.parent}" }}',
               f'config {{ name: "plain" base_path: "{plain_export.parent}" }}',
               f'config {{ name: "temple_flower" base_path: "{temple_flower[0].parent}" }}']
    entries += [f'config {{ name: "{p.parent.name}" base_path: "{p.parent}" }}'
                for p in paths.values()]
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text("model_config_list { " + " ".join(entries) + " }\n")
    return serve(model_config_file=config)


def _in_process(model, png: bytes, class_index=None) -> dict:
    pixels = np.asarray(Image.open(io.BytesIO(png)))
    return vis.gradcam(model, pixels, class_index)


def _rest_gradcam(server, name, pngs, class_ids):
    body = {
        "signature_name": SIGNATURE,
        "instances": [
            {"image_bytes": {"b64": base64.b64encode(p).decode()}, "class_id": c}
            for p, c in zip(pngs, class_ids)
        ],
    }
    response = requests.post(f"{server.rest_url}/v1/models/{name}:predict", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


# ----------------------------------------------------------------------------- the signature


def test_export_has_the_gradcam_signature_with_the_documented_shapes(exported):
    from kerascnn.export import describe_signatures

    signature = describe_signatures(exported)[SIGNATURE]
    assert signature["inputs"] == {
        "image_bytes": ("DT_STRING", [-1]),
        "class_id": ("DT_INT64", [-1]),
    }
    # The tiny model's last conv stage: 16 -> conv 14 -> pool 7 -> conv 5 (a 5x5 map).
    assert signature["outputs"] == {
        "heatmap": ("DT_FLOAT", [-1, 5, 5]),
        OVERLAY_OUTPUT: ("DT_STRING", [-1]),
        "class_id": ("DT_INT64", [-1]),
        "label": ("DT_STRING", [-1]),
        "probability": ("DT_FLOAT", [-1]),
    }
    assert SIGNATURE in read_metadata(exported)["signatures"]


def test_no_gradcam_export_and_a_model_without_convs_go_without_it(plain_export, tmp_path):
    from kerascnn.export import describe_signatures

    assert SIGNATURE not in describe_signatures(plain_export)
    assert SIGNATURE not in read_metadata(plain_export)["signatures"]
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    mlp = export_model(keras.Model(inputs, dense), base=tmp_path, name="mlp")
    assert SIGNATURE not in describe_signatures(mlp)
    assert "serving_default" in describe_signatures(mlp)


def test_saved_model_load_heatmap_equals_visualize_gradcam(exported, keras_model, images):
    fn = tf.saved_model.load(str(exported)).signatures[SIGNATURE]
    out = fn(image_bytes=tf.constant(images), class_id=tf.constant([-1, 2, -1], tf.int64))
    worst = 0.0
    for i, png in enumerate(images):
        wanted = 2 if i == 1 else None
        reference = _in_process(keras_model, png, wanted)
        served = out["heatmap"][i].numpy()
        assert served.shape == reference["layer_heatmap"].shape == (5, 5)
        worst = max(worst, float(np.abs(served - reference["layer_heatmap"]).max()))
        assert int(out["class_id"][i]) == reference["class_index"]
        assert out["label"][i].numpy().decode() == ["circle", "square", "triangle"][
            reference["class_index"]]
        probability = reference["probabilities"][reference["class_index"]]
        assert float(out["probability"][i]) == pytest.approx(probability, abs=1e-5)
        assert 0.0 <= served.min() and served.max() == pytest.approx(1.0)
    print(f"max |served - in-process| heatmap difference (tf.saved_model.load): {worst:.3g}")
    assert worst < TOLERANCE


def test_tf1_session_loader_heatmap_equals_visualize_gradcam(exported, keras_model, images):
    """TF Serving's path: MetaGraphDef tagged "serve" into a Session, run by tensor names."""
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(exported))
        signature = meta.signature_def[SIGNATURE]
        feeds = {
            signature.inputs["image_bytes"].name: np.array(images, dtype=object),
            signature.inputs["class_id"].name: np.array([-1, -1, 0], "int64"),
        }
        fetch = [signature.outputs[k].name for k in ("heatmap", "class_id", OVERLAY_OUTPUT)]
        heatmaps, class_ids, pngs = session.run(fetch, feeds)
    worst = 0.0
    for i, png in enumerate(images):
        reference = _in_process(keras_model, png, 0 if i == 2 else None)
        assert int(class_ids[i]) == reference["class_index"]
        worst = max(worst, float(np.abs(heatmaps[i] - reference["layer_heatmap"]).max()))
        with Image.open(io.BytesIO(pngs[i])) as overlay:  # over the image as sent, in RGB
            assert overlay.format == "PNG" and overlay.mode == "RGB"
            assert overlay.size == Image.open(io.BytesIO(png)).size
    print(f"max |served - in-process| heatmap difference (TF1 session): {worst:.3g}")
    assert worst < TOLERANCE


def test_overlay_is_the_image_blended_with_jet_colours(exported):
    """A flat gray image: each overlay pixel is 0.55 x gray + 0.45 x jet(heat)."""
    gray = np.full((16, 16, 3), 128, np.uint8)
    fn = tf.saved_model.load(str(exported)).signatures[SIGNATURE]
    out = fn(image_bytes=tf.constant([_png(gray)]), class_id=tf.constant([-1], tf.int64))
    overlay = np.asarray(Image.open(io.BytesIO(out[OVERLAY_OUTPUT][0].numpy())), "float32")
    heat = tf.image.resize(out["heatmap"][0][..., None], (16, 16), method="bilinear")[..., 0]
    colours = jet_lookup_table()[np.clip(np.floor(heat.numpy() * 256), 0, 255).astype(int)]
    expected = np.round((0.55 * 128 / 255 + 0.45 * colours) * 255)
    assert np.abs(overlay - expected).max() <= 1.0


def test_jet_table_is_matplotlibs():
    import matplotlib

    reference = matplotlib.colormaps["jet"](np.linspace(0, 1, 256))[:, :3]
    np.testing.assert_allclose(jet_lookup_table(), reference, atol=1e-6)


# ----------------------------------------------------------------------------- through the server


def test_rest_heatmap_equals_visualize_gradcam(server, keras_model, images):
    rows = _rest_gradcam(server, "shapes", images, [-1, 1, -1])
    worst = 0.0
    for i, (row, png) in enumerate(zip(rows, images)):
        reference = _in_process(keras_model, png, 1 if i == 1 else None)
        assert row["class_id"] == reference["class_index"]
        worst = max(worst, float(np.abs(np.array(row["heatmap"]) - reference["layer_heatmap"]).max()))
        overlay = base64.b64decode(row[OVERLAY_OUTPUT]["b64"])  # "_bytes": base64 in JSON
        assert Image.open(io.BytesIO(overlay)).format == "PNG"
    print(f"max |served - in-process| heatmap difference (kerascnn serve REST): {worst:.3g}")
    assert worst < TOLERANCE


@pytest.mark.parametrize("quadrant", QUADRANTS)
def test_quadrant_lights_up_through_the_server(server, quadrant_exports, noise_png, quadrant):
    """test_visualize's quadrant check, on the served heatmap (16x16: the conv keeps the size)."""
    name = quadrant_exports[1][quadrant].parent.name
    (row,) = _rest_gradcam(server, name, [noise_png], [-1])
    assert row["class_id"] == 0 and row["label"] == "yes"  # the positive evidence wins
    heat = np.array(row["heatmap"])
    assert heat.shape == (16, 16) and heat.max() == pytest.approx(1.0)
    r, c = quadrant
    inside = heat[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8]
    assert inside.sum() / heat.sum() > 0.8
    seen = np.zeros_like(heat, dtype=bool)
    seen[max(r * 8 - 1, 0) : r * 8 + 9, max(c * 8 - 1, 0) : c * 8 + 9] = True
    assert heat[~seen].max() < 1e-6
    reference = _in_process(quadrant_model(quadrant), noise_png)["layer_heatmap"]
    assert np.abs(heat - reference).max() < TOLERANCE


@pytest.mark.parametrize("class_id, name", [(0, "temple"), (1, "flower")])
def test_temple_and_flower_light_their_halves_through_the_server(server, temple_flower, class_id,
                                                                  name):
    """The example's check, served: on a half-temple, half-flower picture, asking for "temple"
    lights the left half and "flower" the right half."""
    _, both, model = temple_flower
    (row,) = _rest_gradcam(server, "temple_flower", [_png(both)], [class_id])
    assert row["label"] == name
    heat = np.array(row["heatmap"])
    assert heat.shape == (53, 80)  # 214 x 320 after two 2x2 poolings
    left = heat[:, : heat.shape[1] // 2].sum() / heat.sum()
    assert left > 0.8 if name == "temple" else left < 0.2, left
    reference = _in_process(model, _png(both), class_id)["layer_heatmap"]
    assert np.abs(heat - reference).max() < TOLERANCE


def test_negative_evidence_is_an_empty_heatmap_and_bad_class_is_an_error(server, noise_png):
    (row,) = _rest_gradcam(server, "quadrant00", [noise_png], [1])
    assert row["class_id"] == 1 and np.array(row["heatmap"]).max() == 0.0
    body = {"signature_name": SIGNATURE,
            "instances": [{"image_bytes": {"b64": base64.b64encode(noise_png).decode()},
                           "class_id": 2}]}
    response = requests.post(f"{server.rest_url}/v1/models/quadrant00:predict", json=body,
                             timeout=60)
    assert response.status_code == 400
    assert "class_id must be -1 (the top class) or 0..1" in response.json()["error"]
    body["instances"][0]["image_bytes"]["b64"] = base64.b64encode(b"not an image").decode()
    body["instances"][0]["class_id"] = -1
    response = requests.post(f"{server.rest_url}/v1/models/quadrant00:predict", json=body,
                             timeout=60)
    assert response.status_code == 400 and "image_bytes[0]" in response.json()["error"]
    columns = {"signature_name": SIGNATURE,
               "inputs": {"image_bytes": [{"b64": base64.b64encode(noise_png).decode()}] * 2,
                          "class_id": [-1]}}
    response = requests.post(f"{server.rest_url}/v1/models/quadrant00:predict", json=columns,
                             timeout=60)
    assert response.status_code == 400
    assert "class_id has 1 entries for 2 images" in response.json()["error"]


def test_predict_gradcam_writes_overlays_from_every_transport(server, exported, images, tmp_path):
    """``kerascnn predict --gradcam out/``'s function: the same PNGs locally, over REST, gRPC."""
    targets = {
        "local": Client(exported),
        "rest": Client(server.rest_url, model_name="shapes"),
        "grpc": Client(f"grpc://{server.grpc_target}", model_name="shapes"),
    }
    folder = tmp_path / "pictures"
    folder.mkdir()
    sources = []
    for i, png in enumerate(images):
        (folder / f"img{i}.png").write_bytes(png)
        sources.append(folder / f"img{i}.png")
    written = {}
    for kind, client in targets.items():
        pairs = write_gradcam_overlays(client, sources, tmp_path / kind, batch_size=2)
        assert [p.name for p, _ in pairs] == ["img0_gradcam.png", "img1_gradcam.png",
                                             "img2_gradcam.png"]
        written[kind] = pairs
    for (local, a), (rest, b), (grpc, c) in zip(*written.values()):
        assert local.read_bytes() == rest.read_bytes() == grpc.read_bytes()
        assert a.class_id == b.class_id == c.class_id and a.label == b.label == c.label
        np.testing.assert_allclose(a.heatmap, b.heatmap, atol=TOLERANCE)
        np.testing.assert_allclose(a.heatmap, c.heatmap, atol=TOLERANCE)


def test_predict_gradcam_without_the_signature_says_how_to_get_it(server, plain_export, images,
                                                                  tmp_path):
    from kerascnn.errors import UsageError

    for client in (Client(plain_export), Client(server.rest_url, model_name="plain"),
                   Client(f"grpc://{server.grpc_target}", model_name="plain")):
        with pytest.raises(UsageError, match="has no serving_gradcam signature: export the model "
                                             "again"):
            write_gradcam_overlays(client, images[:1], tmp_path / "out")


def test_predict_cli_gradcam_writes_one_overlay_per_image(cli, exported, images, tmp_path):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, png in enumerate(images):
        (folder / f"img{i}.png").write_bytes(png)
    proc = cli("predict", folder, "--model", exported, "--gradcam", tmp_path / "cams")
    assert proc.returncode == 0, proc.stderr
    assert f"Grad-CAM overlays: {len(images)} written to {tmp_path / 'cams'}" in proc.stderr
    written = sorted(p.name for p in (tmp_path / "cams").iterdir())
    assert written == [f"img{i}_gradcam.png" for i in range(len(images))]
    assert Image.open(tmp_path / "cams" / written[0]).format == "PNG"
