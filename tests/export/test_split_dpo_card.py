"""Splits keep blueprints apart, DPO pairs share a blueprint, failures carry reasons, and
the dataset card says what it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apigen_mt.errors import UsageError
from apigen_mt.export.card import generator_version
from apigen_mt.export.formats import DPORecord, ShareGPTRecord
from apigen_mt.export.split import assign_splits, parse_split
from apigen_mt.records import conversation_id
from tests.export.conftest import cli, rows


def _split_ids(out: Path) -> dict[str, list[str]]:
    return json.loads((out / "export.json").read_text())["ids"]


def test_split_by_blueprint_has_no_leakage_and_is_deterministic(run30: Path, tmp_path: Path):
    trajs = {r["id"]: r for r in rows(run30 / "trajectories.jsonl")}
    out = tmp_path / "a"
    cli("export", "--run", str(run30), "--format", "openai", "--out", str(out),
        "--split", "train=0.6,dev=0.2,test=0.2", "--seed", "3")
    ids = _split_ids(out)
    assert set(ids) == {"train", "dev", "test"}
    assert sorted(i for part in ids.values() for i in part) == sorted(trajs)
    blueprints = {name: {trajs[i]["blueprint_id"] for i in part} for name, part in ids.items()}
    assert not blueprints["train"] & blueprints["dev"]
    assert not blueprints["train"] & blueprints["test"]
    assert not blueprints["dev"] & blueprints["test"]
    for name in ids:
        assert len(rows(out / f"{name}.jsonl")) == len(ids[name])
    again = tmp_path / "b"
    cli("export", "--run", str(run30), "--format", "openai", "--out", str(again),
        "--split", "train=0.6,dev=0.2,test=0.2", "--seed", "3")
    assert _split_ids(again) == ids
    for name in ids:
        assert (again / f"{name}.jsonl").read_bytes() == (out / f"{name}.jsonl").read_bytes()


def test_failures_follow_their_blueprint_and_carry_reasons(run30: Path, tmp_path: Path):
    out = tmp_path / "sg"
    cli("export", "--run", str(run30), "--format", "sharegpt", "--out", str(out),
        "--split", "train=0.5,test=0.5", "--include-failed")
    trajs = {r["id"]: r for r in rows(run30 / "trajectories.jsonl")}
    failed = rows(run30 / "trajectories.failed.jsonl")
    assert failed, "the fixture run is meant to have failures"
    ids = _split_ids(out)
    trajs_bps = {t["blueprint_id"] for t in trajs.values()}
    written, conversations = [], []
    for name in ("train", "test"):
        bps = {trajs[i]["blueprint_id"] for i in ids[name]}
        other = {trajs[i]["blueprint_id"] for part, v in ids.items() if part != name for i in v}
        for rec in rows(out / f"{name}.failed.jsonl"):
            failure = rec.pop("failure")
            ShareGPTRecord.model_validate(rec)
            assert failure["reason"] and failure["reasons"]
            assert failure["blueprint_id"] not in other
            assert failure["blueprint_id"] in bps or failure["blueprint_id"] not in trajs_bps
            written.append(failure["trajectory_id"])
            conversations.append(json.dumps(rec["conversations"]))
    # every failed conversation is there once: repeated failures are written once
    assert len(set(conversations)) == len(conversations)
    assert set(written) <= {r["id"] for r in failed}
    by_id = {r["id"]: r for r in failed}
    assert {conversation_id(by_id[i]["messages"]) for i in written} == \
        {conversation_id(r["messages"]) for r in failed}


def test_dpo_pairs_share_the_blueprint(run_pairs: Path, tmp_path: Path):
    out = tmp_path / "dpo"
    cli("export", "--run", str(run_pairs), "--format", "dpo", "--out", str(out))
    good = {r["id"]: r for r in rows(run_pairs / "trajectories.jsonl")}
    bad = {r["id"]: r for r in rows(run_pairs / "trajectories.failed.jsonl")}
    records = [DPORecord.model_validate(r) for r in rows(out / "train.jsonl")]
    assert records
    for rec in records:
        assert rec.chosen_id in good and rec.rejected_id in bad
        assert good[rec.chosen_id]["blueprint_id"] == bad[rec.rejected_id]["blueprint_id"] \
            == rec.blueprint_id
        assert rec.chosen[0]["role"] == rec.rejected[0]["role"] == "assistant"
        assert rec.chosen != rec.rejected
        assert rec.prompt[0]["role"] == "system" and rec.prompt[-1]["role"] in ("user", "tool")
        assert rec.chosen[-1]["role"] != "user" and rec.rejected[-1]["role"] != "user"
        # the prompt is what both trials said first (ids aside)
        for traj in (good[rec.chosen_id], bad[rec.rejected_id]):
            said = [m.get("content") for m in traj["messages"][:len(rec.prompt)]]
            assert [m.get("content") for m in rec.prompt] == said
        assert rec.tools and rec.tools[0]["type"] == "function"


def test_dataset_card_mentions_size_models_licence(run30: Path, tmp_path: Path):
    out = tmp_path / "card"
    cli("export", "--run", str(run30), "--format", "openai", "--out", str(out),
        "--license", "cc-by-nc-4.0", "--split", "train=0.8,test=0.2")
    card = (out / "README.md").read_text()
    ids = _split_ids(out)
    assert card.startswith("---\nlicense: cc-by-nc-4.0\n")
    assert f"| train | {len(ids['train'])} | `train.jsonl` |" in card
    assert f"| test | {len(ids['test'])} | `test.jsonl` |" in card
    assert "| agent | `sim:sim` |" in card and "| reviewers | `sim:sim, sim:sim, sim:sim` |" in card
    assert "| trajectories accepted (distinct conversations) | 30 (30) |" in card
    total = len(ids["train"]) + len(ids["test"])
    assert f"Total: {total} records, {total} distinct conversations" in card
    assert "## Cost" in card and "rollout" in card
    assert "state's hash" in card and f"apigen-mt {generator_version()}" in card
    assert "`cc-by-nc-4.0`" in card and "train=0.8,test=0.2" in card


def test_parse_split_and_assignment_units():
    assert parse_split("train=0.9,test=0.1") == [("train", 0.9), ("test", 0.1)]
    assert parse_split(None) == []
    for bad in ("train", "train=0.5", "train=x,test=0.5", "train=0.5,train=0.5", "=1",
                "train=1.5", "train=-0.5,test=1.5", "train=0,test=1"):
        with pytest.raises(UsageError):
            parse_split(bad)
    ids = [f"bp-{i:02d}" for i in range(20)]
    a = assign_splits(ids, [], [("train", 0.9), ("test", 0.1)], {}, seed=1)
    assert sorted(a) == ids and list(a.values()).count("test") == 2
    assert a == assign_splits(list(reversed(ids)), [], [("train", 0.9), ("test", 0.1)], {}, 1)
    # failure-only blueprints never move an accepted one
    b = assign_splits(ids, ["bp-x", "bp-y"], [("train", 0.9), ("test", 0.1)], {}, seed=1)
    assert {k: v for k, v in b.items() if k in a} == a and {"bp-x", "bp-y"} <= set(b)


def test_defaults_latest_run_and_out_folder(run30: Path, tmp_path: Path):
    import shutil

    from apigen_mt.runner.store import remember_latest

    run = tmp_path / "copy"
    shutil.copytree(run30, run, ignore=shutil.ignore_patterns("export", "cache", ".lock"))
    remember_latest(run)
    text = cli("export", "--format", "sharegpt")
    assert (run / "export" / "sharegpt" / "train.jsonl").exists()
    assert "sharegpt export" in text
