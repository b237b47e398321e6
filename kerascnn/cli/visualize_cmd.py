"""``kerascnn visualize``: look inside a model; every subcommand writes a PNG and prints its path.

MODEL is a run folder, a ``.keras`` file, or a registered model name (random weights). IMAGE is
an image file, or ``sample:china`` / ``sample:flower`` for the photos bundled with scikit-learn.
Without ``--out`` pictures go to ``RUN/visualize/`` for a run folder, else the current folder.

Example:
    $ kerascnn visualize kernels sample:china
    $ kerascnn visualize filters runs/exp --layer conv1
    $ kerascnn visualize features runs/exp digit.png --layer all
    $ kerascnn visualize gradcam runs/exp digit.png --class 7
    $ kerascnn visualize padding
    $ kerascnn visualize conv-matrix --padding circular
    $ kerascnn visualize savings --channels 256 --out savings.png
"""

from __future__ import annotations

from pathlib import Path

import click

from kerascnn.cli.common import device_option, weights_option


def _default_out(model: str | None, name: str) -> str:
    """Inside a run folder's ``visualize/`` when MODEL is one, else in the current folder."""
    if model and Path(model).is_dir():
        return str(Path(model) / "visualize" / name)
    return name


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))


def _model_label(model: str) -> str:
    path = Path(model)
    if path.is_dir():
        return _safe(path.resolve().name)
    if path.suffix == ".keras":
        return _safe(path.stem)
    return _safe(model)


def _model(model: str, weights):
    """MODEL as given, or with --weights the pretrained build of that registered name (its
    labels and input spec come along)."""
    if weights is None:
        return model
    from kerascnn.loading import load_keras_model

    return load_keras_model(model, weights=weights)


OUT = click.option(
    "--out", "-o", type=click.Path(dir_okay=True), default=None,
    help="PNG to write (a folder for 'features --layer all').",
)


@click.group()
def visualize():
    """Filters, feature maps, Grad-CAM, classic kernels, padding, conv-as-matrix and the
    savings of 1x1 / depthwise convolutions, as PNGs."""


@visualize.command()
@click.argument("model")
@click.option("--layer", "-l", default=None, help="Conv layer name or index (default: the first conv).")
@click.option("--max", "max_filters", type=click.IntRange(min=1), default=64, show_default=True,
              help="Draw at most this many filters.")
@weights_option
@device_option
@OUT
def filters(model, layer, max_filters, out, weights):
    """The learned kernels of a conv layer as a grid (first layer in colour)."""
    from kerascnn.visualize import plot_filters

    out = out or _default_out(model, f"filters_{_model_label(model)}_{_safe(layer or 'first')}.png")
    click.echo(plot_filters(_model(model, weights), layer, out=out, max_filters=max_filters).path)


@visualize.command()
@click.argument("model")
@click.argument("image")
@click.option("--layer", "-l", default=None,
              help="Layer name or index, or 'all' for one sheet per stage (default: first conv).")
@click.option("--max", "max_maps", type=click.IntRange(min=1), default=64, show_default=True,
              help="Draw at most this many feature maps per sheet.")
@weights_option
@device_option
@OUT
def features(model, image, layer, max_maps, out, weights):
    """The feature maps IMAGE produces at a layer, with output shape and receptive field."""
    from kerascnn.visualize import plot_feature_maps

    label = _model_label(model)
    if layer == "all":
        out = out or _default_out(model, f"features_{label}")
    else:
        out = out or _default_out(model, f"features_{label}_{_safe(layer or 'first')}.png")
    result = plot_feature_maps(_model(model, weights), image, layer, out=out, max_maps=max_maps)
    for picture in result if isinstance(result, list) else [result]:
        click.echo(picture.path)


@visualize.command()
@click.argument("model")
@click.argument("image")
@click.option("--class", "-c", "class_", default=None,
              help="Class index or name to explain (default: the predicted class).")
