"""Where pretrained weights come from: one table row per (model, tag).

A :class:`WeightSource` names the file (its URL and hash), its layout ("keras": an HDF5 file
as keras.applications writes it; "torchvision": a state dict in torchvision/timm key names),
the license and published ImageNet top-1 accuracy, and the :class:`~kerascnn.preprocessing.
InputSpec` the weights were trained with. ``find_source(model, "imagenet")`` picks the model's
*first* row, so each model's default is the one listed first.

Keras rows are the files keras.applications itself downloads (same URL, same file name, the
md5 hash keras declares; MobileNet v1/v2 are published without one, so only their layout is
checked). MobileNetV3: keras' model has the input rescaling *inside* (``include_preprocessing=
True``); kerascnn's builder leaves it out like every other model, so the row's InputSpec is
"tf" ([-1, 1]), which equals keras' built-in ``Rescaling(1/127.5, offset=-1)``.

Licenses are those the publishers state (check before commercial use). ``top1`` is the
publisher's single-crop ImageNet validation top-1 in percent (keras-applications' README; keras.
io for ResNetV2; the MobileNetV3 docstring for v3).

Example:
    >>> from kerascnn.weights.sources import find_source
    >>> source = find_source("vgg16", "imagenet")
    >>> source.tag, source.layout, source.input_spec.name
    ('keras', 'keras', 'caffe')
"""

from __future__ import annotations

import dataclasses

from kerascnn.errors import UsageError, unknown_name
from kerascnn.preprocessing import CAFFE, INCEPTION, TF, TORCH, InputSpec

DEFAULT_TAG = "imagenet"
LAYOUTS = ("keras", "torchvision")


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """One published weights file for one model.

    ``sha256`` / ``md5``: the file's hash (hex) where the publisher declares one (keras
    declares md5); a downloaded file that does not match is discarded. ``build_overrides``:
    extra arguments to :func:`kerascnn.architectures.build` so the layout computes what the
    weights were trained for (e.g. batch-norm epsilon). ``hub_repo``: a Hugging Face Hub repo
    the file is fetched from (with ``huggingface_hub``) instead of ``url``.

    Example:
        >>> find_source("densenet121").record()["file_name"]
        'densenet121_weights_tf_dim_ordering_tf_kernels.h5'
    """

    model: str
    tag: str
    layout: str
    file_name: str
    url: str
    license: str
    top1: float | None
    input_spec: InputSpec
    sha256: str | None = None
    md5: str | None = None
    num_classes: int = 1000
    build_overrides: dict = dataclasses.field(default_factory=dict, hash=False)
    hub_repo: str | None = None

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise unknown_name("weights layout", str(self.layout), LAYOUTS)

    @property
    def file_hash(self) -> str | None:
        """The strongest hash declared (sha256, else md5), or None."""
        return self.sha256 or self.md5

    def record(self) -> dict:
        """What a run folder or export records about these weights (JSON-able).

        Example:
            >>> find_source("vgg16").record()["input_spec"]["channel_order"]
            'bgr'
        """
        return {
            "model": self.model,
            "tag": self.tag,
            "layout": self.layout,
            "file_name": self.file_name,
            "url": self.url,
            "hub_repo": self.hub_repo,
            "sha256": self.sha256,
            "md5": self.md5,
            "license": self.license,
            "top1": self.top1,
            "num_classes": self.num_classes,
            "input_spec": self.input_spec.to_dict(),
            "build_overrides": dict(self.build_overrides),
        }


KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
KERAS_LICENSE_VGG = "CC-BY-4.0 (weights by the Visual Geometry Group, Oxford)"
KERAS_LICENSE_TF_SLIM = "Apache-2.0 (TensorFlow models)"
KERAS_LICENSE_DENSENET = "BSD-3-Clause (ported from liuzhuang13/DenseNet's Torch models)"
KERAS_LICENSE_KERAS = "MIT (keras-applications)"


def _keras(model, folder, file_name, *, md5, top1, spec, license) -> WeightSource:
    return WeightSource(
        model=model,
        tag="keras",
        layout="keras",
        file_name=file_name,
        url=f"{KERAS_BASE}{folder}/{file_name}",
        md5=md5,
        license=license,
        top1=top1,
        input_spec=spec,
    )


