"""Each airline policy rule flags a violating trace and passes a compliant one."""

from __future__ import annotations

import json

import pytest

from apigen_mt_envs.airline import DOMAIN
from apigen_mt_envs.airline import rules as R
from tests.envs_airline.conftest import run


def _people(n):
    return [{"first_name": f"P{i}", "last_name": "Lee", "dob": "1990-01-01"} for i in range(n)]


def _book(user_id, payments, travellers=1, cabin="economy", bags=0, nonfree=0,
          number="HAT900"):
    return ("book_reservation", {
        "user_id": user_id, "origin": "JFK", "destination": "LAX", "flight_type": "one_way",
        "cabin": cabin, "flights": [{"flight_number": number, "date": "2024-05-20"}],
        "passengers": _people(travellers), "payment_methods": payments,
        "total_baggages": bags, "nonfree_baggages": nonfree, "insurance": "no"})


def _pay(*pairs):
    return [{"payment_id": p, "amount": a} for p, a in pairs]


def _change(rid, number, date, cabin="economy", payment="credit_card_3"):
    return ("update_reservation_flights", {"reservation_id": rid, "cabin": cabin,
                                           "flights": [{"flight_number": number, "date": date}],
                                           "payment_id": payment})


def _bags(rid, total, nonfree, payment="credit_card_1"):
    return ("update_reservation_baggages", {"reservation_id": rid, "total_baggages": total,
                                            "nonfree_baggages": nonfree, "payment_id": payment})


def _cancel(rid):
    return ("cancel_reservation", {"reservation_id": rid})


def _cert(user_id, amount):
    return ("send_certificate", {"user_id": user_id, "amount": amount})


def check(env, rule, actions, messages=None):
    inp = run(env, actions, messages)
    return rule(inp), inp


def test_rules_are_declared_consistently():
    names = {t.name for t in DOMAIN.tools}
    assert len({r.name for r in DOMAIN.rules}) == len(DOMAIN.rules) >= 12
    for rule in DOMAIN.rules:
        assert rule.name == rule.check.__name__
        assert rule.description and rule.tools and rule.tools <= names
    assert {r.name for r in DOMAIN.rules if r.conversation_only} == {
        "user_identified_before_write", "explicit_confirmation_before_write"}


def test_at_most_five_passengers(tiny):
    bad, inp = check(tiny, R.at_most_five_passengers,
                     [_book("ana_lee_1000", _pay(("credit_card_1", 720)), travellers=6)])
    assert inp.actions[0].ok and len(bad) == 1 and "6 passengers" in bad[0]
    good, inp = check(tiny, R.at_most_five_passengers,
                      [_book("ana_lee_1000", _pay(("credit_card_1", 600)), travellers=5)])
    assert inp.actions[0].ok and good == []


@pytest.mark.parametrize(("payments", "source"), [
    (_pay(("credit_card_1", 60), ("credit_card_2", 60)), "credit cards"),
    (_pay(*[(f"gift_card_{i}", 30) for i in range(1, 5)]), "gift cards"),
    (_pay(("certificate_1", 60), ("certificate_2", 60)), "certificates"),
])
def test_payment_method_limits_flags_too_many(tiny, payments, source):
    bad, inp = check(tiny, R.payment_method_limits, [_book("ana_lee_1000", payments)])
    assert inp.actions[0].ok
    assert len(bad) == 1 and source in bad[0]


def test_payment_method_limits_passes_the_maximum_mix(tiny):
    payments = _pay(("certificate_1", 30), ("credit_card_1", 30),
                    *[(f"gift_card_{i}", 20) for i in range(1, 4)])
    good, inp = check(tiny, R.payment_method_limits, [_book("ana_lee_1000", payments)])
    assert inp.actions[0].ok and good == []


def test_payment_method_must_be_the_owners(tiny):
    bad, inp = check(tiny, R.payment_method_limits, [
        _book("bo_kim_2000", _pay(("credit_card_1", 120))),
        _bags("ECO001", 2, 0, payment="credit_card_3"),
    ])
    assert not inp.actions[0].ok and not inp.actions[1].ok
    assert len(bad) == 2 and all("not in" in reason for reason in bad)
    good, _ = check(tiny, R.payment_method_limits, [_bags("ECO001", 2, 0)])
    assert good == []


