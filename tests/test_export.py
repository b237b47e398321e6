"""Export: TF Serving layout, atomic writes, signatures, in-graph preprocessing and pixel limit.

The round-trip test exports with the real CLI and loads the SavedModel in a fresh process with
``tf.saved_model.load`` (what TF Serving uses), never through Keras.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from _export_utils import (
    CLASS_NAMES,
    INPUT_SHAPE,
    encode,
    keras_reference,
    random_pixels,
    run_python,
)

tf = pytest.importorskip("tensorflow")

from kerascnn import export as export_mod  # noqa: E402
from kerascnn.errors import UsageError  # noqa: E402
from kerascnn.export import describe_signatures, export_model, image_size_from_header  # noqa: E402


@pytest.fixture(scope="module")
def cli_export(keras_file, tmp_path_factory):
    """Export once through the CLI, as a user would."""
    from _processes import run_cli

    base = tmp_path_factory.mktemp("base")
    proc = run_cli("export", keras_file, "--base", base, check=True)
    assert "Exported" in proc.stdout
    return base / "tiny" / "1"


def _load_keras(path):
    import keras

    return keras.saving.load_model(path, safe_mode=True, compile=False)


# --------------------------------------------------------------------------- round trip
FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, images_file, pixels_file = sys.argv[1:4]
loaded = tf.saved_model.load(path)
blobs = [bytes.fromhex(h) for h in json.load(open(images_file))]
by_bytes = loaded.signatures["serving_default"](image_bytes=tf.constant(blobs))
pixels = np.load(pixels_file)
by_pixels = loaded.signatures["serving_pixels"](images=tf.constant(pixels))
names = loaded.signatures["class_names"](class_id=tf.constant([0, 1, 2], tf.int64))["label"]
out = {
    "signatures": sorted(loaded.signatures.keys()),
    "bytes": {k: v.numpy().tolist() for k, v in by_bytes.items() if k != "label"},
    "bytes_label": [s.decode() for s in by_bytes["label"].numpy()],
    "pixels": {k: v.numpy().tolist() for k, v in by_pixels.items() if k != "label"},
    "pixels_label": [s.decode() for s in by_pixels["label"].numpy()],
    "names": [s.decode() for s in names.numpy()],
}
print(json.dumps(out))
"""


def _test_images():
    """(encoded bytes, decoded uint8 pixels [h, w, c]) for several formats and modes."""
    import io

    from PIL import Image

    cases = []
    rgb = random_pixels(16, 16, seed=1)
    cases.append(("png-rgb-exact-size", encode(rgb), rgb))
    big = random_pixels(40, 30, seed=2)  # resized in-graph
    cases.append(("png-rgb-resized", encode(big), big))
    gray = random_pixels(20, 20, 1, seed=3)
    cases.append(("png-gray", encode(gray), gray))
    rgba = random_pixels(16, 16, 4, seed=4)
    cases.append(("png-rgba", encode(rgba), rgba))
    bmp = random_pixels(18, 22, seed=5)
    cases.append(("bmp", encode(bmp, "BMP"), bmp))
    gif = encode(random_pixels(16, 16, seed=6), "GIF")
    gif_pixels = np.asarray(Image.open(io.BytesIO(gif)).convert("RGB"))
    cases.append(("gif", gif, gif_pixels))
    jpeg = encode(random_pixels(24, 24, seed=7), "JPEG", quality=90)
    # JPEG decoders differ slightly: take TF's own decode as the reference pixels.
    cases.append(("jpeg", jpeg, tf.io.decode_jpeg(jpeg).numpy()))
    return cases


