"""Errors users see: one clear line and an exit code, never a traceback (unless --debug).

The exit-code contract (2 for usage, 1 for runtime, 130 for Ctrl-C) must not depend on
which click the command-line library ships: typer vendors its own copy of click, whose
exception classes are not ``click.exceptions.*``. So the boundary recognises parser
exceptions by their shape (a click-style ``exit_code`` and ``format_message``, or the
class names click gives them), whichever module they come from; the tests drive the
installed ``apigen-mt`` entry point to keep it true.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

DEBUG = False


class UsageError(ValueError):
    """Bad input from the user (flags, files, names): exit code 2."""


class ConfigError(UsageError):
    """A configuration problem, told in one line (file:line or the dotted key)."""


class RunFailure(RuntimeError):
    """The job could not complete (endpoint down, disk full …): exit code 1."""


class Interrupted(RuntimeError):
    """Ctrl-C during a run; carries what was saved and how to resume (exit code 130)."""


def exit_code_for(exc: BaseException) -> int:
    """2 for usage errors, 1 for runtime ones.

    Every error the user's input causes is a :class:`UsageError` (a config, an unknown
    environment, a tasks file …): the layers that raise them subclass it, so this module
    imports none of them.
    """
    return 2 if isinstance(exc, (UsageError, FileNotFoundError)) else 1


def _one_line(exc: BaseException) -> str:
    from apigen_mt.redact import redact_text

    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"not found: {text}"
    return redact_text(" ".join(text.split()))


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def parser_exit(exc: BaseException) -> tuple[int, str | None] | None:
    """(exit code, message or None) for an exception raised by the click-style parser
    (any click, vendored or not); None when ``exc`` is not one of those."""
    names = _class_names(exc)
    if "Exit" in names and hasattr(exc, "exit_code"):  # typer.Exit / click Exit
        return int(getattr(exc, "exit_code", 0) or 0), None
    if "NoArgsIsHelpError" in names:  # the help was printed; nothing else to say
        return 2, None
    if "Abort" in names:
        return 130, "aborted"
    if "ClickException" in names or ("UsageError" in names and hasattr(exc, "format_message")):
        code = getattr(exc, "exit_code", 1)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if "UsageError" in names:  # every parser usage error, whatever click reports
            code = 2
            ctx = getattr(exc, "ctx", None)
            path = getattr(ctx, "command_path", None)
            if path:
                message = f"{message.rstrip('.')} (see '{path} --help')"
        return int(code), message
    return None


def guarded(app: Any, args: list[str] | None = None) -> int:
    """Run a typer app; map any exception to one ``error: …`` line and an exit code."""
    try:
        code = app(args=args, standalone_mode=False)
        # in non-standalone mode click returns a `typer.Exit(code)`'s code instead of exiting
        return code if isinstance(code, int) else 0
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"interrupted: {_one_line(exc)}", file=sys.stderr)
        return 130
    except Exception as exc:
        parsed = parser_exit(exc)
        if parsed is not None:
            code, message = parsed
            if message:
                print(f"error: {' '.join(message.split())}", file=sys.stderr)
            return code
        if DEBUG:
            traceback.print_exc()
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return exit_code_for(exc)
