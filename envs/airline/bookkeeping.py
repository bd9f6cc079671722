"""Bookkeeping the airline tools share: the tool mode, new ids, seats, reservations that
may still change, segment prices and payment checks.

``tau_mode`` says whether the state asks for τ-bench's exact behaviour (the
``tau_compat`` option); the helpers that differ between the modes say how.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from apigen_mt.env.state import State
from apigen_mt.env.tools import ToolError


def tau_mode(db: State) -> bool:
    """τ-bench's exact behaviour, quirks included (the ``tau_compat`` option)."""
    return bool(db.options.get("tau_compat"))


ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def fresh_id(taken: Any, material: Any, make: Any) -> str:
    """An id not in ``taken``, derived from ``material`` (so replays agree on it)."""
    salt = 0
    while True:
        digest = hashlib.sha256(
            json.dumps([material, salt], sort_keys=True).encode()).digest()
        candidate = make(digest)
        if candidate not in taken:
            return candidate
        salt += 1


def move_seats(db: State, segments: list[dict[str, Any]], cabin: str, delta: int) -> None:
    """Take (``delta`` < 0) or give back seats of ``cabin`` on the segments' flight dates.

    Only dates still on sale list seats; a date that has flown or closed is left alone.
    """
    for seg in segments:
        if seg["flight_number"] not in db["flights"]:
            continue
        day = db["flights"][seg["flight_number"]]["dates"].get(seg["date"])
        if day is None or "available_seats" not in day:
            continue
        flight = db["flights"].edit(seg["flight_number"])
        flight["dates"][seg["date"]]["available_seats"][cabin] += delta


def open_reservation(db: State, reservation_id: str) -> dict[str, Any]:
    """The reservation; a cancelled one cannot change any more (unless τ-bench mode)."""
    if reservation_id not in db["reservations"]:
        raise ToolError("reservation not found")
    current = db["reservations"][reservation_id]
    if not tau_mode(db) and current.get("status") == "cancelled":
        # Corrected: τ-bench lets cancelled reservations change (and be cancelled again)
        raise ToolError("reservation is cancelled")
    return current


def price_segments(db: State, segments: list[dict[str, Any]], cabin: str,
                    travellers: int) -> None:
    """Check a new segment is bookable, then stamp price, origin and destination on it."""
    for seg in segments:
        number = seg["flight_number"]
        if number not in db["flights"]:
            raise ToolError(f"flight {number} not found")
        flight = db["flights"][number]
        if seg["date"] not in flight["dates"]:
            raise ToolError(f"flight {number} not found on date {seg['date']}")
        day = flight["dates"][seg["date"]]
        if day["status"] != "available":
            raise ToolError(f"flight {number} not available on date {seg['date']}")
        if day["available_seats"][cabin] < travellers:
            raise ToolError(f"not enough seats on flight {number}")
        seg["price"] = day["prices"][cabin]
        seg["origin"] = flight["origin"]
        seg["destination"] = flight["destination"]


def payment_source(db: State, owner: str, payment_id: str, due: Any) -> dict[str, Any]:
    """τ-bench's payment checks for changes to an existing reservation."""
    wallet = db["users"][owner]["payment_methods"]
    if payment_id not in wallet:
        raise ToolError("payment method not found")
    method = wallet[payment_id]
    if method["source"] == "certificate":
        raise ToolError("certificate cannot be used to update reservation")
    if method["source"] == "gift_card" and method["amount"] < due:
        raise ToolError("gift card balance is not enough")
    return method


def charge_gift_card(db: State, owner: str, payment_id: str, due: Any) -> None:
    user = db["users"].edit(owner)
    user["payment_methods"][payment_id]["amount"] -= due
