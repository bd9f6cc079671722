"""Helpers for fault, crash and resume tests: the real CLI in a subprocess, `serve` in a
thread of the test process, and parsers for the commands' closing lines."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from apigen_mt.llm.base import Completion, Settings
from apigen_mt.llm.server import ServerHandle, serve_in_thread
from apigen_mt.sim import SimModel, builtin_roles

ROLES = ("drafter", "feedback", "human", "critic", "agent")
DATA_FILES = ("blueprints.jsonl", "blueprints.rejected.jsonl", "trajectories.jsonl",
              "trajectories.failed.jsonl", "episodes.jsonl")


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: runs under tmp_path, no real keys or URLs."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APIGEN_MT_", "OPENAI_"))}
    env["APIGEN_MT_RUNS"] = str(tmp_path / "runs")
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"  # rich wraps closing lines at the terminal width
    env.update(extra)
    return env


def apigen(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m apigen_mt ARGS`` in a subprocess (real exit codes, real stderr)."""
    return subprocess.run([sys.executable, "-m", "apigen_mt", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def popen(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """The same, started in the background (to be killed)."""
    return subprocess.Popen([sys.executable, "-m", "apigen_mt", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def write_config(folder: Path, base_url: str, *, blueprint_concurrency: int = 8,
                 rollout_concurrency: int = 64, **endpoint: Any) -> Path:
    """A run config whose every role uses ``local:sim`` on the served endpoint."""
    # self_hosted false: these tests play a hosted API whose timeouts are worth retrying
    settings = {"base_url": base_url, "api_key_required": False, "timeout_s": 2,
                "max_retries": 6, "retry_backoff_s": 0.05, "retry_backoff_max_s": 0.5,
                "self_hosted": False, **endpoint}
    ep = ", ".join(f"{k}: {orjson.dumps(v).decode()}" for k, v in settings.items())
    roles = "\n".join(f'  {role}: {{model: "local:sim"}}' for role in ROLES)
    path = folder / "local.yaml"
    path.write_text(f"""roles:
{roles}
  reviewers: [{{model: "local:sim"}}, {{model: "local:sim"}}, {{model: "local:sim"}}]
endpoints:
  local: {{{ep}}}
blueprint: {{concurrency: {blueprint_concurrency}}}
rollout: {{concurrency: {rollout_concurrency}}}
""")
    return path


class CountingModel:
    """The sim model, counting each request it answers by the request's content."""

    def __init__(self) -> None:
        self.inner = SimModel(roles=builtin_roles())
        self.name = self.inner.name  # "sim:sim": the server serves it as "sim"
        self.seen: Counter[str] = Counter()

    async def complete(self, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]] | None = None,
                       settings: Settings | None = None) -> Completion:
        settings = settings or Settings()
        blob = orjson.dumps([messages, tools, settings.model_dump(mode="json")],
                            option=orjson.OPT_SORT_KEYS)
        self.seen[hashlib.sha256(blob).hexdigest()] += 1
        return await self.inner.complete(messages, tools, settings)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start `serve` (sim by default) on 127.0.0.1 in a thread; stopped after the test."""
    handles: list[ServerHandle] = []

    def start(model: Any = None, **options: Any) -> ServerHandle:
        # the served sim plays the pipeline's roles, as `serve` does
        handle = serve_in_thread(model or SimModel(roles=builtin_roles()), **options)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@dataclass
class PhaseLine:
    """One closing line of `blueprint` (kind "blueprint") or `rollout` (kind "rollout")."""

    kind: str
    counts: dict[str, int]
    calls: int
    cache_hits: int


_BP = re.compile(r"(\d+) accepted \(\+(\d+) this run, (\d+) rejected, (\d+) errored, (\d+) "
                 r"cancelled at the stop of (\d+) slots scheduled; (\d+) model calls, (\d+) "
                 r"from cache\)")
_RO = re.compile(r"(\d+) trajectories accepted \(\+(\d+) this run, (\d+) failed, (\d+) "
                 r"duplicate, (\d+) errored, (\d+) cancelled at the stop of (\d+) episodes "
                 r"scheduled; (\d+) model calls, (\d+) from cache")
_SURVIVED = re.compile(r"survived: ([^()]*) \(retried\)")
_KINDS = {"rate limits": "rate_limit", "server errors": "server", "timeouts": "timeout",
          "dropped connections": "connection", "unusable responses": "bad_response"}


def phase_lines(stdout: str) -> list[PhaseLine]:
    """Every phase's closing line, in order (rich may wrap them: whitespace is joined)."""
    text = " ".join(stdout.split())
    found: list[tuple[int, PhaseLine]] = []
    for m in _BP.finditer(text):
        g = [int(x) for x in m.groups()]
        found.append((m.start(), PhaseLine("blueprint", dict(
            total=g[0], added=g[1], rejected=g[2], errored=g[3], cancelled=g[4],
            scheduled=g[5]), g[6], g[7])))
    for m in _RO.finditer(text):
        g = [int(x) for x in m.groups()]
        found.append((m.start(), PhaseLine("rollout", dict(
            total=g[0], added=g[1], failed=g[2], duplicates=g[3], errored=g[4],
            cancelled=g[5], scheduled=g[6]), g[7], g[8])))
    return [line for _, line in sorted(found, key=lambda x: x[0])]


def survived(stdout: str) -> Counter[str]:
    """Retries by kind over every ``survived: …`` line of a command's output."""
    text = " ".join(stdout.split())
    total: Counter[str] = Counter()
    for m in _SURVIVED.finditer(text):
        for part in m.group(1).split(", "):
            count, _, label = part.partition(" ")
            total[_KINDS.get(label, label)] += int(count)
    return total


def rows(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of a run file (none if it does not exist)."""
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def file_bytes(run: Path, names: tuple[str, ...] = DATA_FILES) -> dict[str, bytes]:
    """The data files of a run directory (missing ones as b'')."""
    return {n: (run / n).read_bytes() if (run / n).exists() else b"" for n in names}


def written(run: Path) -> int:
    """Bytes in the run's data files so far."""
    return sum((run / name).stat().st_size for name in DATA_FILES if (run / name).exists())


def kill_repeatedly(command: list[str], env: dict[str, str], run: Path, *, seed: int,
                    tries: int, most: int) -> int:
    """Start ``command`` up to ``tries`` times and SIGKILL it each time once it has written
    a random 1..``most`` more bytes (not after a fixed sleep: a fast machine would finish
    first, a slow one never get past start-up); returns how many times it was killed."""
    import random
    import signal
    import time

    rng = random.Random(seed)
    kills = 0
    for _ in range(tries):
        before = written(run)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        grow = rng.randint(1, most)
        deadline = time.monotonic() + 120
        while proc.poll() is None and written(run) < before + grow \
                and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    return kills