SOURCES: list[WeightSource] = [
    # fmt: off
    _keras("vgg16", "vgg16", "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
           md5="64373286793e3c8b2b4e3219cbf3544b", top1=71.268, spec=CAFFE, license=KERAS_LICENSE_VGG),
    _keras("vgg19", "vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
           md5="cbe5617147190e668d6c5d5026f83318", top1=71.256, spec=CAFFE, license=KERAS_LICENSE_VGG),
    _keras("resnet50v2", "resnet", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5",
           md5="3ef43a0b657b3be2300d5770ece849e0", top1=76.0, spec=TF, license=KERAS_LICENSE_KERAS),
    _keras("resnet101v2", "resnet", "resnet101v2_weights_tf_dim_ordering_tf_kernels.h5",
           md5="6343647c601c52e1368623803854d971", top1=77.2, spec=TF, license=KERAS_LICENSE_KERAS),
    _keras("resnet152v2", "resnet", "resnet152v2_weights_tf_dim_ordering_tf_kernels.h5",
           md5="a49b44d1979771252814e80f8ec446f9", top1=78.0, spec=TF, license=KERAS_LICENSE_KERAS),
    _keras("densenet121", "densenet", "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
           md5="9d60b8095a5708f2dcce2bca79d332c7", top1=74.520, spec=TORCH, license=KERAS_LICENSE_DENSENET),
    _keras("densenet169", "densenet", "densenet169_weights_tf_dim_ordering_tf_kernels.h5",
           md5="d699b8f76981ab1b30698df4c175e90b", top1=76.074, spec=TORCH, license=KERAS_LICENSE_DENSENET),
    _keras("densenet201", "densenet", "densenet201_weights_tf_dim_ordering_tf_kernels.h5",
           md5="1ceb130c1ea1b78c3bf6114dbdfd8807", top1=77.064, spec=TORCH, license=KERAS_LICENSE_DENSENET),
    _keras("mobilenet", "mobilenet", "mobilenet_1_0_224_tf.h5",
           md5=None, top1=70.424, spec=TF, license=KERAS_LICENSE_TF_SLIM),
    _keras("mobilenet_v2", "mobilenet_v2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
           md5=None, top1=71.336, spec=TF, license=KERAS_LICENSE_TF_SLIM),
    _keras("mobilenet_v3_small", "mobilenet_v3", "weights_mobilenet_v3_small_224_1.0_float.h5",
           md5="8768d4c2e7dee89b9d02b2d03d65d862", top1=68.1, spec=TF, license=KERAS_LICENSE_TF_SLIM),
    _keras("mobilenet_v3_large", "mobilenet_v3", "weights_mobilenet_v3_large_224_1.0_float.h5",
           md5="59e551e166be033d707958cf9e29a6a7", top1=75.6, spec=TF, license=KERAS_LICENSE_TF_SLIM),
    _keras("inception_v3", "inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
           md5="9a0d58056eeedaa3f26cb7ebd46da564", top1=77.898, spec=INCEPTION, license=KERAS_LICENSE_TF_SLIM),
    # fmt: on
]


def sources_for(model: str) -> list[WeightSource]:
    """Every row for ``model``, its default (``"imagenet"``) first.

    Example:
        >>> [s.tag for s in sources_for("vgg16")][:1]
        ['keras']
    """
    return [source for source in SOURCES if source.model == model]


def models_with_weights() -> list[str]:
    """Model names that have at least one weights row, in table order.

    Example:
        >>> "inception_v3" in models_with_weights()
        True
    """
    return list(dict.fromkeys(source.model for source in SOURCES))


def find_source(model: str, tag: str = DEFAULT_TAG) -> WeightSource:
    """The row for ``model`` and ``tag`` (``"imagenet"``: the model's first row).

    Unknown models or tags raise a one-line UsageError with a suggestion.

    Example:
        >>> find_source("inception_v3").input_spec.name
        'inception'
        >>> find_source("vgg16", "kears")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        kerascnn.errors.UsageError: vgg16: unknown weights tag 'kears' (did you mean 'keras'?)
    """
    rows = sources_for(model)
    if not rows:
        from kerascnn.architectures import list_models

        models = models_with_weights()
        if model in list_models():
            raise UsageError(f"{model} has no pretrained weights; models with weights: {', '.join(models)}")
        error = unknown_name("model with pretrained weights", str(model), models)
        raise UsageError(f"{error}; models with weights: {', '.join(models)}")
    if tag == DEFAULT_TAG:
        return rows[0]
    for row in rows:
        if row.tag == tag:
            return row
    error = unknown_name("weights tag", str(tag), [row.tag for row in rows] + [DEFAULT_TAG])
    raise UsageError(f"{model}: {error}")


