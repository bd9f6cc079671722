"""Built-in ``airline`` domain: τ-bench's airline customer-service environment.

An agent books, changes and cancels flight reservations and hands out goodwill
certificates, under the policy in ``policy.md``. The tools reproduce τ-bench's airline
tools call for call (same schemas, results, error texts and final database), so
τ-bench's own data (``--data-dir``) reaches its ground-truth hashes; ``data.py`` makes
fresh databases of the same shape from a seed. Away from τ-bench's data (``tau_compat``
off) the tools correct the τ-bench bugs that would teach wrong behaviour (README).
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

# τ-bench's hash of its own airline database (commit 59a200c6): loaded from --data-dir, that
# data gets τ-bench's exact tools; any other data gets the corrected ones (README).
TAU_DATA = frozenset({"4587e6b48ad2b2c4f3e1fecb40aabec7bb2286513273b8f8cec3f5865222f290"})


def user_view(state: State, user_id: str) -> dict[str, Any]:
    """One user's profile and every reservation listed on it."""
    user = state["users"][user_id]
    reservations = state["reservations"]
    return {"user": user,
            "reservations": {rid: reservations[rid] for rid in user["reservations"]
                             if rid in reservations}}


# τ-bench's behaviour where the tools run in τ-bench mode (``tau_compat``); entries marked
# "corrected" behave otherwise by default (README: "τ-bench mode and the corrected tools").
QUIRKS = [
    "corrected: book_reservation names new reservations HATHAT, then HATHAU, then HATHAV "
    "(the third id is reused, overwriting, if all three exist)",
    "book_reservation stamps created_at 2024-05-15T15:00:00 (the domain's clock)",
    "corrected: booking, changing flights and cancelling never move available seats",
    "a certificate used to pay for a booking is deleted whole; gift cards are debited",
    "corrected: update_reservation_flights does not store the new cabin on the reservation",
    "kept segments (same flight, date and cabin) keep their old price",
    "a negative price difference on a gift card is credited back to it; refunds on other "
    "methods are recorded as negative payments",
    "cancel_reservation appends a negative copy of every payment, refunds included, and "
    "sets status 'cancelled'; corrected: cancelling again refunds the refunds",
    "corrected: a cancelled reservation can still change bags, flights and passengers",
    "corrected: send_certificate uses ids certificate_3221322..3221324 and does nothing "
    "(returns null) once all three exist",
    "corrected: get_reservation_details reports a missing reservation as 'user not found'",
    "corrected: search_onestop_flight builds next-day dates without zero padding and shows "
    "the second leg's seats and prices for the first leg's date",
    "search_onestop_flight compares times as strings",
    "corrected: update_reservation_baggages accepts fewer bags than before and refunds "
    "nothing",
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
    tau_fingerprints=TAU_DATA,
    nested_extra_keys=True,  # as τ-bench's tools run them
)
