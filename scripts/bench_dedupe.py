"""Measure duplicates as a user meets them: blueprints, rollouts, then an export.

For each domain, in a fresh temporary folder, it runs the installed command line
exactly as the README does (``blueprint --env D``, ``rollout --n N``, then ``export``
as ShareGPT and as OpenAI JSONL) and counts, in the files written:

- ``records`` and ``distinct``: records of each export and how many different
  conversations they hold. ShareGPT records carry no ids, so their ``conversations``
  list is compared as it is; OpenAI records are compared with ``id`` / ``tool_call_id``
  removed. This count is made here, from the exported files, not by the code under test.
- ``trajectories`` / ``distinct_trajectories``: the run's accepted file, compared the
  same way (messages without ids), and ``ledger_duplicates``: passing episodes the run
  logged as repeats instead of keeping them.
- what a kept trajectory holds and costs: tool calls and user turns per trajectory,
  writes per blueprint, the recombined share of blueprints, model calls and tokens (both
  phases) per kept trajectory, and the run's tool mode (``tau_compat``).

The last line is JSON (keys stable). ``--cmd`` runs another build of the command line
(e.g. ``"python -m apigen_mt"`` with ``PYTHONPATH`` set), to measure before and after.

    python scripts/bench_dedupe.py [--envs retail,airline] [--n 5000] [--cmd apigen-mt]
        [--config tau.yaml]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[-400:]}")


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _without_ids(messages: list[dict[str, Any]]) -> str:
    """Messages as text with every tool-call id left out (arguments parsed as JSON)."""
    out = []
    for m in messages:
        calls = []
        for c in m.get("tool_calls") or []:
            fn = c.get("function") or {}
            args = fn.get("arguments")
            if isinstance(args, str):
                with contextlib.suppress(json.JSONDecodeError):
                    args = json.loads(args)
            calls.append([fn.get("name"), args])
        out.append([m.get("role"), m.get("content") or "", calls])
    return json.dumps(out, sort_keys=True)


def _write_tools(env_ref: dict[str, Any]) -> set[str]:
    from apigen_mt.env.domain import load_domain

    return {t.name for t in load_domain(env_ref["spec"]).tools if t.kind == "write"}


def _latest_run(runs: Path) -> Path:
    """The run ``runs/latest`` points at, read by the project's own resolver (a symbolic
    link, or a text file where the filesystem has no links)."""
    from unittest import mock

    from apigen_mt.runner.store import RUNS_ROOT_ENV, resolve_run

    with mock.patch.dict(os.environ, {RUNS_ROOT_ENV: str(runs)}):
        return resolve_run(None)


def measure(domain: str, n: int, cmd: list[str], root: Path,
            config: str | None = None) -> dict[str, Any]:
    """One domain: run the three commands in ``root`` and count what they wrote."""
    env = {**os.environ, "APIGEN_MT_RUNS": str(root / "runs")}
    extra = ["--config", config] if config else []
    start = time.perf_counter()
    _run([*cmd, "blueprint", "--env", domain, "--quiet", *extra], env)
    _run([*cmd, "rollout", "--n", str(n), "--quiet", *extra], env)
    _run([*cmd, "export", "--format", "sharegpt", "--out", str(root / "sharegpt")], env)
    _run([*cmd, "export", "--format", "openai", "--out", str(root / "openai")], env)
    seconds = time.perf_counter() - start
    run_dir = _latest_run(root / "runs")
    share = _rows(root / "sharegpt" / "train.jsonl")
    chat = _rows(root / "openai" / "train.jsonl")
    trajs = _rows(run_dir / "trajectories.jsonl")
    ledger = _rows(run_dir / "episodes.jsonl") if (run_dir / "episodes.jsonl").exists() else []
    blueprints = _rows(run_dir / "blueprints.jsonl")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    kinds = _write_tools(manifest["env"])
    usage = (manifest.get("usage") or {}).values()
    calls = sum(u.get("calls", 0) for u in usage)
    tokens = sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in usage)
    kept = max(1, len(trajs))
    return {
        "env": domain,
        "blueprints": len(blueprints),
        "trajectories": len(trajs),
        "distinct_trajectories": len({_without_ids(t["messages"]) for t in trajs}),
        "ledger_duplicates": sum(1 for r in ledger if r.get("outcome") == "duplicate"),
        "sharegpt_records": len(share),
        "sharegpt_distinct": len({json.dumps(r["conversations"], sort_keys=True)
                                  for r in share}),
        "openai_records": len(chat),
        "openai_distinct": len({_without_ids(r["messages"]) for r in chat}),
        "tool_calls_per_trajectory": round(sum(
            len(m.get("tool_calls") or []) for t in trajs for m in t["messages"]) / kept, 2),
        "user_turns_per_trajectory": round(sum(
            m["role"] == "user" for t in trajs for m in t["messages"]) / kept, 2),
        "writes_per_blueprint": round(sum(
            a["name"] in kinds for b in blueprints for a in b["actions"])
            / max(1, len(blueprints)), 2),
        "recombined_share": round(sum(
            bool((b.get("provenance") or {}).get("recombined_from")) for b in blueprints)
            / max(1, len(blueprints)), 3),
        "tau_compat": manifest["env"].get("tau_compat"),
        "model_calls_per_kept": round(calls / kept, 1),
        "tokens_per_kept": round(tokens / kept),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", default="retail,airline")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--cmd", default="apigen-mt", help="the command line to measure")
    parser.add_argument("--config", help="a run config for blueprint and rollout "
                                         "(e.g. one saying tau_compat: true)")
    args = parser.parse_args()
    cmd = shlex.split(args.cmd)
    results = []
    for domain in args.envs.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-dedupe-{domain}-") as tmp:
            r = measure(domain, args.n, cmd, Path(tmp),
                        str(Path(args.config).resolve()) if args.config else None)
        results.append(r)
        print(f"{domain}: {r['blueprints']} blueprints; run keeps {r['trajectories']} "
              f"trajectories ({r['distinct_trajectories']} distinct, "
              f"{r['ledger_duplicates']} repeats logged, not kept); ShareGPT export "
              f"{r['sharegpt_records']} records / {r['sharegpt_distinct']} distinct; OpenAI "
              f"export {r['openai_records']} / {r['openai_distinct']}; "
              f"{r['tool_calls_per_trajectory']} tool calls and "
              f"{r['user_turns_per_trajectory']} user turns per kept trajectory, "
              f"{r['writes_per_blueprint']} writes per blueprint, recombined "
              f"{r['recombined_share']:.0%}, {r['model_calls_per_kept']} model calls and "
              f"{r['tokens_per_kept']:,} tokens per kept trajectory; {r['seconds']} s")
    print(json.dumps({"bench": "dedupe", "n": args.n, "results": results}))


if __name__ == "__main__":
    main()
