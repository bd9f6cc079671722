"""The sim customer who comes prepared: who they are and a request's details in one message,
items and orders described from the records, and the agent reading all of it at once.

Each role still reads only its request: these tests drive the handlers through the model
port (``SimModel.respond``) or through the installed command.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from apigen_mt.env.domain import load_environment
from apigen_mt.prompts import load_prompt
from apigen_mt.records import Action
from apigen_mt.rollout.consent import classify_reply
from apigen_mt.sim import SimModel, builtin_roles
from apigen_mt.sim.agent import _statements
from apigen_mt.sim.customer import _SAYS
from apigen_mt.sim.drafter import recombiner
from apigen_mt.sim.drafting import build_pool, fact_to_ask
from apigen_mt.sim.instructions import write_instruction
from apigen_mt.sim.reading import read_instruction
from apigen_mt.sim.request import SimRequest
from tests.pipeline.conftest import cli

USER = {"user": {"user_id": "ada_osei_1941", "name": {"first_name": "Ada", "last_name": "Osei"},
                 "address": {"zip": "53283"}, "email": "ada.osei1941@example.com"},
        "orders": {"#W6789779": {
            "order_id": "#W6789779", "user_id": "ada_osei_1941", "status": "delivered",
            "items": [{"name": "Standing Desk", "item_id": "7645345788",
                       "options": {"finish": "walnut", "frame": "dual motor"}},
                      {"name": "Floor Lamp", "item_id": "8426735212",
                       "options": {"style": "tripod", "bulb": "no"}}]}}}
RETURN = Action(name="return_delivered_order_items", arguments={
    "order_id": "#W6789779", "item_ids": ["7645345788", "8426735212"],
    "payment_method_id": "credit_card_1087044"})
VALUES = ("#W6789779", "7645345788", "8426735212", "credit_card_1087044")


def _kinds(env: str) -> dict[str, str]:
    return {t.name: t.kind for t in load_environment(env).domain.tools}


def _customer(instruction: str, agent_lines: list[str]) -> str:
    msgs = [{"role": "system", "content": load_prompt("human").render(instruction=instruction)}]
    for i, line in enumerate(agent_lines):  # agent and customer take turns, agent first
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": line})
    return SimModel("sim:perfect", roles=builtin_roles()).respond(msgs).text or ""


def _instructions(n: int) -> list[str]:
    return [write_instruction([RETURN], _kinds("retail"), "ada_osei_1941", USER,
                              "A medical resident who is friendly.", random.Random(seed))
            for seed in range(n)]


def test_a_prepared_customer_opens_with_who_they_are_and_every_detail():
    texts = _instructions(40)
    plans = [read_instruction(t) for t in texts]
    prepared = [t for t, p in zip(texts, plans, strict=True) if p.upfront]
    waiting = [t for t, p in zip(texts, plans, strict=True) if not p.upfront]
    assert len(prepared) >= 25 and waiting  # most come prepared, some wait to be asked
    for text in prepared:
        opening = _customer(text, ["Hi! How can I help you today?"])
        assert all(v in opening for v in VALUES), (text, opening)
        assert "ada.osei1941@example.com" in opening or (
            "Ada Osei" in opening and "53283" in opening), opening
        assert ": " not in opening and "return_delivered" not in opening
    for text in waiting:
        opening = _customer(text, ["Hi! How can I help you today?"])
        assert not all(v in opening for v in VALUES), opening


def test_items_are_described_from_the_records_and_said_beside_their_ids():
    for text in _instructions(12):
        assert "Item 7645345788 is a standing desk (walnut, dual motor)." in text
        assert "Item 8426735212 is a floor lamp (tripod, no bulb)." in text
        assert "Order #W6789779 is" not in text  # an order is named by its id alone
        plan = read_instruction(text)
        assert plan.problem is None
        assert plan.descriptions["7645345788"] == "a standing desk (walnut, dual motor)"
        assert len(plan.requests) == 1  # a description is no request and no detail
        if plan.upfront:
            assert "standing desk" in _customer(text, ["Hi! How can I help you today?"])


@pytest.mark.parametrize("bank", ["detail_first", "answer", "compact_first", "compact"])
def test_the_agent_reads_a_detail_in_every_form_the_customer_says_it(bank):
    details = [("order", "#W6789779"), ("items", "7645345788 and 8426735212"),
               ("payment method", "credit_card_1087044"), ("new items", "1 and 2")]
    nouns = [n for n, _ in details]
    for frame in _SAYS[bank]:
        for noun, value in details:
            be = "are" if noun.endswith("s") else "is"
            said = frame.format(noun=noun, Noun=noun[0].upper() + noun[1:], value=value, be=be)
            assert _statements(said, nouns) == {noun: value}, said
    for frame in _SAYS["described"] + _SAYS["described_many"]:  # never read as a value
        assert _statements(frame.format(d="a standing desk (walnut, dual motor)"), nouns) == {}


def _task(instruction: str, tmp_path: Path) -> Path:
    tasks = [{"user_id": "valentina_bianchi_8088", "instruction": instruction,
              "actions": [{"name": "cancel_pending_order",
                           "kwargs": {"order_id": "#W1298753", "reason": "no longer needed"}}],
              "outputs": []}]
    file = tmp_path / "tasks.json"
    file.write_text(json.dumps(tasks))
    return file


@pytest.mark.parametrize("sharing, turns", [
    ("You come prepared and state each request together with everything it needs.", 3),
    ("You give details only when the agent asks for them, a few at a time.", 5)])
def test_a_prepared_customer_needs_fewer_turns_and_is_still_identified_and_asked(
        tmp_path, sharing, turns):
    """One cancellation: prepared, the customer opens, agrees and says goodbye; waiting to
    be asked, they also answer who they are and which order and why. Both are kept."""
    instruction = ("You are Valentina Bianchi, and your zip code is 83712. You want to cancel "
                   "your pending order. The order is #W1298753. For the reason, you want no "
                   f"longer needed. {sharing}")
    config = tmp_path / "perfect.yaml"
    config.write_text("roles:\n  human: {model: 'sim:perfect'}\n  critic: {model: 'sim:perfect'}"
                      "\n  agent: {model: 'sim:perfect'}\n")
    out = tmp_path / "eval"
    cli("eval", "--env", "retail", "--tasks", str(_task(instruction, tmp_path)), "--trials", "1",
        "--out", str(out), "--quiet", "--config", str(config))
    results = json.loads((out / "results.json").read_text())
    assert results["per_task"][0]["successes"] == 1, results
    episode = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    said = [m["content"] for m in episode["messages"] if m["role"] == "user"]
    assert len(said) == turns, said
    names = [c["function"]["name"] for m in episode["messages"] for c in m.get("tool_calls") or []]
    assert names[0] == "find_user_id_by_name_zip" and "cancel_pending_order" in names


def test_every_consent_of_a_prepared_run_is_agreement(tmp_path):
    """Fuller openings leave the yes alone: each customer reply right before a write is
    read as agreement by the judge's classifier, unless the agent wrote without asking."""
    out = tmp_path / "run"
    cli("run", "--env", "retail", "--n", "10", "--out", str(out), "--quiet")
    writes = {n for n, k in _kinds("retail").items() if k == "write"}
    checked = 0
    for line in (out / "trajectories.jsonl").read_text().splitlines():
        msgs = json.loads(line)["messages"]
        for i, m in enumerate(msgs):
            if not any(c["function"]["name"] in writes for c in m.get("tool_calls") or []):
                continue
            reply = next(x for x in reversed(msgs[:i]) if x["role"] == "user")
            proposal = next(x for x in reversed(msgs[:msgs.index(reply)])
                            if x["role"] == "assistant" and x.get("content"))
            assert classify_reply(reply["content"], proposal["content"]).agrees, reply
            checked += 1
    assert checked >= 15


