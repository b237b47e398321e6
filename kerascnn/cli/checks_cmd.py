"""``kerascnn checks``: versions, devices, precisions and caches (kerascnn.checks)."""

from __future__ import annotations

import click

from kerascnn.cli.common import device_option


@click.command()
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def checks(as_json):
    """Print what this machine offers: versions, devices, precisions, cache folders."""
    import json

    from kerascnn.checks import format_machine_report, machine_report

    report = machine_report()
    click.echo(json.dumps(report, indent=2) if as_json else format_machine_report(report))
