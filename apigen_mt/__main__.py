"""``python -m apigen_mt`` is the ``apigen-mt`` command."""

from apigen_mt.cli import main

main()
