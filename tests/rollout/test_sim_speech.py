"""The offline customer and agent: fair play (their request only), natural instructions
read back whole, plain speech, consent before writes, and unreadable instructions said."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

import apigen_mt.blueprint.checks as checks
import apigen_mt.env.domain as domain
import apigen_mt.sim as sim_package
from apigen_mt.env.domain import load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.records import Action, Trajectory
from apigen_mt.rollout.settings import UNREADABLE
from apigen_mt.sim import SimModel, builtin_roles
from apigen_mt.sim.agent import _CONSENT, _YES
from apigen_mt.sim.instructions import write_instruction
from apigen_mt.sim.phrasing import match_intent, speak_intent
from apigen_mt.sim.reading import read_instruction
from tests.conftest import ANCHORS, needs_anchors
from tests.pipeline.conftest import cli

PHASE2_ROLES = ("human", "critic", "agent")

RETAIL_USER = {"user": {"name": {"first_name": "Ada", "last_name": "Osei"},
                        "address": {"zip": "53283"}, "email": "ada.osei1941@example.com"}}
RETAIL_ACTIONS = [
    Action(name="modify_pending_order_address", arguments={
        "order_id": "#W6496909", "address1": "9192 Willow Avenue", "address2": "",
        "city": "St. Louis", "state": "MO", "country": "USA", "zip": "63101"}),
    Action(name="return_delivered_order_items", arguments={
        "order_id": "#W6789779", "item_ids": ["7645345788", "8426735212"],
        "payment_method_id": "credit_card_1087044"}),
    Action(name="cancel_pending_order",
           arguments={"order_id": "#W1", "reason": "no longer needed"}),
]
AIRLINE_ACTIONS = [Action(name="update_reservation_passengers", arguments={
    "reservation_id": "GFOIZR",
    "passengers": [{"first_name": "Keiko", "last_name": "Rasmussen", "dob": "1975-08-16"}]})]


def _kinds(env: str) -> dict[str, str]:
    return {t.name: t.kind for t in load_environment(env).domain.tools}


@pytest.mark.parametrize("seed", range(40))
def test_every_instruction_the_writer_writes_reads_back_whole(seed):
    rng = random.Random(seed)
    actions = [rng.choice(RETAIL_ACTIONS)]
    text = write_instruction(actions, _kinds("retail"), "ada_osei_1941", RETAIL_USER,
                             "A medical resident who is blunt and slightly impatient.", rng,
                             questions=[("status", "order_id", "#W6789779")])
    plan = read_instruction(text)
    assert plan.problem is None, text
    assert plan.identity.get("email") == "ada.osei1941@example.com" or \
        (plan.identity.get("name"), plan.identity.get("zip")) == ("Ada Osei", "53283"), text
    change, question = plan.requests
    said = dict(change.details)
    for value in actions[0].arguments.values():
        if isinstance(value, str) and value:
            assert any(value in v for v in said.values()), (value, text)
    assert question.field == "status" and question.about == ("order", "#W6789779")
    assert plan.tone == "terse"
    for bad in ("order_id", "modify_pending", "cancel pending order", "id: "):
        assert bad not in text


def test_airline_instruction_gives_the_user_id_and_passengers_in_words():
    text = write_instruction(AIRLINE_ACTIONS, _kinds("airline"), "ivo_castillo_4572",
                             {"user": {"name": {"first_name": "Ivo", "last_name": "Castillo"},
                                       "email": "ivo@example.com"}}, None, random.Random(3))
    plan = read_instruction(text)
    assert plan.problem is None and plan.identity["user id"] == "ivo_castillo_4572"
    assert "Keiko Rasmussen, born 1975-08-16" in dict(plan.requests[0].details)["passengers"]
    assert "{" not in text


def test_intents_are_said_in_many_ways_and_understood():
    tools = [t.name for t in load_environment("retail").domain.tools]
    rng = random.Random(0)
    for tool in ("cancel_pending_order", "modify_pending_order_address", "modify_user_address",
                 "exchange_delivered_order_items", "modify_pending_order_payment"):
        said = {speak_intent(tool, rng) for _ in range(30)}
        assert len(said) >= 4
        assert all(match_intent(f"I want to {s}.", tools) == tool for s in said)
        assert not any(tool.replace("_", " ") in s for s in said)


def _human(instruction: str, agent_lines: list[str]) -> str:
    from apigen_mt.prompts import load_prompt

    msgs = [{"role": "system", "content": load_prompt("human").render(instruction=instruction)}]
    for i, line in enumerate(agent_lines):  # agent and customer take turns, agent first
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": line})
    return SimModel("sim:perfect", roles=builtin_roles()).respond(msgs).text or ""


@needs_anchors
def test_tau_bench_instructions_are_read_or_refused_with_a_reason():
    tasks = json.loads((ANCHORS / "tasks.json").read_text())["splits"]["retail_test"]
    refused = 0
    for task in tasks:
        plan = read_instruction(task["instruction"])
        if plan.problem:
            refused += 1
            reply = _human(task["instruction"], ["Hi! How can I help you today?"])
            assert reply.startswith(UNREADABLE) and len(reply) > len(UNREADABLE) + 10
    assert refused >= len(tasks) // 2  # product descriptions and if-then plans are beyond it


def test_customer_answers_consent_and_corrects_a_wrong_summary():
    text = ("You are Ada Osei, and your zip code is 53283. You want to cancel your open order. "
            "The order is #W1234567. The reason is no longer needed. You let the agent lead.")
    assert "###" not in _human(text, ["Hi! How can I help you today?"])
    right = ("Just to confirm, I'll cancel your open order, with the order #W1234567 and the "
             "reason no longer needed. Shall I go ahead?")
    wrong = right.replace("no longer needed", "ordered by mistake")
    opening = "I want to cancel my open order."
    assert _YES.match(_human(text, ["Hi!", opening, right]))
    assert "no longer needed" in _human(text, ["Hi!", opening, wrong])
    asked = _human(text, ["Hi!", opening,
                          "Could you give me your email, or your full name and zip code?"])
    assert "Ada Osei" in asked and "53283" in asked


@pytest.fixture
def sim_roles_blind(monkeypatch):
    """While a phase-2 sim role answers, the environment and the checks raise (the roles
    are wrapped where the registry hands them to the backend it builds)."""
    inside = {"on": False}
    calls = {"handled": 0}

    def guard(name, real):
        def wrapped(*args, **kwargs):
            if inside["on"]:
                raise AssertionError(f"a sim role reached {name}")
            return real(*args, **kwargs)
        return wrapped

    for mod, names in ((checks, ("check_format", "execute_actions", "check_execution",
                                 "check_policy")),
                       (domain, ("load_environment", "load_domain", "read_data_dir"))):
        for name in names:
            monkeypatch.setattr(mod, name, guard(name, getattr(mod, name)))
    for name in ("execute", "fresh", "fork", "replay", "hash", "diff"):
        monkeypatch.setattr(Environment, name, guard(name, getattr(Environment, name)))
    def blind(real):
        def answer(req):
            inside["on"] = True
            calls["handled"] += 1
            try:
                return real(req)
            finally:
                inside["on"] = False
        return answer

    def roles():
        table = builtin_roles()
        return {**table, **{role: blind(table[role]) for role in PHASE2_ROLES}}
    # the registry reads the table from the sim package when it builds a sim model
    monkeypatch.setattr(sim_package, "builtin_roles", roles)
    yield calls


@pytest.mark.parametrize("env", ["retail", "airline"])
def test_phase2_sim_roles_play_from_their_request_alone(env, tmp_path, sim_roles_blind):
    for role in PHASE2_ROLES:  # the roles come from the sim package
        assert builtin_roles()[role].__module__.startswith("apigen_mt.sim."), role
    for module in ("apigen_mt.sim.customer", "apigen_mt.sim.agent", "apigen_mt.sim.critic",
                   "apigen_mt.sim.reading", "apigen_mt.sim.phrasing"):
        names = vars(sys.modules[module])
        assert not any(getattr(v, "__module__", "").startswith((
            "apigen_mt.env", "apigen_mt.blueprint", "apigen_mt.rollout"))
            for v in names.values() if callable(v)), module
    out = tmp_path / env
    cli("run", "--env", env, "--n", "12", "--out", str(out), "--quiet")
    kept = [Trajectory.model_validate_json(x) for x in (out / "trajectories.jsonl").open()]
    assert len(kept) == 12 and sim_roles_blind["handled"] > 100
    for traj in kept:
        said = [m["content"] for m in traj.messages if m["role"] == "user"]
        assert not any(": " in s.split("###")[0] and "@" not in s for s in said), said
        writes = [i for i, m in enumerate(traj.messages) if m.get("tool_calls") and
                  load_environment(env).tools[m["tool_calls"][0]["function"]["name"]].kind
                  == "write"]
        for i in writes:  # consent right before each write, unless the agent erred (flaw)
            before = [m for m in traj.messages[:i] if m["role"] in ("user", "assistant")
                      and m.get("content")]
            assert before[-1]["role"] == "user"


def test_the_customer_and_agent_banks_keep_the_patterns_each_reads_the_other_by():
    from apigen_mt.sim.customer import _CONSENT as HEARD_AS_CONSENT
    from apigen_mt.sim.customer import _SAYS

    for tone, phrases in _SAYS["yes"].items():
        for phrase in phrases:
            assert _YES.match(phrase), (tone, phrase)
    for question in _CONSENT:
        assert question.endswith("?") and any(c in question.lower() for c in HEARD_AS_CONSENT)


def test_a_task_written_the_way_a_model_writes_it_is_played_and_kept(tmp_path):
    """Details inside the goal, a reason in the customer's words, a status word unsaid."""
    tasks = [{"user_id": "valentina_bianchi_8088",
              "instruction": "You are Valentina Bianchi and you live in zip code 83712. You "
                             "want to cancel order #W1298753 because you no longer need it. "
                             "You are friendly but busy.",
              "actions": [{"name": "cancel_pending_order",
                           "kwargs": {"order_id": "#W1298753", "reason": "no longer needed"}}],
              "outputs": []}]
    file = tmp_path / "tasks.json"
    file.write_text(json.dumps(tasks))
    out = tmp_path / "eval"
    cli("eval", "--env", "retail", "--tasks", str(file), "--trials", "1", "--out", str(out),
        "--quiet", "--config", str(_perfect_config(tmp_path)))
    results = json.loads((out / "results.json").read_text())
    assert results["per_task"][0]["successes"] == 1, results
    episode = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    said = [m["content"] for m in episode["messages"] if m["role"] == "user"]
    assert any("83712" in s for s in said) and not any(UNREADABLE in s for s in said)