def test_nonfree_bags_match_allowance(tiny):
    # gold, economy, 2 passengers: 6 free bags
    bad, inp = check(tiny, R.nonfree_bags_match_allowance, [_bags("ECO001", 7, 0)])
    assert inp.actions[0].ok and len(bad) == 1 and "1 should be paid" in bad[0]
    good, inp = check(tiny, R.nonfree_bags_match_allowance, [_bags("ECO001", 7, 1)])
    assert inp.actions[0].ok and good == []
    # regular, basic economy: no free bag, so the one bag is paid
    bad, inp = check(tiny, R.nonfree_bags_match_allowance, [
        _book("bo_kim_2000", _pay(("credit_card_3", 60)), cabin="basic_economy", bags=1)])
    assert inp.actions[0].ok and len(bad) == 1
    good, inp = check(tiny, R.nonfree_bags_match_allowance, [
        _book("bo_kim_2000", _pay(("credit_card_3", 110)), cabin="basic_economy", bags=1,
              nonfree=1)])
    assert inp.actions[0].ok and good == []


def test_basic_economy_flights_unchanged(tiny_tau):
    tiny = tiny_tau  # τ-bench's tools: the stored cabin lags behind a cabin change
    bad, inp = check(tiny, R.basic_economy_flights_unchanged,
                     [_change("BAS001", "HAT900", "2024-05-21", cabin="basic_economy")])
    assert inp.actions[0].ok and len(bad) == 1 and "basic economy" in bad[0]
    # a cabin change on the same flights is allowed, and afterwards the flights may change
    good, inp = check(tiny, R.basic_economy_flights_unchanged, [
        _change("BAS001", "HAT900", "2024-05-20", cabin="economy"),
        _change("BAS001", "HAT900", "2024-05-21", cabin="economy"),
    ])
    assert all(a.ok for a in inp.actions) and good == []
    # the stored cabin is still basic economy (τ-bench quirk) but the rule knows better
    assert inp.before[1]["reservations"]["BAS001"]["cabin"] == "basic_economy"


def test_flight_change_keeps_trip(tiny):
    bad, inp = check(tiny, R.flight_change_keeps_trip,
                     [_change("ECO001", "HAT902", "2024-05-20", payment="credit_card_1")])
    assert inp.actions[0].ok and len(bad) == 1 and "ends at SFO instead of LAX" in bad[0]
    good, inp = check(tiny, R.flight_change_keeps_trip,
                      [_change("ECO001", "HAT900", "2024-05-21", payment="credit_card_1")])
    assert inp.actions[0].ok and good == []


def test_checked_bags_only_added(tiny_tau):
    tiny = tiny_tau  # τ-bench's tools take fewer bags; the corrected ones refuse them
    bad, inp = check(tiny, R.checked_bags_only_added, [_bags("ECO001", 0, 0)])
    assert inp.actions[0].ok and len(bad) == 1 and "from 1 to 0" in bad[0]
    good, _ = check(tiny, R.checked_bags_only_added, [_bags("ECO001", 2, 0)])
    assert good == []


def test_passenger_count_unchanged(tiny):
    three = ("update_reservation_passengers", {"reservation_id": "ECO001",
                                               "passengers": _people(3)})
    bad, inp = check(tiny, R.passenger_count_unchanged, [three])
    assert not inp.actions[0].ok  # the tool refuses, and the attempt still counts
    assert len(bad) == 1 and "from 2 to 3" in bad[0]
    two = ("update_reservation_passengers", {"reservation_id": "ECO001",
                                             "passengers": _people(2)})
    good, inp = check(tiny, R.passenger_count_unchanged, [two])
    assert inp.actions[0].ok and good == []


def test_cancellation_eligible(tiny):
    bad, inp = check(tiny, R.cancellation_eligible, [_cancel("ECO001")])
    assert inp.actions[0].ok and len(bad) == 1 and "cannot be cancelled" in bad[0]
    # within 24 h, airline-cancelled flight, business, insurance
    good, inp = check(tiny, R.cancellation_eligible,
                      [_cancel(r) for r in ("RECENT", "CANC01", "FLOWN1", "INS001")])
    assert all(a.ok for a in inp.actions) and good == []
    # a booking made in this trace is within 24 hours
    good, _ = check(tiny, R.cancellation_eligible, [
        _book("bo_kim_2000", _pay(("credit_card_3", 120))), _cancel("HATHAT")])
    assert good == []


