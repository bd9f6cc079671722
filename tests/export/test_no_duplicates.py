"""Exports never hold two equal conversations, even from a run file that holds repeats
(written before phase 2 refused them), and the card states the distinct counts."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest

from apigen_mt.records import conversation_id, normalized_conversation
from tests.export.conftest import cli, rows


def _with_repeats(run30: Path, tmp_path: Path,
                  name: str = "trajectories.jsonl") -> tuple[Path, int]:
    """A copy of the run whose accepted (or failed) file repeats two conversations with
    new ids; returns it and how many distinct conversations that file held before."""
    run = tmp_path / "run"
    if not run.exists():
        shutil.copytree(run30, run)
    file = run / name
    # start from distinct conversations (failed trials of one task may already repeat:
    # phase 2 keeps every failure), so the repeats below are the only ones
    unique: dict[str, dict] = {}
    for t in rows(file):
        unique.setdefault(conversation_id(t["messages"]), t)
    kept = list(unique.values())
    file.write_text("".join(json.dumps(t) + "\n" for t in kept))
    # repeat failures of tasks that also have a kept conversation (they form preference
    # pairs), when there are such
    paired = {t["blueprint_id"] for t in rows(run / "trajectories.jsonl")}
    chosen = [t for t in kept if "failed" not in name or t["blueprint_id"] in paired]
    with file.open("a") as fh:
        for k, original in enumerate((chosen or kept)[:2]):
            copy = json.loads(json.dumps(original))
            tag = "f" if "failed" in name else "a"
            copy["id"], copy["trial"] = f"traj-repeat{tag}{k:011d}", 7
            for m in copy["messages"]:
                for c in m.get("tool_calls") or []:
                    c["id"] = f"call_again{k}_{c['id']}"
                    # same arguments, other spelling: still the same call (a malformed
                    # call, which a failed trial may hold, is repeated as it was)
                    with contextlib.suppress(json.JSONDecodeError):
                        c["function"]["arguments"] = json.dumps(
                            json.loads(c["function"]["arguments"]), indent=2)
                if m.get("tool_call_id"):
                    m["tool_call_id"] = f"call_again{k}_{m['tool_call_id']}"
            fh.write(json.dumps(copy) + "\n")
    return run, len(kept)


def _said(messages: list[dict]) -> str:
    out = []
    for m in messages:
        calls = []
        for c in m.get("tool_calls") or []:
            args = c["function"]["arguments"]
            if isinstance(args, str):
                with contextlib.suppress(json.JSONDecodeError):  # malformed: as written
                    args = json.loads(args)
            calls.append([c["function"]["name"], args])
        out.append([m["role"], m.get("content"), calls])
    return json.dumps(out, sort_keys=True)


def test_ids_do_not_make_conversations_different():
    a = [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": '{"x": 1, "y": 2}'}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]
    b = json.loads(json.dumps(a).replace("call_1", "call_9").replace(
        '{\\"x\\": 1, \\"y\\": 2}', '{\\"y\\":2,\\"x\\":1}'))
    assert conversation_id(a) == conversation_id(b)
    c = json.loads(json.dumps(a).replace('\\"x\\": 1', '\\"x\\": 3'))
    assert conversation_id(a) != conversation_id(c)
    d = [a[0], {**a[1], "content": "not ok"}]
    assert conversation_id(a) != conversation_id(d)
    assert normalized_conversation([{"role": "user", "content": None}]) == [["user", "", []]]


@pytest.mark.parametrize("fmt", ["sharegpt", "openai"])
def test_export_keeps_each_conversation_once(run30: Path, tmp_path: Path, fmt: str):
    run, distinct = _with_repeats(run30, tmp_path)
    assert len(rows(run / "trajectories.jsonl")) == distinct + 2
    out = tmp_path / fmt
    cli("export", "--run", str(run), "--format", fmt, "--out", str(out),
        "--split", "train=0.5,test=0.5")
    records = rows(out / "train.jsonl") + rows(out / "test.jsonl")
    if fmt == "sharegpt":
        said = [json.dumps(r["conversations"]) for r in records]
    else:
        said = [_said(r["messages"]) for r in records]
    assert len(said) == len(set(said)) == distinct
    marker = json.loads((out / "export.json").read_text())
    assert marker["duplicates_left_out"] == 2
    ids = marker["ids"]["train"] + marker["ids"]["test"]
    assert not any(i.startswith("traj-repeat") for i in ids)  # the first one is kept
    card = (out / "README.md").read_text()
    assert f"Total: {distinct} records, {distinct} distinct conversations" in card
    assert "left out for repeating an earlier record: 2" in card
    assert f"accepted trajectories ({distinct} distinct)" in card
    assert "- tools: the domain's corrected tools" in card


def test_parquet_export_keeps_each_conversation_once(run30: Path, tmp_path: Path):
    import pyarrow.parquet as pq

    run, distinct = _with_repeats(run30, tmp_path)
    out = tmp_path / "pq"
    cli("export", "--run", str(run), "--format", "parquet", "--out", str(out))
    table = pq.read_table(out / "train.parquet").to_pylist()
    said = [_said(r["messages"]) for r in table]
    assert len(said) == len(set(said)) == distinct


def test_failure_files_hold_each_conversation_once(run30: Path, tmp_path: Path):
    run, distinct = _with_repeats(run30, tmp_path)
    run, distinct_failed = _with_repeats(run30, tmp_path, "trajectories.failed.jsonl")
    out = tmp_path / "sg"
    cli("export", "--run", str(run), "--format", "sharegpt", "--out", str(out),
        "--include-failed")
    good, bad = rows(out / "train.jsonl"), rows(out / "train.failed.jsonl")
    assert len({json.dumps(r["conversations"]) for r in good}) == len(good) == distinct
    assert len({json.dumps(r["conversations"]) for r in bad}) == len(bad) == distinct_failed
    marker = json.loads((out / "export.json").read_text())
    assert (marker["duplicates_left_out"], marker["failed_duplicates_left_out"]) == (2, 2)


def test_stats_counts_distinct_conversations(run30: Path, tmp_path: Path):
    run, distinct = _with_repeats(run30, tmp_path)
    out = " ".join(cli("stats", "--run", str(run)).split())
    assert f"trajectories accepted │ {distinct + 2} " in out
    assert f"distinct conversations │ {distinct} " in out


def test_preference_pairs_are_not_repeated(run_pairs: Path, tmp_path: Path):
    plain = tmp_path / "plain"
    cli("export", "--run", str(run_pairs), "--format", "dpo", "--out", str(plain))
    run, _ = _with_repeats(run_pairs, tmp_path, "trajectories.failed.jsonl")
    out = tmp_path / "dpo"
    cli("export", "--run", str(run), "--format", "dpo", "--out", str(out))
    pairs = rows(out / "train.jsonl")
    said = [json.dumps([_said(p[k]) for k in ("prompt", "chosen", "rejected")])
            for p in pairs]
    assert len(said) == len(set(said)) == len(rows(plain / "train.jsonl"))
    # the repeated failures did pair up again, and those pairs were left out
    assert json.loads((out / "export.json").read_text())["duplicates_left_out"] > 0
