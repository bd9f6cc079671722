"""Crashes: kill -9 during `blueprint` alone and `rollout` alone, torn last lines, and
"no model call is paid twice" proved with the server's own request log.

Each crashed-and-resumed run must end with exactly the files of an uninterrupted run
with the same seed and command.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from apigen_mt.runner.store import JsonlLog
from tests.faults.conftest import (
    CountingModel,
    apigen,
    cli_env,
    file_bytes,
    phase_lines,
    popen,
    rows,
    write_config,
)

BP_ARGS = ("--env", "retail", "--n", "40", "--quiet", "--concurrency", "8")
RO_ARGS = ("--n", "80", "--quiet", "--concurrency", "16")
BP_FILES = ("blueprints.jsonl", "blueprints.rejected.jsonl")
RO_FILES = ("trajectories.jsonl", "trajectories.failed.jsonl", "episodes.jsonl")


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Reference (uninterrupted) runs shared by this module's tests."""
    root = tmp_path_factory.mktemp("crash")
    env = cli_env(root, APIGEN_MT_CACHE__SIM="true")  # sim replies are cached too
    ref_bp = root / "ref-bp"
    _ok(apigen("blueprint", *BP_ARGS, "--out", str(ref_bp), env=env))
    ref_ro = root / "ref-ro"
    shutil.copytree(ref_bp, ref_ro)
    shutil.rmtree(ref_ro / "cache")  # phase 2 starts from the blueprints only
    base = root / "base"  # the same starting point, kept pristine for copies
    shutil.copytree(ref_ro, base)
    _ok(apigen("rollout", "--run", str(ref_ro), *RO_ARGS, env=env))
    small = root / "small"  # ten blueprints, for runs through the HTTP server
    shutil.copytree(base, small)
    (small / "blueprints.jsonl").write_bytes(b"".join(_lines(base / "blueprints.jsonl")[:10]))
    return {"root": root, "env": env, "ref_bp": ref_bp, "ref_ro": ref_ro, "base": base,
            "small": small}


def _committed(run: Path, names: tuple[str, ...]) -> int:
    return sum((run / n).read_bytes().count(b"\n") for n in names if (run / n).exists())


def _crash_and_resume(cmd: tuple[str, ...], env, rng: random.Random, run: Path,
                      files: tuple[str, ...], total: int, times: int = 3) -> tuple[int, str]:
    """Start the command and kill -9 it at random points of its progress (a random number
    of committed records, later each time), then let it finish. Returns the number of
    kills and the output of the run that finished."""
    kills = 0
    for i in range(times):
        # (the ordered committer may write several records at once, hence the margin)
        target = total * rng.uniform(0.1 + 0.5 * i / times, 0.1 + 0.5 * (i + 1) / times)
        proc = popen(*cmd, env=env)
        deadline = time.monotonic() + 60
        while (proc.poll() is None and _committed(run, files) < target
               and time.monotonic() < deadline):
            time.sleep(0.005)
        if proc.poll() is not None:  # finished before the kill: it is the resumed run
            out, err = proc.communicate()
            assert proc.returncode == 0, err
            return kills, out.decode()
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        assert _committed(run, files) < total, "killed after the work was done"
    return kills, _ok(apigen(*cmd, env=env))


def test_kill_9_during_blueprint_resumes_to_identical_files(work, tmp_path):
    out = tmp_path / "crashed"
    cmd = ("blueprint", *BP_ARGS, "--out", str(out))
    total = _committed(work["ref_bp"], BP_FILES)
    kills, final = _crash_and_resume(cmd, work["env"], random.Random(5), out, BP_FILES, total)
    assert kills >= 2
    assert file_bytes(out, BP_FILES) == file_bytes(work["ref_bp"], BP_FILES)
    # the resumed run finished the work (whether a request was in flight at the last
    # kill, to be answered from the cache, depends on when the kill came: phase 1 starts
    # no slot past what --n needs, and a committee's reviews are one request)
    assert phase_lines(final)[-1].counts["added"] > 0, final


def test_kill_9_during_rollout_resumes_to_identical_files(work, tmp_path):
    out = tmp_path / "crashed"
    shutil.copytree(work["base"], out)
    cmd = ("rollout", "--run", str(out), *RO_ARGS)
    total = _committed(work["ref_ro"], RO_FILES)
    kills, final = _crash_and_resume(cmd, work["env"], random.Random(8), out, RO_FILES, total)
    assert kills >= 2
    assert file_bytes(out, RO_FILES) == file_bytes(work["ref_ro"], RO_FILES)
    assert file_bytes(out, BP_FILES) == file_bytes(work["base"], BP_FILES)
    # (cache hits after the last kill depend on whether an answered episode was still
    # uncommitted at that instant, which is the machine's timing: identity is the promise)
    assert phase_lines(final)[-1].counts["added"] > 0, final


