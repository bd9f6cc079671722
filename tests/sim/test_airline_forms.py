"""Every way the sim customer says an airline detail is read back exactly by the sim agent,
from the conversation text alone: flight lists with the month said once, a day said alone,
"the day after"; passengers in their several shapes; bag counts in digits or words; each
form of a reservation, cabin, route, fare, insurance, payment and amount; the pairs said in
one breath. Seeded sweeps, so the same seed says (and tests) the same sentences."""

from __future__ import annotations

import datetime as dt
import random
import re

import pytest

from apigen_mt.env.domain import load_environment
from apigen_mt.prompts import load_prompt
from apigen_mt.records import Action
from apigen_mt.sim import SimModel, builtin_roles
from apigen_mt.sim.agent import _gather, _request, _statements
from apigen_mt.sim.customer import _PAIRS, _SAYS
from apigen_mt.sim.dates import iso_dates, present_date
from apigen_mt.sim.instructions import write_instruction
from apigen_mt.sim.itinerary import (
    COUNTS,
    bag_counts,
    plain_travel,
    say_flights,
    say_people,
)
from apigen_mt.sim.phrasing import match_intent, slots_for
from apigen_mt.sim.wording import (
    FORMS,
    TEXT_FORMS,
    agreement,
    detail,
    goodbye,
    one_bag,
    repeat_please,
    spoken,
)

PROMPT = "# Desk policy\n\nTreat the present moment as 15:00 EST on 15 May 2024.\n"
TODAY = present_date(PROMPT)
ENV = load_environment("airline")
TOOLS = {t.name: t.schema["function"] for t in ENV.domain.tools}
WRITES = [n for n, t in TOOLS.items() if any(x.name == n and x.kind == "write"
                                              for x in ENV.domain.tools)]

ACTIONS = [
    Action(name="cancel_reservation", arguments={"reservation_id": "1API20"}),
    Action(name="update_reservation_baggages", arguments={
        "reservation_id": "N5UH1H", "total_baggages": 3, "nonfree_baggages": 1,
        "payment_id": "credit_card_4768863"}),
    Action(name="update_reservation_baggages", arguments={
        "reservation_id": "N5UH1H", "total_baggages": 2, "nonfree_baggages": 2,
        "payment_id": "gift_card_5967916"}),
    Action(name="update_reservation_baggages", arguments={
        "reservation_id": "N5UH1H", "total_baggages": 0, "nonfree_baggages": 0,
        "payment_id": "gift_card_5967916"}),
    Action(name="update_reservation_flights", arguments={
        "reservation_id": "7SD26K", "cabin": "business", "flights": [
            {"flight_number": "HAT165", "date": "2024-05-18"},
            {"flight_number": "HAT129", "date": "2024-05-20"},
            {"flight_number": "HAT124", "date": "2024-05-20"},
            {"flight_number": "HAT125", "date": "2024-05-21"}],
        "payment_id": "credit_card_4768863"}),
    Action(name="update_reservation_flights", arguments={
        "reservation_id": "7SD26K", "cabin": "basic_economy", "flights": [
            {"flight_number": "HAT030", "date": "2024-05-31"},
            {"flight_number": "HAT112", "date": "2024-06-01"}],
        "payment_id": "credit_card_4768863"}),
    Action(name="send_certificate", arguments={"user_id": "ulla_jablonski_6339", "amount": 150}),
    Action(name="update_reservation_passengers", arguments={
        "reservation_id": "Q49VGN", "passengers": [
            {"first_name": "Hugo", "last_name": "Kowalczyk", "dob": "1955-03-26"},
            {"first_name": "Vera", "last_name": "Ueda", "dob": "1987-10-10"}]}),
    Action(name="book_reservation", arguments={
        "user_id": "farid_gallagher_4658", "origin": "JFK", "destination": "MIA",
        "flight_type": "round_trip", "cabin": "economy", "flights": [
            {"flight_number": "HAT056", "date": "2024-05-25"},
            {"flight_number": "HAT057", "date": "2024-05-28"}],
        "passengers": [{"first_name": "Farid", "last_name": "Gallagher", "dob": "1952-03-13"},
                       {"first_name": "Adele", "last_name": "Acosta", "dob": "1977-07-17"}],
        "payment_methods": [{"payment_id": "credit_card_3605780", "amount": 216}],
        "total_baggages": 1, "nonfree_baggages": 0, "insurance": "yes"}),
]
AIRLINE_NOUNS = ["reservation", "total bags", "paid bags", "amount", "payment method", "cabin",
                 "flights", "passengers", "origin", "destination", "flight type", "insurance",
                 "payment methods"]


def _slots(tool: str):
    props = TOOLS[tool]["parameters"]["properties"]
    return [s for s in slots_for(list(props)) if s.params[0] != "user_id"], props


def _heard(tool: str, messages: list[dict]) -> dict:
    slots, props = _slots(tool)
    return _gather([{"role": "system", "content": PROMPT}, *messages], slots, props, TODAY)


