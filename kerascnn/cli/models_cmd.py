"""``kerascnn models`` and ``kerascnn summary``: the model zoo from the command line.

``models`` reads the registry's reference table (nothing is built); ``summary`` builds one model
and walks it with :func:`kerascnn.arithmetic.analyze`. TensorFlow is imported inside the
commands only, so ``--help`` and argument errors stay fast.

Example:
    $ kerascnn models
    $ kerascnn models --json
    $ kerascnn summary resnet18 --input-shape 64,64,3 --classes 10
"""

from __future__ import annotations

import dataclasses
import json

import click

from kerascnn.cli.common import SHAPE, weights_option


def _info_dict(info) -> dict:
    """A registry ModelInfo as a JSON-ready dict (tuples become lists)."""
    if hasattr(info, "as_dict"):
        data = info.as_dict()
    elif dataclasses.is_dataclass(info):
        data = dataclasses.asdict(info)
    else:
        data = {k: v for k, v in vars(info).items() if not k.startswith("_")}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def _short_reference(text: str, width: int = 100) -> str:
    """The first reference, three or more authors as "First et al.", cut to ``width``.

    Example:
        >>> _short_reference("He, Zhang, Ren, Sun: Deep Residual Learning, CVPR 2016; v1.5")
        'He et al.: Deep Residual Learning, CVPR 2016'
    """
    first = (text or "").split(";")[0].strip()
    authors, sep, rest = first.partition(": ")
    if sep and authors.count(",") >= 2:
        first = f"{authors.split(',')[0].strip()} et al.: {rest}"
    return first if len(first) <= width else first[: width - 1].rstrip() + "…"


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "-"


@click.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def models(names, as_json):
    """List registered models (all, or NAMES in the order given): default input, parameters,
    MACs, depth, receptive field, reference.

    Parameters are Keras trainable parameters at the default input and class count; MACs are
    multiply-accumulates of one forward pass (convolutions and dense layers); depth counts the
    weighted layers on the longest path (the 50 of ResNet-50); RF is the receptive field of the
    final feature map in input pixels. The table shortens the references; --json has them in
    full.

    Example: kerascnn models lenet5 alexnet vgg16 googlenet resnet50 mobilenet_v2
    """
    from kerascnn.architectures import get_model_info, list_models
    from kerascnn.arithmetic import format_count, format_table

    infos = [get_model_info(name) for name in (names or list_models())]
    if as_json:
        click.echo(json.dumps([_info_dict(info) for info in infos], indent=2, default=str))
        return
    rows = [
        [
            info.name,
            getattr(info, "family", "") or "",
            _shape_text(info.default_input_shape),
            info.default_num_classes,
            f"{info.params:,}" if info.params is not None else "-",
            format_count(info.macs),
            "-" if info.depth is None else info.depth,
            "-" if info.receptive_field is None else info.receptive_field,
            _short_reference(getattr(info, "reference", "")),
        ]
        for info in infos
    ]
    headers = ["model", "family", "input", "classes", "params", "MACs", "depth", "RF", "reference"]
    click.echo(format_table(headers, rows, right=[3, 4, 5, 6, 7]))
    click.echo(f"\n{len(rows)} models. Details: kerascnn summary NAME [--input-shape H,W,C]")


@click.command()
@click.argument("name")
@click.option(
    "--input-shape",
    type=SHAPE,
    default=None,
    help="Input height,width,channels, e.g. 64,64,3 (default: the model's own).",
)
@click.option(
    "--classes",
    "num_classes",
    type=click.IntRange(min=1),
    default=None,
    help="Number of output classes (default: the model's own).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (layers and totals).")
@weights_option
def summary(name, input_shape, num_classes, as_json, weights):
    """Per-layer output shape, parameters, MACs, receptive field and jump of model NAME.

    RF is the receptive field (the width, in input pixels, of the window one output sees); jump is the
    distance in input pixels between neighbouring outputs (the effective stride).
    """
    from kerascnn.architectures import build
    from kerascnn.arithmetic import analyze

    model = build(name, input_shape=input_shape, num_classes=num_classes)
    report = analyze(model)
    if as_json:
        click.echo(report.to_json())
        return
    click.echo(report.table())
    if weights is not None:
        # What the weights are, from the table: nothing is downloaded to describe them.
        from kerascnn.weights import describe

        click.echo(_weights_text(describe(name, weights, num_classes=num_classes)))


def _weights_text(record: dict) -> str:
    """The lines ``summary --weights`` adds under the table.

    Example:
        >>> print(_weights_text({"tag": "keras", "layout": "keras", "file_name": "w.h5",
        ...     "url": "https://x/w.h5", "sha256": None, "md5": "ab", "top1": 71.3,
        ...     "license": "MIT", "head": "pretrained", "input_spec": {"name": "caffe",
        ...     "channel_order": "bgr", "resize_shorter": None, "crop": None}}))
        Weights: keras (keras layout), w.h5, md5 ab
          from https://x/w.h5; published top-1 71.3 %; license MIT; head: pretrained
          input: caffe (BGR), whole image resized
    """
    if record.get("sha256"):
        digest = f"sha256 {record['sha256']}"
    elif record.get("md5"):
        digest = f"md5 {record['md5']}"
    else:
        digest = "no published hash (the file's format is checked)"
    spec = record["input_spec"]
    geometry = (
        f"shorter side {spec['resize_shorter']}, center crop {spec['crop']}"
        if spec.get("resize_shorter")
        else "whole image resized"
    )
    where = record.get("url") or record.get("path") or "a local file"
    top1 = f"published top-1 {record['top1']} %" if record.get("top1") else "no published top-1"
    return (
        f"Weights: {record['tag']} ({record['layout']} layout), {record.get('file_name')}, {digest}\n"
        f"  from {where}; {top1}; license {record.get('license') or 'unknown'}; "
        f"head: {record.get('head')}\n"
        f"  input: {spec['name']} ({spec['channel_order'].upper()}), {geometry}"
    )
