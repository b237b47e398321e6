"""Seeing inside a CNN: filters, feature maps, Grad-CAM, classic kernels and padding, as PNGs.

Every ``plot_*`` function writes one PNG (matplotlib's Agg backend, no display needed) and
returns a :class:`Picture`: the path, the tile grid it drew, and the numbers behind the picture
so they can be checked (tests do) or reused.

``model`` arguments accept a ``keras.Model``, a run folder, a ``.keras`` file, or a registered
model name (random weights); ``image`` arguments accept a path, raw bytes, or a ``[H, W, C]``
0-255 array.

One module per figure, on two shared ones:

* :mod:`.figure` — pixel-exact layout, PNG writing, :class:`Picture`;
* :mod:`.inputs` — images (through :func:`kerascnn.images.load_image`) and models (through
  :func:`kerascnn.loading.load_keras_model`), and the layers a figure can show;
* :mod:`.kernels` — classic kernels on a photo; :mod:`.filters` — learned kernels;
  :mod:`.featuremaps` — activations per layer or stage; :mod:`.grad_cam` — Grad-CAM;
  :mod:`.padding` — padding, stride and dilation; :mod:`.convmatrix` — a conv as a matrix;
  :mod:`.savings` — what 1x1 bottlenecks and depthwise separation save in weights and MACs.

(``featuremaps`` and ``grad_cam`` are not named ``feature_maps`` / ``gradcam`` because those are
the functions ``kerascnn.visualize.feature_maps`` and ``kerascnn.visualize.gradcam``; a submodule
of the same name would shadow them.)

This ``__init__`` keeps every public name importable as ``kerascnn.visualize.X``. Importing it
does not import TensorFlow or Keras; drawing does.

Example:
    >>> from kerascnn import visualize
    >>> pic = visualize.plot_classic_kernels("photo.jpg", out="kernels.png")  # doctest: +SKIP
    >>> pic.path, pic.grid  # doctest: +SKIP
    (PosixPath('kernels.png'), (2, 4))
"""

from __future__ import annotations

from kerascnn.visualize.convmatrix import plot_conv_matrix
from kerascnn.visualize.featuremaps import feature_maps, plot_feature_maps, stage_layers
from kerascnn.visualize.figure import DPI, HEADER_PX, MAX_TILES, TILE_PX, Picture
from kerascnn.visualize.filters import plot_filters
from kerascnn.visualize.grad_cam import gradcam, plot_gradcam
from kerascnn.visualize.inputs import SAMPLE_PREFIX, load_image, sample_image_path
from kerascnn.visualize.kernels import CLASSIC_KERNELS, apply_kernel, plot_classic_kernels
from kerascnn.visualize.padding import PaddingCase, padding_cases, plot_padding
from kerascnn.visualize.savings import ConvDesign, ConvStep, conv_designs, plot_savings

__all__ = [
    "CLASSIC_KERNELS",
    "ConvDesign",
    "ConvStep",
    "DPI",
    "HEADER_PX",
    "MAX_TILES",
    "SAMPLE_PREFIX",
    "TILE_PX",
    "PaddingCase",
    "Picture",
    "apply_kernel",
    "conv_designs",
    "feature_maps",
    "gradcam",
    "load_image",
    "padding_cases",
    "plot_classic_kernels",
    "plot_conv_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_gradcam",
    "plot_padding",
    "plot_savings",
    "sample_image_path",
    "stage_layers",
]