def test_cancel_only_unflown_trips(tiny):
    bad, inp = check(tiny, R.cancel_only_unflown_trips, [_cancel("FLOWN1")])
    assert inp.actions[0].ok and len(bad) == 1 and "HAT900 on 2024-05-10" in bad[0]
    good, _ = check(tiny, R.cancel_only_unflown_trips, [_cancel("RECENT"), _cancel("CANC01")])
    assert good == []


def test_compensation_eligible(tiny):
    # gold member, DELAY1 (3 passengers) delayed today: 150
    good, inp = check(tiny, R.compensation_eligible, [_cert("ana_lee_1000", 150)])
    assert inp.actions[0].ok and good == []
    bad, _ = check(tiny, R.compensation_eligible, [_cert("ana_lee_1000", 100)])
    assert len(bad) == 1 and "eligible amounts are 150" in bad[0]
    # regular member: only the insured INS002 (landed late, 2 passengers) qualifies: 100
    good, _ = check(tiny, R.compensation_eligible, [_cert("bo_kim_2000", 100)])
    assert good == []
    bad, _ = check(tiny, R.compensation_eligible, [_cert("bo_kim_2000", 200)])
    assert len(bad) == 1


def test_failed_calls_are_ignored_by_state_rules(tiny):
    inp = run(tiny, [_cancel("NOPE00"), _bags("NOPE00", 0, 0),
                     _change("NOPE00", "HAT900", "2024-05-21")])
    assert not any(a.ok for a in inp.actions)
    for rule in DOMAIN.rules:
        if not rule.conversation_only:
            assert rule.check(inp) == [], rule.name


# conversation rules ------------------------------------------------------------------
def _conversation(user_turns, write=("cancel_reservation", {"reservation_id": "RECENT"})):
    """System, then alternating user / assistant text, then the write call."""
    messages = [{"role": "system", "content": "policy"}]
    for text in user_turns:
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": "Noted."})
    messages[-1] = {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": write[0], "arguments": json.dumps(write[1])}}]}
    messages.append({"role": "tool", "tool_call_id": "call_1", "content": "{}"})
    return [write], messages


def test_user_identified_before_write(tiny):
    actions, messages = _conversation(["Hi, I am bo_kim_2000.", "Cancel RECENT. Yes."])
    assert R.user_identified_before_write(run(tiny, actions, messages)) == []
    actions, messages = _conversation(["Hi, please cancel RECENT.", "Yes, go ahead."])
    bad = R.user_identified_before_write(run(tiny, actions, messages))
    assert len(bad) == 1 and "bo_kim_2000" in bad[0]
    assert R.user_identified_before_write(run(tiny, actions)) == []  # no conversation


def test_explicit_confirmation_before_write(tiny):
    actions, messages = _conversation(["I am bo_kim_2000, cancel RECENT.", "Yes, proceed."])
    assert R.explicit_confirmation_before_write(run(tiny, actions, messages)) == []
    for reply in ("Hmm, what would that cost?", "No, don't proceed yet."):
        actions, messages = _conversation(["I am bo_kim_2000, cancel RECENT.", reply])
        bad = R.explicit_confirmation_before_write(run(tiny, actions, messages))
        assert len(bad) == 1 and "confirmation" in bad[0]


def test_reads_need_neither_identification_nor_confirmation(tiny):
    actions, messages = _conversation(
        ["What is in RECENT?"], write=("get_reservation_details", {"reservation_id": "RECENT"}))
    inp = run(tiny, actions, messages)
    assert R.explicit_confirmation_before_write(inp) == []
    assert R.user_identified_before_write(inp) == []


def test_calls_missing_from_the_trace_do_not_shift_the_alignment(tiny):
    actions, messages = _conversation(["I am bo_kim_2000, cancel RECENT.", "Yes, proceed."])
    transfer = {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_0", "type": "function",
        "function": {"name": "transfer_to_human_agents", "arguments": "{}"}}]}
    messages = [*messages[:2], transfer, {"role": "tool", "tool_call_id": "call_0",
                                          "content": "Transfer successful"}, *messages[2:]]
    inp = run(tiny, actions, messages)
    assert R.explicit_confirmation_before_write(inp) == []
    assert R.user_identified_before_write(inp) == []
