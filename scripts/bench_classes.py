"""Benchmark the data the class environments yield: the four test classes (a shell over a
file tree, a help desk, a social feed, a car controller) through ``apigen-mt run``.

For each class it runs ``apigen-mt run --env-class … --env-config … --n N`` offline in a
fresh directory and prints, from the files the run left: kept and failed conversations,
distinct blueprints (by their actions), tool calls and user turns per kept
conversation, writes per blueprint, the share of blueprints whose writes carry invented
free text (a string argument of 13+ characters found nowhere in the initial state), the
share that open a session first (``login``/``unlock``/``cd`` before the first other
write), model calls and tokens per kept conversation (both phases, from the run's manifest),
and the wall time. One JSON line
per class (stable keys), then a table.

    python scripts/bench_classes.py [--n 10] [--drafter llm|walk]

With ``--seeds 1,2,3`` it measures reliability instead: for each class and seed, one
``apigen-mt run … --n N --seed S`` (sim drafter), and per class how many runs ended with
N kept conversations, the fewest kept, and the drafting slots rejected per run (every
round failed), mean and most.

    python scripts/bench_classes.py --seeds 1,2,3,4,5 [--n 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "classes"
CLASSES = [("shell", "Shell", "mount"), ("helpdesk", "HelpDesk", None),
           ("feed", "Feed", None), ("vehicle", "Vehicle", None)]
SESSION = ("login", "unlock", "cd")


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open()] if path.exists() else []


def command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("apigen-mt")), *args]


def run_class(module: str, cls: str, init: str | None, n: int, drafter: str,
              root: Path) -> dict:
    out = root / module
    config = FIXTURES / f"{module}_init.json"
    target = ["--env-class", f"tests.fixtures.classes.{module}:{cls}", "--env-config",
              str(config), *(["--env-init", init] if init else [])]
    start = time.perf_counter()
    if drafter == "walk":
        steps = [command("blueprint", "--drafter", "walk", *target, "--n", str(n), "--out",
                         str(out), "--quiet"),
                 command("rollout", "--run", str(out), "--n", str(n), "--quiet")]
    else:
        steps = [command("run", *target, "--n", str(n), "--out", str(out), "--quiet")]
    for step in steps:
        subprocess.run(step, cwd=REPO, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    kept = rows(out / "trajectories.jsonl")
    failed = rows(out / "trajectories.failed.jsonl")
    blueprints = {b["id"]: b for b in rows(out / "blueprints.jsonl")}
    initial = config.read_text()
    from apigen_mt.env.domain import load_environment

    spec = f"class:tests.fixtures.classes.{module}:{cls}" + (f"@{init}" if init else "")
    env = load_environment(spec, data_dir=str(config))
    kinds = {t.name: t.kind for t in env.domain.tools}
    state_text = json.dumps(env.state.materialize()) + initial
    writes, free, session, distinct = [], 0, 0, set()
    for bp in blueprints.values():
        actions = bp["actions"]
        distinct.add(json.dumps(actions, sort_keys=True))
        names = [a["name"] for a in actions if kinds.get(a["name"]) == "write"]
        writes.append(len(names))
        free += any(isinstance(v, str) and len(v) > 12 and v not in state_text
                    for a in actions if kinds.get(a["name"]) == "write"
                    for v in a["arguments"].values())
        session += bool(names) and names[0] in SESSION and len(set(names) - set(SESSION)) > 0
    calls = [sum(len(m.get("tool_calls") or []) for m in t["messages"]) for t in kept]
    turns = [sum(1 for m in t["messages"] if m.get("role") == "user") for t in kept]
    phases = json.loads((out / "manifest.json").read_text()).get("usage", {}).values()
    model_calls = sum(u.get("calls", 0) for u in phases)
    tokens = sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in phases)

    def mean(xs: list[int]) -> float:
        return round(sum(xs) / len(xs), 2) if xs else 0.0

    return {"class": cls, "drafter": drafter, "n": n, "kept": len(kept),
            "failed": len(failed), "blueprints": len(blueprints),
            "distinct_blueprints": len(distinct), "tool_calls_per_kept": mean(calls),
            "user_turns_per_kept": mean(turns), "writes_per_blueprint": mean(writes),
            "free_text_share": round(free / max(len(blueprints), 1), 2),
            "session_first_share": round(session / max(len(blueprints), 1), 2),
            "model_calls_per_kept": round(model_calls / max(len(kept), 1), 1),
            "tokens_per_kept": round(tokens / max(len(kept), 1)),
            "wall_s": round(wall, 1)}


def reliability(module: str, cls: str, init: str | None, n: int, seeds: list[int],
                root: Path) -> dict:
    """Runs per seed; how many reach ``n`` kept conversations."""
    kept, rejected = [], []
    target = ["--env-class", f"tests.fixtures.classes.{module}:{cls}", "--env-config",
              str(FIXTURES / f"{module}_init.json"), *(["--env-init", init] if init else [])]
    for seed in seeds:
        out = root / f"{module}-{seed}"
        subprocess.run(command("run", *target, "--n", str(n), "--seed", str(seed), "--out",
                               str(out), "--quiet"), cwd=REPO, capture_output=True,
                       text=True)  # a run that falls short exits 1: counted, not raised
        kept.append(len(rows(out / "trajectories.jsonl")))
        rejected.append(len(rows(out / "blueprints.rejected.jsonl")))
    return {"class": cls, "n": n, "runs": len(seeds),
            "runs_reaching_n": sum(k >= n for k in kept), "kept_min": min(kept),
            "rejected_slots_mean": round(sum(rejected) / len(rejected), 1),
            "rejected_slots_max": max(rejected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--drafter", choices=["llm", "walk"], default="llm")
    parser.add_argument("--seeds", default="", help="comma-separated seeds: reliability")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for module, cls, init in CLASSES:
            result = reliability(module, cls, init, args.n, seeds, Path(tmp)) if seeds else \
                run_class(module, cls, init, args.n, args.drafter, Path(tmp))
            results.append(result)
            print(json.dumps(result))
    keys = [k for k in results[0] if k not in ("class", "drafter", "n")]
    print("\n" + " | ".join(["class", *keys]))
    for r in results:
        print(" | ".join([r["class"], *(str(r[k]) for k in keys)]))


if __name__ == "__main__":
    main()
