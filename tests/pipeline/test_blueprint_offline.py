"""`apigen-mt blueprint` offline: every check rejects something, feedback rescues drafts,
every accepted blueprint holds up on its own, and a rerun does nothing."""

from __future__ import annotations

import json

import pytest

from apigen_mt.blueprint.checks import check_policy, execute_actions
from apigen_mt.env.domain import load_environment
from apigen_mt.records import Blueprint
from apigen_mt.runner.funnel import Funnel
from tests.pipeline.conftest import cli, model_calls


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_fifty_blueprints_with_rejections_at_every_check_and_an_idle_rerun(domain, tmp_path):
    out = tmp_path / domain
    # split votes more often than by default: a committee rejection needs two criteria
    # failed by a majority, rare enough at the default rate that 50 blueprints may miss it
    config = tmp_path / "flaws.yaml"
    config.write_text("sim:\n  flaws:\n    reviewer.false_reject: 0.3\n")
    cli("blueprint", "--env", domain, "--n", "50", "--out", str(out), "--quiet",
        "--config", str(config))
    accepted = [json.loads(line) for line in (out / "blueprints.jsonl").open()]
    rejected = [json.loads(line) for line in (out / "blueprints.rejected.jsonl").open()]
    assert len(accepted) == 50
    funnel = Funnel.from_records(accepted, rejected)
    # the sim drafts from its prompt alone, so these are its own reading mistakes; retail's
    # tools refuse almost everything its policy forbids (a non-pending order, a refund to
    # another method), so there the execution check catches what the policy would
    stages = ("format", "execution", "committee") + (("policy",) if domain == "airline" else ())
    for stage in stages:
        assert funnel.reached[stage] > funnel.passed[stage], f"{stage} never rejected"
    assert funnel.rescued > 0  # redrafts after feedback that passed
    assert len({b["id"] for b in accepted}) == 50
    assert len({json.dumps(b["actions"], sort_keys=True) for b in accepted}) == 50

    before = {p.name: p.read_bytes() for p in out.glob("blueprints*.jsonl")}
    again = cli("blueprint", "--env", domain, "--n", "50", "--out", str(out), "--quiet",
                "--config", str(config))
    assert model_calls(again) == 0 and "+0 this run" in again
    assert {p.name: p.read_bytes() for p in out.glob("blueprints*.jsonl")} == before

    # independently: each accepted blueprint re-executes cleanly and obeys the policy
    env = load_environment(domain)
    for row in accepted:
        bp = Blueprint.model_validate(row)
        run = execute_actions(env, bp)
        assert all(t.ok for t in run.trace if t.kind == "write"), bp.id
        assert run.env.hash() == bp.target_hash
        assert check_policy(env, run).passed, bp.id
        # a blueprints file is itself a tasks file
        assert set(row) >= {"id", "env", "user_id", "instruction", "actions", "outputs"}
        prov = row["provenance"]
        assert prov["seed"] == 0 and prov["models"]["drafter"] == "sim:sim"
        assert prov["verdicts"][-1] == {**prov["verdicts"][-1], "stage": "committee",
                                        "passed": True}
