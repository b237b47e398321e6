"""A pretrained model used as it is (issue 12): ``predict --weights imagenet`` prints ImageNet
classes, ``export --weights imagenet`` writes a servable SavedModel whose in-graph
preprocessing is the weights' own, and ``summary --weights`` describes them, all offline.

The cache is seeded with what a download would have left there: torchvision's ResNet-18 with
random (seeded) values, written by torchvision in the Hub's safetensors form. torchvision is the
oracle: its own preprocessing (Resize 256, CenterCrop 224, Normalize) and network on the same
256x256 PNG must give the same probabilities.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from safetensors.torch import save_file

    from kerascnn.weights import find_source
    from kerascnn.weights.download import cache_path

    root = tmp_path_factory.mktemp("pretrained")
    env = {"KERASCNN_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1"}
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 1.5)
        reference.fc.weight.mul_(8.0)  # peaked probabilities, so top-5 order is meaningful
    source = find_source("resnet18", "imagenet")
    import os

    old = os.environ.get("KERASCNN_CACHE")
    os.environ["KERASCNN_CACHE"] = env["KERASCNN_CACHE"]
    try:
        target = cache_path(source)
    finally:
        if old is None:
            del os.environ["KERASCNN_CACHE"]
        else:
            os.environ["KERASCNN_CACHE"] = old
    target.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, target)
    rng = np.random.default_rng(0)
    pixels = (rng.random((256, 256, 3)) * 255).astype(np.uint8)
    photo = root / "photo.png"
    Image.fromarray(pixels).save(photo)
    return root, env, reference, photo


def _reference_probabilities(reference, photo) -> np.ndarray:
    from torchvision import transforms

    prepare = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])
    with torch.no_grad():
        logits = reference(prepare(Image.open(photo).convert("RGB"))[None])
    return torch.softmax(logits, dim=-1)[0].numpy()


def test_predict_with_imagenet_weights_prints_imagenet_classes(seeded, cli):
    from kerascnn.weights import imagenet_class_names

    root, env, reference, photo = seeded
    proc = cli("predict", photo, "--model", "resnet18", "--weights", "imagenet", "--json",
               "--top-k", "5", env=env)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.splitlines()[0])
    expected = _reference_probabilities(reference, photo)
    names = imagenet_class_names()
    top5 = np.argsort(-expected)[:5]
    shown = [(row["label"], row["probability"]) for row in answer["top_k"]]
    assert [label for label, _ in shown] == [names[i] for i in top5]
    np.testing.assert_allclose([p for _, p in shown], expected[top5], atol=1e-4)


def test_export_with_imagenet_weights_serves_the_reference(seeded, cli, tmp_path):
    import tensorflow as tf

    from kerascnn.export import read_metadata

    root, env, reference, photo = seeded
    proc = cli("export", "resnet18", "--weights", "imagenet", "--name", "r18", "--base",
               tmp_path, "--no-gradcam", env=env)
    assert proc.returncode == 0, proc.stderr
    version = tmp_path / "r18" / "1"
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    out = served(image_bytes=tf.constant([photo.read_bytes()]))
    expected = _reference_probabilities(reference, photo)
    np.testing.assert_allclose(out["probabilities"].numpy()[0], expected, atol=1e-4)
    assert out["label"].numpy()[0].decode() == _imagenet_name(int(np.argmax(expected)))
    metadata = read_metadata(version)
    assert metadata["input_spec"]["name"] == "torchvision"
    assert metadata["pretrained"]["tag"] == "tv_in1k"
    assert metadata["pretrained"]["hub_repo"] == "timm/resnet18.tv_in1k"
    assert len(metadata["class_names"]) == 1000


def _imagenet_name(index: int) -> str:
    from kerascnn.weights import imagenet_class_names

    return imagenet_class_names()[index]


def test_summary_describes_weights_without_downloading(cli, tmp_path):
    proc = cli("summary", "vgg16", "--weights", "imagenet", "--classes", "5",
               env={"KERASCNN_CACHE": str(tmp_path / "empty")})
    assert proc.returncode == 0, proc.stderr
    assert "Weights: keras (keras layout), vgg16_weights_tf_dim_ordering_tf_kernels.h5" in proc.stdout
    assert "md5 64373286793e3c8b2b4e3219cbf3544b" in proc.stdout
    assert "head: fresh" in proc.stdout and "input: caffe (BGR)" in proc.stdout
    assert not (tmp_path / "empty").exists()


def test_offline_without_the_file_is_one_line_that_says_what_to_do(cli, tmp_path):
    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 40), (10, 200, 30)).save(photo)
    env = {"KERASCNN_CACHE": str(tmp_path / "cache"), "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_HUB_OFFLINE": "0"}
    proc = cli("predict", photo, "--model", "resnet18", "--weights", "imagenet", env=env)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "model.safetensors" in lines[0] and "--weights PATH" in lines[0]
    assert re.search(r"http://127\.0\.0\.1:9/\S+", lines[0]), lines[0]
    assert not list((tmp_path / "cache").rglob("*.safetensors"))


def test_visualize_gradcam_with_imagenet_weights_names_an_imagenet_class(seeded, cli, tmp_path):
    root, env, reference, photo = seeded
    out = tmp_path / "cam.png"
    proc = cli("visualize", "gradcam", "resnet18", photo, "--weights", "imagenet", "--out", out,
               env=env)
    assert proc.returncode == 0, proc.stderr
    expected = int(np.argmax(_reference_probabilities(reference, photo)))
    assert f"class {_imagenet_name(expected)!r} (index {expected}," in proc.stderr
    assert Image.open(out).format == "PNG"
