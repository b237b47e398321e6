"""``Client.call_signature``: any named signature of an export, on every transport, with one
meaning: NumPy arrays in, {output name: NumPy array} out, strings as bytes.

Oracle: the SavedModel's own signature functions from ``tf.saved_model.load`` in this process;
the local transport, a real ``kerascnn serve`` over REST and over gRPC must answer the same.
(``tests/test_gradcam_signature.py`` covers ``serving_gradcam`` through it.)
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from _export_utils import encode, random_pixels

from kerascnn.client import Client, MissingSignature, ServerError
from kerascnn.contract import (
    CLASS_ID,
    CLASS_NAMES_SIGNATURE,
    DEFAULT_SIGNATURE,
    IMAGE_BYTES_INPUT,
    LABEL_OUTPUT,
    PIXELS_INPUT,
    PIXELS_SIGNATURE,
    PROBABILITIES_OUTPUT,
)
from kerascnn.export import export_model

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def plain_export(keras_file, tmp_path_factory):
    """The tiny model without ``serving_gradcam`` (``kerascnn export --no-gradcam``)."""
    return export_model(keras_file, base=tmp_path_factory.mktemp("plain"), name="plain",
                        gradcam=False)


@pytest.fixture(scope="module")
def clients(serve, exported, plain_export, tmp_path_factory):
    """{transport: (client of ``shapes``, client of ``plain``)} over one real server."""
    config = tmp_path_factory.mktemp("config") / "models.config"
    config.write_text(
        "model_config_list { "
        f'config {{ name: "shapes" base_path: "{exported.parent}" }} '
        f'config {{ name: "plain" base_path: "{plain_export.parent}" }} }}\n'
    )
    server = serve(model_config_file=config)
    grpc = f"grpc://{server.grpc_target}"
    return {
        "local": (Client(exported), Client(plain_export)),
        "rest": (Client(server.rest_url, model_name="shapes"),
                 Client(server.rest_url, model_name="plain")),
        "grpc": (Client(grpc, model_name="shapes"), Client(grpc, model_name="plain")),
    }


@pytest.fixture(scope="module")
def reference(exported):
    """The export's signatures, loaded in this process."""
    return tf.saved_model.load(str(exported)).signatures


def test_every_transport_answers_a_many_output_signature_as_the_savedmodel(clients, reference):
    pngs = np.array([encode(random_pixels(32, 32, seed=s)) for s in (1, 2, 3)], dtype=object)
    expected = reference[DEFAULT_SIGNATURE](**{IMAGE_BYTES_INPUT: tf.constant(pngs)})
    for kind, (client, _) in clients.items():
        out = client.call_signature(DEFAULT_SIGNATURE, {IMAGE_BYTES_INPUT: pngs})
        assert set(out) == set(expected), kind
        np.testing.assert_allclose(out[PROBABILITIES_OUTPUT],
                                   expected[PROBABILITIES_OUTPUT].numpy(), atol=TOLERANCE)
        assert out[CLASS_ID].tolist() == expected[CLASS_ID].numpy().tolist(), kind
        assert out[LABEL_OUTPUT].dtype == object, kind
        assert out[LABEL_OUTPUT].tolist() == expected[LABEL_OUTPUT].numpy().tolist(), kind


def test_a_lone_output_keeps_its_name_on_every_transport(clients, reference):
    """TF Serving's REST API leaves out the name of a signature's only output
    (``{"outputs": [...]}``); the client puts it back from the model's metadata."""
    ids = np.array([2, 0, 1], "int64")
    expected = reference[CLASS_NAMES_SIGNATURE](**{CLASS_ID: tf.constant(ids)})[LABEL_OUTPUT]
    for kind, (client, _) in clients.items():
        out = client.call_signature(CLASS_NAMES_SIGNATURE, {CLASS_ID: ids})
        assert list(out) == [LABEL_OUTPUT], kind
        assert out[LABEL_OUTPUT].tolist() == expected.numpy().tolist(), kind


def test_pixel_signature_through_every_transport(clients, reference):
    pixels = np.stack([random_pixels(16, 16, seed=s) for s in (4, 5)]).astype("float32")
    expected = reference[PIXELS_SIGNATURE](**{PIXELS_INPUT: tf.constant(pixels)})
    for kind, (client, _) in clients.items():
        out = client.call_signature(PIXELS_SIGNATURE, {PIXELS_INPUT: pixels})
        np.testing.assert_allclose(out[PROBABILITIES_OUTPUT],
                                   expected[PROBABILITIES_OUTPUT].numpy(), atol=TOLERANCE,
                                   err_msg=kind)


def test_a_missing_signature_and_a_refused_input_are_one_line_errors(clients):
    png = np.array([encode(random_pixels(32, 32, seed=6))], dtype=object)
    for kind, (client, plain) in clients.items():
        with pytest.raises(MissingSignature) as missing:
            plain.call_signature("serving_gradcam", {IMAGE_BYTES_INPUT: png,
                                                     CLASS_ID: np.array([-1], "int64")})
        assert missing.value.signature == "serving_gradcam", kind
        assert "serving_gradcam" in str(missing.value) and "\n" not in str(missing.value), kind
        junk = np.array([b"not an image at all"], dtype=object)
        with pytest.raises(ServerError, match=r"image_bytes\[0\]") as refused:
            client.call_signature(DEFAULT_SIGNATURE, {IMAGE_BYTES_INPUT: junk})
        assert not isinstance(refused.value, MissingSignature), kind
