"""Does a long run stay flat in memory? ``apigen-mt run`` offline at two sizes.

Runs ``apigen-mt run --env retail --n N`` (the offline sim, a subprocess each) for every
N given, and prints its wall time, CPU time, model calls and peak RSS, then the ratio of
the largest run's peak RSS to the smallest's (aim: ≤ 1.5× for 10× the conversations:
memory must not grow with the run). The last line is one JSON object.

    .venv/bin/python scripts/bench_scale.py                 # n = 500 and 5000
    .venv/bin/python scripts/bench_scale.py --n 200 --n 2000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def run(n: int, work: Path, concurrency: int | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APIGEN_MT_")}
    env.update(APIGEN_MT_RUNS=str(work / "runs"), COLUMNS="200")
    out = work / f"run-{n}"
    cmd = [sys.executable, "-m", "apigen_mt", "run", "--env", "retail", "--n", str(n),
           "--quiet", "--out", str(out)]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(proc.stdout or []), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    reader.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"run --n {n} failed: {proc.stderr.read() if proc.stderr else ''}")
    text = " ".join("".join(chunks).split())
    calls = sum(int(x) for x in re.findall(r"(\d+) model calls", text))
    kept = (out / "trajectories.jsonl").read_bytes().count(b"\n")
    size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    return {"n": n, "wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "model_calls": calls,
            "trajectories": kept, "run_dir_mb": round(size_mb, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, action="append", help="sizes (default: 500 and 5000)")
    ap.add_argument("--concurrency", type=int, default=None)
    args = ap.parse_args()
    sizes = sorted(args.n or [500, 5000])
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in sizes:
            r = run(n, Path(tmp), args.concurrency)
            results.append(r)
            print(f"run --n {n:>5}: {r['wall_s']:7.1f}s wall, {r['cpu_s']:7.1f}s CPU, "
                  f"{r['model_calls']:>7} model calls, {r['trajectories']} trajectories, "
                  f"run dir {r['run_dir_mb']:.0f} MB, peak RSS {r['peak_rss_mb']:.0f} MB",
                  flush=True)
    small, large = results[0], results[-1]
    ratio = large["peak_rss_mb"] / small["peak_rss_mb"]
    print(f"peak RSS ratio n={large['n']} / n={small['n']}: {ratio:.2f}x "
          f"(wall time ratio {large['wall_s'] / small['wall_s']:.1f}x)")
    print(json.dumps({"runs": results, "rss_ratio": round(ratio, 3),
                      "wall_ratio": round(large["wall_s"] / small["wall_s"], 2),
                      "load_avg_1m_at_end": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
