"""The airline generator: determinism, τ-bench's schema, internal consistency."""

from __future__ import annotations

import json
import time
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest

from apigen_mt.env.domain import read_data_dir
from apigen_mt_envs.airline import DOMAIN, user_view
from apigen_mt_envs.airline.data import FREE_BAGS, generate
from tests.conftest import ANCHORS, needs_anchors


@pytest.fixture(scope="module")
def data() -> dict[str, dict[str, Any]]:
    return generate(0)


def _shapes(db: dict[str, dict[str, Any]]) -> dict[str, set]:
    """Key orders of every kind of record, and the value types of leaves that matter."""
    out: dict[str, set] = {k: set() for k in (
        "flight", "day", "user", "name", "address", "method", "saved", "reservation",
        "segment", "payment", "passenger", "types")}
    for flight in db["flights"].values():
        out["flight"].add(tuple(flight))
        for day in flight["dates"].values():
            out["day"].add((day["status"], *day))
            if day["status"] == "available":
                out["types"].add(("seats", *(type(v).__name__ for v in
                                             day["available_seats"].values())))
                out["types"].add(("prices", *day["prices"]))
    for user in db["users"].values():
        out["user"].add(tuple(user))
        out["name"].add(tuple(user["name"]))
        out["address"].add(tuple(user["address"]))
        for method in user["payment_methods"].values():
            out["method"].add(tuple(method))
            if "amount" in method:
                out["types"].add(("amount", type(method["amount"]).__name__))
        for saved in user["saved_passengers"]:
            out["saved"].add(tuple(saved))
        out["types"].add(("membership", user["membership"]))
    for res in db["reservations"].values():
        out["reservation"].add(tuple(res))
        out["segment"].update(tuple(s) for s in res["flights"])
        out["payment"].update(tuple(p) for p in res["payment_history"])
        out["passenger"].update(tuple(p) for p in res["passengers"])
        out["types"].add(("enums", res["cabin"], res["flight_type"], res["insurance"]))
    return out


def test_same_seed_same_bytes_other_seed_differs(data):
    assert json.dumps(generate(0)) == json.dumps(data)
    assert json.dumps(generate(1)) != json.dumps(data)


def test_default_sizes_and_speed(data):
    assert [len(data[t]) for t in DOMAIN.tables] == [300, 2000, 500]
    assert list(data) == DOMAIN.tables
    start = time.perf_counter()
    generate(3)
    assert time.perf_counter() - start < 4  # about 0.6 s; loose for slow machines


def test_small_and_custom_sizes():
    small = generate(seed=5, users=3, flights=4, reservations=10)
    assert [len(small[t]) for t in ("flights", "reservations", "users")] == [4, 10, 3]
    _check_consistency(small)
    assert generate(seed=5, users=2, flights=2, reservations=0)["reservations"] == {}
    with pytest.raises(ValueError):
        generate(users=0, reservations=1)


@needs_anchors
def test_schema_matches_tau_bench_data(data):
    tau = _shapes(read_data_dir(DOMAIN, ANCHORS / "airline"))
    mine = _shapes(data)
    for kind, shapes in mine.items():
        assert shapes <= tau[kind], (kind, shapes - tau[kind])
    # every status τ-bench uses appears, with the same fields
    assert {s[0] for s in mine["day"]} == {s[0] for s in tau["day"]}
    assert mine["method"] == tau["method"]


