"""Built-in ``airline`` domain: τ-bench's airline customer-service environment.

An agent books, changes and cancels flight reservations and hands out goodwill
certificates, under the policy in ``policy.md``. The tools reproduce τ-bench's airline
tools call for call (same schemas, results, error texts and final database), so
τ-bench's own data (``--data-dir``) reaches its ground-truth hashes; ``data.py`` makes
fresh databases of the same shape from a seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apigen_mt.env.domain import Domain
from apigen_mt.env.state import State

from .data import generate
from .hints import HINTS
from .rules import RULES
from .tools import TOOLS


def user_view(state: State, user_id: str) -> dict[str, Any]:
    """One user's profile and every reservation listed on it."""
    user = state["users"][user_id]
    reservations = state["reservations"]
    return {"user": user,
            "reservations": {rid: reservations[rid] for rid in user["reservations"]
                             if rid in reservations}}


QUIRKS = [
    "book_reservation names new reservations HATHAT, then HATHAU, then HATHAV (the third "
    "id is reused, overwriting, if all three exist) and stamps created_at "
    "2024-05-15T15:00:00",
    "booking and changing flights never decrement available seats",
    "a certificate used to pay for a booking is deleted whole; gift cards are debited",
    "update_reservation_flights does not store the new cabin on the reservation; kept "
    "segments (same flight, date and cabin) keep their old price",
    "a negative price difference on a gift card is credited back to it; refunds on other "
    "methods are recorded as negative payments",
    "cancel_reservation appends a negative copy of every payment, refunds included, and "
    "sets status 'cancelled'",
    "send_certificate uses ids certificate_3221322..3221324 and does nothing (returns "
    "null) once all three exist",
    "get_reservation_details reports a missing reservation as 'user not found'",
    "search_onestop_flight builds next-day dates without zero padding, compares times as "
    "strings, and shows the second leg's seats and prices for the first leg's date",
    "update_reservation_baggages accepts fewer bags than before and refunds nothing",
    "list_all_airports returns a fixed list of 20 airports",
]


DOMAIN = Domain(
    name="airline",
    tools=TOOLS,
    tables=["flights", "reservations", "users"],
    generate=generate,
    root=Path(__file__).parent,
    rules=RULES,
    description=(
        "Airline customer service: an agent helps a traveller book flights, change "
        "flights, cabin, bags or passengers, cancel reservations and receive goodwill "
        "certificates, under a strict policy (current time 2024-05-15 15:00 EST)."
    ),
    user_view=user_view,
    generator_options={"users": 500, "flights": 300, "reservations": 2000},
    quirks=QUIRKS,
    hints=HINTS,
    nested_extra_keys=True,  # as τ-bench's tools run them
)
