"""The offline funnel of ``apigen-mt run --env ENV --n N``, and what the judge rejected.

Runs the pipeline in a temporary folder (or reads ``--run DIR``), then prints one JSON
object: blueprints kept and rejected by stage, episodes judged and kept, failures by
reason, and, among the failures, those that only the judge's newer rules rejected (the
target state was reached, nothing was cut off and no invalid call was made, and every
output appears in the agent's text joined together, which was the older output rule),
counted by the rule that failed. ``--source DIR`` runs another checkout of the code.

    python scripts/bench_judge.py --env retail --n 100
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def older_rule_passes(traj: dict, outputs: list[str]) -> bool:
    """Would the judge before the stricter rules have kept it?"""
    if traj["end_reason"] in ("max_turns", "model_error") or traj["invalid_tool_calls"]:
        return False
    if not traj["verdict"]["state_match"]:
        return False
    said = " ".join(m.get("content") or "" for m in traj["messages"]
                    if m.get("role") == "assistant").lower().replace(",", "")
    return all(o.lower().replace(",", "") in said for o in outputs)


def funnel(run: Path) -> dict:
    """The figures of one run directory."""
    blueprints = {b["id"]: b for b in read(run / "blueprints.jsonl")}
    rejected = read(run / "blueprints.rejected.jsonl")
    kept = read(run / "trajectories.jsonl")
    failed = read(run / "trajectories.failed.jsonl")
    reasons: Counter = Counter()
    only_new: Counter = Counter()
    examples: dict[str, str] = {}
    for t in failed:
        v = t["verdict"]
        rules = v.get("failed_rules") or []
        label = (t["end_reason"] if t["end_reason"] in ("max_turns", "model_error") else
                 "state_mismatch" if not v["state_match"] else
                 "missing_outputs" if v["missing_outputs"] else
                 "+".join(r for r in rules if r != "state") or
                 ("invalid_tool_call" if t["invalid_tool_calls"] else "policy"))
        reasons[label] += 1
        bp = blueprints.get(t["blueprint_id"], {})
        if older_rule_passes(t, bp.get("outputs", [])):
            key = "+".join(rules) or "other"
            only_new[key] += 1
            examples.setdefault(key, (v["reasons"] or [""])[0][:160])
    tools = [sum(len(m.get("tool_calls") or []) for m in t["messages"]) for t in kept]
    manifest = json.loads((run / "manifest.json").read_text())
    usage = manifest.get("usage", {}).values()
    calls = sum(u.get("calls", 0) for u in usage)
    tokens = sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in usage)
    from apigen_mt.env.domain import load_domain

    domain = load_domain(manifest["env"]["spec"])
    kinds = {t.name: t.kind for t in domain.tools}
    writes = [sum(kinds.get(a["name"]) == "write" for a in b["actions"])
              for b in blueprints.values()]
    recombined = [b for b in blueprints.values()
                  if (b.get("provenance") or {}).get("recombined_from")]
    turns = [sum(m["role"] == "user" for m in t["messages"]) for t in kept]
    return {
        "blueprints_accepted": len(blueprints),
        "blueprints_rejected": dict(Counter(r["stage"] for r in rejected)),
        "episodes_judged": len(kept) + len(failed),
        "trajectories_kept": len(kept),
        "acceptance_rate": round(len(kept) / max(1, len(kept) + len(failed)), 3),
        "failed_by_reason": dict(sorted(reasons.items())),
        "rejected_only_by_newer_rules": dict(sorted(only_new.items())),
        "example_reason": examples,
        "distinct_blueprints_kept": len({t["blueprint_id"] for t in kept}),
        "writes_per_blueprint": round(sum(writes) / max(1, len(writes)), 2),
        "recombined_share": round(len(recombined) / max(1, len(blueprints)), 3),
        "tool_calls_per_kept": round(sum(tools) / max(1, len(tools)), 2),
        "user_turns_per_kept": round(sum(turns) / max(1, len(turns)), 2),
        "model_calls_per_kept": round(calls / max(1, len(kept)), 1),
        "tokens_per_kept": round(tokens / max(1, len(kept))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="retail")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--run", type=Path, help="Read this run directory instead.")
    parser.add_argument("--source", type=Path, help="Run the code of this checkout.")
    args = parser.parse_args()
    seconds = None
    if args.run is None:
        out = Path(tempfile.mkdtemp(prefix="bench-judge-")) / args.env
        env = dict(os.environ)
        if args.source:
            env["PYTHONPATH"] = str(args.source)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "apigen_mt", "run", "--env", args.env, "--n",
                        str(args.n), "--out", str(out), "--quiet"], check=True, env=env,
                       cwd=out.parent, stdout=subprocess.DEVNULL)
        seconds = round(time.perf_counter() - start, 1)
        args.run = out
    figures = {"env": args.env, "n": args.n, "run": str(args.run), "seconds": seconds,
               **funnel(args.run)}
    print(json.dumps(figures, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
