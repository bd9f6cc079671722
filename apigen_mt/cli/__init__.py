"""The ``apigen-mt`` command line: one thin module per command group over the Python API
(:mod:`apigen_mt.api`): parse the options, call, print."""

from apigen_mt.cli.app import app, main

__all__ = ["app", "main"]
