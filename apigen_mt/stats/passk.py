"""pass^k (τ-bench): the chance that all of k i.i.d. trials of a task succeed.

For a task with ``c`` successes out of ``n`` trials the unbiased estimate is
``C(c, k) / C(n, k)``; pass^k of a task set is its mean over tasks. pass^1 is the plain
success rate; pass^k falls with k unless the agent is consistent.
"""

from __future__ import annotations

from math import comb


def task_pass_hat_k(successes: int, trials: int, k: int) -> float:
    """C(c, k) / C(n, k) for one task."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes ({successes}) must be between 0 and trials ({trials})")
    if not 1 <= k <= trials:
        raise ValueError(f"k ({k}) must be between 1 and the number of trials ({trials})")
    return comb(successes, k) / comb(trials, k)


def pass_hat_k(results: list[tuple[int, int]], k: int) -> float:
    """Mean over tasks of C(c, k) / C(n, k); ``results`` holds (successes, trials)."""
    if not results:
        return 0.0
    return sum(task_pass_hat_k(c, n, k) for c, n in results) / len(results)


def pass_hat_curve(results: list[tuple[int, int]]) -> dict[int, float]:
    """pass^k for k = 1 … the smallest number of trials any task had."""
    if not results:
        return {}
    top = min(n for _, n in results)
    return {k: pass_hat_k(results, k) for k in range(1, top + 1)}
