"""The model zoo: a registry of CNN architectures with their published sizes.

``build(name, ...)`` makes a ``keras.Model`` (random weights); ``list_models()`` names them;
``get_model_info(name)`` gives the reference, expected parameter count, MACs and minimum input
size; ``register`` adds your own; ``stage_outputs(model)`` / ``feature_extractor(name)`` expose
the per-stage feature maps; ``save_model`` wraps ``model.save`` with headroom
for very deep graphs (:func:`kerascnn.loading.load_model` reads them back).

Families: LeNet-5, AlexNet, VGG-11/13/16/19 (± batch norm), ResNet-18/34/50/101/152 (v1.5),
ResNet50V2/101V2/152V2, ResNeXt-50 32×4d, Wide ResNet-50-2, CIFAR ResNet-20/32/44/56/110,
DenseNet-121/169/201, GoogLeNet, Inception v3, MobileNet v1/v2/v3-small/v3-large.

Example:
    >>> from kerascnn.architectures import build, get_model_info
    >>> model = build("resnet20")  # doctest: +SKIP
    >>> sum(int(w.numpy().size) for w in model.trainable_weights) == get_model_info("resnet20").params  # doctest: +SKIP
    True
"""

# Importing a family module registers its models.
from kerascnn.architectures import alexnet, densenet, inception, lenet, mobilenet, resnet, vgg  # noqa: E402,F401,I001
from kerascnn.architectures._registry import (
    ModelInfo,
    build,
    feature_extractor,
    get_model_info,
    list_models,
    min_input_size,
    output_size,
    recursion_headroom,
    register,
    save_model,
    stage_outputs,
)

__all__ = [
    "ModelInfo",
    "build",
    "feature_extractor",
    "get_model_info",
    "list_models",
    "min_input_size",
    "output_size",
    "recursion_headroom",
    "register",
    "save_model",
    "stage_outputs",
]