def test_schema_explicit(data):
    flight = next(iter(data["flights"].values()))
    assert list(flight) == ["flight_number", "origin", "destination",
                            "scheduled_departure_time_est", "scheduled_arrival_time_est",
                            "dates"]
    assert list(flight["dates"]) == [f"2024-05-{d:02d}" for d in range(1, 31)]
    fields = {"available": ["status", "available_seats", "prices"],
              "landed": ["status", "actual_departure_time_est", "actual_arrival_time_est"],
              "flying": ["status", "actual_departure_time_est", "estimated_arrival_time_est"],
              "delayed": ["status", "estimated_departure_time_est",
                          "estimated_arrival_time_est"],
              "on time": ["status", "estimated_departure_time_est",
                          "estimated_arrival_time_est"],
              "cancelled": ["status"]}
    seen = Counter()
    for f in data["flights"].values():
        for day, entry in f["dates"].items():
            seen[entry["status"]] += 1
            assert list(entry) == fields[entry["status"]]
            if day < "2024-05-15":
                assert entry["status"] in ("landed", "cancelled")
            elif day > "2024-05-15":
                assert entry["status"] == "available"
                assert list(entry["prices"]) == ["basic_economy", "economy", "business"]
                assert all(isinstance(v, int) for v in entry["prices"].values())
            else:
                assert entry["status"] in ("landed", "flying", "on time", "delayed")
    assert set(seen) == set(fields)
    res = next(iter(data["reservations"].values()))
    assert list(res) == ["reservation_id", "user_id", "origin", "destination", "flight_type",
                         "cabin", "flights", "passengers", "payment_history", "created_at",
                         "total_baggages", "nonfree_baggages", "insurance"]
    assert list(res["flights"][0]) == ["origin", "destination", "flight_number", "date",
                                       "price"]
    user = next(iter(data["users"].values()))
    assert list(user) == ["name", "address", "email", "dob", "payment_methods",
                          "saved_passengers", "membership", "reservations"]


def _check_consistency(db: dict[str, dict[str, Any]]) -> None:
    flights, users = db["flights"], db["users"]
    listed = Counter()
    for user in users.values():
        listed.update(user["reservations"])
        for pid, method in user["payment_methods"].items():
            assert method["id"] == pid and pid.startswith(method["source"])
    assert set(listed) == set(db["reservations"]) and max(listed.values(), default=1) == 1
    for rid, res in db["reservations"].items():
        assert res["reservation_id"] == rid and rid not in ("HATHAT", "HATHAU", "HATHAV")
        user = users[res["user_id"]]
        assert rid in user["reservations"]
        pay = res["payment_history"][0]
        assert user["payment_methods"][pay["payment_id"]]["source"] in ("credit_card",
                                                                        "gift_card")
        travellers = len(res["passengers"])
        total = sum(s["price"] for s in res["flights"]) * travellers
        total += 30 * travellers if res["insurance"] == "yes" else 0
        assert pay["amount"] == total
        assert 1 <= travellers <= 5
        free = FREE_BAGS[user["membership"]][res["cabin"]] * travellers
        assert res["nonfree_baggages"] == max(0, res["total_baggages"] - free) == 0
        for seg in res["flights"]:
            flight = flights[seg["flight_number"]]
            assert (flight["origin"], flight["destination"]) == (seg["origin"],
                                                                 seg["destination"])
            day = flight["dates"][seg["date"]]
            if day["status"] == "available":
                assert day["prices"][res["cabin"]] == seg["price"]
        assert res["created_at"] < min(s["date"] for s in res["flights"]) + "T23:59:59"
        assert res["created_at"] < "2024-05-15T15:00:00"
        segs = res["flights"]
        assert segs[0]["origin"] == res["origin"]
        if res["flight_type"] == "one_way":
            assert segs[-1]["destination"] == res["destination"]
            assert all(a["destination"] == b["origin"] for a, b in pairwise(segs))
        else:
            assert segs[-1]["destination"] == res["origin"]
            assert any(s["destination"] == res["destination"] for s in segs)


def test_internal_consistency(data):
    _check_consistency(data)


def test_user_view(generated):
    user_id = next(u for u, r in generated.state["users"].items() if r["reservations"])
    view = user_view(generated.state, user_id)
    assert view["user"] == generated.state["users"][user_id]
    assert list(view["reservations"]) == view["user"]["reservations"]
    assert all(r["user_id"] == user_id for r in view["reservations"].values())