def test_recombined_tasks_keep_a_request_both_tasks_make():
    goal = "You want to change the address on your profile."
    tasks = [{"instruction": f"You are Ada Osei. {goal} The new address is 1 A St, X, MO "
                             "63101, USA. You come prepared and say everything a request "
                             "needs right away."},
             {"instruction": f"You are Ada Osei. {goal} The new address is 2 B St, Y, MO "
                             "63102, USA. You come prepared and say everything a request "
                             "needs right away."}]
    msgs = [{"role": "system", "content": load_prompt("recombine").render()},
            {"role": "user", "content": "```json\n" + json.dumps(tasks) + "\n```"}]
    text = json.loads(recombiner(SimRequest(
        role="recombiner", messages=msgs, tools=None, settings=None, rng=random.Random(0),
        sim=None)).text)["instruction"]
    assert text.count(goal) == 2 and text.count("You are Ada Osei.") == 1
    assert text.count("You come prepared") == 1
    plan = read_instruction(text)
    assert len(plan.requests) == 2 and plan.upfront


def test_a_fact_to_ask_is_one_the_read_shows_of_its_own_record():
    """Never "the email of email …" (a lookup finds an id, not a record), never a write the
    walk did not suggest, never a field of another record that names the same id."""
    env = load_environment("airline")
    tools = {t.name: t.schema["function"] for t in env.domain.tools}
    uid = next(iter(env.state["users"]))
    from apigen_mt.blueprint.context import user_view

    ctx = {"user_id": uid, "user_records": user_view(env, uid)}
    pool = build_pool(ctx)
    reservation = next(iter(ctx["user_records"]["reservations"]))
    actions = [Action(name="update_reservation_baggages", arguments={
        "reservation_id": reservation, "total_baggages": 1, "nonfree_baggages": 0,
        "payment_id": "x"}), Action(name="send_certificate",
                                    arguments={"user_id": uid, "amount": 50})]
    asked = [fact_to_ask(actions, tools, pool, {"update_reservation_baggages",
                                                "send_certificate"}, random.Random(s))
             for s in range(30)]
    asked = [a for a in asked if a is not None]
    assert asked
    for read, key, value in asked:
        assert re.match(r"get_", read.name), read
        (param, anchor), = read.arguments.items()
        assert value != anchor
        record = next(r for r in pool.records if r.get(param) == anchor
                      and next(k for k in r if k.endswith("_id")) == param)
        assert record[key] == value


def test_a_record_named_in_the_request_keeps_the_customer_off_tool_names():
    """ "cancel my reservation 1API20", never "cancel reservation 1API20" (a tool's name)."""
    tools = [t.name for t in load_environment("airline").domain.tools]
    action = Action(name="cancel_reservation", arguments={"reservation_id": "1API20"})
    user = {"user": {"name": {"first_name": "Ivo", "last_name": "Castillo"},
                     "email": "ivo@example.com"}}
    openings = []
    for seed in range(30):
        text = write_instruction([action], _kinds("airline"), "ivo_castillo_4572", user, None,
                                 random.Random(seed))
        if read_instruction(text).upfront:
            openings.append(_customer(text, ["Hi! How can I help you today?"]))
    assert any("my reservation 1API20" in o for o in openings), openings
    for opening in openings:
        assert "1API20" in opening and not any(
            t.replace("_", " ") in opening.lower() for t in tools if "_" in t), opening
