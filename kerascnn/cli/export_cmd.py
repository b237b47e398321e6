"""``kerascnn export`` and ``kerascnn predict``: thin shells over kerascnn.export / kerascnn.client.

Nothing here imports TensorFlow at import time.

Example:
    $ kerascnn export runs/digits-lenet5 --name digits
    $ kerascnn predict three.png digits/ "more/*.jpg" --top-k 3
    $ kerascnn predict three.png --server grpc://localhost:8500 --model-name digits
"""

from __future__ import annotations

import sys
import warnings

import click

from kerascnn import contract
from kerascnn.cli.common import device_option, weights_option


@click.command()
@click.argument("source")
@click.option(
    "--base",
    default=contract.DEFAULT_BASE,
    show_default=True,
    help="Model base directory (TF Serving's --model_base_path parent).",
)
@click.option("--name", help="Served model name [default: the run folder's name].")
@click.option("--version", type=click.IntRange(min=1), help="Version number [default: next free].")
@click.option("--force", is_flag=True, help="Replace an existing version.")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=contract.DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Reject larger images (read from the header, before decoding).",
)
@weights_option
@click.option(
    "--gradcam/--no-gradcam",
    default=True,
    show_default=True,
    help="Add the serving_gradcam signature (heatmaps of what the model looked at).",
)
@device_option
def export(source, base, name, version, force, max_pixels, weights, gradcam):
    """Export RUN_DIR, MODEL.keras or a registered MODEL (--weights imagenet) as a TF Serving
    SavedModel at BASE/NAME/VERSION."""
    from kerascnn.export import describe_signatures, export_model

    path = export_model(
        source,
        base=base,
        name=name,
        version=version,
        force=force,
        max_pixels=max_pixels,
        weights=weights,
        gradcam=gradcam,
    )
    click.echo(f"Exported {source} -> {path}")
    for signature, info in sorted(describe_signatures(path).items()):
        ins = ", ".join(f"{k} {d} {s}" for k, (d, s) in info["inputs"].items())
        outs = ", ".join(f"{k} {d} {s}" for k, (d, s) in sorted(info["outputs"].items()))
        click.echo(f"  {signature}: {ins} -> {outs}")
    click.echo(f"Try: kerascnn predict IMAGE --model {path}")


@click.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", "model_path", help="SavedModel / model directory / run folder, or a registered model name with --weights (local, no server).")
@click.option(
    "--server",
    help="TF Serving: http://host:8501 (REST), grpc://host:8500 (gRPC), or HOST:PORT, which "
    "means gRPC when PORT is 8500 and REST on any other port.",
)
@click.option(
    "--model-name",
    help="Served model name (servers), or the model to use under a base directory (--model "
    f"BASE, or {contract.DEFAULT_BASE} when no --model is given).",
)
@click.option("--version", type=click.IntRange(min=1), help="Model version [default: newest].")
@click.option("--label", help="Model version label (servers only), e.g. stable.")
@click.option(
    "--signature",
    type=click.Choice(contract.PREDICT_SIGNATURES),
    default=contract.DEFAULT_SIGNATURE,
    show_default=True,
)
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds per request.")
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Ask again this many times, waiting longer each time, while the server answers "
    "503 / UNAVAILABLE (loading a model, queue full).",
)
@click.option(
    "--gradcam",
    "gradcam_dir",
    type=click.Path(file_okay=False),
    help="Also write each image's Grad-CAM overlay (serving_gradcam) into this folder.",
)
@weights_option
@device_option
def predict(
    images, model_path, server, model_name, version, label, signature, top_k, as_json, batch_size,
    timeout, retries, weights, gradcam_dir,
):
    """Classify IMAGES (files, directories, quoted globs) and print the top-k classes."""
    from kerascnn.errors import UsageError

    if model_path and server:
        raise UsageError("pass either --model or --server, not both")
    from kerascnn.client import (
        Client,
        InputMismatchWarning,
        format_table,
        prediction_json_lines,
        server_url,
    )
    from kerascnn.images import expand_image_sources
    from kerascnn.loading import default_model

    sources = expand_image_sources(images)
    if not sources:
        raise UsageError(f"no images found in {' '.join(images)}")
    if server:
        target = server_url(server)  # before any image is read: a bad address is one line
    else:
        target = model_path or default_model(model_name=model_name, version=version)
    client = Client(
        target, model_name=model_name, version=version, label=label, signature=signature,
        timeout=timeout, retries=retries, weights=weights,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InputMismatchWarning)
        if len(sources) > batch_size or len(sources) >= 20:  # images are read batch by batch
            with click.progressbar(
                length=len(sources), label=f"Predicting {len(sources)} images", show_pos=True,
                file=_Stderr(),
            ) as bar:
                predictions = client.predict(sources, batch_size=batch_size, on_batch=bar.update)
        else:
            predictions = client.predict(sources, batch_size=batch_size)
    for warning in caught:
        if issubclass(warning.category, InputMismatchWarning):
            click.echo(f"Warning: {warning.message}", err=True)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    if as_json:
        click.echo(prediction_json_lines(predictions, top_k))
    else:
        text = format_table(predictions, top_k)
        if text:
            click.echo(text)
    if gradcam_dir:
        from kerascnn.client.gradcam import write_gradcam_overlays

        written = write_gradcam_overlays(
            client, [p.image for p in predictions if p.ok], gradcam_dir, batch_size=batch_size
        )
        click.echo(f"Grad-CAM overlays: {len(written)} written to {gradcam_dir}", err=True)
    failures = [p for p in predictions if not p.ok]
    for pred in failures:
        click.echo(f"Error: {pred.error}", err=True)
    if failures:
        sys.exit(1)


class _Stderr:
    """``sys.stderr`` as click sees it, except that ``isatty()`` answers for the terminal behind
    :mod:`kerascnn.cli.quiet`'s filter pipe (fd 2 is that pipe), so progress bars are drawn."""

    def isatty(self) -> bool:
        from kerascnn.cli import quiet

        return quiet.STDERR_IS_TERMINAL or sys.stderr.isatty()

    def __getattr__(self, name):
        return getattr(sys.stderr, name)
