"""Live progress: a bar with counts, rate and ETA, refreshed a few times a second.

The line never outgrows 80 columns (or a narrower terminal): the bar takes what the
figures leave, and the least needed figures go first when even they do not fit.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from apigen_mt.llm.usage import UsageSnapshot

MAX_WIDTH = 80
BAR_MIN = 20  # the bar keeps this much; the least needed figures make way


def clock(seconds: float) -> str:
    """``1:02`` or ``2:03:04``."""
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class Progress:
    """Counts events and renders one bar line; silent when the console is not a tty
    (``enabled=True`` forces it, on a terminal-like stderr)."""

    def __init__(self, title: str, target: int, usage: Callable[[], UsageSnapshot],
                 console: Console | None = None, enabled: bool | None = None):
        self.title = title
        self.target = target
        self.usage = usage
        if console is None:
            console = Console(stderr=True, force_terminal=True if enabled else None)
        self.console = console
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

    def figures(self, now: float | None = None) -> tuple[list[str], list[str]]:
        """(figures always shown, figures shown while they fit, most wanted first)."""
        elapsed = max(1e-9, (now if now is not None else time.perf_counter()) - self.started)
        done = self.counts["accepted"]
        rate = done / elapsed
        if done >= self.target:
            eta = "done"
        elif rate > 0:
            eta = "ETA " + clock((self.target - done) / rate)
        else:
            eta = "ETA -"
        must = [f"{done}/{self.target}", f"{rate * 60:.1f}/min" if rate < 1 else
                f"{rate:.1f}/s", eta]
        total = self.usage().total
        extra = [f"{self.counts['rejected'] + self.counts['failed']} rej"]
        if self.counts["duplicate"]:
            extra.append(f"{self.counts['duplicate']} dup")
        if self.counts["errored"]:
            extra.append(f"{self.counts['errored']} err")
        if self.in_flight is not None:
            extra.append(f"{self.in_flight()} busy")
        extra += [f"{total.calls} calls", f"${total.cost:.2f}", clock(elapsed)]
        return must, extra

    def line(self, width: int | None = None, now: float | None = None) -> str:
        """The status line, at most ``width`` (default: the console's, at most 80)."""
        width = min(width or self.console.width, MAX_WIDTH)
        must, extra = self.figures(now)
        title = self.title[:12]
        while True:
            figures = " ".join([*must, *extra])
            room = width - len(title) - len(figures) - 2
            if room >= BAR_MIN or not extra:
                break
            extra.pop()
        room = max(0, room)
        filled = round(room * min(1.0, self.counts["accepted"] / max(1, self.target)))
        bar = "━" * filled + "╺" * (room > filled) + " " * max(0, room - filled - 1)
        return f"{title} {bar} {figures}"[:width]

    def render(self) -> Text:
        """The status line as rich text."""
        return Text(self.line(), no_wrap=True, overflow="crop")

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
