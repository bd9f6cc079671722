"""Each correction the README lists: the default tools fix it, τ-bench mode keeps the quirk.

Every test runs the same calls on the same data twice, once with the corrected tools
(the default for generated data) and once with ``tau_compat`` on, so a correction that
leaks into τ-bench mode, or goes missing from the default, fails here.
"""

from __future__ import annotations

import json

import pytest

from apigen_mt.env.domain import load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.env.state import BaseState
from apigen_mt_envs.airline import DOMAIN
from tests.envs_airline.conftest import _available, _flight, tiny_tables


def _booking(**extra):
    args = {"user_id": "bo_kim_2000", "origin": "JFK", "destination": "LAX",
            "flight_type": "one_way", "cabin": "economy",
            "flights": [{"flight_number": "HAT900", "date": "2024-05-20"}],
            "passengers": [{"first_name": "Bo", "last_name": "Kim", "dob": "1980-02-02"}],
            "payment_methods": [{"payment_id": "credit_card_3", "amount": 120}],
            "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"}
    return {**args, **extra}


def _seats(env, number="HAT900", date="2024-05-20"):
    return dict(env.state["flights"][number]["dates"][date]["available_seats"])


def test_default_mode_follows_the_data(tiny, tiny_tau):
    assert load_environment("airline").state.options["tau_compat"] is False
    assert tiny.state.options.get("tau_compat") is None
    assert tiny_tau.state.options["tau_compat"] is True


def test_bookings_get_new_ids_and_never_overwrite(tiny, tiny_tau):
    env = tiny.fresh()
    ids = [json.loads(env.execute("book_reservation", _booking()))["reservation_id"]
           for _ in range(4)]
    assert len(set(ids)) == 4 and not set(ids) & {"HATHAT", "HATHAU", "HATHAV"}
    assert all(len(i) == 6 and i.isalnum() and i.isupper() for i in ids)
    assert env.state["users"]["bo_kim_2000"]["reservations"][-4:] == ids
    assert all(env.state["reservations"][i]["reservation_id"] == i for i in ids)
    # the same booking on a fresh copy gets the same id: replaying ground truth agrees
    again = tiny.fresh()
    assert json.loads(again.execute("book_reservation", _booking()))["reservation_id"] == ids[0]
    tau = tiny_tau.fresh()
    quirk = [json.loads(tau.execute("book_reservation", _booking()))["reservation_id"]
             for _ in range(4)]
    assert quirk == ["HATHAT", "HATHAU", "HATHAV", "HATHAV"]  # the fourth overwrites


def test_booking_takes_seats(tiny, tiny_tau):
    for env, taken in ((tiny.fresh(), 2), (tiny_tau.fresh(), 0)):
        before = _seats(env)
        two = _booking(passengers=[{"first_name": "Bo", "last_name": "Kim", "dob": "1980-02-02"},
                                   {"first_name": "Al", "last_name": "Kim", "dob": "1981-03-03"}],
                       payment_methods=[{"payment_id": "credit_card_3", "amount": 240}])
        assert not env.execute("book_reservation", two).startswith("Error")
        after = _seats(env)
        assert after["economy"] == before["economy"] - taken
        assert after["business"] == before["business"]


def test_flight_change_stores_the_cabin_and_moves_seats(tiny, tiny_tau):
    change = {"reservation_id": "ECO001", "cabin": "business", "payment_id": "credit_card_1",
              "flights": [{"flight_number": "HAT900", "date": "2024-05-21"}]}
    env = tiny.fresh()
    before_old, before_new = _seats(env), _seats(env, date="2024-05-21")
    record = json.loads(env.execute("update_reservation_flights", change))
    assert record["cabin"] == "business"
    assert env.state["reservations"]["ECO001"]["cabin"] == "business"
    # two travellers: economy seats back on the 20th, business seats taken on the 21st
    assert _seats(env)["economy"] == before_old["economy"] + 2
    assert _seats(env, date="2024-05-21")["business"] == before_new["business"] - 2
    # a later change in the new cabin keeps the segment (same flight, date and cabin)
    kept = json.loads(env.execute("update_reservation_flights", change))
    assert kept["flights"] == record["flights"]
    assert _seats(env, date="2024-05-21")["business"] == before_new["business"] - 2
    tau = tiny_tau.fresh()
    quirk = json.loads(tau.execute("update_reservation_flights", change))
    assert quirk["cabin"] == "economy"
    assert _seats(tau) == before_old and _seats(tau, date="2024-05-21") == before_new


def test_cabin_only_change_moves_seats_between_cabins(tiny):
    env = tiny.fresh()
    before = _seats(env)
    same = {"reservation_id": "ECO001", "cabin": "business", "payment_id": "credit_card_1",
            "flights": [{"flight_number": "HAT900", "date": "2024-05-20"}]}
    assert not env.execute("update_reservation_flights", same).startswith("Error")
    after = _seats(env)
    assert after["economy"] == before["economy"] + 2
    assert after["business"] == before["business"] - 2


