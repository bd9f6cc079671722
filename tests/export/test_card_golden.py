"""The dataset card, byte for byte, on a small hand-written run directory.

The golden files were written by the card builder as it stood before it was split into
helpers; any change to the card's text shows here as a diff (regenerate a golden file
with ``APIGEN_MT_WRITE_GOLDEN=1`` only when the change is meant).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from apigen_mt.export import card
from apigen_mt.export.source import RunData

GOLDEN = Path(__file__).parent / "golden"


def _verdict(stage: str, passed: bool, reason: str = "") -> dict:
    return {"stage": stage, "passed": passed, "reasons": [reason] if reason else []}


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _messages(text: str) -> list[dict]:
    return [{"role": "system", "content": "policy"}, {"role": "user", "content": text},
            {"role": "assistant", "content": "done"}]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run of 3 accepted blueprints (one rescued, one recombined), 4 kept trajectories
    (two the same conversation), one failure, one repeat, and usage per role."""
    run = tmp_path / "run-card"
    run.mkdir()
    passing = [_verdict("format", True), _verdict("execution", True),
               _verdict("policy", True), _verdict("committee", True)]
    _write(run / "blueprints.jsonl", [
        {"id": "bp-1", "provenance": {"rounds": 1, "verdicts": passing}},
        {"id": "bp-2", "provenance": {"rounds": 2, "verdicts": [
            _verdict("format", False, "argument order_id: missing"), *passing]}},
        {"id": "bp-3", "provenance": {"rounds": 1, "recombined_from": ["bp-1", "bp-2"],
                                      "verdicts": passing}},
    ])
    _write(run / "blueprints.rejected.jsonl", [
        {"stage": "policy", "verdicts": [_verdict("format", True), _verdict("execution", True),
                                         _verdict("policy", False, "rule 3: no consent")]},
    ])
    _write(run / "blueprints.errors.jsonl", [{"slot": 9, "error": "timeout"}])
    _write(run / "trajectories.jsonl", [
        {"id": "t-1", "blueprint_id": "bp-1", "messages": _messages("cancel my order")},
        {"id": "t-2", "blueprint_id": "bp-1", "messages": _messages("cancel my order")},
        {"blueprint_id": "bp-2", "messages": _messages("change my address")},
        {"blueprint_id": "bp-3", "messages": _messages("both, please")},
    ])
    _write(run / "trajectories.failed.jsonl", [{"blueprint_id": "bp-2", "messages": []}])
    _write(run / "episodes.jsonl", [{"outcome": "duplicate"}, {"outcome": "accepted"}])
    _write(run / "episodes.errors.jsonl", [])
    usage = {"calls": 12, "prompt_tokens": 34_567, "completion_tokens": 2_345, "cost": 0.01234}
    manifest = {
        "env": {"spec": "retail", "data_dir": "/data/tau", "tau_compat": True}, "seed": 7,
        "usage": {
            "blueprint": {**usage, "roles": {"drafter": {**usage, "cached_tokens": 1_000}}},
            "rollout": {"calls": 40, "prompt_tokens": 100_000, "completion_tokens": 9_000,
                        "cost": 0.5, "roles": {"agent": {"calls": 40, "cost": 0.5}}},
        },
    }
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "config.json").write_text(json.dumps({"roles": {
        "drafter": {"model": "openai:gpt-4o"}, "reviewers": [{"model": "sim:sim"}, "sim:x"],
        "agent": "sim:sim"}}))
    return run


def _load(run_dir: Path, tau_compat: bool | None = True) -> RunData:
    run = RunData.load(run_dir, with_env=False)
    run.env_name = "retail"
    if tau_compat is None:
        run.manifest["env"] = {"spec": "retail"}
    run.tools = [{"type": "function", "function": {"name": n}} for n in ("get", "cancel", "pay")]
    run.tool_kinds = {"get": "read", "cancel": "write", "pay": "write"}
    return run


CASES = {
    "sharegpt_split": dict(fmt="sharegpt", files={
        "train": {"records": 3, "file": "train.jsonl"},
        "test": {"records": 1, "file": "test.jsonl"}},
        failed_files={"train": {"records": 1, "file": "failed.train.jsonl"}},
        notes=Counter({"greeting_dropped": 4, "empty_turns": 2}), license_id="cc-by-4.0",
        seed=3, split_text="train=0.8,test=0.2", empty=["validation"], duplicates=1),
    "openai_plain": dict(fmt="openai", files={"train": {"records": 3, "file": "train.jsonl"}},
                         failed_files={}, notes=Counter(), license_id="mit", seed=0,
                         split_text=None),
    "dpo": dict(fmt="dpo", files={"train": {"records": 1, "file": "train.jsonl"}},
                failed_files={}, notes=Counter({"pairs_skipped": 1}), license_id="mit",
                seed=0, split_text=None),
    "hf_no_tau": dict(fmt="hf", files={"train": {"records": 3, "file": "data"}},
                      failed_files={}, notes=Counter(), license_id="apache-2.0", seed=0,
                      split_text=None, tau_compat=None),
    "parquet_empty_run": dict(fmt="parquet", files={"train": {"records": 0, "file": "t.parquet"}},
                              failed_files={}, notes=Counter(), license_id="mit", seed=0,
                              split_text=None, empty_run=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_card_is_byte_for_byte_as_before(name: str, run_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(card, "generator_version", lambda: "9.9.9")
    args = dict(CASES[name])
    tau = args.pop("tau_compat", True)
    if args.pop("empty_run", False):
        for name_ in ("trajectories.jsonl", "trajectories.failed.jsonl", "episodes.jsonl"):
            (run_dir / name_).write_text("")
    text = card.build_card(_load(run_dir, tau), **args)
    golden = GOLDEN / f"card_{name}.md"
    if os.environ.get("APIGEN_MT_WRITE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
