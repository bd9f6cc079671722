"""Every format reloads (jsonlines + pydantic models, or `datasets`) and gives back every
message and tool call of the run's accepted trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import jsonlines
import pytest

from apigen_mt.export.convert import row_messages
from apigen_mt.export.formats import OpenAIRecord, ShareGPTRecord, openai_problems
from apigen_mt.records import conversation_id
from apigen_mt.rollout.settings import STOP, TAU_GREETING
from apigen_mt.runner.build import EnvRef
from tests.export.conftest import cli, rows


def _trajectories(run: Path) -> dict[str, dict]:
    return {r["id"]: r for r in rows(run / "trajectories.jsonl")}


def _tools(run: Path) -> list[dict]:
    manifest = json.loads((run / "manifest.json").read_text())
    return EnvRef(**manifest["env"]).load().tool_schemas()


def _ordered(out: Path, split: str) -> list[str]:
    return json.loads((out / "export.json").read_text())["ids"][split]


def expected_sharegpt(traj: dict) -> list[dict]:
    """What a ShareGPT record must give back: no greeting, no closing STOP turn, no ids."""
    msgs = traj["messages"]
    body: list[dict] = []
    seen_user = False
    for m in msgs[1:]:
        if m["role"] == "user":
            seen_user = True
            text = m["content"].replace(STOP, "").strip()
            if text:
                body.append({"role": "user", "content": text})
        elif m["role"] == "assistant" and seen_user:
            for c in m.get("tool_calls") or []:
                body.append({"role": "assistant", "content": None, "tool_calls": [
                    {"type": "function", "function": {
                        "name": c["function"]["name"],
                        "arguments": json.loads(c["function"]["arguments"])}}]})
            if not m.get("tool_calls") and (m["content"] or "").strip():
                body.append({"role": "assistant", "content": m["content"]})
        elif m["role"] == "tool":
            body.append({"role": "tool", "content": m["content"]})
    while body and body[-1]["role"] == "user":
        body.pop()
    return [{"role": "system", "content": msgs[0]["content"]}, *body]


def test_sharegpt_roundtrip_and_llamafactory_rules(run30: Path, tmp_path: Path):
    out = tmp_path / "sharegpt"
    cli("export", "--run", str(run30), "--format", "sharegpt", "--out", str(out))
    trajs = _trajectories(run30)
    with jsonlines.open(out / "train.jsonl") as reader:
        records = [ShareGPTRecord.model_validate(r) for r in reader]
    ids = _ordered(out, "train")
    assert len(records) == len(ids) == len(trajs)
    functions = [t["function"] for t in _tools(run30)]
    for rec_id, rec in zip(ids, records, strict=True):
        assert rec.problems() == [], rec_id
        assert json.loads(rec.tools) == functions
        assert rec.conversations[0].from_ == "human"
        assert all(STOP not in t.value for t in rec.conversations)
        assert rec.to_messages() == expected_sharegpt(trajs[rec_id])
        assert rec.to_messages(TAU_GREETING)[1] == trajs[rec_id]["messages"][1]
    raw = (out / "train.jsonl").read_text().splitlines()[0]
    assert set(json.loads(raw)) == {"conversations", "system", "tools"}  # exactly 5k's keys
    info = json.loads((out / "dataset_info.json").read_text())
    (entry,) = info.values()
    assert entry["file_name"] == "train.jsonl" and entry["formatting"] == "sharegpt"
    assert entry["columns"] == {"messages": "conversations", "system": "system",
                                "tools": "tools"}
    assert entry["tags"] == {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                             "assistant_tag": "gpt", "function_tag": "function_call",
                             "observation_tag": "observation"}


def test_openai_roundtrip_ids_and_rules(run30: Path, tmp_path: Path):
    out = tmp_path / "openai"
    cli("export", "--run", str(run30), "--format", "openai", "--out", str(out))
    trajs = _trajectories(run30)
    with jsonlines.open(out / "train.jsonl") as reader:
        raw_records = list(reader)
    ids = _ordered(out, "train")
    assert len(raw_records) == len(trajs)
    tools = _tools(run30)
    for rec_id, raw in zip(ids, raw_records, strict=True):
        assert openai_problems(raw) == []
        rec = OpenAIRecord.model_validate(raw)
        assert raw["tools"] == tools and raw["parallel_tool_calls"] is False
        call_ids = [c.id for m in rec.messages for c in m.tool_calls or []]
        assert len(call_ids) == len(set(call_ids))
        expected = []
        for m in trajs[rec_id]["messages"]:
            m = dict(m)
            if m["role"] == "user":
                m["content"] = m["content"].replace(STOP, "").strip()
                if not m["content"]:
                    continue
            if m["role"] == "assistant" and m.get("content") is None:
                del m["content"]
            expected.append(m)
        while expected[-1]["role"] == "user":  # it ends on the agent's last reply
            expected.pop()
        assert raw["messages"] == expected, rec_id
        answered = [m.tool_call_id for m in rec.messages if m.role == "tool"]
        assert answered == call_ids


def _load_parquet(out: Path, cache: Path, splits: list[str]):
    import datasets

    files = {s: str(out / f"{s}.parquet") for s in splits}
    return datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache))


def _check_rows(dataset_rows, trajs: dict[str, dict], failed: bool = False) -> set[str]:
    seen = set()
    for row in dataset_rows:
        traj = trajs[row["id"]]
        assert row_messages(row) == traj["messages"]
        assert row["blueprint_id"] == traj["blueprint_id"] and row["trial"] == traj["trial"]
        assert row["passed"] is (not failed) and row["state_match"] == \
            traj["verdict"]["state_match"]
        assert row["tool_calls"] == sum(len(m.get("tool_calls") or [])
                                        for m in traj["messages"])
        assert json.loads(row["tools"])[0]["name"]
        assert row["instruction"]
        seen.add(row["id"])
    return seen


@pytest.mark.parametrize("fmt", ["parquet", "hf"])
def test_parquet_and_hf_roundtrip(run30: Path, tmp_path: Path, fmt: str):
    import datasets

    out = tmp_path / fmt
    cli("export", "--run", str(run30), "--format", fmt, "--out", str(out),
        "--split", "train=0.7,test=0.3", "--include-failed")
    trajs = _trajectories(run30)
    failed = {r["id"]: r for r in rows(run30 / "trajectories.failed.jsonl")}
    if fmt == "parquet":
        ds = _load_parquet(out, tmp_path / "cache", ["train", "test"])
        written = json.loads((out / "export.json").read_text())["failed_files"]
        bad = datasets.load_dataset(
            "parquet", data_files={s: str(out / f["file"]) for s, f in written.items()},
            cache_dir=str(tmp_path / "cache"))
    else:
        ds = datasets.load_from_disk(str(out))
        bad = datasets.load_from_disk(str(out / "failed"))
    assert isinstance(ds, datasets.DatasetDict) and set(ds) == {"train", "test"}
    seen = _check_rows(ds["train"], trajs) | _check_rows(ds["test"], trajs)
    assert seen == set(trajs)
    seen_bad = set().union(*(_check_rows(bad[s], failed, True) for s in bad))
    # failed trials often repeat each other: the export holds each conversation once
    distinct_bad = {conversation_id(r["messages"]) for r in failed.values()}
    assert {conversation_id(failed[i]["messages"]) for i in seen_bad} == distinct_bad
    assert len(seen_bad) == len(distinct_bad)
    assert all(r["failure_reason"] for s in bad for r in bad[s])


def test_hf_without_split_is_one_dataset(run30: Path, tmp_path: Path):
    import datasets

    out = tmp_path / "hf"
    cli("export", "--run", str(run30), "--format", "hf", "--out", str(out))
    ds = datasets.load_from_disk(str(out))
    assert isinstance(ds, datasets.Dataset) and len(ds) == len(_trajectories(run30))
    assert _check_rows(ds, _trajectories(run30)) == set(_trajectories(run30))
