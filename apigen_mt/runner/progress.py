"""Live progress: counters, tokens and cost, refreshed a few times a second."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from apigen_mt.llm.usage import UsageSnapshot


class Progress:
    """Counts events and renders one status line; silent when the console is not a tty."""

    def __init__(self, title: str, target: int, usage: Callable[[], UsageSnapshot],
                 console: Console | None = None, enabled: bool | None = None):
        self.title = title
        self.target = target
        self.usage = usage
        self.console = console or Console(stderr=True)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self.counts: Counter = Counter()
        self.detail: Counter = Counter()
        self.in_flight: Callable[[], int] | None = None
        self.started = time.perf_counter()
        self._live: Live | None = None

    def bump(self, kind: str, **labels: object) -> None:
        """Count one event; labels (stage=…, rounds=…, reason=…) are tallied too."""
        self.counts[kind] += 1
        for key, value in labels.items():
            self.detail[f"{kind}.{key}={value}"] += 1

    def render(self) -> Text:
        """The status line."""
        snap = self.usage()
        total = snap.total
        elapsed = time.perf_counter() - self.started
        parts = [f"{self.title}: {self.counts['accepted']}/{self.target} accepted",
                 f"{self.counts['rejected'] + self.counts['failed']} rejected/failed"]
        if self.counts["duplicate"]:
            parts.append(f"{self.counts['duplicate']} duplicates")
        if self.counts["errored"]:
            parts.append(f"{self.counts['errored']} errored")
        if self.in_flight is not None:
            parts.append(f"{self.in_flight()} in flight")
        reasons = sorted((k, v) for k, v in self.detail.items()
                         if k.startswith(("rejected.stage=", "failed.reason=")))
        if reasons:
            parts.append(" ".join(f"{k.split('=', 1)[1]}:{v}" for k, v in reasons))
        parts.append(f"{total.calls} calls ({total.cache_hits} cached)")
        parts.append(f"{total.prompt_tokens + total.completion_tokens:,} tokens")
        parts.append(f"${total.cost:.4f}")
        parts.append(f"{elapsed:.0f}s")
        return Text(" | ".join(parts))

    def __enter__(self) -> Progress:
        if self.enabled:
            self._live = Live(console=self.console, refresh_per_second=4,
                              get_renderable=self.render, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
