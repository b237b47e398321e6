"""kerascnn.visualize and `kerascnn visualize`: the pictures exist with the right grid, and the
numbers behind them are right."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from _gradcam_models import QUADRANTS, quadrant_model
from _precision import full_float32
from PIL import Image
from scipy.signal import correlate2d

from kerascnn import visualize as vis
from kerascnn.arithmetic import analyze
from kerascnn.errors import UsageError
from kerascnn.visualize.figure import tile_height_for
from kerascnn.visualize.inputs import model_input


@pytest.fixture(autouse=True, scope="module")
def _full_float32():
    """The comparisons here are float32-exact: no TF32 on GPUs that default to it."""
    with full_float32():
        yield


def _tiny_cnn(input_shape=(24, 24, 3), filters=10, classes=3, name="tiny"):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv2")(x)
    x = keras.layers.Activation("relu", name="relu2")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def _png_size(path):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.format, image.size


def _write_png(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def photo():
    """A real photograph (bundled with scikit-learn), 427x640 RGB."""
    return vis.load_image("sample:china")


# ----------------------------------------------------------------------------- classic kernels


@pytest.mark.parametrize("name", ["box blur", "gaussian blur"])
def test_blur_of_a_constant_image_is_that_constant(name):
    plane = np.full((12, 15), 173.0)
    kernel = vis.CLASSIC_KERNELS[name]
    pad = kernel.shape[0] // 2
    zero_padded = vis.apply_kernel(plane, kernel, padding="same")
    assert zero_padded.shape == plane.shape
    np.testing.assert_allclose(zero_padded[pad:-pad, pad:-pad], 173.0, rtol=1e-5)
    # Zero padding darkens the border (the kernel sums zeros there); mirroring does not.
    assert zero_padded[0, 0] < 173.0 - 1
    np.testing.assert_allclose(vis.apply_kernel(plane, kernel, padding="reflect"), 173.0, rtol=1e-5)


def test_sharpen_keeps_and_laplacian_zeroes_a_constant_image():
    plane = np.full((9, 9), 80.0)
    np.testing.assert_allclose(vis.apply_kernel(plane, vis.CLASSIC_KERNELS["sharpen"]), 80.0, rtol=1e-5)
    np.testing.assert_allclose(
        vis.apply_kernel(plane, vis.CLASSIC_KERNELS["laplacian edge"]), 0.0, atol=1e-4
    )


def test_sobel_of_a_vertical_edge_responds_on_the_edge_only():
    plane = np.zeros((10, 12))
    plane[:, 6:] = 255.0  # dark left half, bright right half: the edge lies between columns 5|6
    sobel_x = vis.apply_kernel(plane, vis.CLASSIC_KERNELS["sobel x"], padding="reflect")
    responding = np.flatnonzero(np.abs(sobel_x).max(axis=0) > 1e-3)
    assert responding.tolist() == [5, 6]
    # Cross-correlation (not flipped): brightness rising to the right gives a positive response.
    np.testing.assert_allclose(sobel_x[:, [5, 6]], 4 * 255.0, rtol=1e-5)
    np.testing.assert_allclose(
        vis.apply_kernel(plane, vis.CLASSIC_KERNELS["sobel y"], padding="reflect"), 0.0, atol=1e-3
    )
    # With Keras' zero 'same' padding only the image border adds responses; the interior agrees.
    zero_padded = vis.apply_kernel(plane, vis.CLASSIC_KERNELS["sobel x"], padding="same")
    np.testing.assert_allclose(zero_padded[1:-1, 1:-1], sobel_x[1:-1, 1:-1], atol=1e-3)


def test_apply_kernel_is_cross_correlation_with_zero_padding():
    rng = np.random.default_rng(0)
    plane, kernel = rng.normal(size=(7, 9)), rng.normal(size=(3, 3))
    expected = correlate2d(plane, kernel, mode="same", boundary="fill")
    np.testing.assert_allclose(vis.apply_kernel(plane, kernel, padding="same"), expected, atol=1e-4)
    valid = vis.apply_kernel(plane, kernel, padding="valid")
    np.testing.assert_allclose(valid, correlate2d(plane, kernel, mode="valid"), atol=1e-4)


def test_classic_kernels_picture_of_a_real_photo(tmp_path, photo):
    picture = vis.plot_classic_kernels(photo, out=tmp_path / "kernels.png", max_side=200)
    assert picture.grid == (2, 4)
    assert _png_size(picture.path) == ("PNG", picture.expected_size)
    assert "cross-correlation" in picture.title
    gray = picture.data["gray"]
    assert max(gray.shape) == 200
    assert set(picture.data["outputs"]) == set(vis.CLASSIC_KERNELS)
    blur = picture.data["outputs"]["box blur"]
    expected = correlate2d(np.pad(gray, 1, mode="reflect"), np.full((3, 3), 1 / 9), mode="valid")
    np.testing.assert_allclose(blur, expected, atol=1e-2)
    # Blurring smooths: neighbouring pixels differ less than in the photo itself.
    assert np.abs(np.diff(blur, axis=1)).mean() < np.abs(np.diff(gray, axis=1)).mean()


# ----------------------------------------------------------------------------- filters


def test_filter_grid_matches_the_kernel_count(tmp_path):
    model = _tiny_cnn(filters=10)
    picture = vis.plot_filters(model, out=tmp_path / "f.png")
    assert picture.data["layer"] == "conv1"  # the first conv by default
    assert picture.grid == (3, 4)  # 10 filters -> 4 columns, 3 rows
    assert _png_size(picture.path) == ("PNG", picture.expected_size)
    tiles = picture.data["tiles"]
    assert tiles.shape == (10, 3, 3, 3)  # first layer over RGB: colour tiles
    assert tiles.min() >= 0 and tiles.max() <= 1
    kernel = model.get_layer("conv1").get_weights()[0]
    np.testing.assert_array_equal(picture.data["kernel"], kernel)


def test_deeper_filters_are_means_over_input_channels_and_capped(tmp_path):
    model = _tiny_cnn(filters=10)
    picture = vis.plot_filters(model, "conv2", out=tmp_path / "f2.png", max_filters=4)
    assert picture.grid == (2, 2)
    assert _png_size(picture.path) == ("PNG", picture.expected_size)
    kernel = model.get_layer("conv2").get_weights()[0]  # (3, 3, 10, 6)
    np.testing.assert_allclose(picture.data["tiles"], kernel.mean(axis=2).transpose(2, 0, 1)[:4], atol=1e-6)
    assert "first 4" in picture.title


def test_filters_of_a_layer_that_is_not_a_conv_is_a_usage_error(tmp_path):
    model = _tiny_cnn()
    with pytest.raises(UsageError, match="not a conv layer"):
        vis.plot_filters(model, "pool1", out=tmp_path / "x.png")
    with pytest.raises(UsageError, match="did you mean 'conv2'"):
        vis.plot_filters(model, "conv3", out=tmp_path / "x.png")


# ----------------------------------------------------------------------------- feature maps


def test_feature_maps_are_the_layer_activations(tmp_path, photo):
    model = _tiny_cnn()
    picture = vis.plot_feature_maps(model, photo, "relu2", out=tmp_path / "maps.png")
    maps = picture.data["maps"]
    assert maps.shape == (12, 12, 6)
    assert picture.grid == (2, 3)
    assert _png_size(picture.path) == ("PNG", picture.expected_size)
    probe = keras.Model(model.inputs[0], model.get_layer("relu2").output)
    x = keras.ops.convert_to_numpy(model_input(model, photo))
    np.testing.assert_allclose(maps, np.asarray(probe(x))[0], atol=1e-5)
    # Receptive field in the title, from kerascnn.arithmetic: conv3 -> pool2 -> conv3 = 8 px.
    stats = {s.name: s for s in analyze(model)}
    assert stats["relu2"].receptive_field == (8, 8)
    assert picture.data["receptive_field"] == (8, 8)
    assert "output 12x12x6" in picture.title and "receptive field 8 px" in picture.title


def test_feature_maps_all_gives_one_sheet_per_stage(tmp_path, photo):
    model = _tiny_cnn()
    pictures = vis.plot_feature_maps(model, photo, "all", out=tmp_path / "stages")
    assert [p.data["layer"] for p in pictures] == ["conv1", "relu2", "pool2"]
    assert [p.data["maps"].shape[:2] for p in pictures] == [(24, 24), (12, 12), (6, 6)]
    fields = [p.data["receptive_field"] for p in pictures]
    assert fields == [(3, 3), (8, 8), (10, 10)]  # grows stage by stage
    for picture in pictures:
        assert picture.path.parent == tmp_path / "stages"
        assert _png_size(picture.path) == ("PNG", picture.expected_size)


def test_fully_convolutional_model_is_seen_at_the_image_size(tmp_path):
    """A None x None input: stages, shapes and receptive fields follow the actual image."""
    inputs = keras.Input((None, None, 1))
    x = keras.layers.Conv2D(3, 5, name="c1")(inputs)
    x = keras.layers.MaxPooling2D(name="p1")(x)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x), name="fcn")
    image = np.random.default_rng(3).integers(0, 255, size=(30, 40), dtype=np.uint8)
    pictures = vis.plot_feature_maps(model, image, "all", out=tmp_path)
    assert [p.data["maps"].shape for p in pictures] == [(26, 36, 3), (13, 18, 3), (11, 16, 4)]
    assert [p.data["receptive_field"] for p in pictures] == [(5, 5), (6, 6), (10, 10)]
    for picture in pictures:  # not square: the tiles follow the maps' aspect
        assert picture.tile_height != picture.tile_px
        assert _png_size(picture.path) == ("PNG", picture.expected_size)
    assert vis.gradcam(model, image)["heatmap"].shape == (30, 40)


# ----------------------------------------------------------------------------- Grad-CAM


@pytest.mark.parametrize("quadrant", QUADRANTS)
def test_gradcam_lights_the_only_quadrant_the_model_sees(tmp_path, quadrant):
    model = quadrant_model(quadrant)
    image = np.random.default_rng(7).integers(60, 255, size=(16, 16), dtype=np.uint8)
    path = _write_png(tmp_path / "noise.png", image)
    picture = vis.plot_gradcam(model, path, out=tmp_path / "cam.png")
    data = picture.data
    assert data["layer"] == "conv"  # the last conv layer, found automatically
    assert data["class_index"] == 0  # the positive evidence wins
    heat = data["heatmap"]
    assert heat.shape == (16, 16) and heat.max() == pytest.approx(1.0)
    r, c = quadrant
    inside = heat[r * 8 : r * 8 + 8, c * 8 : c * 8 + 8]
    assert inside.sum() / heat.sum() > 0.8  # the rest is the 1-pixel rim, checked next
    # Dark everywhere else, except the 1-pixel rim the 3x3 conv reaches from the quadrant.
    seen = np.zeros_like(heat, dtype=bool)
    seen[max(r * 8 - 1, 0) : r * 8 + 9, max(c * 8 - 1, 0) : c * 8 + 9] = True
    assert heat[~seen].max() < 1e-6
    assert picture.grid == (1, 3)
    assert _png_size(picture.path) == ("PNG", picture.expected_size)


def test_gradcam_for_a_class_with_only_negative_evidence_is_empty(tmp_path):
    model = quadrant_model((0, 0))
    image = np.full((16, 16), 200, np.uint8)
    result = vis.gradcam(model, image, class_index=1)
    assert result["class_index"] == 1
    assert result["heatmap"].max() == 0.0
    with pytest.raises(UsageError, match="out of range"):
        vis.gradcam(model, image, class_index=2)


def test_gradcam_skips_a_final_conv_with_a_1x1_map():
    """LeNet-5-like: the last conv (C5) maps 5x5 to 1x1, nothing to localise; use the one before."""
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(3, 3, activation="tanh", name="c1")(inputs)
    x = keras.layers.Conv2D(4, 3, name="c3")(x)
    x = keras.layers.Activation("tanh", name="c3_tanh")(x)
    x = keras.layers.AveragePooling2D(2, name="s4")(x)
    x = keras.layers.Conv2D(5, 4, activation="tanh", name="c5")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x), name="lenetish")
    result = vis.gradcam(model, np.random.default_rng(0).integers(0, 255, (12, 12), np.uint8))
    assert result["layer"] == "c3_tanh"
    assert result["cam"].shape == (8, 8)


def test_gradcam_of_a_model_without_classifier_is_a_usage_error():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs), name="headless")
    with pytest.raises(UsageError, match="needs a classifier"):
        vis.gradcam(model, np.zeros((8, 8), np.uint8))


def test_gradcam_picks_the_last_conv_stage_and_resizes_to_the_image(photo):
    model = _tiny_cnn()
    result = vis.gradcam(model, photo)
    assert result["layer"] == "relu2"  # the last conv's activation, before pooling coarsens it
    assert result["cam"].shape == (12, 12)
    assert result["heatmap"].shape == photo.shape[:2]
    assert 0 <= result["class_index"] < 3


# ----------------------------------------------------------------------------- padding


def test_padding_figure_numbers_match_keras_shapes(tmp_path):
    picture = vis.plot_padding(size=5, kernel_size=3, out=tmp_path / "padding.png")
    assert picture.grid == (2, 4)
    assert _png_size(picture.path) == ("PNG", picture.expected_size)
    cases = picture.data["cases"]
    assert [c.padding for c in cases[:4]] == ["valid", "same", "circular", "reflect"]
    x = np.zeros((1, 5, 5, 1), "float32")
    for case in cases:
        if case.padding in ("valid", "same"):
            layer = keras.layers.Conv2D(1, 3, strides=case.stride, dilation_rate=case.dilation,
                                        padding=case.padding)
            actual = layer(x).shape[1]
        else:  # circular/reflect: pad the wrapped/mirrored amounts, then a 'valid' conv
            padded = np.pad(x, [(0, 0), (case.before, case.after), (case.before, case.after),
                                (0, 0)], mode="wrap" if case.padding == "circular" else "reflect")
            actual = keras.layers.Conv2D(1, 3, strides=case.stride, padding="valid")(padded).shape[1]
        assert case.output == actual, case
    assert {c.label: c.output for c in cases}["valid, dilation 2"] == 1


@pytest.mark.parametrize("padding", ["valid", "same", "circular"])
def test_conv_matrix_figure_draws_the_matrices_keras_computes(tmp_path, padding):
    picture = vis.plot_conv_matrix(size=4, kernel_size=3, padding=padding,
                                   out=tmp_path / "matrix.png")
    assert picture.grid == (1, 2)
    assert _png_size(picture.path) == ("PNG", picture.expected_size)
    matrix = picture.data["2d"]
    x = np.random.default_rng(5).normal(size=(4, 4))
    conv = keras.layers.Conv2D(1, 3, padding="same" if padding == "same" else "valid",
                               use_bias=False)
    conv.build((1, 6, 6, 1))
    conv.set_weights([np.arange(1, 10, dtype="float32").reshape(3, 3, 1, 1)])
    source = np.pad(x, 1, mode="wrap") if padding == "circular" else x
    expected = np.asarray(conv(source[None, :, :, None].astype("float32"))).reshape(-1)
    np.testing.assert_allclose(matrix @ x.reshape(-1), expected, rtol=1e-5, atol=1e-5)
    # Weight sharing: each full row holds exactly the kernel's numbers 1..9.
    full_rows = [row[row != 0] for row in matrix if (row != 0).sum() == 9]
    assert full_rows and all(sorted(r) == list(range(1, 10)) for r in full_rows)


# ----------------------------------------------------------------------------- inputs and errors


def test_load_image_handles_modes_and_names_bad_files(tmp_path):
    rgba = _write_png(tmp_path / "rgba.png", np.zeros((4, 5, 4)))
    assert vis.load_image(rgba).shape == (4, 5, 3)
    gray = _write_png(tmp_path / "gray.png", np.zeros((4, 5)))
    assert vis.load_image(gray).shape == (4, 5, 1)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(UsageError, match="broken.png"):
        vis.load_image(broken)
    with pytest.raises(UsageError, match="not found"):
        vis.load_image(tmp_path / "missing.jpg")
    with pytest.raises(UsageError, match="did you mean 'china'"):
        vis.load_image("sample:chna")


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder laid out as training writes it: weights/best.keras + labels.txt."""
    run = tmp_path_factory.mktemp("runs") / "exp"
    (run / "weights").mkdir(parents=True)
    model = _tiny_cnn(input_shape=(20, 20, 1), filters=5, classes=3, name="tinygray")
    model.save(run / "weights" / "best.keras")
    (run / "labels.txt").write_text("cat\ndog\nbird\n")
    return run


