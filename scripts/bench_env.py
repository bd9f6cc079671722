"""Benchmark the environment engine: fresh copies, hashing, and verifying a task.

For each domain, over τ-bench's test tasks (or generated tasks when the anchors are not
there), it prints: the time of a fresh copy, of the canonical and τ-bench hashes, and of
verifying one task (fresh copy, replay, canonical hash), next to a baseline that reloads
the JSON files and hashes τ-bench's way, with the speed-up; and, side by side, the
speed-up with the same hash on both sides (verify with τ-bench's hash against the same
baseline), which isolates the copy-on-write state from the cheaper hash; and a tool that
scans a whole table (retail's lookup of a user by email, for the last user; airline's
direct-flight search between two airports no flight joins), on a fresh copy and on one
with a task replayed. The last line is JSON.

    python scripts/bench_env.py [--anchors DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from apigen_mt.env.domain import load_environment, read_data_dir
from apigen_mt.env.state import BaseState, State, tau_hashable
from apigen_mt.env.tasks import load_tasks

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"retail": "retail_test", "airline": "airline_test"}


def scan_call(domain: str, env) -> tuple[str, dict]:
    """A read tool call that reads every record of one table before it answers."""
    if domain == "retail":
        last = list(env.state["users"].values())[-1]
        return "find_user_id_by_email", {"email": last["email"]}
    return "search_direct_flight", {"origin": "ZZZ", "destination": "ZZY",
                                    "date": "2024-05-16"}


def timed(fn, repeat: int) -> float:
    """Best-of-``repeat`` wall time of ``fn()`` in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def naive_tau_hash(data: dict) -> str:
    """τ-bench's method, computed from scratch."""
    return hashlib.sha256(str(tau_hashable(data)).encode()).hexdigest()


def bench(domain: str, data_dir: Path, tasks: list[dict], repeat: int) -> dict:
    env = load_environment(domain, data_dir=data_dir)
    env.hash()  # warm the base caches once, as a long run does
    env.hash("tau")
    n = len(tasks)

    def fresh_copies():
        for _ in range(1000):
            env.fresh()

    def verify_all():
        for task in tasks:
            copy = env.fresh()
            copy.replay(task["actions"])
            copy.hash()

    def baseline_all():
        for task in tasks:
            tables = read_data_dir(env.domain, data_dir)  # reload the JSON files
            state = State(BaseState(tables))
            copy = env.fresh()
            copy.state = state
            copy.replay(task["actions"])
            naive_tau_hash({name: dict(table.items()) for name, table in state.items()})

    def verify_all_tau_hash():
        for task in tasks:
            copy = env.fresh()
            copy.replay(task["actions"])
            copy.hash("tau")

    sample = env.fresh()
    sample.replay(tasks[0]["actions"])
    fresh_ms = timed(fresh_copies, repeat) / 1000 * 1e3
    canonical_ms = timed(sample.hash, repeat) * 1e3
    tau_ms = timed(lambda: sample.hash("tau"), repeat) * 1e3
    verify_ms = timed(verify_all, repeat) / n * 1e3
    baseline_ms = timed(baseline_all, 1) / n * 1e3
    same_ms = timed(verify_all_tau_hash, repeat) / n * 1e3
    name, args = scan_call(domain, env)
    fresh = env.fresh()
    scan_ms = timed(lambda: [fresh.execute(name, args) for _ in range(100)], repeat) / 100 * 1e3
    changed_scan_ms = timed(lambda: [sample.execute(name, args) for _ in range(100)],
                            repeat) / 100 * 1e3
    return {"domain": domain, "tasks": n, "fresh_copy_ms": fresh_ms,
            "canonical_hash_ms": canonical_ms, "tau_hash_ms": tau_ms,
            "verify_ms": verify_ms, "baseline_verify_ms": baseline_ms,
            "speedup": baseline_ms / verify_ms,
            "verify_tau_hash_ms": same_ms, "speedup_same_hash": baseline_ms / same_ms,
            "scan_tool": name, "scan_ms": scan_ms, "scan_after_replay_ms": changed_scan_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=Path,
                        default=REPO.parent / "shared" / "anchors" / "tau_bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = []
    for domain, split in SPLITS.items():
        data_dir = args.anchors / domain
        if not (args.anchors / "tasks.json").exists():
            raise SystemExit(f"τ-bench anchors not found at {args.anchors} (use --anchors)")
        tasks = load_tasks(args.anchors / "tasks.json", split)
        r = bench(domain, data_dir, tasks, args.repeat)
        results.append(r)
        print(f"{domain:8} {r['tasks']:4} tasks | fresh copy {r['fresh_copy_ms'] * 1e3:7.1f} µs"
              f" | canonical hash {r['canonical_hash_ms'] * 1e3:7.1f} µs"
              f" | τ-bench hash {r['tau_hash_ms']:6.2f} ms"
              f" | verify {r['verify_ms']:7.3f} ms vs baseline {r['baseline_verify_ms']:8.1f} ms"
              f" = {r['speedup']:,.0f}x | same (τ-bench) hash both sides: verify"
              f" {r['verify_tau_hash_ms']:6.2f} ms = {r['speedup_same_hash']:,.0f}x"
              f" | {r['scan_tool']} over the whole table {r['scan_ms']:.3f} ms"
              f" ({r['scan_after_replay_ms']:.3f} ms after a replay)")
    print(json.dumps({"env": results,
                      "min_speedup": min(r["speedup"] for r in results),
                      "min_speedup_same_hash": min(r["speedup_same_hash"] for r in results)}))


if __name__ == "__main__":
    main()
