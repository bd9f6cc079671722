"""Model calls and prompt tokens per kept trajectory, per role, for an offline run.

    python scripts/bench_cost.py --env retail --n 300
    python scripts/bench_cost.py --env airline --n 100 --critic each

Runs ``apigen-mt run`` in this process (offline ``sim``, fresh run directory) and reads
every role's counters from the run's usage trackers, so it measures the same way on
any version of the pipeline. Tokens are the sim's estimate (characters / 4), prompt
tokens counted once per request (a request with ``n`` choices pays its prompt once).
Prints a table and one JSON line (keys: env, n, kept, calls_per_kept,
prompt_tokens_per_kept, cached_tokens_per_kept, by_role).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

from apigen_mt.llm import usage as usage_mod

TRACKERS: list = []
_init = usage_mod.UsageTracker.__init__


def _remember(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    TRACKERS.append(self)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="retail")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--best-of-n", type=int, default=None)
    ap.add_argument("--critic", choices=["batched", "each"], default=None,
                    help="rollout.critic (versions that have it)")
    args = ap.parse_args()
    usage_mod.UsageTracker.__init__ = _remember  # every tracker the run builds
    from apigen_mt.cli import app

    out = Path(tempfile.mkdtemp(prefix="bench-cost-")) / "run"
    argv = ["run", "--env", args.env, "--n", str(args.n), "--out", str(out), "--quiet"]
    if args.best_of_n:
        argv += ["--best-of-n", str(args.best_of_n)]
    if args.critic:
        import os
        os.environ["APIGEN_MT_ROLLOUT__CRITIC"] = args.critic
    started = time.perf_counter()
    with contextlib.suppress(SystemExit):
        app(argv, standalone_mode=False)
    wall = time.perf_counter() - started
    kept = sum(1 for line in (out / "trajectories.jsonl").open() if line.strip())
    roles: dict[str, dict[str, float]] = {}
    for tracker in TRACKERS:
        for role, st in tracker.snapshot().by_role.items():
            r = roles.setdefault(role, {"calls": 0, "prompt_tokens": 0, "cached_tokens": 0})
            r["calls"] += st.calls
            r["prompt_tokens"] += st.prompt_tokens
            r["cached_tokens"] += st.cached_tokens
    total = {k: sum(r[k] for r in roles.values()) for k in ("calls", "prompt_tokens",
                                                            "cached_tokens")}
    print(f"{args.env}: run --n {args.n} offline, {kept} kept trajectories in {wall:.1f}s")
    print(f"  {'role':<12} {'calls/kept':>10} {'prompt tok/kept':>16} {'cached tok/kept':>16}")
    for role, r in sorted(roles.items(), key=lambda kv: -kv[1]["calls"]):
        print(f"  {role:<12} {r['calls'] / kept:>10.2f} {r['prompt_tokens'] / kept:>16,.0f} "
              f"{r['cached_tokens'] / kept:>16,.0f}")
    print(f"  {'total':<12} {total['calls'] / kept:>10.2f} {total['prompt_tokens'] / kept:>16,.0f}"
          f" {total['cached_tokens'] / kept:>16,.0f}")
    print(json.dumps({
        "env": args.env, "n": args.n, "kept": kept, "wall_s": round(wall, 1),
        "calls_per_kept": round(total["calls"] / kept, 2),
        "prompt_tokens_per_kept": round(total["prompt_tokens"] / kept),
        "cached_tokens_per_kept": round(total["cached_tokens"] / kept),
        "by_role": {role: {"calls_per_kept": round(r["calls"] / kept, 2),
                           "prompt_tokens_per_kept": round(r["prompt_tokens"] / kept),
                           "cached_tokens_per_kept": round(r["cached_tokens"] / kept)}
                    for role, r in roles.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
