"""The airline's two flight searches (direct and one-stop), as τ-bench has them or with
its one-stop bugs corrected (see the domain README)."""

from __future__ import annotations

import json
from datetime import date as Date
from datetime import timedelta
from typing import Any

from apigen_mt.env.state import State
from apigen_mt.env.tools import ToolError, tool

from .bookkeeping import tau_mode


def _dump(record: Any) -> str:
    return json.dumps(record)


def _public(flight: dict[str, Any], day: dict[str, Any]) -> dict[str, Any]:
    """A flight without its calendar, merged with one day's entry."""
    out = {key: value for key, value in flight.items() if key != "dates"}
    out.update(day)
    return out


@tool(kind="read")
def search_direct_flight(db: State, origin: str, destination: str, date: str) -> str:
    """Search direct flights between two cities on a specific date.

    Args:
        origin: The origin city airport in three letters, such as 'JFK'.
        destination: The destination city airport in three letters, such as 'LAX'.
        date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-01-01'.
    """
    found = []
    for flight in db["flights"].values():
        if flight["origin"] != origin or flight["destination"] != destination:
            continue
        day = flight["dates"].get(date)
        if day is not None and day["status"] == "available":
            found.append(_public(flight, day))
    return _dump(found)


@tool(kind="read")
def search_onestop_flight(db: State, origin: str, destination: str, date: str) -> str:
    """Search direct flights between two cities on a specific date.

    Args:
        origin: The origin city airport in three letters, such as 'JFK'.
        destination: The destination city airport in three letters, such as 'LAX'.
        date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.
    """
    table = db["flights"]
    tau = tau_mode(db)
    next_day = None
    if not tau:
        try:
            next_day = (Date.fromisoformat(date) + timedelta(days=1)).isoformat()
        except ValueError:
            raise ToolError(f"invalid date {date}, use the format 'YYYY-MM-DD'") from None
    found = []
    for first in table.values():
        if first["origin"] != origin:
            continue
        arrival = first["scheduled_arrival_time_est"]
        for second in table.values():
            if second["destination"] != destination or second["origin"] != first["destination"]:
                continue
            departure = second["scheduled_departure_time_est"]
            if tau:
                # Quirk: the next day is built without zero padding ("2024-05-9"), always
                # in May (corrected: calendar arithmetic).
                second_date = f"2024-05-{int(date[-2:]) + 1}" if "+1" in arrival else date
                # Quirk: times are compared as strings, "+1" suffix included.
                if arrival > departure:
                    continue
            else:
                second_date = next_day if "+1" in arrival else date
                if arrival.replace("+1", "") > departure:  # zero-padded HH:MM:SS
                    continue
            if date not in first["dates"] or second_date not in second["dates"]:
                continue
            if (first["dates"][date]["status"] != "available"
                    or second["dates"][second_date]["status"] != "available"):
                continue
            leg1 = _public(first, first["dates"][date])
            leg1["date"] = date
            # Quirk: the second leg shows the first leg's date's seats and prices
            # (corrected: its own date's).
            leg2 = _public(second, second["dates"][date if tau else second_date])
            leg2["date"] = second_date
            found.append([leg1, leg2])
    return _dump(found)
