"""Rejection reasons, tallied by kind and shown whole.

A reason such as ``action 2 (book_reservation) failed: Error: not enough seats on flight
HAT030`` says what went wrong only after its first colon, so it is never cut. Reasons
that differ only in their values (ids, numbers, quoted text) are counted together under
a stable key, and each group is shown by the first whole reason seen for it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_VALUE = re.compile(r"[#$]?\b[\w.@-]*\d[\w.@-]*\b")  # ids, dates, amounts: any token with a digit
NO_REASON = "(no reason)"


def reason_key(text: str) -> str:
    """The reason with its values masked: the same kind of rejection, whatever record."""
    text = " ".join(text.split())
    return _VALUE.sub("#", _QUOTED.sub("'…'", text))


def first_reason(reasons: Iterable[str] | None) -> str:
    """The first of a verdict's reasons, whole (``(no reason)`` when there is none)."""
    for reason in reasons or []:
        text = " ".join(str(reason).split())
        if text:
            return text
    return NO_REASON


class Reasons(Counter):
    """Counts of reasons by :func:`reason_key`, remembering one whole reason per key."""

    def __init__(self) -> None:
        super().__init__()
        self.examples: dict[str, str] = {}

    def add(self, reason: str, count: int = 1) -> None:
        """Count one (whole) reason."""
        key = reason_key(reason)
        self[key] += count
        self.examples.setdefault(key, reason)

    def top(self, n: int | None = None) -> list[tuple[str, int]]:
        """The most common kinds as (a whole reason of that kind, count)."""
        return [(self.examples.get(key, key), count) for key, count in self.most_common(n)]