def test_cli_kernels_and_padding(cli, tmp_path):
    proc = cli("visualize", "kernels", "sample:flower", "--max-side", "120", "--out",
               tmp_path / "k.png")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "k.png")
    shrunk_h, shrunk_w = 80, 120  # the 427x640 photo with its longer side at 120
    tile_h = tile_height_for(200, shrunk_h, shrunk_w)
    assert _png_size(tmp_path / "k.png") == ("PNG", (4 * 200, 2 * tile_h + vis.HEADER_PX))
    proc = cli("visualize", "padding", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / proc.stdout.strip()).is_file()
    proc = cli("visualize", "conv-matrix", "--padding", "circular", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "conv_matrix_circular.png"
    assert _png_size(tmp_path / "conv_matrix_circular.png") == ("PNG", (640, 320 + vis.HEADER_PX))


@pytest.mark.slow
def test_cli_filters_features_gradcam_on_a_run_folder(cli, run_folder, tmp_path):
    image = _write_png(tmp_path / "digit.png", np.tile(np.arange(0, 200, 10, dtype=np.uint8), (20, 1)))
    proc = cli("visualize", "filters", run_folder)
    assert proc.returncode == 0, proc.stderr
    written = run_folder / "visualize" / "filters_exp_first.png"
    assert proc.stdout.strip() == str(written)
    assert _png_size(written) == ("PNG", (3 * vis.TILE_PX, 2 * vis.TILE_PX + vis.HEADER_PX))

    proc = cli("visualize", "features", run_folder / "weights" / "best.keras", image,
               "--layer", "all", "--out", tmp_path / "stages")
    assert proc.returncode == 0, proc.stderr
    sheets = proc.stdout.split()
    assert [p.rsplit("/", 1)[-1] for p in sheets] == [
        "features_1_conv1.png", "features_2_relu2.png", "features_3_pool2.png"]
    assert all(_png_size(p)[0] == "PNG" for p in sheets)

    proc = cli("visualize", "gradcam", run_folder, image, "--class", "dog", "--out",
               tmp_path / "cam.png")
    assert proc.returncode == 0, proc.stderr
    assert "class 'dog' (index 1" in proc.stderr
    assert _png_size(tmp_path / "cam.png") == ("PNG", (3 * vis.TILE_PX, vis.TILE_PX + vis.HEADER_PX))


def test_cli_registered_model_name_has_random_weights(cli, tmp_path):
    proc = cli("visualize", "filters", "lenet5", "--out", tmp_path / "lenet.png")
    assert proc.returncode == 0, proc.stderr
    # LeNet-5's first conv: 6 filters of 5x5 over one gray channel -> a 2 x 3 grid.
    assert _png_size(tmp_path / "lenet.png") == (
        "PNG", (3 * vis.TILE_PX, 2 * vis.TILE_PX + vis.HEADER_PX))


def test_cli_bad_input_is_one_line_exit_2(cli, run_folder, tmp_path):
    proc = cli("visualize", "filters", run_folder, "--layer", "conv_1", "--out", tmp_path / "x.png")
    assert proc.returncode == 2
    assert "did you mean 'conv1'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("visualize", "kernels", tmp_path / "nope.png")
    assert proc.returncode == 2
    assert "nope.png" in proc.stderr and "Traceback" not in proc.stderr
