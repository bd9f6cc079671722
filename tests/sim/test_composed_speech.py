"""The customer's sentences put together part by part (:mod:`apigen_mt.sim.wording`) stay
readable: the sim agent reads every detail form and every reworded request back, every
composed yes is consent to the judge's classifier and a yes to the agent, and a request to
hear a change again never is."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from apigen_mt.rollout.consent import classify_reply
from apigen_mt.sim.agent import _YES, _statements
from apigen_mt.sim.phrasing import match_intent
from apigen_mt.sim.wording import (
    FORMS,
    TEXT_FORMS,
    agreement,
    detail,
    difference,
    repeat_please,
    request,
    reword,
)

VALUES = {"order": "#W6789779", "items": "7645345788 and 8426735212",
          "payment method": "credit_card_1087044", "new items": "1 and 2",
          "reservation": "ABC123", "total bags": "3", "paid bags": "0", "amount": "50",
          "reason": "no longer needed", "cabin": "business",
          "new address": "5866 Cypress Drive, Suite 155, Nashville, TN 37228, USA",
          "flights": "flight number HAT030, date 2024-05-25",
          "passengers": "Hugo Kowalczyk, born 1955-03-26", "origin": "JFK",
          "destination": "SEA", "flight type": "round trip", "insurance": "no",
          "payment methods": "$1150 on credit_card_1087044"}
PROPOSALS = [
    "Just to be sure, I'll cancel your pending order, with the order #W1234567 and the reason "
    "no longer needed. Shall I go ahead?",
    "Here is what I'm about to do. I'll send back the products on your received order, with "
    "the order #W3000579, the items 4524701523 and the payment method paypal_1. Is that okay "
    "with you?",
]
TOOLS = ["modify_pending_order_address", "cancel_pending_order", "return_delivered_order_items",
         "exchange_delivered_order_items", "modify_user_address", "modify_pending_order_items",
         "modify_pending_order_payment", "update_reservation_baggages",
         "update_reservation_flights", "update_reservation_passengers", "cancel_reservation",
         "book_reservation", "send_certificate"]
INTENTS = {"change the address on my pending order": "modify_pending_order_address",
           "cancel my pending order": "cancel_pending_order",
           "send back the items for my delivered order": "return_delivered_order_items",
           "swap the products of my received purchase": "exchange_delivered_order_items",
           "modify the shipping address for my customer profile": "modify_user_address",
           "change the payment method of my order": "modify_pending_order_payment",
           "make a change to the bags of my reservation": "update_reservation_baggages",
           "update the passengers of my booking": "update_reservation_passengers",
           "change the flights on my reservation": "update_reservation_flights",
           "cancel my reservation": "cancel_reservation",
           "book a reservation": "book_reservation"}


@pytest.mark.parametrize("noun", sorted(VALUES))
def test_the_agent_reads_every_form_of_a_detail_back(noun):
    value = VALUES[noun]
    forms = FORMS.get(noun, []) + TEXT_FORMS.get(noun, [])
    assert forms, noun
    rng = random.Random(noun)
    for _ in range(200):
        said = detail(noun, value, rng, first=rng.random() < 0.3,
                      words=noun not in FORMS)
        assert said is not None
        assert _statements(said, list(VALUES)) == {noun: value}, said


@pytest.mark.parametrize("tone", ["neutral", "warm", "terse", "hesitant"])
def test_every_composed_yes_is_consent_and_a_yes_and_a_repeat_request_is_neither(tone):
    rng = random.Random(tone)
    for _ in range(1500):
        yes = agreement(tone, rng)
        assert _YES.match(yes), yes
        for proposal in PROPOSALS:
            assert classify_reply(yes, proposal).agrees, (yes, classify_reply(yes, proposal))
        again = repeat_please(rng)
        assert not _YES.match(again), again
        assert not classify_reply(again, PROPOSALS[0]).agrees, again


@pytest.mark.parametrize("intent", sorted(INTENTS))
def test_a_reworded_request_names_the_same_change(intent):
    rng = random.Random(intent)
    seen = set()
    for _ in range(60):
        said = reword(intent, rng)
        seen.add(said)
        assert match_intent(said, TOOLS) == INTENTS[intent], said
        for again in (False, True):
            sentence = request(said, "neutral", rng, again=again)
            assert match_intent(sentence, TOOLS) == INTENTS[intent], sentence
    assert "book a booking" not in seen
    if intent != "book a reservation":
        assert len(seen) >= 5, seen  # its own words, not the instruction's


def test_a_second_thing_of_a_kind_is_told_by_what_differs():
    rng = random.Random(0)
    said = difference("a hair dryer (1875W power, tourmaline, white)",
                      ["a hair dryer (2000W power, ionic, black)"], rng)
    assert said and "1875W power, tourmaline and white" in said and "2000W" not in said
    assert difference("a desk (walnut)", ["a hair dryer (ionic)"], rng) is None
    assert _statements(said, list(VALUES)) == {}  # a description is never read as a value


@pytest.mark.parametrize("known", [{"origin": "JFK", "destination": "SEA"},
                                   {"total bags": "3", "paid bags": "0"},
                                   {"total bags": "1", "paid bags": "1"},
                                   {"total bags": "0", "paid bags": "0"},
                                   {"flight type": "one way", "cabin": "basic economy"},
                                   {"flight type": "round trip", "cabin": "business"}])
def test_two_details_said_in_one_breath_are_both_heard(known):
    from apigen_mt.sim.customer import _paired

    rng = random.Random(7)
    heard = set()
    for _ in range(100):
        left, said = _paired(list(known.items()), SimpleNamespace(rng=rng))
        if said:
            assert left == [] and len(said) == 1
            assert "1 bags" not in said[0] and "0 bags" not in said[0]
            assert _statements(said[0], list(VALUES)) == known, said
            heard.add(said[0])
    assert len(heard) >= 3  # said more than one way
