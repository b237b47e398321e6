"""The ``kerascnn`` command: a thin Click shell over the Python API.

Each verb lives in its own module and is imported only when it runs (or when ``--help`` needs
its one-line description), and no verb module imports TensorFlow at import time, so
``kerascnn --help`` and argument errors stay fast.

Example:
    $ kerascnn models
    $ kerascnn summary resnet50 --input-shape 64,64,3
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from kerascnn import __version__
from kerascnn.cli.quiet import filter_stderr
from kerascnn.errors import KerasCNNError

# verb -> "module:attribute". A new verb is one line here plus its module.
COMMANDS = {
    "quickstart": "kerascnn.cli.train_cmd:quickstart",
    "models": "kerascnn.cli.models_cmd:models",
    "summary": "kerascnn.cli.models_cmd:summary",
    "data": "kerascnn.cli.data_cmd:data",
    "train": "kerascnn.cli.train_cmd:train",
    "evaluate": "kerascnn.cli.train_cmd:evaluate",
    "lr-find": "kerascnn.cli.train_cmd:lr_find",
    "export": "kerascnn.cli.export_cmd:export",
    "predict": "kerascnn.cli.export_cmd:predict",
    "serve": "kerascnn.cli.serve_cmd:serve",
    "visualize": "kerascnn.cli.visualize_cmd:visualize",
    "checks": "kerascnn.cli.checks_cmd:checks",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, cmd_name):
        return self._load(cmd_name)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and not name.startswith("-") and name not in COMMANDS:
            from kerascnn.errors import did_you_mean

            guess = did_you_mean(name, COMMANDS)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            ctx.fail(f"no such command {name!r}{hint}")
        return super().resolve_command(ctx, args)

    @staticmethod
    def _load(name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        # A verb whose module fails to import is a bug to see, not a verb to hide.
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kerascnn")
def cli():
    """Build, train, export and serve convolutional networks (Keras 3 + TF Serving)."""


def main(argv=None):
    """Console-script entry point: run the CLI, turning library errors into one line."""
    # TensorFlow's C++ start-up chatter is noise for a CLI user; let them opt back in.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    filter_stderr()
    try:
        cli.main(args=argv, prog_name="kerascnn", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # Click turns Ctrl-C into Abort; training's own message says how to resume.
        interrupt = exc.__cause__ or exc.__context__
        click.echo(str(interrupt) if str(interrupt or "") else "Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KerasCNNError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        # Training says how far it got and how to resume; anything else just stops.
        click.echo(str(exc) or "Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: still one line unless debugging
        if os.environ.get("KERASCNN_DEBUG"):
            raise
        click.echo(
            f"Error: {type(exc).__name__}: {exc} (set KERASCNN_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
