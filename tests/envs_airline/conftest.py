"""Fixtures for the airline domain: the default generated database and a tiny hand-made one."""

from __future__ import annotations

from typing import Any

import pytest

from apigen_mt.env.domain import RuleInput, load_environment
from apigen_mt.env.environment import Environment
from apigen_mt.env.state import BaseState
from apigen_mt_envs.airline import DOMAIN


def run(env: Environment, actions: list[tuple[str, dict[str, Any]]],
        messages: list[dict[str, Any]] | None = None) -> RuleInput:
    """Execute ``actions`` on a fresh copy and build what the policy rules read."""
    fresh = env.fresh()
    before = []
    for name, arguments in actions:
        before.append(fresh.state.fork())
        fresh.execute(name, arguments)
    return RuleInput(actions=fresh.trace, before=before, messages=messages)


def _available(price: int) -> dict[str, Any]:
    return {"status": "available",
            "available_seats": {"basic_economy": 9, "economy": 9, "business": 9},
            "prices": {"basic_economy": price // 2, "economy": price, "business": price * 3}}


def _flight(number: str, origin: str, destination: str, dep: str, arr: str,
            dates: dict[str, Any]) -> dict[str, Any]:
    return {"flight_number": number, "origin": origin, "destination": destination,
            "scheduled_departure_time_est": dep, "scheduled_arrival_time_est": arr,
            "dates": dates}


def _people(count: int) -> list[dict[str, str]]:
    names = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus"]
    return [{"first_name": names[i], "last_name": "Lee", "dob": f"19{70 + i}-01-01"}
            for i in range(count)]


def _reservation(rid: str, user_id: str, cabin: str, segments: list[tuple[str, str, int]],
                 travellers: int = 1, insurance: str = "no",
                 created_at: str = "2024-05-01T10:00:00", flight_type: str = "one_way",
                 origin: str = "JFK", destination: str = "LAX", bags: int = 0,
                 payment: str = "credit_card_3") -> dict[str, Any]:
    ends = {"HAT900": ("JFK", "LAX"), "HAT901": ("LAX", "JFK"), "HAT902": ("JFK", "SFO")}
    flights = [{"origin": ends[n][0], "destination": ends[n][1], "flight_number": n,
                "date": d, "price": p} for n, d, p in segments]
    total = sum(p for _, _, p in segments) * travellers
    return {"reservation_id": rid, "user_id": user_id, "origin": origin,
            "destination": destination, "flight_type": flight_type, "cabin": cabin,
            "flights": flights, "passengers": _people(travellers),
            "payment_history": [{"payment_id": payment, "amount": total}],
            "created_at": created_at, "total_baggages": bags, "nonfree_baggages": 0,
            "insurance": insurance}


def tiny_tables() -> dict[str, dict[str, Any]]:
    """A small database with one record for each situation the rules care about."""
    flights = {
        "HAT900": _flight("HAT900", "JFK", "LAX", "08:00:00", "11:00:00", {
            "2024-05-10": {"status": "landed",
                           "actual_departure_time_est": "2024-05-10T08:00:00",
                           "actual_arrival_time_est": "2024-05-10T10:55:00"},
            "2024-05-11": {"status": "cancelled"},
            "2024-05-15": {"status": "delayed",
                           "estimated_departure_time_est": "2024-05-15T18:00:00",
                           "estimated_arrival_time_est": "2024-05-15T21:00:00"},
            "2024-05-20": _available(120),
            "2024-05-21": _available(130),
        }),
        "HAT901": _flight("HAT901", "LAX", "JFK", "13:00:00", "21:00:00", {
            "2024-05-12": {"status": "landed",
                           "actual_departure_time_est": "2024-05-12T14:00:00",
                           "actual_arrival_time_est": "2024-05-12T22:10:00"},
            "2024-05-25": _available(110),
        }),
        "HAT902": _flight("HAT902", "JFK", "SFO", "09:00:00", "12:00:00", {
            "2024-05-20": _available(140),
        }),
    }
    wallet_ana = {
        "credit_card_1": {"source": "credit_card", "brand": "visa", "last_four": "1111",
                          "id": "credit_card_1"},
        "credit_card_2": {"source": "credit_card", "brand": "mastercard", "last_four": "2222",
                          "id": "credit_card_2"},
        **{f"gift_card_{i}": {"source": "gift_card", "amount": 500, "id": f"gift_card_{i}"}
           for i in range(1, 5)},
        "certificate_1": {"source": "certificate", "amount": 100, "id": "certificate_1"},
        "certificate_2": {"source": "certificate", "amount": 100, "id": "certificate_2"},
    }
    wallet_bo = {"credit_card_3": {"source": "credit_card", "brand": "visa",
                                   "last_four": "3333", "id": "credit_card_3"}}
    reservations = {
        "ECO001": _reservation("ECO001", "ana_lee_1000", "economy",
                               [("HAT900", "2024-05-20", 120)], travellers=2, bags=1,
                               payment="credit_card_1"),
        "DELAY1": _reservation("DELAY1", "ana_lee_1000", "economy",
                               [("HAT900", "2024-05-15", 120)], travellers=3,
                               payment="credit_card_1"),
        "BAS001": _reservation("BAS001", "bo_kim_2000", "basic_economy",
                               [("HAT900", "2024-05-20", 60)]),
        "FLOWN1": _reservation("FLOWN1", "bo_kim_2000", "business",
                               [("HAT900", "2024-05-10", 360), ("HAT901", "2024-05-25", 330)],
                               flight_type="round_trip"),
        "RECENT": _reservation("RECENT", "bo_kim_2000", "economy",
                               [("HAT900", "2024-05-21", 130)],
                               created_at="2024-05-15T09:00:00"),
        "CANC01": _reservation("CANC01", "bo_kim_2000", "economy",
                               [("HAT900", "2024-05-11", 120)]),
        "INS001": _reservation("INS001", "bo_kim_2000", "economy",
                               [("HAT900", "2024-05-20", 120)], travellers=2,
                               insurance="yes"),
        "INS002": _reservation("INS002", "bo_kim_2000", "economy",
                               [("HAT901", "2024-05-12", 110)], travellers=2,
                               insurance="yes", origin="LAX", destination="JFK"),
    }
    users = {
        "ana_lee_1000": {"name": {"first_name": "Ana", "last_name": "Lee"},
                         "address": {"address1": "1 Elm Street", "address2": "Apt 1",
                                     "city": "Reno", "country": "USA", "state": "NV",
                                     "zip": "89501"},
                         "email": "ana.lee@example.com", "dob": "1970-01-01",
                         "payment_methods": wallet_ana, "saved_passengers": [],
                         "membership": "gold", "reservations": ["ECO001", "DELAY1"]},
        "bo_kim_2000": {"name": {"first_name": "Bo", "last_name": "Kim"},
                        "address": {"address1": "2 Oak Road", "address2": "Unit 2",
                                    "city": "Tulsa", "country": "USA", "state": "OK",
                                    "zip": "74101"},
                        "email": "bo.kim@example.com", "dob": "1980-02-02",
                        "payment_methods": wallet_bo, "saved_passengers": [],
                        "membership": "regular",
                        "reservations": ["BAS001", "FLOWN1", "RECENT", "CANC01", "INS001",
                                         "INS002"]},
    }
    return {"flights": flights, "reservations": reservations, "users": users}


@pytest.fixture(scope="session")
def tiny() -> Environment:
    """An environment over :func:`tiny_tables`."""
    return Environment(DOMAIN, BaseState(tiny_tables()), policy="")


@pytest.fixture(scope="session")
def tiny_tau() -> Environment:
    """:func:`tiny_tables` with τ-bench's exact tools (the ``tau_compat`` option)."""
    return Environment(DOMAIN, BaseState(tiny_tables(), {"tau_compat": True}), policy="")


@pytest.fixture(scope="session")
def generated() -> Environment:
    """An environment over the default generated database (seed 0): corrected tools."""
    return load_environment("airline")


@pytest.fixture(scope="session")
def tau_generated() -> Environment:
    """The same database with τ-bench's exact tools, quirks included."""
    return load_environment("airline", tau_compat=True)
