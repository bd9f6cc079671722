"""How far the corrected tools are from τ-bench's: ground-truth hashes per tool mode.

Replays every task of τ-bench's splits on τ-bench's data twice: with the mode the data
selects by itself (τ-bench mode, recognised by the data's hash) and with the corrected
tools forced (``tau_compat=False``), and prints how many tasks miss their ground-truth
hash in each. The last line is JSON.

    python scripts/bench_tau_modes.py [--anchors DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from apigen_mt.env.domain import load_environment
from apigen_mt.env.tasks import load_tasks, replay_task

REPO = Path(__file__).resolve().parents[1]
SPLITS = [("retail", "retail_test"), ("retail", "retail_train"), ("retail", "retail_dev"),
          ("airline", "airline_test")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchors", type=Path,
                        default=REPO.parent / "shared" / "anchors" / "tau_bench")
    args = parser.parse_args()
    truth = json.loads((args.anchors / "gt_hashes.json").read_text())["splits"]
    rows = []
    for domain, split in SPLITS:
        tasks = load_tasks(args.anchors / "tasks.json", split=split)
        row = {"split": split, "tasks": len(tasks)}
        for label, flag in (("auto", None), ("corrected", False)):
            env = load_environment(domain, data_dir=args.anchors / domain, tau_compat=flag)
            row[f"{label}_mode_tau"] = bool(env.state.options.get("tau_compat"))
            row[f"{label}_mismatches"] = sum(
                replay_task(env, t, method="tau")["hash"] != want["gt_data_hash"]
                for t, want in zip(tasks, truth[split], strict=True))
        rows.append(row)
        print(f"{split:13} {row['tasks']:4} tasks | data's own mode (tau_compat "
              f"{row['auto_mode_tau']}): {row['auto_mismatches']} miss their hash | "
              f"corrected tools: {row['corrected_mismatches']} miss")
    print(json.dumps({"bench": "tau_modes", "splits": rows}))


if __name__ == "__main__":
    main()
