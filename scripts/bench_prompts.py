"""Prompt tokens per role, as built and as sent after fitting to a context window.

Runs the offline pipeline (`sim` plays every role, so no model is needed) with the
request log on and `sim.context_window` set, each role with the max_tokens of the
packaged llamacpp config, then reads requests.jsonl: for each role, the prompt tokens as
the role built them ("before") and as sent after fitting ("after"), how many requests
were trimmed and how many could not fit. Tokens are estimated (bytes / 3).

    python scripts/bench_prompts.py --env retail --n 10 --window 8192
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROLES = ("drafter", "reviewers", "feedback", "human", "critic", "agent")


def config_text(window: int) -> str:
    """Every role on `sim` with the llamacpp config's reply sizes and a context window."""
    from apigen_mt.config import RunConfig

    llama = RunConfig.load("llamacpp").roles
    lines = ["roles:"]
    for role in ("drafter", "feedback", "human", "critic", "agent"):
        lines.append(f'  {role}: {{model: "sim:sim", max_tokens: '
                     f'{getattr(llama, role).max_tokens}}}')
    rev = llama.reviewers[0].max_tokens
    lines.append(f'  reviewers: [{", ".join([f"{{model: sim:sim, max_tokens: {rev}}}"] * 3)}]')
    lines.append(f"sim: {{context_window: {window}}}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="retail")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--window", type=int, default=8192)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "fit.yaml"
        cfg.write_text(config_text(args.window))
        out = Path(tmp) / "run"
        env = {k: v for k, v in os.environ.items() if not k.startswith("APIGEN_MT_")}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "apigen_mt", "run", "--env", args.env,
                               "--n", str(args.n), "--out", str(out), "--quiet",
                               "--config", str(cfg), "--log-requests"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if not (out / "requests.jsonl").exists():
            sys.exit(f"run failed: {done.stderr.strip()}")
        by_role: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        for line in (out / "requests.jsonl").read_text().splitlines():
            row = json.loads(line)
            role = row["role"]
            if row.get("sent") is False:
                by_role[role]["overflow"].append(1)
                continue
            fit = row.get("fit") or {}
            by_role[role]["before"].append(fit.get("original_tokens", 0))
            by_role[role]["after"].append(fit.get("tokens", 0))
            by_role[role]["trimmed"].append(1 if fit.get("trimmed") else 0)
    report = {"env": args.env, "n": args.n, "window": args.window, "wall_s": round(wall, 1),
              "exit_code": done.returncode, "error": done.stderr.strip()[:300] or None,
              "tokens": "estimate (bytes/3)", "roles": {}}
    for role in ROLES:
        data = by_role.get(role)
        if not data:
            continue
        before, after = data["before"] or [0], data["after"] or [0]
        report["roles"][role] = {
            "requests": len(data["before"]) + len(data["overflow"]),
            "before_mean": round(statistics.mean(before)), "before_max": max(before),
            "after_mean": round(statistics.mean(after)), "after_max": max(after),
            "trimmed": sum(data["trimmed"]), "overflow": len(data["overflow"]),
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
