"""``kerascnn data``: look at a dataset before training on it.

Example:
    $ kerascnn data inspect digits
    $ kerascnn data inspect photos/ --out runs/inspect --json
    $ kerascnn data inspect tfds:mnist --data-dir ~/tensorflow_datasets
"""

from __future__ import annotations

import json

import click


@click.group()
def data():
    """Inspect datasets (digits, tfds:NAME, image folders)."""


@data.command()
@click.argument("spec")
@click.option(
    "--out",
    "out",
    default="runs/inspect",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the sample grid PNG.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--samples",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Sample images per class in the grid.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Which samples to draw.")
@click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="TFDS data directory (tfds:NAME specs).",
)
@click.option("--download", is_flag=True, help="Let TFDS download and prepare the dataset.")
@click.option("--split", default=None, help="TFDS split string to inspect, e.g. 'train[:10%]'.")
@click.option(
    "--max-examples",
    default=None,
    type=click.IntRange(1),
    help="Look at no more than this many examples per TFDS split.",
)
def inspect(spec, out, as_json, samples, seed, data_dir, download, split, max_examples):
    """Classes, counts per class, image sizes and modes, corrupt and duplicate files.

    SPEC is 'digits', 'tfds:NAME' or a folder laid out root/<class>/<image> (optionally
    root/{train,val,test}/<class>/<image>). Also writes a PNG grid of sample images per class.
    """
    # Imported here so `--help` stays instant; inspecting loads TensorFlow only for tfds: specs.
    from kerascnn.data.inspect import format_report, inspect_data

    report = inspect_data(
        spec,
        out=out,
        samples_per_class=samples,
        seed=seed,
        data_dir=data_dir,
        download=download,
        split=split,
        max_examples=max_examples,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(format_report(report))
