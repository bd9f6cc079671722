"""The consent classifier's table: what a customer's reply to a proposal means."""

import pytest

from apigen_mt.rollout.consent import classify_reply

PROPOSAL = ("To confirm, I will cancel pending order with order id: #W1000001; reason: no "
            "longer needed. Shall I proceed (yes/no)?")

TABLE = [
    ("Yes.", "agree"),
    ("yes", "agree"),
    ("Yep", "agree"),
    ("yeah, go ahead", "agree"),
    ("Go ahead.", "agree"),
    ("Yes, please go ahead.", "agree"),
    ("Sure, no problem.", "agree"),
    ("Confirmed, please proceed with cancelling #W1000001.", "agree"),
    ("OK, do it", "agree"),
    ("No.", "refuse"),
    ("nope", "refuse"),
    ("No, that is not right. Please cancel it with reason: ordered by mistake.", "refuse"),
    ("Don't go ahead.", "refuse"),
    ("Please do not proceed", "refuse"),
    ("I changed my mind.", "refuse"),
    ("Hold on.", "hold"),
    ("Not yet.", "hold"),
    ("Hmm, let me think about it", "hold"),
    ("Wait, what will it cost?", "question"),
    ("What will it cost?", "question"),
    ("How much would I get back", "question"),
    ("Yes, but will I get a refund?", "question"),
    ("Only if it is free.", "conditional"),
    ("Yes, if the refund goes to my card", "conditional"),
    ("Yes, cancel #W2000002 instead.", "other_action"),
    ("Yes, please cancel order #W2000002.", "other_action"),
    ("Yes, return it please.", "other_action"),
    ("", "silent"),
    ("   ", "silent"),
    (None, "silent"),
    ("###STOP###", "silent"),
    ("Yes, that's correct.", "agree"),
    ("Sure thing!", "agree"),
    ("Please go ahead and cancel it.", "agree"),
    ("That's right, go ahead.", "agree"),
    ("Absolutely not.", "refuse"),
    ("That is not right.", "refuse"),
    ("Never mind, leave it.", "refuse"),
    ("Actually, let me check with my wife first.", "hold"),
    ("Yes please, and could you also update my address?", "question"),
    ("Go ahead as long as the refund is in full.", "conditional"),
    ("I guess.", "unclear"),
    ("I would like to cancel an order.", "unclear"),
    ("My name is Omar Silva.", "unclear"),
]


@pytest.mark.parametrize(("reply", "label"), TABLE)
def test_reply_table(reply, label):
    verdict = classify_reply(reply, PROPOSAL)
    assert verdict.label == label, verdict.reason
    assert verdict.agrees is (label == "agree")


def test_yes_to_the_same_values_agrees_but_not_to_other_values():
    booking = "I will book flight HAT001 on 2024-05-20 for $250. Proceed?"
    assert classify_reply("Yes, book HAT001 please.", booking).agrees
    assert classify_reply("Yes, book HAT002 please.", booking).label == "other_action"


def test_no_proposal_means_only_the_reply_counts():
    assert classify_reply("Yes please").agrees
    assert not classify_reply("Yes? what do you mean?").agrees
