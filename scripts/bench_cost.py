"""Model calls and prompt tokens per kept trajectory, per role, for an offline run.

    python scripts/bench_cost.py --env retail --n 300
    python scripts/bench_cost.py --env airline --n 100 --critic each

Runs ``apigen-mt run`` in this process (offline ``sim``, fresh run directory) and reads
every role's counters from the run's usage trackers, so it measures the same way on
any version of the pipeline. Tokens are the sim's estimate (characters / 4), prompt
tokens counted once per request (a request with ``n`` choices pays its prompt once).
Prints a table and one JSON line (keys: env, n, kept, calls_per_kept,
prompt_tokens_per_kept, cached_tokens_per_kept, by_role).

``cacheable tok/kept`` is what a provider's prefix cache would have served, had it seen
the run's requests in the order the run sent them (the sim has no cache, so its own
``cached`` column is 0). It follows OpenAI's published rule: a prompt of at least 1,024
tokens is matched from its start in steps of 128 tokens against the prompts sent before
it; the prompt is read as the tool list, then each message in order (role, text, tool
calls), at four characters a token. It measures how much of each role's prompt is a
stable prefix, which is what the prompts' layout is for.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from apigen_mt.llm import usage as usage_mod

TRACKERS: list = []
_init = usage_mod.UsageTracker.__init__

CACHE_MIN_TOKENS = 1024  # OpenAI caches prompts from this length…
CACHE_STEP_TOKENS = 128  # …in prefixes of this many tokens
CHARS_PER_TOKEN = 4  # the sim's estimate, so the columns compare


class PrefixCache:
    """The prompt prefixes seen so far, as a chain of block hashes (one per step)."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.tool_blobs: dict[int, tuple[object, bytes]] = {}
        self.by_role: dict[str, int] = {}

    def _tools(self, tools) -> bytes:
        if not tools:
            return b""
        held = self.tool_blobs.get(id(tools))
        if held is None or held[0] is not tools:
            held = (tools, json.dumps(tools, sort_keys=True).encode())
            self.tool_blobs[id(tools)] = held
        return held[1]

    def offer(self, role: str, messages, tools) -> None:
        """Count the cached part of one request's prompt, then remember its prefixes."""
        parts = [self._tools(tools)]
        for m in messages:
            calls = m.get("tool_calls")
            parts.append(f"<{m.get('role')}>{m.get('content') or ''}".encode())
            if calls:
                parts.append(json.dumps(calls, sort_keys=True).encode())
        prompt = b"".join(parts)
        step = CACHE_STEP_TOKENS * CHARS_PER_TOKEN
        if len(prompt) < CACHE_MIN_TOKENS * CHARS_PER_TOKEN:
            return
        chain, hit, missed = b"", 0, False
        for start in range(0, len(prompt) - step + 1, step):
            chain = hashlib.blake2b(chain + prompt[start:start + step], digest_size=16).digest()
            if not missed and chain in self.seen:
                hit += 1
            else:
                missed = True
                self.seen.add(chain)
        self.by_role[role] = self.by_role.get(role, 0) + hit * CACHE_STEP_TOKENS


PREFIXES = PrefixCache()


def _watch_prompts() -> None:
    """Every role's requests pass through the prefix cache before they are answered."""
    from apigen_mt.llm import registry

    complete = registry.BoundModel.complete

    async def watched(self, messages, tools=None, settings=None):
        PREFIXES.offer(self.role, messages, tools)
        return await complete(self, messages, tools, settings)

    registry.BoundModel.complete = watched


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
    _watch_prompts()
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
    for role, r in roles.items():
        r["cacheable_tokens"] = PREFIXES.by_role.get(role, 0)
    keys = ("calls", "prompt_tokens", "cached_tokens", "cacheable_tokens")
    total = {k: sum(r[k] for r in roles.values()) for k in keys}
    print(f"{args.env}: run --n {args.n} offline, {kept} kept trajectories in {wall:.1f}s")
    print(f"  {'role':<12} {'calls/kept':>10} {'prompt tok/kept':>16} {'cached tok/kept':>16}"
          f" {'cacheable tok/kept':>19}")
    for role, r in [*sorted(roles.items(), key=lambda kv: -kv[1]["calls"]), ("total", total)]:
        share = r["cacheable_tokens"] / r["prompt_tokens"] if r["prompt_tokens"] else 0
        print(f"  {role:<12} {r['calls'] / kept:>10.2f} {r['prompt_tokens'] / kept:>16,.0f} "
              f"{r['cached_tokens'] / kept:>16,.0f} {r['cacheable_tokens'] / kept:>12,.0f}"
              f" ({share:4.0%})")
    print(json.dumps({
        "env": args.env, "n": args.n, "kept": kept, "wall_s": round(wall, 1),
        "calls_per_kept": round(total["calls"] / kept, 2),
        "prompt_tokens_per_kept": round(total["prompt_tokens"] / kept),
        "cached_tokens_per_kept": round(total["cached_tokens"] / kept),
        "cacheable_tokens_per_kept": round(total["cacheable_tokens"] / kept),
        "by_role": {role: {"calls_per_kept": round(r["calls"] / kept, 2),
                           "prompt_tokens_per_kept": round(r["prompt_tokens"] / kept),
                           "cached_tokens_per_kept": round(r["cached_tokens"] / kept),
                           "cacheable_tokens_per_kept": round(r["cacheable_tokens"] / kept)}
                    for role, r in roles.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