# ---------------------------------------------------------------------------------------------
# torchvision-layout rows (H4): appended below this line.
# ---------------------------------------------------------------------------------------------
# torchvision's ImageNet weights, in torchvision / timm key names (kerascnn.weights.torch_layout
# converts them). Where timm republished them as safetensors on the Hugging Face Hub
# (timm/<model>.tv_in1k, and .tv2_in1k for torchvision's better "V2" recipe) that file is the
# source: no PyTorch needed. GoogLeNet and AlexNet are only on download.pytorch.org as .pth
# files (read when PyTorch is installed); the 8 hex digits in those names are the start of the
# file's sha256, which is all torchvision publishes of it. top1: torchvision's documented
# ImageNet-1K acc@1 (timm's tv_in1k files hold the same tensors). The hub files' hashes are not
# published in the table here: huggingface_hub fetches them by revision.
TORCHVISION = InputSpec.from_dict("torchvision")  # resize 256, crop 224, ImageNet mean/std
TORCHVISION_V2 = dataclasses.replace(TORCHVISION, name="torchvision_v2", resize_shorter=232)
# torchvision's pretrained GoogLeNet rescales its ImageNet-normalised input to
# (pixel - 0.5) / 0.5 inside the model (transform_input=True); kerascnn's GoogLeNet has no such
# layer, so its input spec gives the first conv those same numbers directly.
GOOGLENET_INPUT = dataclasses.replace(
    TORCHVISION, name="torchvision_googlenet", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
)
TORCHVISION_LICENSE = "BSD-3-Clause (torchvision)"
TIMM_DENSENET_LICENSE = "Apache-2.0 (timm's model card; torchvision's weights)"
# torchvision trained DenseNet with batch-norm epsilon 1e-5; the builder defaults to Keras' 1.001e-5.
TORCH_DENSENET = {"bn_epsilon": 1e-5}
HUB_BASE = "https://huggingface.co/"
TORCH_BASE = "https://download.pytorch.org/models/"


def _timm(model, tag, *, top1, spec=TORCHVISION, license=TORCHVISION_LICENSE, overrides=None):
    repo = f"timm/{model}.{tag}"
    return WeightSource(
        model=model,
        tag=tag,
        layout="torchvision",
        file_name="model.safetensors",
        url=f"{HUB_BASE}{repo}/resolve/main/model.safetensors",
        license=license,
        top1=top1,
        input_spec=spec,
        build_overrides=dict(overrides or {}),
        hub_repo=repo,
    )


def _torch_pth(model, file_name, *, top1, spec=TORCHVISION) -> WeightSource:
    return WeightSource(
        model=model,
        tag="tv_in1k",
        layout="torchvision",
        file_name=file_name,
        url=f"{TORCH_BASE}{file_name}",
        license=TORCHVISION_LICENSE,
        top1=top1,
        input_spec=spec,
    )


# Each model's first row is its "imagenet" default: torchvision's own default (V2 where it has
# one), after any Keras row listed above.
SOURCES += [
    # fmt: off
    _timm("resnet18", "tv_in1k", top1=69.758),
    _timm("resnet34", "tv_in1k", top1=73.314),
    _timm("resnet50", "tv2_in1k", top1=80.858, spec=TORCHVISION_V2),
    _timm("resnet50", "tv_in1k", top1=76.13),
    _timm("resnet101", "tv2_in1k", top1=81.886, spec=TORCHVISION_V2),
    _timm("resnet101", "tv_in1k", top1=77.374),
    _timm("resnet152", "tv2_in1k", top1=82.284, spec=TORCHVISION_V2),
    _timm("resnet152", "tv_in1k", top1=78.312),
    _timm("resnext50_32x4d", "tv2_in1k", top1=81.198, spec=TORCHVISION_V2),
    _timm("resnext50_32x4d", "tv_in1k", top1=77.618),
    _timm("wide_resnet50_2", "tv2_in1k", top1=81.602, spec=TORCHVISION_V2),
    _timm("wide_resnet50_2", "tv_in1k", top1=78.468),
    _timm("vgg11", "tv_in1k", top1=69.02),
    _timm("vgg11_bn", "tv_in1k", top1=70.37),
    _timm("vgg13", "tv_in1k", top1=69.928),
    _timm("vgg13_bn", "tv_in1k", top1=71.586),
    _timm("vgg16", "tv_in1k", top1=71.592),
    _timm("vgg16_bn", "tv_in1k", top1=73.36),
    _timm("vgg19", "tv_in1k", top1=72.376),
    _timm("vgg19_bn", "tv_in1k", top1=74.218),
    _timm("densenet121", "tv_in1k", top1=74.434, license=TIMM_DENSENET_LICENSE, overrides=TORCH_DENSENET),
    _timm("densenet169", "tv_in1k", top1=75.6, license=TIMM_DENSENET_LICENSE, overrides=TORCH_DENSENET),
    _timm("densenet201", "tv_in1k", top1=76.896, license=TIMM_DENSENET_LICENSE, overrides=TORCH_DENSENET),
    _torch_pth("googlenet", "googlenet-1378be20.pth", top1=69.778, spec=GOOGLENET_INPUT),
    _torch_pth("alexnet", "alexnet-owt-7be5be79.pth", top1=56.522),
    # fmt: on
]