def test_cancelling_twice_is_refused_and_seats_come_back(tiny, tiny_tau):
    env = tiny.fresh()
    before = _seats(env)
    record = json.loads(env.execute("cancel_reservation", {"reservation_id": "ECO001"}))
    assert record["status"] == "cancelled"
    assert record["payment_history"] == [{"payment_id": "credit_card_1", "amount": 240},
                                         {"payment_id": "credit_card_1", "amount": -240}]
    assert _seats(env)["economy"] == before["economy"] + 2
    assert env.execute("cancel_reservation", {"reservation_id": "ECO001"}) == \
        "Error: reservation is cancelled"
    assert len(env.state["reservations"]["ECO001"]["payment_history"]) == 2
    tau = tiny_tau.fresh()
    tau.execute("cancel_reservation", {"reservation_id": "ECO001"})
    tau.execute("cancel_reservation", {"reservation_id": "ECO001"})
    assert len(tau.state["reservations"]["ECO001"]["payment_history"]) == 4
    assert _seats(tau) == before


@pytest.mark.parametrize(("tool", "arguments"), [
    ("update_reservation_baggages", {"total_baggages": 2, "nonfree_baggages": 0,
                                     "payment_id": "credit_card_1"}),
    ("update_reservation_flights", {"cabin": "economy", "payment_id": "credit_card_1",
                                    "flights": [{"flight_number": "HAT900",
                                                 "date": "2024-05-21"}]}),
    ("update_reservation_passengers", {"passengers": [
        {"first_name": "Ana", "last_name": "Lee", "dob": "1970-01-01"},
        {"first_name": "Max", "last_name": "Lee", "dob": "1972-01-01"}]}),
])
def test_a_cancelled_reservation_no_longer_changes(tiny, tiny_tau, tool, arguments):
    call = {"reservation_id": "ECO001", **arguments}
    env = tiny.fresh()
    env.execute("cancel_reservation", {"reservation_id": "ECO001"})
    assert env.execute(tool, call) == "Error: reservation is cancelled"
    tau = tiny_tau.fresh()
    tau.execute("cancel_reservation", {"reservation_id": "ECO001"})
    assert not tau.execute(tool, call).startswith("Error")


def test_bags_can_only_go_up(tiny, tiny_tau):
    fewer = {"reservation_id": "ECO001", "total_baggages": 0, "nonfree_baggages": 0,
             "payment_id": "credit_card_1"}
    env = tiny.fresh()
    assert env.execute("update_reservation_baggages", fewer) == \
        "Error: checked bags can be added but not removed"
    assert env.state.changes() == {}
    more = {**fewer, "total_baggages": 3, "nonfree_baggages": 1}
    record = json.loads(env.execute("update_reservation_baggages", more))
    assert record["payment_history"][-1] == {"payment_id": "credit_card_1", "amount": 50}
    assert env.execute("update_reservation_baggages", {**more, "nonfree_baggages": 0}) == \
        "Error: checked bags can be added but not removed"
    tau = tiny_tau.fresh()
    quirk = json.loads(tau.execute("update_reservation_baggages", fewer))
    assert quirk["total_baggages"] == 0 and len(quirk["payment_history"]) == 1


def test_certificates_always_get_a_new_id(tiny, tiny_tau):
    env = tiny.fresh()
    outs = [env.execute("send_certificate", {"user_id": "bo_kim_2000", "amount": 100})
            for _ in range(5)]
    wallet = env.state["users"]["bo_kim_2000"]["payment_methods"]
    made = [p for p, m in wallet.items() if m["source"] == "certificate"]
    assert len(made) == 5 and all(o.startswith("Certificate certificate_") for o in outs)
    assert all(wallet[p] == {"source": "certificate", "amount": 100, "id": p} for p in made)
    tau = tiny_tau.fresh()
    quirk = [tau.execute("send_certificate", {"user_id": "bo_kim_2000", "amount": 100})
             for _ in range(4)]
    assert quirk[3] == "null"


def test_missing_reservation_is_named_so(tiny, tiny_tau):
    ask = {"reservation_id": "NOPE00"}
    assert tiny.fresh().execute("get_reservation_details", ask) == \
        "Error: reservation not found"
    assert tiny_tau.fresh().execute("get_reservation_details", ask) == "Error: user not found"


def _overnight(options):
    """A JFK→ORD red-eye on 8 May (arrives 01:00 next day) and ORD→LAX on 8 and 9 May."""
    tables = tiny_tables()
    tables["flights"]["HAT903"] = _flight("HAT903", "JFK", "ORD", "22:00:00", "01:00:00+1",
                                          {"2024-05-08": _available(100)})
    tables["flights"]["HAT904"] = _flight("HAT904", "ORD", "LAX", "07:00:00", "09:00:00", {
        "2024-05-08": _available(100), "2024-05-09": _available(170)})
    return Environment(DOMAIN, BaseState(tables, options), policy="")


def test_onestop_search_crosses_midnight_with_the_second_days_fares():
    ask = {"origin": "JFK", "destination": "LAX", "date": "2024-05-08"}
    found = json.loads(_overnight({}).fresh().execute("search_onestop_flight", ask))
    pair = next((a, b) for a, b in found if a["flight_number"] == "HAT903")
    assert pair[1]["flight_number"] == "HAT904" and pair[1]["date"] == "2024-05-09"
    assert pair[1]["prices"]["economy"] == 170  # the 9th's fare, not the 8th's
    # τ-bench looks for "2024-05-9" and never finds the connection
    quirk = json.loads(_overnight({"tau_compat": True}).fresh().execute(
        "search_onestop_flight", ask))
    assert not any(a["flight_number"] == "HAT903" for a, _ in quirk)
    bad = _overnight({}).fresh().execute("search_onestop_flight", {**ask, "date": "May 8"})
    assert bad == "Error: invalid date May 8, use the format 'YYYY-MM-DD'"
