"""What drafters are told about the airline beyond the user's records.

Preconditions say which reservations each write tool can act on (not flown, not basic
economy for flight changes, eligible for cancellation, certificate amounts the policy
allows); the flights excerpt holds search results (direct flights with fares and seats)
for the trips in play: new routes for a booking, the same routes for a flight change.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from apigen_mt.env.domain import DraftingHints
from apigen_mt.env.policy_text import sections_for
from apigen_mt.env.state import State

from .rules import FLOWN, NOW, _day_status, _delayed

NOW_TEXT = "2024-05-15 15:00 EST"
FLIGHT_TOOLS = {"book_reservation", "update_reservation_flights"}
MAX_FLIGHTS = 16  # search results shown, about 1,200 tokens


def _reservations(state: State, user_id: str) -> list[dict[str, Any]]:
    table = state["reservations"]
    return [table[r] for r in state["users"][user_id]["reservations"] if r in table]


def _open(state: State, record: dict[str, Any]) -> bool:
    """Not cancelled, and no segment flown or in the air."""
    return record.get("status") != "cancelled" and not any(
        _day_status(state, seg) in FLOWN for seg in record["flights"])


def _ids(records: list[dict[str, Any]], **extra: list[Any]) -> dict[str, list[Any]] | None:
    return {"reservation_id": [r["reservation_id"] for r in records], **extra} if records \
        else None


def _changeable(state: State, user_id: str) -> dict[str, list[Any]] | None:
    return _ids([r for r in _reservations(state, user_id)
                 if _open(state, r) and r["cabin"] != "basic_economy"])


def _editable(state: State, user_id: str) -> dict[str, list[Any]] | None:
    return _ids([r for r in _reservations(state, user_id) if _open(state, r)])


def _cancellable(state: State, user_id: str) -> dict[str, list[Any]] | None:
    from datetime import datetime

    ok = []
    for r in _reservations(state, user_id):
        if not _open(state, r):
            continue
        recent = NOW - datetime.fromisoformat(r["created_at"]) <= timedelta(hours=24)
        hit = any(_day_status(state, s) == "cancelled" for s in r["flights"])
        if recent or hit or r["cabin"] == "business" or r.get("insurance") == "yes":
            ok.append(r)
    return _ids(ok)


def _certificate(state: State, user_id: str) -> dict[str, list[Any]] | None:
    user = state["users"][user_id]
    amounts = set()
    for r in _reservations(state, user_id):
        if not (user["membership"] in ("silver", "gold") or r.get("insurance") == "yes"
                or r["cabin"] == "business"):
            continue
        travellers = len(r["passengers"])
        if any(_day_status(state, s) == "cancelled" for s in r["flights"]):
            amounts.add(100 * travellers)
        if any(_delayed(state, s) for s in r["flights"]):
            amounts.add(50 * travellers)
    return {"user_id": [user_id], "amount": sorted(amounts)} if amounts else None


def _booking(state: State, user_id: str) -> dict[str, list[Any]] | None:
    return {"user_id": [user_id]} if state["users"][user_id]["payment_methods"] else None


PRECONDITIONS = {
    "book_reservation": _booking,
    "cancel_reservation": _cancellable,
    "update_reservation_flights": _changeable,
    "update_reservation_baggages": _editable,
    "update_reservation_passengers": _editable,
    "send_certificate": _certificate,
}


def search(state: State, origin: str, destination: str, day: str) -> list[dict[str, Any]]:
    """Direct flights on a route and date that can still be booked, with fares and seats."""
    out = []
    for number, flight in sorted(state["flights"].items()):
        if flight["origin"] != origin or flight["destination"] != destination:
            continue
        info = flight["dates"].get(day)
        if info and info["status"] == "available":
            out.append({"flight_number": number, "origin": origin, "destination": destination,
                        "date": day, "departs": flight["scheduled_departure_time_est"],
                        "arrives": flight["scheduled_arrival_time_est"],
                        "prices": info["prices"], "available_seats": info["available_seats"]})
    return out


def _routes(state: State) -> list[tuple[str, str]]:
    return sorted({(f["origin"], f["destination"]) for f in state["flights"].values()})


def flights_excerpt(state: State, user_id: str, walk: dict[str, dict[str, list[Any]]],
                    rng: random.Random) -> list[dict[str, Any]]:
    """Search results for the trips the walk's tools could book or change to: the
    routes of the reservations a flight change applies to, new routes for a booking."""
    found: list[dict[str, Any]] = []
    tools = set(walk)
    if "update_reservation_flights" in tools:
        wanted = set(walk["update_reservation_flights"].get("reservation_id", []))
        for r in _reservations(state, user_id):
            if r["reservation_id"] not in wanted:
                continue
            for seg in r["flights"]:
                base = date.fromisoformat(seg["date"])
                for shift in (0, 1, -1):
                    day = base + timedelta(days=shift)
                    if day > NOW.date():
                        found += [f for f in search(state, seg["origin"], seg["destination"],
                                                    day.isoformat())
                                  if f["flight_number"] != seg["flight_number"]
                                  or shift != 0][:2]
    if "book_reservation" in tools:
        routes = _routes(state)
        for origin, destination in rng.sample(routes, k=min(3, len(routes))):
            for _ in range(2):
                day = NOW.date() + timedelta(days=rng.randint(1, 14))
                results = search(state, origin, destination, day.isoformat())
                if results:
                    found += results[:2]
                    back = search(state, destination, origin,
                                  (day + timedelta(days=rng.randint(2, 5))).isoformat())
                    found += back[:1]
                    break
    unique = {(f["flight_number"], f["date"]): f for f in found}
    return list(unique.values())[:MAX_FLIGHTS]


def excerpts(state: State, user_id: str, walk: dict[str, dict[str, list[Any]]],
             rng: random.Random) -> dict[str, Any]:
    """Flights the customer could take, when a booking or a flight change is in the walk."""
    if FLIGHT_TOOLS & set(walk):
        return {"flights": flights_excerpt(state, user_id, walk, rng)}
    return {}


POLICY_KEYWORDS = {
    # the free-bag allowance is told under booking, and the policy check holds a bag
    # update to it too: a drafter adding bags needs that table
    "book": ["book_reservation", "update_reservation_baggages"],
    "chang": ["update_reservation_flights", "update_reservation_baggages",
              "update_reservation_passengers"],
    "modify": ["update_reservation_flights", "update_reservation_baggages",
               "update_reservation_passengers"],
    "cancel": ["cancel_reservation"],
    "refund": ["send_certificate", "cancel_reservation"],
    "certificate": ["send_certificate"],
}


def policy_for(text: str, tools: set[str]) -> str:
    """The general sections and those of the tools in play."""
    return sections_for(text, tools, POLICY_KEYWORDS, always=["behave", "records", "basic"])


EXCLUSIVE = frozenset({"cancel_reservation", "send_certificate"})
"""Writes after which nothing else may target the same record (changes to flights, bags
and passengers can share a reservation)."""


HINTS = DraftingHints(preconditions=PRECONDITIONS, excerpts=excerpts, policy_for=policy_for,
                      now=NOW_TEXT, exclusive=EXCLUSIVE)