def _perfect_config(tmp_path: Path) -> Path:
    """Every phase-2 role on ``sim:perfect`` (no flaws), so one trial decides."""
    path = tmp_path / "perfect.yaml"
    path.write_text("roles:\n  human: {model: 'sim:perfect'}\n  critic: {model: 'sim:perfect'}\n"
                    "  agent: {model: 'sim:perfect'}\n")
    return path


def test_every_yes_of_the_customer_is_consent_and_every_careful_question_is_not():
    from apigen_mt.rollout.consent import classify_reply
    from apigen_mt.sim.customer import _SAYS

    proposal = ("Just to be sure, I'll cancel your pending order, with the order #W1234567 "
                "and the reason no longer needed. Shall I go ahead?")
    for phrases in _SAYS["yes"].values():
        for phrase in phrases:
            assert classify_reply(phrase, proposal).agrees, phrase
    for phrase in _SAYS["careful"]:
        assert not classify_reply(phrase, proposal).agrees, phrase


@pytest.mark.parametrize("seed", range(60))
def test_a_yes_that_says_back_a_detail_is_still_consent_and_still_a_yes(seed):
    """The customer's fuller agreements (a yes, then the detail it checked) are read as
    agreement by the judge's classifier and as a yes by the sim agent."""
    from apigen_mt.config import SimSettings
    from apigen_mt.llm.base import Settings
    from apigen_mt.rollout.consent import classify_reply
    from apigen_mt.sim.customer import _agree
    from apigen_mt.sim.reading import Plan
    from apigen_mt.sim.request import SimRequest

    proposal = ("Here is what I'm about to do. I'll send back the products on your received "
                "order, with the order #W3000579, the items 4524701523 and 5633291925 and the "
                "payment method gift_card_7258249, and the reason no longer needed. Shall I "
                "proceed?")
    details = [("order", "#W3000579"), ("items", "4524701523 and 5633291925"),
               ("payment method", "gift_card_7258249"), ("reason", "no longer needed")]
    said = set()
    for tone in ("neutral", "warm", "terse", "hesitant"):
        for draw in range(4):  # a yes is often the word alone: several draws per tone
            req = SimRequest(role="human", messages=[], tools=None, settings=Settings(),
                             rng=random.Random(seed * 10 + draw), sim=SimSettings())
            reply = _agree(details, req, Plan(tone=tone))
            said.add(reply)
            assert classify_reply(reply, proposal).agrees, reply
            assert _YES.match(reply), reply
            assert "no longer needed" not in reply  # a phrase is never said back, only values
    assert len(said) >= 3