def _expected(action: Action) -> dict:
    return {k: v for k, v in action.arguments.items() if k != "user_id"}


def _spoken_value(noun: str, action: Action) -> str:
    """The detail as the instruction states it (the customer's starting point)."""
    from apigen_mt.sim.phrasing import slot_value, speak_value

    slot = next(s for s in _slots(action.name)[0] if s.noun == noun)
    return speak_value(slot_value(slot, action.arguments))


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_every_form_of_every_detail_of_a_write_is_heard_back(action):
    """Each detail, in every form it takes, said alone and heard as the tool's argument."""
    slots, _ = _slots(action.name)
    nouns = [s.noun for s in slots]
    rng = random.Random(action.name)
    for slot in slots:
        forms = FORMS.get(slot.noun, []) + TEXT_FORMS.get(slot.noun, [])
        value = _spoken_value(slot.noun, action)
        for _ in range(6 * len(forms) or 20):
            said = spoken(value, rng)
            words = not re.fullmatch(r"#?[\w-]*\d[\w-]*", said)
            sentence = detail(slot.noun, said, rng, first=rng.random() < 0.5, words=words) \
                or f"The {slot.noun} is {said}."
            heard = _heard(action.name, [{"role": "user", "content": sentence}])
            wanted = {p: action.arguments[p] for p in slot.params}
            assert heard == wanted, (sentence, heard, nouns)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_a_prepared_or_asked_customer_is_heard_whole(action):
    """Instructions of every shape the drafter writes, played by the sim customer: the
    opening (and the answer to one question for what is still missing) gives the agent
    every argument of the write, exactly."""
    kinds = {t.name: t.kind for t in ENV.domain.tools}
    user = {"user": {"name": {"first_name": "Ulla", "last_name": "Jablonski"},
                     "email": "ulla@example.com"}}
    model = SimModel("sim:perfect", roles=builtin_roles())
    slots, _ = _slots(action.name)
    for seed in range(80):
        text = write_instruction([action], kinds, "ulla_jablonski_6339", user, None,
                                 random.Random(seed))
        system = {"role": "system", "content": load_prompt("human").render(instruction=text)}
        hello = "Hi! How can I help you today?"
        opening = model.respond([system, {"role": "user", "content": hello}]).text or ""
        said = [{"role": "user", "content": opening}]
        heard = _heard(action.name, said)
        missing = [s.noun for s in slots if any(p not in heard for p in s.params)]
        if missing:
            ask = ("Could you give me " + ", ".join(f"the {n}" for n in missing[:-1])
                   + (" and " if len(missing) > 1 else "") + f"the {missing[-1]}?")
            answer = model.respond([system, {"role": "user", "content": hello},
                                    {"role": "assistant", "content": opening},
                                    {"role": "user", "content": ask}]).text or ""
            said += [{"role": "assistant", "content": ask}, {"role": "user", "content": answer}]
            heard = _heard(action.name, said)
        assert heard == _expected(action), (said, heard)
        assert _request(said[:1], WRITES)[1] == action.name, opening


