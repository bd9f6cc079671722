"""The ``apigen-mt`` root: global options, the command line as typed, and the command
groups in workflow order (env, blueprint, rollout, run, export, stats, eval, verify,
serve, check)."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup, TyperOption

from apigen_mt.cli.common import TYPED
from apigen_mt.errors import guarded

WORKFLOW = ("env", "blueprint", "rollout", "run", "export", "stats", "eval", "verify",
            "serve", "check")


class RootGroup(TyperGroup):
    """Keeps the arguments as typed (for the manifest) and the commands in the order
    they were added, which is the order of the workflow."""

    def parse_args(self, ctx, args):
        TYPED[:] = args
        return super().parse_args(ctx, args)

    def list_commands(self, ctx):
        known = [name for name in WORKFLOW if name in self.commands]
        return known + sorted(set(self.commands) - set(known))


def _flag_type_hidden(display):
    """A flag takes no value, so its help shows no type (typer would print ``<bool>``)."""

    def display_type_rich(self, ctx):
        return None if self.is_flag else display(self, ctx)

    return display_type_rich


TyperOption.display_type_rich = _flag_type_hidden(TyperOption.display_type_rich)


app = typer.Typer(cls=RootGroup, add_completion=False, no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Manufacture verified multi-turn tool-use training data.")


def _version(value: bool) -> None:
    if value:
        from apigen_mt import __version__

        typer.echo(f"apigen-mt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
):
    """Manufacture verified multi-turn tool-use training data.

    The workflow: blueprint (phase 1), rollout (phase 2), or run (both), then export.
    """
    import apigen_mt.errors as errors

    errors.DEBUG = debug


def _register() -> None:
    from apigen_mt.cli import data, env, model, pipeline, quality

    app.add_typer(env.env_app, name="env")
    pipeline.register(app)  # blueprint, rollout, run
    data.register(app)  # export, stats
    quality.register(app)  # eval, verify
    model.register(app)  # serve, check


_register()


def main() -> None:
    """Console-script entry point with the one-line error boundary."""
    sys.exit(guarded(app))