@click.option("--layer", "-l", default=None, help="Feature-map layer (default: the last conv's).")
@weights_option
@device_option
@OUT
def gradcam(model, image, class_, layer, out, weights):
    """Grad-CAM heatmap over IMAGE for the predicted (or given) class."""
    from kerascnn.visualize import plot_gradcam

    out = out or _default_out(model, f"gradcam_{_model_label(model)}_{_safe(Path(image).stem)}.png")
    picture = plot_gradcam(_model(model, weights), image, class_, layer=layer, out=out)
    data = picture.data
    click.echo(f"class {data['class_name']!r} (index {data['class_index']}, "
               f"p={float(data['probabilities'][data['class_index']]):.3f}) at layer {data['layer']}",
               err=True)
    click.echo(picture.path)


@visualize.command()
@click.argument("image")
@click.option("--padding", type=click.Choice(["reflect", "same", "valid"]), default="reflect",
              show_default=True, help="Border handling: mirror, zeros (Keras 'same'), or shrink.")
@click.option("--max-side", type=click.IntRange(min=8), default=320, show_default=True,
              help="Shrink the image so its longer side is at most this.")
@OUT
def kernels(image, padding, max_side, out):
    """Box/Gaussian blur, sharpen, Laplacian and Sobel x/y applied to IMAGE with a Keras Conv2D."""
    from kerascnn.visualize import plot_classic_kernels

    out = out or f"kernels_{_safe(Path(image).stem.replace('sample:', ''))}.png"
    click.echo(plot_classic_kernels(image, out=out, max_side=max_side, padding=padding).path)


@visualize.command()
@click.option("--size", type=click.IntRange(2, 12), default=5, show_default=True,
              help="Input width and height of the example.")
@click.option("--kernel", "kernel_size", type=click.IntRange(1, 12), default=3, show_default=True,
              help="Kernel size of the example.")
@OUT
def padding(size, kernel_size, out):
    """How valid/same/circular/reflect padding, stride and dilation change the output size."""
    from kerascnn.visualize import plot_padding

    click.echo(plot_padding(size=size, kernel_size=kernel_size, out=out or "padding.png").path)


@visualize.command("conv-matrix")
@click.option("--size", type=click.IntRange(2, 6), default=4, show_default=True,
              help="2-D input is SIZE x SIZE (the 1-D example has 2*SIZE inputs).")
@click.option("--kernel", "kernel_size", type=click.IntRange(1, 12), default=3, show_default=True,
              help="Kernel size.")
@click.option("--padding", type=click.Choice(["valid", "same", "circular", "reflect"]),
              default="same", show_default=True)
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True)
@OUT
def conv_matrix(size, kernel_size, padding, stride, out):
    """Convolution drawn as its (Toeplitz / doubly-block) matrix C: C @ x = conv(x)."""
    from kerascnn.visualize import plot_conv_matrix

    picture = plot_conv_matrix(size=size, kernel_size=kernel_size, padding=padding, stride=stride,
                               out=out or f"conv_matrix_{padding}.png")
    click.echo(picture.path)


@visualize.command()
@click.option("--channels", "-c", type=click.IntRange(min=1), default=256, show_default=True,
              help="Input channels C_in.")
@click.option("--out-channels", type=click.IntRange(min=1), default=None,
              help="Output channels C_out [default: C_in].")
@click.option("--size", type=click.IntRange(1, 4096), default=56, show_default=True,
              help="Feature map height and width (MACs scale with it).")
@click.option("--reduction", type=click.IntRange(min=1), default=4, show_default=True,
              help="The bottleneck works at C_in / REDUCTION channels.")
@OUT
def savings(channels, out_channels, size, reduction, out):
    """Weights and MACs of a standard 3x3, a 1x1 bottleneck and a depthwise-separable conv.

    Prints each design's counts (to stderr) and the PNG's path.
    """
    from kerascnn.arithmetic import format_count
    from kerascnn.visualize import plot_savings

    picture = plot_savings(in_channels=channels, out_channels=out_channels, size=size,
                           reduction=reduction, out=out or "savings.png")
    designs, ratios = picture.data["designs"], picture.data["param_ratios"]
    for index, (design, ratio) in enumerate(zip(designs, ratios)):
        saving = f", {ratio:.2f}x fewer weights than the standard 3x3" if index else ""
        click.echo(f"{design.name}: {design.params:,} weights, {format_count(design.macs)} MACs "
                   f"({design.macs:,}){saving}", err=True)
    click.echo(picture.path)