@pytest.mark.slow
def test_fresh_process_savedmodel_matches_keras(cli_export, keras_file, tmp_path):
    cases = _test_images()
    images_file = tmp_path / "images.json"
    images_file.write_text(json.dumps([blob.hex() for _, blob, _ in cases]))
    pixels = np.stack([random_pixels(16, 16, seed=s) for s in (10, 11, 12)]).astype("float32")
    np.save(tmp_path / "pixels.npy", pixels)

    out = run_python(FRESH_PROCESS, cli_export, images_file, tmp_path / "pixels.npy")

    assert out["signatures"] == [
        "class_names", "serving_default", "serving_gradcam", "serving_pixels"
    ]
    model = _load_keras(keras_file)
    expected = np.concatenate([keras_reference(model, [pix]) for _, _, pix in cases])
    got = np.asarray(out["bytes"]["probabilities"])
    for i, (name, _, _) in enumerate(cases):
        np.testing.assert_allclose(got[i], expected[i], atol=1e-5, err_msg=name)
    assert out["bytes"]["class_id"] == expected.argmax(1).tolist()
    assert out["bytes_label"] == [CLASS_NAMES[i] for i in expected.argmax(1)]
    # The model is not constant: the images get different answers.
    assert np.ptp(expected, axis=0).max() > 0.05

    expected_pixels = np.asarray(model(pixels / 255.0, training=False))
    np.testing.assert_allclose(out["pixels"]["probabilities"], expected_pixels, atol=1e-5)
    assert out["pixels_label"] == [CLASS_NAMES[i] for i in expected_pixels.argmax(1)]
    assert out["names"] == CLASS_NAMES


def test_signature_names_dtypes_and_shapes(cli_export):
    c = len(CLASS_NAMES)
    h, w, ch = INPUT_SHAPE
    outputs = {
        "probabilities": ("DT_FLOAT", [-1, c]),
        "class_id": ("DT_INT64", [-1]),
        "label": ("DT_STRING", [-1]),
    }
    assert describe_signatures(cli_export) == {
        "serving_default": {"inputs": {"image_bytes": ("DT_STRING", [-1])}, "outputs": outputs},
        "serving_pixels": {"inputs": {"images": ("DT_FLOAT", [-1, h, w, ch])}, "outputs": outputs},
        "class_names": {
            "inputs": {"class_id": ("DT_INT64", [-1])},
            "outputs": {"label": ("DT_STRING", [-1])},
        },
        "serving_gradcam": {
            "inputs": {"image_bytes": ("DT_STRING", [-1]), "class_id": ("DT_INT64", [-1])},
            "outputs": {
                "heatmap": ("DT_FLOAT", [-1, 5, 5]),
                "heatmap_png_bytes": ("DT_STRING", [-1]),
                "class_id": ("DT_INT64", [-1]),
                "label": ("DT_STRING", [-1]),
                "probability": ("DT_FLOAT", [-1]),
            },
        },
    }


def test_the_contract_names_every_served_tensor(cli_export):
    """The names above (the published format, written out) are the contract's constants, which
    the client and the server use: every input and output an export serves is one of them."""
    from kerascnn import contract

    names = {value for key, value in vars(contract).items()
             if key.endswith(("_INPUT", "_OUTPUT")) or key == "CLASS_ID"}
    served = set()
    for signature in describe_signatures(cli_export).values():
        served |= set(signature["inputs"]) | set(signature["outputs"])
    assert served == names