def _tear(path: Path, row: bytes) -> None:
    """Append the first half of a record, as a write cut short by a crash leaves it."""
    with open(path, "ab") as fh:
        fh.write(row[: len(row) // 2])


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True) if path.exists() else []


def test_a_torn_last_blueprint_line_is_dropped_and_the_rerun_matches(work, tmp_path):
    ref = work["ref_bp"]
    slot_of = {}
    for name in BP_FILES:
        for line in _lines(ref / name):
            row = rows_of(line)
            slot_of[line] = (name, row["provenance"]["slot"] if "provenance" in row
                             else row["slot"])
    cut = sorted(s for _, s in slot_of.values())[len(slot_of) // 2]
    out = tmp_path / "torn"
    out.mkdir()
    for name in ("manifest.json", "config.json"):
        shutil.copy(ref / name, out / name)
    torn_in = None
    for name in BP_FILES:  # the state of a crash while slot `cut` was being written
        kept = [line for line in _lines(ref / name) if slot_of[line][1] < cut]
        (out / name).write_bytes(b"".join(kept))
        for line in _lines(ref / name):
            if slot_of[line][1] == cut:
                _tear(out / name, line)
                torn_in = name
    assert torn_in is not None
    complete = len(_lines(out / torn_in)) - 1
    log = JsonlLog(out / torn_in)
    assert len(list(log.rows())) == complete and log.dropped_torn == 1  # dropped, not parsed
    _tear(out / torn_in, _lines(ref / torn_in)[-1])  # torn again for the real command
    _ok(apigen("blueprint", *BP_ARGS, "--out", str(out), env=work["env"]))
    assert file_bytes(out, BP_FILES) == file_bytes(ref, BP_FILES)


def test_a_torn_last_trajectory_line_is_dropped_and_the_rerun_matches(work, tmp_path):
    from apigen_mt.records import Blueprint
    from apigen_mt.runner.trials import playing_order

    ref = work["ref_ro"]
    seed = json.loads((ref / "manifest.json").read_text())["seed"]
    order = [b.id for b in playing_order(
        [Blueprint.model_validate(b) for b in rows(ref / "blueprints.jsonl")], seed)]
    first_passed: dict[str, int] = {}  # trials after a passed one come in the second pass
    for name in RO_FILES:
        for line in _lines(ref / name):
            row = rows_of(line)
            if name == "trajectories.jsonl" or row.get("outcome") == "duplicate":
                bp = row["blueprint_id"]
                first_passed[bp] = min(first_passed.get(bp, row["trial"]), row["trial"])
    key_of = {}
    for name in RO_FILES:  # the batch's key of each record (runner/trials.py's layout)
        for line in _lines(ref / name):
            row = rows_of(line)
            later = row["trial"] > first_passed.get(row["blueprint_id"], row["trial"])
            key_of[line] = (later, row["trial"], order.index(row["blueprint_id"]))
    # a key whose record is a failed or accepted trajectory, about halfway through
    keys = sorted(k for line, k in key_of.items() if b'"verdict"' in line)
    cut = keys[len(keys) // 2]
    out = tmp_path / "torn"
    shutil.copytree(work["base"], out)
    torn_in = None
    for name in RO_FILES:
        kept = [line for line in _lines(ref / name) if key_of[line] < cut]
        (out / name).write_bytes(b"".join(kept))
        for line in _lines(ref / name):
            if key_of[line] == cut:
                _tear(out / name, line)
                torn_in = name
    assert torn_in in ("trajectories.jsonl", "trajectories.failed.jsonl")
    _ok(apigen("rollout", "--run", str(out), *RO_ARGS, env=work["env"]))
    assert file_bytes(out, RO_FILES) == file_bytes(ref, RO_FILES)


def rows_of(line: bytes) -> dict:
    import orjson

    return orjson.loads(line)


def test_no_model_call_is_paid_twice_through_serve(work, serve, tmp_path):
    """Through `serve`: a killed-and-resumed rollout asks the server for exactly the calls
    an uninterrupted one asks for, plus those in flight at the kill — and nothing else.

    `--trials 1 --n 1000` runs every episode of the blueprints (nothing is cancelled at a
    stop), so the set of requests of the run does not depend on timing.
    """
    model = CountingModel()
    handle = serve(model, latency_ms=2)
    config = write_config(tmp_path, handle.base_url)
    env = work["env"]
    args = ("--n", "1000", "--trials", "1", "--quiet", "--concurrency", "8",
            "--config", str(config))

    ref = tmp_path / "ref"
    shutil.copytree(work["small"], ref)
    _ok(apigen("rollout", "--run", str(ref), *args, env=env))
    ref_requests = handle.stats()["requests"]
    assert ref_requests == len(model.seen) > 0  # every request of a run is distinct

    model.seen.clear()
    handle.app.stats.requests = 0
    out = tmp_path / "crashed"
    shutil.copytree(work["small"], out)
    proc = popen("rollout", "--run", str(out), *args, env=env)
    target = random.Random(2).uniform(0.3, 0.7) * ref_requests
    deadline = time.monotonic() + 60
    while handle.stats()["requests"] < target and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    time.sleep(0.5)  # let the server drain what the dead client had already sent
    at_kill = handle.stats()["requests"]
    before = dict(model.seen)
    cached = sum(1 for line in _lines(out / "cache" / "responses.jsonl")
                 if line.endswith(b"\n"))
    in_flight = at_kill - cached  # asked for, but the answer never reached the cache
    assert 0 < cached < at_kill < ref_requests
    assert 0 <= in_flight <= 8 * 4  # episodes in flight × best-of-N parallel asks

    model.seen.clear()
    handle.app.stats.requests = 0
    resumed = _ok(apigen("rollout", "--run", str(out), *args, env=env))
    resumed_requests = handle.stats()["requests"]
    again = set(before) & set(model.seen)
    # only the calls in flight at the kill are asked for again; every call that finished
    # (is in the cache) is answered from it, and counted as a cache hit
    assert len(again) <= in_flight
    assert at_kill + resumed_requests <= ref_requests + in_flight
    assert resumed_requests == ref_requests - cached
    # … and the calls of the episodes cut short by the kill come from the cache
    assert phase_lines(resumed)[-1].cache_hits > 0
    print(f"reference {ref_requests} requests; killed at {at_kill} ({cached} cached, "
          f"{in_flight} in flight); resumed {resumed_requests}, asked again {len(again)}")
    assert file_bytes(out, RO_FILES) == file_bytes(ref, RO_FILES)
