"""`apigen-mt run` against `serve` while the endpoint misbehaves.

A fifth of the requests fail (429 with Retry-After, 500, hangs, dropped connections,
broken tool-call JSON, empty 200s): the run still finishes, every slot and episode it
started is accounted for exactly once, and it says what it survived. A total outage
stops the run in bounded time with one line and exit 1; after recovery the same
command completes the run.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from tests.faults.conftest import (
    apigen,
    cli_env,
    file_bytes,
    phase_lines,
    rows,
    survived,
    write_config,
)

# server fault → the kind of transport retry it causes in the adapter
RETRIED_AS = {"429": "rate_limit", "500": "server", "timeout": "timeout",
              "disconnect": "connection", "empty": "bad_response", "bad-json": "bad_response"}


def _check_accounting(out, stdout: str, errors_before: int = 0) -> list:
    """Closing lines add up, and agree with the run files."""
    lines = phase_lines(stdout)
    assert lines and lines[-1].kind == "rollout", stdout
    bps = [x.counts for x in lines if x.kind == "blueprint"]
    eps = [x.counts for x in lines if x.kind == "rollout"]
    for c in bps:
        assert c["added"] + c["rejected"] + c["errored"] + c["cancelled"] == c["scheduled"], c
    for c in eps:
        assert (c["added"] + c["failed"] + c["duplicates"] + c["errored"] + c["cancelled"]
                == c["scheduled"]), c

    accepted, rejected = rows(out / "blueprints.jsonl"), rows(out / "blueprints.rejected.jsonl")
    assert sum(c["added"] for c in bps) == len(accepted)
    # recombination attempts are recorded in their own file, with their outcome
    recombined = Counter(r["outcome"] for r in rows(out / "recombinations.jsonl"))
    assert sum(c["rejected"] for c in bps) == len(rejected) + recombined["rejected"]
    assert sum(c["errored"] for c in bps) + errors_before == len(
        rows(out / "blueprints.errors.jsonl")) + recombined["error"]
    slots = [b["provenance"]["slot"] for b in accepted] + [r["slot"] for r in rejected]
    assert len(slots) == len(set(slots)), "a slot was committed twice"

    kept, failed = rows(out / "trajectories.jsonl"), rows(out / "trajectories.failed.jsonl")
    ledger = rows(out / "episodes.jsonl")
    assert sum(c["added"] for c in eps) == len(kept)
    assert sum(c["failed"] for c in eps) == len(failed)
    assert sum(c["duplicates"] for c in eps) == len(ledger)
    assert sum(c["errored"] for c in eps) == len(rows(out / "episodes.errors.jsonl"))
    episodes = [(r["blueprint_id"], r["trial"]) for r in kept + failed + ledger]
    assert len(episodes) == len(set(episodes)), "an episode was committed twice"
    assert lines[-1].counts["total"] == len(kept)
    return lines


@pytest.mark.slow  # ~40 s on 2 cores: the run's ~2,500 requests go through HTTP
@pytest.mark.timeout(180)
def test_run_survives_a_fifth_of_requests_failing(serve, tmp_path):
    handle = serve(fault_rate=0.2, retry_after_s=0.2, hang_s=30, seed=3)
    config = write_config(tmp_path, handle.base_url)
    out = tmp_path / "run"
    started = time.monotonic()
    result = apigen("run", "--env", "retail", "--n", "30", "--out", str(out), "--quiet",
                    "--config", str(config), env=cli_env(tmp_path), timeout=150)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr

    lines = _check_accounting(out, result.stdout)
    assert lines[-1].counts["total"] == 30 == len(rows(out / "trajectories.jsonl"))

    # what was survived, as the commands print it (and as the manifest keeps it)
    stats = handle.stats()
    faults = Counter(stats["faults"])
    retried = survived(result.stdout)
    by_kind = Counter()
    for fault, kind in RETRIED_AS.items():
        assert faults[fault] > 0, stats
        by_kind[kind] += faults[fault]
    for kind, injected in by_kind.items():
        assert retried[kind] > 0, (kind, result.stdout)
        # every retry of these kinds answers an injected fault (a slow machine may time out
        # a few healthy requests too); an attempt cut short by the stop of a batch, or the
        # last attempt of a call that gave up, is not retried (hence the lower bound)
        slack = 3 if kind in ("timeout", "connection") else 0
        assert 0.5 * injected <= retried[kind] <= injected + slack, (kind, retried, faults)
    usage = json.loads((out / "manifest.json").read_text())["usage"]
    kept_retries = Counter(usage["blueprint"].get("retries", {}))
    kept_retries.update(usage["rollout"].get("retries", {}))
    assert kept_retries == retried
    # every request the server saw is a call answered, a transport retry, the last attempt
    # of a call that gave up, or a call of an item cancelled when its batch stopped
    paid = sum(x.calls - x.cache_hits for x in lines)
    gave_up = usage["blueprint"]["errors"] + usage["rollout"]["errors"]
    cancelled = sum(x.counts["cancelled"] for x in lines)
    unanswered = stats["requests"] - paid - sum(retried.values())
    assert 0 <= unanswered <= gave_up + 8 * cancelled, (unanswered, gave_up, cancelled)

    # bad-args is not a transport failure: the agent's malformed call became an error
    # observation in the conversation, and the judge kept such episodes apart
    assert faults["bad-args"] > 0
    observations = [m["content"] for r in rows(out / "trajectories.failed.jsonl")
                    + rows(out / "trajectories.jsonl")
                    for m in r["messages"] if m["role"] == "tool"]
    assert any("are not valid JSON" in o for o in observations)
    print(f"faulty run: {elapsed:.1f}s, {stats['requests']} requests, faults {dict(faults)}, "
          f"retried {dict(retried)}")


def test_an_outage_stops_the_run_cleanly_and_a_rerun_after_recovery_completes_it(
        serve, tmp_path):
    # every request fails; bad-args is left out: it is a 200 that text roles can use
    handle = serve(fault_rate=1.0, faults=("429", "500", "timeout", "disconnect", "empty"),
                   retry_after_s=0.1, hang_s=30)
    config = write_config(tmp_path, handle.base_url, timeout_s=1, max_retries=2)
    out = tmp_path / "run"
    env = cli_env(tmp_path)
    args = ("run", "--env", "retail", "--n", "10", "--out", str(out), "--quiet",
            "--config", str(config))

    started = time.monotonic()
    down = apigen(*args, env=env, timeout=120)
    elapsed = time.monotonic() - started
    assert down.returncode == 1, down.stderr + down.stdout
    err = down.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: stopped after 8 model calls in a row "
                                               "failed"), down.stderr
    assert "rerun the same command to resume" in err[0]
    assert "Traceback" not in down.stderr
    # 8 slots at a time, each gives up after 3 attempts of at most 1 s (+ short backoffs)
    assert elapsed < 30, elapsed
    assert sum(survived(down.stdout).values()) > 0, down.stdout  # what it retried first
    assert rows(out / "blueprints.jsonl") == []
    errors = rows(out / "blueprints.errors.jsonl")
    assert len(errors) >= 8 and all("gave up after 3 attempt(s)" in e["error"] for e in errors)
    before = file_bytes(out)

    handle.app.opts.fault_rate = 0.0  # the endpoint recovers
    up = apigen(*args, env=env, timeout=120)
    assert up.returncode == 0, up.stderr + up.stdout
    assert len(rows(out / "trajectories.jsonl")) == 10
    for name, data in before.items():  # resuming appended; it rewrote nothing
        assert (out / name).read_bytes().startswith(data), name
    _check_accounting(out, up.stdout, errors_before=len(errors))
