"""The airline tools: τ-bench's schemas, behaviours, error texts and quirks."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from apigen_mt.env import calculator as airline_calc
from apigen_mt_envs.airline import DOMAIN
from apigen_mt_envs.airline import tools as airline_tools

CABINS = ["basic_economy", "economy", "business"]
FLIGHT = ({"flight_number": "string", "date": "string"}, ["flight_number", "date"])
PASSENGER = ({"first_name": "string", "last_name": "string", "dob": "string"},
             ["first_name", "last_name", "dob"])
PAYMENT = ({"payment_id": "string", "amount": "number"}, ["payment_id", "amount"])

# τ-bench's parameter structure: name -> type, enum list, or (array items properties,
# items required); every parameter is required; enums carry no description.
TAU_PARAMETERS = {
    "book_reservation": {
        "user_id": "string", "origin": "string", "destination": "string",
        "flight_type": ["one_way", "round_trip"], "cabin": CABINS, "flights": FLIGHT,
        "passengers": PASSENGER, "payment_methods": PAYMENT, "total_baggages": "integer",
        "nonfree_baggages": "integer", "insurance": ["yes", "no"]},
    "calculate": {"expression": "string"},
    "cancel_reservation": {"reservation_id": "string"},
    "get_reservation_details": {"reservation_id": "string"},
    "get_user_details": {"user_id": "string"},
    "list_all_airports": {},
    "search_direct_flight": {"origin": "string", "destination": "string", "date": "string"},
    "search_onestop_flight": {"origin": "string", "destination": "string", "date": "string"},
    "send_certificate": {"user_id": "string", "amount": "number"},
    "think": {"thought": "string"},
    "transfer_to_human_agents": {"summary": "string"},
    "update_reservation_baggages": {"reservation_id": "string", "total_baggages": "integer",
                                    "nonfree_baggages": "integer", "payment_id": "string"},
    "update_reservation_flights": {"reservation_id": "string", "cabin": CABINS,
                                   "flights": FLIGHT, "payment_id": "string"},
    "update_reservation_passengers": {"reservation_id": "string", "passengers": PASSENGER},
}
WRITES = {"book_reservation", "cancel_reservation", "send_certificate",
          "update_reservation_baggages", "update_reservation_flights",
          "update_reservation_passengers"}


def test_tool_names_order_and_kinds():
    assert [t.name for t in DOMAIN.tools] == list(TAU_PARAMETERS)
    assert {t.name for t in DOMAIN.tools if t.kind == "write"} == WRITES
    assert [t.name for t in DOMAIN.tools if t.ends_conversation] == ["transfer_to_human_agents"]


@pytest.mark.parametrize("name", list(TAU_PARAMETERS))
def test_schema_matches_tau_structure(name):
    schema = DOMAIN.tool(name).schema
    assert schema["type"] == "function" and schema["function"]["name"] == name
    assert schema["function"]["description"]
    params = schema["function"]["parameters"]
    expected = TAU_PARAMETERS[name]
    assert params["type"] == "object"
    assert list(params["properties"]) == list(expected)
    assert params["required"] == list(expected)
    for arg, spec in expected.items():
        prop = params["properties"][arg]
        if isinstance(spec, str):
            assert prop == {"type": spec, "description": prop["description"]}
            assert prop["description"]
        elif isinstance(spec, list):
            assert prop == {"type": "string", "enum": spec}
        else:
            fields, required = spec
            assert prop["type"] == "array" and prop["description"]
            items = prop["items"]
            assert items["type"] == "object" and items["required"] == required
            assert {k: v["type"] for k, v in items["properties"].items()} == fields
            assert all(v["description"] for v in items["properties"].values())
            assert set(items) == {"type", "properties", "required"}


def test_schema_texts_spot_check():
    book = DOMAIN.tool("book_reservation").schema["function"]
    assert book["description"] == "Book a reservation."
    pay = book["parameters"]["properties"]["payment_methods"]["items"]["properties"]
    assert pay["payment_id"]["description"].startswith("The payment id stored in user profile")
    think = DOMAIN.tool("think").schema["function"]["description"]
    assert think.startswith("Use the tool to think about something. It will not obtain")
    assert think.endswith("Use it when complex reasoning is needed.")
    assert DOMAIN.tool("search_onestop_flight").description == \
        DOMAIN.tool("search_direct_flight").description


# calculate ---------------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "result"), [
    ("2 * ((350 - 122) + (499 - 127))", "1200.0"),
    ("430 + 412 - (136 + 109)", "597.0"),
    ("1/3", "0.33"),
    ("  7 / 2", "3.5"),
    ("-3//2", "-2.0"),
    ("-(2 + 3) * 4", "-20.0"),
    ("2 ** 10", "1024.0"),
    (".5 + 1.", "1.5"),
    ("0.1 + 0.2", "0.3"),
])
def test_calculate_results(generated, expression, result):
    assert generated.fresh().execute("calculate", {"expression": expression}) == result


@pytest.mark.parametrize(("expression", "error"), [
    ("__import__('os').system('true')", "invalid characters in expression"),
    ("2 + x", "invalid characters in expression"),
    ("1/0", "division by zero"),
    ("1.0/0", "float division by zero"),
    ("2 +", "invalid syntax (<string>, line 1)"),
    ("2*(3", "'(' was never closed (<string>, line 1)"),
    ("012", "leading zeros in decimal integer literals are not permitted; use an 0o prefix "
            "for octal integers (<string>, line 1)"),
    ("3(4)", "'int' object is not callable"),
    ("3(*4)", "3 argument after * must be an iterable, not int"),
    ("()", "float() argument must be a string or a real number, not 'tuple'"),
    ("...", "float() argument must be a string or a real number, not 'ellipsis'"),
])
def test_calculate_errors_match_tau(generated, expression, error):
    assert generated.fresh().execute("calculate", {"expression": expression}) == f"Error: {error}"


def test_calculate_is_safe_and_bounded(generated):
    start = time.perf_counter()
    out = generated.fresh().execute("calculate", {"expression": "9**9**9"})
    assert out == "Error: int too large to convert to float"
    assert time.perf_counter() - start < 1
    for module in (airline_tools, airline_calc):
        source = Path(module.__file__).read_text()
        assert not re.search(r"\beval\(|\bexec\(|\bcompile\(", source)


# behaviours and quirks on the generated data (τ-bench mode where quirks show) -----
def _future_reservation(env, cabin=None, travellers=None):
    db = env.state
    for rid, r in db["reservations"].items():
        days = [db["flights"][s["flight_number"]]["dates"][s["date"]] for s in r["flights"]]
        if (all(d["status"] == "available" for d in days)
                and (cabin is None or r["cabin"] == cabin)
                and (travellers is None or len(r["passengers"]) == travellers)):
            return rid, r
    raise AssertionError("no such reservation")


def _card(user, source="credit_card"):
    return next(p for p, m in user["payment_methods"].items() if m["source"] == source)


def _bookable(env, cabin="economy", seats=1):
    for number, flight in env.state["flights"].items():
        day = flight["dates"]["2024-05-20"]
        if day["status"] == "available" and day["available_seats"][cabin] >= seats:
            return number, flight, day
    raise AssertionError("no bookable flight")


def _booking(user_id, user, number, flight, payments, cabin="economy"):
    return {"user_id": user_id, "origin": flight["origin"],
            "destination": flight["destination"], "flight_type": "one_way", "cabin": cabin,
            "flights": [{"flight_number": number, "date": "2024-05-20"}],
            "passengers": [{"first_name": user["name"]["first_name"],
                            "last_name": user["name"]["last_name"], "dob": user["dob"]}],
            "payment_methods": payments, "total_baggages": 0, "nonfree_baggages": 0,
            "insurance": "no"}


def test_booking_ids_clock_seats_and_payment_quirks(tau_generated):
    env = tau_generated.fresh()
    user_id, user = next((u, r) for u, r in env.state["users"].items()
                         if any(m["source"] == "credit_card"
                                for m in r["payment_methods"].values())
                         and any(m["source"] == "gift_card" and m["amount"] >= 20
                                 for m in r["payment_methods"].values()))
    gift = next(p for p, m in user["payment_methods"].items()
                if m["source"] == "gift_card" and m["amount"] >= 20)
    balance = user["payment_methods"][gift]["amount"]
    number, flight, day = _bookable(env)
    price = day["prices"]["economy"]
    seats = dict(day["available_seats"])
    payments = [{"payment_id": gift, "amount": 20},
                {"payment_id": _card(user), "amount": price - 20}]
    first = json.loads(env.execute("book_reservation",
                                   _booking(user_id, user, number, flight, payments)))
    assert first["reservation_id"] == "HATHAT"
    assert first["created_at"] == "2024-05-15T15:00:00"
    assert list(first["flights"][0]) == ["flight_number", "date", "price", "origin",
                                        "destination"]
    assert first["payment_history"] == payments
    second = json.loads(env.execute("book_reservation", _booking(
        user_id, user, number, flight, [{"payment_id": _card(user), "amount": price}])))
    assert second["reservation_id"] == "HATHAU"
    now = env.state["users"][user_id]
    assert now["reservations"][-2:] == ["HATHAT", "HATHAU"]
    assert now["payment_methods"][gift]["amount"] == balance - 20
    assert env.state["flights"][number]["dates"]["2024-05-20"]["available_seats"] == seats
    # reading never handed out the stored record for mutation
    stored = tau_generated.fresh().state["users"][user_id]["payment_methods"][gift]
    assert stored["amount"] == balance


def test_booking_with_certificate_deletes_it_and_errors_are_exact(generated):
    env = generated.fresh()
    user_id, user = next((u, r) for u, r in env.state["users"].items()
                         if {"certificate", "credit_card"}
                         <= {m["source"] for m in r["payment_methods"].values()})
    cert = _card(user, "certificate")
    value = user["payment_methods"][cert]["amount"]
    number, flight, day = _bookable(env, "business")
    price = day["prices"]["business"]
    wrong = _booking(user_id, user, number, flight, [{"payment_id": cert, "amount": 1}],
                     cabin="business")
    assert env.execute("book_reservation", wrong) == (
        f"Error: payment amount does not add up, total price is {price}, but paid 1")
    too_much = _booking(user_id, user, number, flight,
                        [{"payment_id": cert, "amount": value + 1}], cabin="business")
    assert env.execute("book_reservation", too_much) == (
        f"Error: not enough balance in payment method {cert}")
    unknown = {**wrong, "user_id": "nobody_0000"}
    assert env.execute("book_reservation", unknown) == "Error: user not found"
    assert env.state.changes() == {}
    small = min(value, price - 1)
    ok = _booking(user_id, user, number, flight,
                  [{"payment_id": cert, "amount": small},
                   {"payment_id": _card(user), "amount": price - small}], cabin="business")
    assert not env.execute("book_reservation", ok).startswith("Error")
    assert cert not in env.state["users"][user_id]["payment_methods"]


def test_update_flights_keeps_cabin_field_and_charges_difference(tau_generated):
    env = tau_generated.fresh()
    rid, r = _future_reservation(env, cabin="economy", travellers=1)
    user = env.state["users"][r["user_id"]]
    card = next((p for p, m in user["payment_methods"].items()
                 if m["source"] == "credit_card"), None)
    if card is None:
        pytest.skip("owner has no credit card")
    segments = [{"flight_number": s["flight_number"], "date": s["date"]} for s in r["flights"]]
    out = env.execute("update_reservation_flights", {"reservation_id": rid, "cabin": "business",
                                                     "flights": segments, "payment_id": card})
    new = json.loads(out)
    assert new["cabin"] == "economy"  # quirk: the cabin is not written
    flights = env.state["flights"]
    business = [flights[s["flight_number"]]["dates"][s["date"]]["prices"]["business"]
                for s in r["flights"]]
    assert [s["price"] for s in new["flights"]] == business
    diff = sum(business) - sum(s["price"] for s in r["flights"])
    assert new["payment_history"][-1] == {"payment_id": card, "amount": diff}


def test_cancel_twice_refunds_the_refunds(tau_generated):
    env = tau_generated.fresh()
    rid = next(iter(env.state["reservations"]))
    history = env.state["reservations"][rid]["payment_history"]
    env.execute("cancel_reservation", {"reservation_id": rid})
    env.execute("cancel_reservation", {"reservation_id": rid})
    record = env.state["reservations"][rid]
    assert record["status"] == "cancelled"
    assert len(record["payment_history"]) == 4 * len(history)
    assert env.execute("cancel_reservation", {"reservation_id": "NOPE00"}) == \
        "Error: reservation not found"


def test_send_certificate_slots(tau_generated):
    env = tau_generated.fresh()
    user_id = next(iter(env.state["users"]))
    outs = [env.execute("send_certificate", {"user_id": user_id, "amount": 50})
            for _ in range(4)]
    assert outs[0] == f"Certificate certificate_3221322 added to user {user_id} with amount 50."
    assert outs[2].startswith("Certificate certificate_3221324")
    assert outs[3] == "null"
    wallet = env.state["users"][user_id]["payment_methods"]
    assert wallet["certificate_3221322"] == {"source": "certificate", "amount": 50,
                                             "id": "certificate_3221322"}
    assert env.execute("send_certificate", {"user_id": "x", "amount": 5}) == \
        "Error: user not found"


def test_read_tools(tau_generated):
    env = tau_generated.fresh()
    assert env.execute("get_reservation_details", {"reservation_id": "NOPE00"}) == \
        "Error: user not found"
    assert env.execute("get_user_details", {"user_id": "nobody"}) == "Error: user not found"
    airports = json.loads(env.execute("list_all_airports", {}))
    assert len(airports) == 20 and airports["LGA"] == "LaGuardia"
    number, flight, day = _bookable(env)
    found = json.loads(env.execute("search_direct_flight", {
        "origin": flight["origin"], "destination": flight["destination"],
        "date": "2024-05-20"}))
    hit = next(f for f in found if f["flight_number"] == number)
    assert "dates" not in hit and hit["prices"] == day["prices"]
    assert env.execute("think", {"thought": "hm"}) == ""
    assert env.execute("transfer_to_human_agents", {"summary": "s"}) == "Transfer successful"
    assert env.state.changes() == {}


def test_onestop_search_finds_a_generated_connection(generated):
    env = generated.fresh()
    db = env.state
    r = next(r for r in db["reservations"].values()
             if r["flight_type"] == "one_way" and len(r["flights"]) == 2
             and r["flights"][0]["date"] == r["flights"][1]["date"]
             and all(db["flights"][s["flight_number"]]["dates"][s["date"]]["status"]
                     == "available" for s in r["flights"]))
    first, second = r["flights"]
    found = json.loads(env.execute("search_onestop_flight", {
        "origin": first["origin"], "destination": second["destination"],
        "date": first["date"]}))
    pairs = [(a["flight_number"], b["flight_number"]) for a, b in found]
    assert (first["flight_number"], second["flight_number"]) in pairs


def test_every_write_tool_succeeds_on_generated_data(generated):
    env = generated.fresh()
    db = env.state
    rid, r = _future_reservation(env, cabin="economy", travellers=2)
    owner = db["users"][r["user_id"]]
    card = next(p for p, m in owner["payment_methods"].items()
                if m["source"] in ("credit_card", "gift_card"))
    segments = [{"flight_number": s["flight_number"], "date": s["date"]} for s in r["flights"]]
    calls = [
        ("update_reservation_passengers", {"reservation_id": rid,
                                           "passengers": list(reversed(r["passengers"]))}),
        ("update_reservation_baggages", {"reservation_id": rid,
                                         "total_baggages": r["total_baggages"] + 1,
                                         "nonfree_baggages": 0, "payment_id": card}),
        ("update_reservation_flights", {"reservation_id": rid, "cabin": "economy",
                                        "flights": segments, "payment_id": card}),
        ("send_certificate", {"user_id": r["user_id"], "amount": 100}),
        ("cancel_reservation", {"reservation_id": rid}),
    ]
    user_id, user = next((u, x) for u, x in db["users"].items()
                         if any(m["source"] == "credit_card"
                                for m in x["payment_methods"].values()))
    number, flight, day = _bookable(env)
    calls.append(("book_reservation", _booking(
        user_id, user, number, flight,
        [{"payment_id": _card(user), "amount": day["prices"]["economy"]}])))
    for name, arguments in calls:
        out = env.execute(name, arguments)
        assert not out.startswith("Error"), (name, out)
    assert {c[0] for c in calls} == WRITES


def test_invalid_arguments_are_rejected_without_change(generated):
    env = generated.fresh()
    out = env.execute("update_reservation_baggages", {"reservation_id": "X", "total_baggages": "2",
                                                      "nonfree_baggages": 0, "payment_id": "p"})
    assert out.startswith("Error: invalid argument 'total_baggages'")
    out = env.execute("update_reservation_flights", {"reservation_id": "X", "cabin": "first",
                                                     "flights": [], "payment_id": "p"})
    assert out.startswith("Error: invalid argument 'cabin'")
    assert env.state.changes() == {}
