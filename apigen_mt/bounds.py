"""Bounds on every numeric command-line option, checked before any work is done.

Without upper bounds a typo runs forever or exhausts memory (``--trials 1000000000``
would plan a billion episodes up front, ``--best-of-n 1000000`` asks a million
candidates per turn). The limits are far above any sensible run, and each one is named
in the error so the user sees which option and what range.
"""

from __future__ import annotations

from apigen_mt.errors import UsageError

# option → (lowest, highest) accepted value
LIMITS: dict[str, tuple[int, int]] = {
    "--n": (1, 10_000_000),
    "--trials": (1, 1_000),
    "--best-of-n": (1, 64),
    "--concurrency": (1, 4_096),
    "--max-slots": (1, 10_000_000),
    "--users": (1, 10_000_000),
    "--seed": (0, 2**63 - 1),
    "--port": (0, 65_535),
    "--fault-first": (0, 1_000_000_000),
}
FLOAT_LIMITS: dict[str, tuple[float, float]] = {
    "--latency-ms": (0.0, 600_000.0),
    "--jitter-ms": (0.0, 600_000.0),
    "--fault-rate": (0.0, 1.0),
    "--retry-after": (0.0, 3_600.0),
}


def check(**values: int | float | None) -> None:
    """Raise :class:`UsageError` for the first value out of its option's range.

    Keyword names are option names with ``_`` for ``-`` and no leading dashes
    (``best_of_n=…`` checks ``--best-of-n``); ``None`` means "not given".
    """
    for key, value in values.items():
        if value is None:
            continue
        option = "--" + key.replace("_", "-")
        low, high = LIMITS.get(option) or FLOAT_LIMITS[option]
        if value != value or not low <= value <= high:  # NaN fails too
            raise UsageError(f"{option} must be between {low} and {high:,}, got {value}")
