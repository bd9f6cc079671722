"""How natural the offline conversations sound: variety and tell-tale template speech.

Runs ``apigen-mt run --env D --n N`` offline (the ``sim`` model plays every role) in a
scratch directory for each domain, then reads the accepted trajectories and prints:

- distinct customer openings (the customer's first message) and distinct agent turns;
- distinct-1 / distinct-2 (unique word n-grams over all n-grams) of customer turns and of
  all spoken turns (customer and agent), and the mean words per customer turn (so a gain
  in variety is not bought with longer turns);
- the share of customer turns holding a ``key: value`` list (or a JSON object) and the
  share naming a tool (``cancel_pending_order`` or ``cancel pending order``);
- the share of conversations whose customer was identified by name and zip (a lookup
  call taking a zip), and by email;
- the episodes that failed because the customer could not read its instruction.

The last line is one JSON object with stable keys.

    python scripts/bench_speech.py                   # retail and airline, --n 100
    python scripts/bench_speech.py --env retail --n 50 --keep runs-speech
    python scripts/bench_speech.py --measure runs-speech     # measure kept runs again
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from apigen_mt.env.domain import load_environment
from apigen_mt.stats.text import distinct_n, words

# a lowercase key, a colon and a value ("order id: #W1"), not a clock time ("10:30")
KEY_VALUE = re.compile(r"(?<![\w#:])[a-z][a-z_ ]{1,30}: (?=\S)|\"\w+\"\s*:")


def distinct(texts: list[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over a corpus (``apigen-mt stats``'s measure)."""
    return distinct_n(texts, n)


def tool_names(env: str) -> list[str]:
    """Names a customer should never say: every tool of more than one word, both forms."""
    names = [t.name for t in load_environment(env).domain.tools if "_" in t.name]
    return names + [n.replace("_", " ") for n in names]


def measure(rows: list[dict[str, Any]], tools: list[str]) -> dict[str, Any]:
    """The figures for one domain's accepted trajectories."""
    openings, customer, agent = [], [], []
    by_zip = by_email = 0
    for row in rows:
        msgs = row["messages"]
        said = [m["content"] for m in msgs if m["role"] == "user" and m.get("content")]
        if said:
            openings.append(said[0])
        customer += said
        agent += [m["content"] for m in msgs[2:] if m["role"] == "assistant" and m.get("content")]
        lookups = [json.loads(c["function"]["arguments"] or "{}")
                   for m in msgs if m["role"] == "assistant"
                   for c in m.get("tool_calls") or [] if c["function"]["name"].startswith("find_")]
        by_zip += any("zip" in a for a in lookups if isinstance(a, dict))
        by_email += any("email" in a for a in lookups if isinstance(a, dict))
    lowered = [t.lower() for t in customer]
    kv = sum(1 for t in customer if KEY_VALUE.search(t))
    named = sum(1 for t in lowered if any(name in t for name in tools))
    n = max(1, len(rows))
    return {
        "trajectories": len(rows),
        "customer_turns": len(customer),
        "distinct_openings": len(set(openings)),
        "top_opening": Counter(openings).most_common(1)[0] if openings else None,
        "agent_turns": len(agent),
        "distinct_agent_turns": len(set(agent)),
        "words_per_customer_turn": round(sum(len(words(t)) for t in customer)
                                         / max(1, len(customer)), 2),
        "distinct_1_customer": round(distinct(customer, 1), 3),
        "distinct_2_customer": round(distinct(customer, 2), 3),
        "distinct_1_all": round(distinct(customer + agent, 1), 3),
        "distinct_2_all": round(distinct(customer + agent, 2), 3),
        "key_value_share": round(kv / max(1, len(customer)), 3),
        "tool_name_share": round(named / max(1, len(customer)), 3),
        "identified_by_name_zip": round(by_zip / n, 3),
        "identified_by_email": round(by_email / n, 3),
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def measure_run(env: str, run: Path) -> dict[str, Any]:
    """The figures of one run directory's accepted (and failed) trajectories."""
    rows = read_jsonl(run / "trajectories.jsonl")
    failed = read_jsonl(run / "trajectories.failed.jsonl")
    figures = measure(rows, tool_names(env))
    figures["env"] = env
    figures["failed_episodes"] = len(failed)
    figures["unreadable_instruction"] = sum(
        1 for f in failed if f.get("end_reason") == "unreadable_instruction")
    return figures


def run_domain(env: str, n: int, workdir: Path) -> dict[str, Any]:
    """One offline run in ``workdir``, measured (a run already there would be resumed and
    its cached replies reused, so it is refused)."""
    if (workdir / f"{env}-run").exists():
        raise SystemExit(f"{workdir / f'{env}-run'} exists; give --keep an empty directory")
    cmd = [sys.executable, "-m", "apigen_mt", "run", "--env", env, "--n", str(n),
           "--out", str(workdir / f"{env}-run")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return measure_run(env, workdir / f"{env}-run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="domain (repeatable); default both")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="keep the runs in this directory")
    parser.add_argument("--measure", type=Path,
                        help="only measure the runs already in this directory (<env>-run)")
    args = parser.parse_args()
    envs = args.env or ["retail", "airline"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for env in envs:
            r = (measure_run(env, args.measure / f"{env}-run") if args.measure
                 else run_domain(env, args.n, base.resolve()))
            results.append(r)
            print(f"{env:8} {r['trajectories']:4} kept | openings {r['distinct_openings']:4}"
                  " distinct"
                  f" | agent turns {r['distinct_agent_turns']}/{r['agent_turns']} distinct"
                  f" | distinct-1/2 customer {r['distinct_1_customer']:.3f}/"
                  f"{r['distinct_2_customer']:.3f}, all {r['distinct_1_all']:.3f}/"
                  f"{r['distinct_2_all']:.3f}")
            print(f"{'':8} {r['customer_turns']} customer turns, "
                  f"{r['words_per_customer_turn']:.2f} words each")
            print(f"{'':8} customer turns with key: value {r['key_value_share']:.1%}, "
                  f"with a tool name {r['tool_name_share']:.1%} | identified by name+zip "
                  f"{r['identified_by_name_zip']:.1%}, by email {r['identified_by_email']:.1%}"
                  f" | unreadable instructions {r['unreadable_instruction']}"
                  f"/{r['failed_episodes']} failed")
            print(f"{'':8} most frequent opening: {r['top_opening']}")
    print(json.dumps({"speech": results}))


if __name__ == "__main__":
    main()
