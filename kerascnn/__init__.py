"""kerascnn: build, train, export and serve convolutional networks with Keras 3.

Importing the package is cheap: TensorFlow and Keras load only when a function that needs
them is first used, so the CLI's ``--help`` stays fast.

Example:
    >>> import kerascnn
    >>> model = kerascnn.build("resnet20", num_classes=10)  # doctest: +SKIP
    >>> model = kerascnn.build("resnet50v2", weights="imagenet")  # doctest: +SKIP
    >>> "resnet50" in kerascnn.list_models()  # doctest: +SKIP
    True
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> "module:attribute", resolved on first access (PEP 562).
_LAZY = {
    "build": "kerascnn.weights:build",
    "list_models": "kerascnn.architectures:list_models",
    "get_model_info": "kerascnn.architectures:get_model_info",
    "load_data": "kerascnn.data:load_data",
    "TrainConfig": "kerascnn.train_config:TrainConfig",
    "load_model": "kerascnn.loading:load_model",
    "export_model": "kerascnn.export:export_model",
    "Client": "kerascnn.client:Client",
}
# Not here: train, evaluate, quickstart. They are also submodule names, and importing a
# submodule rebinds the package attribute to the module; use ``from kerascnn.train import train``.

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'kerascnn' has no attribute {name!r}")
    module_name, attr = target.split(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
