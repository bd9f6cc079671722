"""Peak memory of ``export`` and ``stats`` against the number of records in a run.

    python scripts/bench_export_rss.py                 # 5,000 and 50,000 records
    python scripts/bench_export_rss.py --sizes 5000 --formats sharegpt

Makes one small offline run (``run --env retail --n 60``), then synthesizes run
directories of N accepted trajectories (plus failed ones in the same proportion) by
copying its blueprints and trajectories under new ids: each copy's customer messages
(and its blueprint's instruction) get the copy's number, so every record is distinct
content, as in a real run. Then
runs ``apigen-mt stats`` and ``apigen-mt export --format F`` on each as subprocesses and
reads their peak RSS from the kernel (``wait4``). Prints a table and one JSON line
(keys: ``runs``: [{records, run_dir_mb, stats_mb, export_<fmt>_mb, …}]).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from apigen_mt.records import content_id

PER_BLUEPRINT = 3  # trajectories per blueprint copy, as with --trials 3


def base_run(folder: Path) -> Path:
    run = folder / "base"
    subprocess.run([sys.executable, "-m", "apigen_mt", "run", "--env", "retail", "--n", "60",
                    "--out", str(run), "--quiet"], check=True, capture_output=True)
    return run


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def synthesize(base: Path, out: Path, records: int) -> Path:
    """A run directory holding ``records`` accepted trajectories, all distinct."""
    out.mkdir(parents=True)
    for name in ("manifest.json", "config.json", "usage.jsonl"):
        if (base / name).exists():
            shutil.copy(base / name, out / name)
    blueprints = {b["id"]: b for b in _lines(base / "blueprints.jsonl")}
    good = _lines(base / "trajectories.jsonl")
    bad = _lines(base / "trajectories.failed.jsonl")
    failed_wanted = records * len(bad) // max(1, len(good))
    with (out / "blueprints.jsonl").open("wb") as bfh, \
            (out / "trajectories.jsonl").open("wb") as gfh, \
            (out / "trajectories.failed.jsonl").open("wb") as ffh:
        made_bp: set[str] = set()
        for i in range(records + failed_wanted):
            pool, fh = (good, gfh) if i < records else (bad, ffh)
            j = i if i < records else i - records
            src = pool[j % len(pool)]
            copy = j // len(pool)
            bp_src = blueprints[src["blueprint_id"]]
            bp_id = content_id("bp", {"src": bp_src["id"], "copy": copy})
            if bp_id not in made_bp:  # its instruction made distinct too, as in a real run
                made_bp.add(bp_id)
                bfh.write(orjson.dumps({**bp_src, "id": bp_id, "instruction":
                                        _distinct(bp_src["instruction"], copy)}) + b"\n")
            t = dict(src, blueprint_id=bp_id, trial=copy % PER_BLUEPRINT)
            msgs = [dict(m) for m in t["messages"]]
            for m in msgs:
                if m.get("role") == "user" and m.get("content"):
                    m["content"] = f"{m['content']} (ref {copy})"
                    break
            t["messages"] = msgs
            t["id"] = content_id("traj", {"blueprint": bp_id, "messages": msgs})
            fh.write(orjson.dumps(t) + b"\n")
    return out


def _distinct(text: str, copy: int) -> str:
    """The text with every third word tagged by the copy number: copies of one instruction
    share no word 3-gram, so they are not near-duplicates of each other (a real run's
    instructions differ in names, ids and requests; copies that all matched would make
    `stats`' near-duplicate search report millions of pairs instead)."""
    if copy == 0:
        return text
    return " ".join(f"{w}-{copy}" if i % 3 == 0 else w for i, w in enumerate(text.split()))


def peak_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of ``python -m apigen_mt ARGS``."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "apigen_mt", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"apigen-mt {' '.join(args)} failed: {proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,50000")
    ap.add_argument("--formats", default="sharegpt,openai")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        base = base_run(folder)
        results = []
        for size in (int(s) for s in args.sizes.split(",")):
            run = synthesize(base, folder / f"run{size}", size)
            mb = sum(f.stat().st_size for f in run.iterdir() if f.is_file()) / 2**20
            row: dict = {"records": size, "run_dir_mb": round(mb, 1)}
            rss, wall = peak_mb(["stats", "--run", str(run)])
            row.update(stats_mb=round(rss, 1), stats_s=round(wall, 1))
            for fmt in filter(None, args.formats.split(",")):
                rss, wall = peak_mb(["export", "--run", str(run), "--format", fmt,
                                     "--out", str(folder / f"out-{size}-{fmt}")])
                row[f"export_{fmt}_mb"] = round(rss, 1)
                row[f"export_{fmt}_s"] = round(wall, 1)
            results.append(row)
            shown = ", ".join(f"{k} {v}" for k, v in row.items() if k != "records")
            print(f"{size:>7,} records: {shown}")
            shutil.rmtree(run)
        print(json.dumps({"runs": results}))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
