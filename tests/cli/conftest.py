"""The `serve` fixture (OpenAI-compatible sim server on 127.0.0.1) for the CLI tests."""

from tests.faults.conftest import serve  # noqa: F401 - re-exported fixture
