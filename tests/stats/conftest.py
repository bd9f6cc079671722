"""Shares the offline runs and CLI helpers of tests/export."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.export.conftest import _make_run, _runs_root, run30  # noqa: F401


@pytest.fixture(scope="session")
def run200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``run --env retail --n 200`` offline with the default config."""
    return _make_run(tmp_path_factory, "run200", 200, flaws=False)
