"""What an offline run keeps: variety and length of the data, per domain.

Runs ``apigen-mt run --env ENV --n N`` offline (the sim backend) in a scratch folder for
each domain and prints, from the run directory's files:

- distinct conversations / kept records (conversations equal up to tool-call ids count once)
- distinct users (records) behind the kept blueprints
- writes per accepted blueprint (mean and histogram)
- tool calls and user turns per kept trajectory (means)
- recombined share of accepted blueprints, recombination attempts and their outcome
- tool coverage: write tools of the domain that appear among accepted blueprints, and
  those that never do

One JSON line per domain at the end (stable keys).

    python scripts/bench_data.py                     # retail and airline, n=100
    python scripts/bench_data.py --env bank --n 50
    python scripts/bench_data.py --config my.yaml   # another run config (e.g. writes)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def rows(path: Path) -> list[dict]:
    """The JSON lines of a run file (empty when the file is absent)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


_CALL_ID = re.compile(r"call_[0-9a-f]{6,}")


def conversation_key(messages: list[dict]) -> str:
    """A conversation without its generated tool-call ids."""
    return _CALL_ID.sub("call", json.dumps(messages, sort_keys=True))


def write_tools(env: str) -> dict[str, str]:
    """Tool name → kind for a domain (loaded the way the CLI does)."""
    from apigen_mt.env.domain import load_domain

    return {t.name: t.kind for t in load_domain(env).tools if not t.ends_conversation}


def measure(env: str, n: int, seed: int, workdir: Path, config: Path | None = None) -> dict:
    """One offline run and its figures."""
    out = workdir / f"{env}-run"
    started = time.perf_counter()
    extra = ["--config", str(config.resolve())] if config else []
    done = subprocess.run([sys.executable, "-m", "apigen_mt", "run", "--env", env, "--n", str(n),
                           "--seed", str(seed), "--out", str(out), "--quiet", *extra],
                          capture_output=True, text=True, cwd=workdir)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run failed for {env}: {done.stderr or done.stdout}")
    blueprints = rows(out / "blueprints.jsonl")
    kept = rows(out / "trajectories.jsonl")
    attempts = rows(out / "recombinations.jsonl")
    kinds = write_tools(env)
    writes = [sum(1 for a in bp["actions"] if kinds.get(a["name"]) == "write")
              for bp in blueprints]
    recombined = sum(1 for bp in blueprints
                     if (bp.get("provenance") or {}).get("recombined_from"))
    tool_calls = [sum(len(m.get("tool_calls") or []) for m in t["messages"]) for t in kept]
    user_turns = [sum(1 for m in t["messages"] if m.get("role") == "user") for t in kept]
    used = Counter(a["name"] for bp in blueprints for a in bp["actions"])
    all_writes = sorted(k for k, v in kinds.items() if v == "write")
    by_bp = {bp["id"]: bp for bp in blueprints}
    users = {by_bp[t["blueprint_id"]]["user_id"] for t in kept if t["blueprint_id"] in by_bp}

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 2) if values else 0.0

    return {
        "env": env, "n": n, "seed": seed, "wall_s": round(wall, 1),
        "kept": len(kept),
        "distinct_conversations": len({conversation_key(t["messages"]) for t in kept}),
        "distinct_blueprints_kept": len({t["blueprint_id"] for t in kept}),
        "distinct_users_kept": len(users),
        "blueprints": len(blueprints),
        "writes_per_blueprint": mean(writes),
        "writes_hist": dict(sorted(Counter(writes).items())),
        "tool_calls_per_trajectory": mean(tool_calls),
        "user_turns_per_trajectory": mean(user_turns),
        "recombined": recombined,
        "recombined_share": round(recombined / len(blueprints), 3) if blueprints else 0.0,
        "recombination_attempts": len(attempts),
        "recombination_rejected": sum(1 for a in attempts if a.get("outcome") != "accepted"),
        "write_tools": len(all_writes),
        "write_tools_covered": sum(1 for w in all_writes if used[w]),
        "write_tools_missing": [w for w in all_writes if not used[w]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="domain (repeatable; default both)")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, help="run config (default: the offline sim)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.env or ["retail", "airline"]:
            r = measure(env, args.n, args.seed, Path(tmp), args.config)
            results.append(r)
            print(f"{env}: run --n {r['n']} in {r['wall_s']}s: {r['kept']} kept, "
                  f"{r['distinct_conversations']} distinct conversations, from "
                  f"{r['distinct_blueprints_kept']} blueprints of {r['distinct_users_kept']} users")
            print(f"  writes per blueprint {r['writes_per_blueprint']} {r['writes_hist']}; "
                  f"per kept trajectory: {r['tool_calls_per_trajectory']} tool calls, "
                  f"{r['user_turns_per_trajectory']} user turns")
            print(f"  recombined {r['recombined']} of {r['blueprints']} accepted "
                  f"({r['recombined_share']:.0%}); attempts {r['recombination_attempts']}, "
                  f"rejected {r['recombination_rejected']}")
            missing = ", ".join(r["write_tools_missing"]) or "none"
            print(f"  write tools covered {r['write_tools_covered']}/{r['write_tools']}; "
                  f"never: {missing}")
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