@pytest.mark.slow
def test_saved_model_cli_shows_the_stable_names(cli_export):
    """The real ``saved_model_cli show`` (what TF Serving users run) sees the same names."""
    cli = Path(sys.executable).with_name("saved_model_cli")
    proc = subprocess.run(
        [str(cli), "show", "--dir", str(cli_export), "--tag_set", "serve", "--signature_def",
         "serving_default"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert re.search(r"inputs\['image_bytes'\] tensor_info:\s+dtype: DT_STRING\s+shape: \(-1\)", text)
    assert re.search(r"outputs\['probabilities'\] tensor_info:\s+dtype: DT_FLOAT\s+shape: \(-1, 3\)", text)
    assert re.search(r"outputs\['class_id'\] tensor_info:\s+dtype: DT_INT64\s+shape: \(-1\)", text)
    assert re.search(r"outputs\['label'\] tensor_info:\s+dtype: DT_STRING\s+shape: \(-1\)", text)
    assert "keras_tensor" not in text and "output_0" not in text


def test_labels_asset_metadata_and_warmup(cli_export):
    from tensorflow_serving.apis import prediction_log_pb2

    assert (cli_export / "assets" / "labels.txt").read_text().split() == CLASS_NAMES
    meta = export_mod.read_metadata(cli_export)
    assert meta["class_names"] == CLASS_NAMES
    assert meta["input_shape"] == list(INPUT_SHAPE)
    assert meta["max_pixels"] == 50_000_000

    records = list(tf.data.TFRecordDataset(str(cli_export / "assets.extra" / "tf_serving_warmup_requests")))
    logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in records]
    assert len(logs) >= 3
    loaded = tf.saved_model.load(str(cli_export))
    signatures_seen = set()
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "tiny"
        signature = request.model_spec.signature_name
        signatures_seen.add(signature)
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        out = loaded.signatures[signature](**inputs)
        assert out["probabilities"].shape[0] == next(iter(inputs.values())).shape[0]
    assert signatures_seen == {"serving_default", "serving_pixels"}


# --------------------------------------------------------------------------- layout, versions
def test_versions_count_up_and_version_flag(keras_file, tmp_path):
    assert export_model(keras_file, base=tmp_path) == tmp_path / "tiny" / "1"
    assert export_model(keras_file, base=tmp_path) == tmp_path / "tiny" / "2"
    assert export_model(keras_file, base=tmp_path, version=7, name="shapes") == tmp_path / "shapes" / "7"
    assert export_model(keras_file, base=tmp_path, name="shapes") == tmp_path / "shapes" / "8"
    # Only numeric version directories and nothing half-written beside them.
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1", "2"]


def test_version_numbers_are_the_numeric_folders_as_tf_serving_sees_them(keras_file, tmp_path):
    from kerascnn.contract import version_numbers
    from kerascnn.loading import exported_versions

    model_dir = tmp_path / "tiny"
    for name in ("10", "2", "abc", ".export-3-x", "\u00b2"):  # "²".isdigit() but int() refuses it
        (model_dir / name).mkdir(parents=True)
    (model_dir / "4").write_text("a file, not a version")
    assert version_numbers(model_dir) == [2, 10]  # numeric order, not text order
    assert version_numbers(model_dir / "4") == version_numbers(tmp_path / "missing") == []
    # An empty numeric folder is no SavedModel to load, but a new export must not land on it.
    assert exported_versions(model_dir) == []
    assert export_model(keras_file, base=tmp_path) == model_dir / "11"
    assert exported_versions(model_dir) == [11]


def test_refuses_to_overwrite_without_force(keras_file, tmp_path):
    first = export_model(keras_file, base=tmp_path, version=3)
    stamp = (first / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(UsageError, match=r"already exists; pass --force"):
        export_model(keras_file, base=tmp_path, version=3)
    assert (first / "saved_model.pb").stat().st_mtime_ns == stamp
    again = export_model(keras_file, base=tmp_path, version=3, force=True, class_names=["a", "b", "c"])
    assert again == first
    assert (first / "assets" / "labels.txt").read_text().split() == ["a", "b", "c"]
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["3"]


def test_failed_export_leaves_no_version_directory(keras_file, tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "_write_extras", disk_full)
    with pytest.raises(OSError, match="No space left"):
        export_model(keras_file, base=tmp_path, version=1)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_failed_forced_export_keeps_the_old_version(keras_file, tmp_path, monkeypatch):
    old = export_model(keras_file, base=tmp_path, version=1)
    labels_before = (old / "assets" / "labels.txt").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(export_mod, "_write_extras", broken)
    with pytest.raises(RuntimeError):
        export_model(keras_file, base=tmp_path, version=1, force=True, class_names=["x", "y", "z"])
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1"]
    assert (old / "assets" / "labels.txt").read_text() == labels_before


@pytest.mark.slow
def test_cli_export_errors_are_one_line(cli, tmp_path, keras_file):
    proc = cli("export", tmp_path / "nope.keras", "--base", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error:")
    assert "nope.keras" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("export", keras_file, "--base", tmp_path, "--name", "bad name!")
    assert proc.returncode == 2 and "model name 'bad name!' is not valid" in proc.stderr
    assert not (tmp_path / "bad name!").exists()


def test_wrong_number_of_class_names_is_a_usage_error(keras_file, tmp_path):
    with pytest.raises(UsageError, match="3 outputs but 2 class names"):
        export_model(keras_file, base=tmp_path, class_names=["a", "b"])


# --------------------------------------------------------------------------- pixel limit, headers
@pytest.fixture(scope="module")
def small_limit_export(keras_file, tmp_path_factory):
    base = tmp_path_factory.mktemp("limit")
    path = export_model(keras_file, base=base, max_pixels=32 * 32)
    return tf.saved_model.load(str(path))


def _forged_png(width, height) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but carries almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    ihdr_chunk = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    data = zlib.compress(b"\x00" * 64)
    idat = b"IDAT" + data
    idat_chunk = struct.pack(">I", len(data)) + idat + struct.pack(">I", zlib.crc32(idat))
    iend = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + ihdr_chunk + idat_chunk + iend


def test_pixel_limit_rejects_with_invalid_argument(small_limit_export):
    fn = small_limit_export.signatures["serving_default"]
    ok = fn(image_bytes=tf.constant([encode(random_pixels(32, 32))]))
    assert ok["probabilities"].shape == (1, 3)
    for fmt in ("PNG", "JPEG", "BMP", "GIF"):
        too_big = encode(random_pixels(33, 32), fmt)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"32x33 = 1056 pixels, over the limit of 1024"):
            fn(image_bytes=tf.constant([too_big]))


def test_decompression_bomb_is_refused_before_decoding(cli_export):
    """A header claiming 100000x100000 pixels fails on the limit, not in the decoder."""
    loaded = tf.saved_model.load(str(cli_export))
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        loaded.signatures["serving_default"](image_bytes=tf.constant([_forged_png(100_000, 100_000)]))
    assert "over the limit of 50000000 set at export" in str(info.value)


def test_not_an_image_is_invalid_argument(cli_export):
    loaded = tf.saved_model.load(str(cli_export))
    for junk in (b"hello, world", b"", b"\x89PNG\r\n\x1a\n\x00"):
        with pytest.raises(tf.errors.InvalidArgumentError, match="unsupported image format|truncated PNG"):
            loaded.signatures["serving_default"](image_bytes=tf.constant([junk]))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_header_size_matches_pillow(fmt, mode):
    blob = encode(random_pixels(37, 53), fmt, mode=mode)
    height, width = (int(v) for v in image_size_from_header(tf.constant(blob)))
    assert (height, width) == (37, 53)


def test_header_size_of_top_down_bmp():
    """BMP rows stored top-down have a negative height in the header."""
    blob = bytearray(encode(random_pixels(5, 9), "BMP"))
    height = struct.unpack_from("<i", blob, 22)[0]
    struct.pack_into("<i", blob, 22, -height)
    assert [int(v) for v in image_size_from_header(tf.constant(bytes(blob)))] == [5, 9]


def test_logits_model_gets_a_softmax(tmp_path):
    import keras

    inputs = keras.Input((8, 8, 1))
    logits = keras.layers.Dense(4)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, logits, name="logits")
    path = export_model(model, base=tmp_path)
    loaded = tf.saved_model.load(str(path))
    pixels = random_pixels(8, 8, 1, seed=3).astype("float32")[None]
    out = loaded.signatures["serving_pixels"](images=tf.constant(pixels))
    expected = tf.nn.softmax(model(pixels / 255.0)).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-6)
    assert out["label"].numpy().tolist() == [str(int(expected.argmax())).encode()]


def test_mixed_precision_model_exports_float32_outputs(tmp_path):
    """A model trained with mixed_float16 still serves DT_FLOAT probabilities."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(4, 3)(inputs)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(x)
        model = keras.Model(inputs, outputs, name="mixed")
    finally:
        keras.config.set_dtype_policy(previous)
    path = export_model(model, base=tmp_path)
    assert describe_signatures(path)["serving_pixels"]["outputs"]["probabilities"] == ("DT_FLOAT", [-1, 3])
    loaded = tf.saved_model.load(str(path))
    pixels = random_pixels(8, 8, 1, seed=1).astype("float32")[None]
    out = loaded.signatures["serving_pixels"](images=tf.constant(pixels))
    np.testing.assert_allclose(out["probabilities"].numpy(), np.asarray(model(pixels / 255.0)), atol=1e-5)