def _legs(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    return list(pairs)


@pytest.mark.parametrize("legs", [
    _legs(("HAT165", "2024-05-18"), ("HAT129", "2024-05-20"), ("HAT124", "2024-05-20")),
    _legs(("HAT030", "2024-05-25"), ("HAT031", "2024-05-26")),
    _legs(("HAT030", "2024-05-31"), ("HAT112", "2024-06-01"), ("HAT113", "2024-06-03")),
    _legs(("HAT001", "2024-05-20"), ("HAT002", "2024-05-20"), ("HAT003", "2024-05-20")),
    _legs(("HAT257", "2024-05-26"), ("HAT198", "2024-05-27"), ("HAT171", "2024-05-30"),
          ("HAT032", "2024-05-30")),
    _legs(("HAT099", "2024-05-27"), ("HAT023", "2024-05-20")),  # a return before the outbound
])
def test_a_flight_list_said_with_its_month_once_is_heard_leg_by_leg(legs):
    plain = "; ".join(f"{f} on {d}" for f, d in legs)
    shapes = set()
    for seed in range(300):
        said = say_flights(legs, random.Random(seed))
        shapes.add(re.sub(r"HAT\d+", "F", said))
        assert "2024" not in said
        assert plain_travel(iso_dates(said, TODAY), TODAY) == plain, said
    assert len(shapes) >= 12, shapes
    if len({d for _, d in legs}) > 1 and all(d[5:7] == "05" for _, d in legs):
        # the month is named once at times, and a next day said as such when there is one
        assert any(s.count("May") == 1 for s in shapes), shapes


def test_a_day_said_alone_takes_the_month_of_the_date_before_it():
    assert plain_travel("HAT1 on 2024-06-29, then HAT2 on the 30th", TODAY) == \
        "HAT1 on 2024-06-29; HAT2 on 2024-06-30"
    assert plain_travel("HAT1 on 2024-05-31 and then HAT2 the day after", TODAY) == \
        "HAT1 on 2024-05-31; HAT2 on 2024-06-01"
    # no date before it: the month of the present moment; none known: left as said
    assert plain_travel("HAT2 on the 20th", TODAY) == "HAT2 on 2024-05-20"
    assert plain_travel("HAT2 on the 20th", None) == "HAT2 on the 20th"
    assert plain_travel("HAT2 the day after", TODAY) == "HAT2 the day after"
    assert plain_travel("on the 31st", TODAY) == "on the 31st"  # no flight: no list


def test_passengers_in_every_shape_are_heard_with_their_birth_dates():
    value = "Priya Ueda, born 1982-10-24; Nadia Esposito, born 1999-05-10; Bianca Okafor, " \
            "born 1978-07-09"
    shapes = set()
    for seed in range(300):
        said = say_people(value, random.Random(seed))
        assert said is not None
        shapes.add(re.sub(r"\d+|January|May|July|October", "N", said))
        assert plain_travel(iso_dates(said, None), None) == value, said
    assert len(shapes) >= 20
    assert say_people("no one in particular", random.Random(0)) is None


@pytest.mark.parametrize("count", range(1, 10))
def test_a_bag_count_in_words_is_heard_as_its_number(count):
    word = COUNTS[count]
    asked = {"role": "assistant", "content": "Could you tell me the total bags?"}
    for answer in (f"It's {word}.", f"{word.capitalize()}.", f"I think it's {word}.",
                   f"{word.capitalize()} bags in total.", f"I'm checking {word} bags in all."):
        heard = _heard("update_reservation_baggages",
                       [asked, {"role": "user", "content": answer}])
        assert heard.get("total_baggages") == count, answer
    heard = _heard("update_reservation_baggages", [{"role": "user", "content":
                                                    f"{word.capitalize()} of them are paid."}])
    assert heard == {"nonfree_baggages": count}


def test_every_pair_frame_and_no_bags_sentence_is_heard_as_both_details():
    values = {("origin", "destination"): [("JFK", "MIA")],
              ("flight type", "cabin"): [("one way", "basic economy"), ("round trip", "business")],
              ("total bags", "paid bags"): [("3", "1"), ("2", "none"), ("4", "4")]}
    expect = {"origin": "JFK", "destination": "MIA"}
    for nouns, _, frames in _PAIRS:
        for pair in values[nouns]:
            for frame in frames:
                said = frame.format(*pair)
                got = _statements(said, AIRLINE_NOUNS)
                want = {n: "0" if v == "none" else v for n, v in zip(nouns, pair, strict=True)}
                assert got == (want if nouns != ("origin", "destination") else expect), said
    frames = next(f for n, _, f in _PAIRS if n == ("total bags", "paid bags"))
    rng = random.Random(7)
    for total, paid in (("2", "2"), ("3", "3"), ("1", "none"), ("3", "1"), ("9", "none")):
        for frame in frames * 6:  # counts at times in words, every bag paid as "both"
            said = one_bag(frame.format(*bag_counts(total, paid, rng)))
            heard = _statements(plain_travel(said[0].upper() + said[1:], TODAY), AIRLINE_NOUNS)
            assert heard == {"total bags": total, "paid bags": "0" if paid == "none" else paid}, \
                said
    for sentence in _SAYS["no_bags"]:
        assert _statements(sentence, AIRLINE_NOUNS) == {"total bags": "0", "paid bags": "0"}


def test_stories_are_never_read_as_details_or_requests():
    for key in ("passengers", "bags", "flights"):
        for story in _SAYS["story"][key]:
            said = story.format(person="Priya Ueda")
            text = plain_travel(iso_dates(said, TODAY), TODAY)
            assert _statements(text, AIRLINE_NOUNS) == {}, said
            assert match_intent(said, WRITES) is None, said


@pytest.mark.parametrize("tone", ["neutral", "warm", "terse", "hesitant"])
def test_a_yes_a_goodbye_or_a_word_aside_is_never_read_as_a_detail(tone):
    """ "Let's do it." is consent, never a payment of "it"."""
    rng = random.Random(tone)
    said = [*_SAYS["yes"][tone], *_SAYS["bye"][tone], *_SAYS["lead"][tone],
            *_SAYS["tail"][tone], *_SAYS["careful"], *_SAYS["okay"], *_SAYS["dont_know"]]
    said += [f(tone, rng) for _ in range(1500) for f in (agreement, goodbye)]
    said += [repeat_please(rng) for _ in range(300)]
    for text in said:
        assert _statements(plain_travel(text, TODAY), AIRLINE_NOUNS) == {}, text


def test_same_seed_same_speech():
    legs = [("HAT165", "2024-05-18"), ("HAT129", "2024-05-20")]
    assert [say_flights(legs, random.Random(s)) for s in range(20)] == \
        [say_flights(legs, random.Random(s)) for s in range(20)]
    assert dt.date(2024, 5, 15) == TODAY
