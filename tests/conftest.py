"""Shared fixtures: where the τ-bench anchors are, and a guard against real network use."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ANCHORS = Path(os.environ.get("APIGEN_MT_ANCHORS",
                              REPO.parent / "shared" / "anchors" / "tau_bench"))
needs_anchors = pytest.mark.skipif(
    not (ANCHORS / "tasks.json").exists(),
    reason=f"τ-bench anchors not found at {ANCHORS} (set APIGEN_MT_ANCHORS)",
)

_LOOPBACK = {"127.0.0.1", "::1", "localhost", "0.0.0.0"}
_real_connect = socket.socket.connect
_real_create_connection = socket.create_connection


def _host_of(address) -> str | None:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None  # unix sockets and the like are local


def _guarded_connect(self, address):
    host = _host_of(address)
    if host is not None and host not in _LOOPBACK:
        raise RuntimeError(f"tests must not reach the network (tried {host})")
    return _real_connect(self, address)


def _guarded_create_connection(address, *args, **kwargs):
    host = _host_of(address)
    if host is not None and host not in _LOOPBACK:
        raise RuntimeError(f"tests must not reach the network (tried {host})")
    return _real_create_connection(address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to reach a non-loopback host fails the test (real LLM calls included)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket, "create_connection", _guarded_create_connection)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    yield
