"""Errors users see: one clear line and an exit code, never a traceback (unless --debug)."""

from __future__ import annotations

import sys
import traceback
from typing import Any

DEBUG = False


class UsageError(ValueError):
    """Bad input from the user (flags, files, names): exit code 2."""


class RunFailure(RuntimeError):
    """The job could not complete (endpoint down, disk full …): exit code 1."""


def _usage_types() -> tuple[type[BaseException], ...]:
    from apigen_mt.env.domain import EnvironmentNotFound
    from apigen_mt.env.tasks import TaskFileError

    types: list[type[BaseException]] = [UsageError, EnvironmentNotFound, TaskFileError,
                                        FileNotFoundError]
    try:
        from apigen_mt.config import ConfigError

        types.append(ConfigError)
    except ImportError:  # the config module is optional for `env` commands
        pass
    return tuple(types)


def exit_code_for(exc: BaseException) -> int:
    """2 for usage errors, 1 for runtime ones."""
    return 2 if isinstance(exc, _usage_types()) else 1


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"not found: {text}"
    return " ".join(text.split())


def guarded(app: Any) -> int:
    """Run a typer app; map any exception to one ``error: …`` line and an exit code."""
    import click

    try:
        code = app(standalone_mode=False)
        # in non-standalone mode click returns a `typer.Exit(code)`'s code instead of exiting
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if DEBUG:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return exit_code_for(exc)
