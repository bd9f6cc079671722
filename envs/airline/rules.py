"""The airline policy as code: each rule reads an execution trace and names its violations.

A rule gets a :class:`RuleInput` (the executed calls, the state before each call, and
the conversation when there is one) and returns one specific reason per violation.
Most rules look only at calls that succeeded: a failed call changed nothing, and the
execution check already reports it. The API itself enforces some limits (passenger
count, certificate payments for changes); the rules cover what it leaves to the agent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from apigen_mt.env.conversation import is_affirmative, message_text
from apigen_mt.env.domain import PolicyRule, RuleInput
from apigen_mt.env.environment import Executed
from apigen_mt.env.ownership import one_owner_findings
from apigen_mt.env.state import State

from .data import FREE_BAGS

NOW = datetime(2024, 5, 15, 15, 0)
FLOWN = ("landed", "flying")
WRITE_TOOLS = frozenset({
    "book_reservation", "cancel_reservation", "send_certificate",
    "update_reservation_baggages", "update_reservation_flights",
    "update_reservation_passengers",
})


# helpers ---------------------------------------------------------------------------
def _calls(inp: RuleInput, *names: str, failed: bool = False) -> Iterator[tuple[int, Executed]]:
    """(index, call) of the calls to ``names``; failed calls only when asked."""
    for i, action in enumerate(inp.actions):
        if action.name in names and (action.ok or failed):
            yield i, action


def _reservation(state: State, rid: Any) -> dict[str, Any] | None:
    table = state["reservations"]
    return table[rid] if isinstance(rid, str) and rid in table else None


def _cabin(inp: RuleInput, index: int, rid: str, record: dict[str, Any]) -> str:
    """The cabin the reservation is really in before call ``index``.

    ``update_reservation_flights`` never writes its ``cabin`` into the record (a τ-bench
    quirk), so an earlier successful cabin change in the same trace takes precedence.
    """
    cabin = record["cabin"]
    for action in inp.actions[:index]:
        if (action.ok and action.name == "update_reservation_flights"
                and action.arguments.get("reservation_id") == rid):
            cabin = action.arguments.get("cabin", cabin)
    return cabin


def _day_status(state: State, segment: dict[str, Any]) -> str | None:
    flights = state["flights"]
    number = segment.get("flight_number")
    if number not in flights:
        return None
    day = flights[number]["dates"].get(segment.get("date"))
    return day["status"] if day else None


def _segments(flights: Any) -> list[tuple[Any, Any]]:
    return sorted((f.get("flight_number"), f.get("date")) for f in flights or []
                  if isinstance(f, dict))


def _list(value: Any) -> list[Any]:
    """An argument that should be a list (failed calls may carry anything)."""
    return value if isinstance(value, list) else []


def _where(i: int, action: Executed) -> str:
    target = action.arguments.get("reservation_id") or action.arguments.get("user_id") or ""
    return f"action {i} {action.name}({target})"


# booking ---------------------------------------------------------------------------
def at_most_five_passengers(inp: RuleInput) -> list[str]:
    """A reservation carries one to five passengers."""
    out = []
    for i, action in _calls(inp, "book_reservation"):
        count = len(action.arguments.get("passengers") or [])
        if count > 5:
            out.append(f"{_where(i, action)}: books {count} passengers; "
                       f"a reservation holds at most five")
    return out


def payment_method_limits(inp: RuleInput) -> list[str]:
    """Payments use the user's own saved methods; a booking combines at most one travel
    certificate, one credit card and three gift cards."""
    limits = {"certificate": 1, "credit_card": 1, "gift_card": 3}
    out = []
    # Attempts count for ownership: paying with someone else's method is the violation,
    # even though the tool refuses it.
    for i, action in _calls(inp, "book_reservation", "update_reservation_flights",
                            "update_reservation_baggages", failed=True):
        state, args = inp.before[i], action.arguments
        if action.name == "book_reservation":
            user_id = args.get("user_id")
            pids = [p.get("payment_id") for p in _list(args.get("payment_methods"))
                    if isinstance(p, dict)]
        else:
            record = _reservation(state, args.get("reservation_id"))
            user_id = record["user_id"] if record else None
            pids = [args.get("payment_id")]
        if user_id not in state["users"]:
            continue
        wallet = state["users"][user_id]["payment_methods"]
        for pid in pids:
            if isinstance(pid, str) and pid not in wallet:
                out.append(f"{_where(i, action)}: payment method {pid} is not in "
                           f"{user_id}'s profile")
        if action.name != "book_reservation" or not action.ok:
            continue
        sources = Counter(wallet[pid]["source"] for pid in pids if pid in wallet)
        for source, limit in limits.items():
            if sources[source] > limit:
                out.append(f"{_where(i, action)}: pays with {sources[source]} "
                           f"{source.replace('_', ' ')}s; at most {limit} allowed")
    return out


def nonfree_bags_match_allowance(inp: RuleInput) -> list[str]:
    """Only bags beyond the membership-and-cabin allowance are charged (50 each)."""
    out = []
    for i, action in _calls(inp, "book_reservation", "update_reservation_baggages"):
        state, args = inp.before[i], action.arguments
        if action.name == "book_reservation":
            user_id, cabin = args.get("user_id"), args.get("cabin")
            travellers = len(args.get("passengers") or [])
        else:
            record = _reservation(state, args.get("reservation_id"))
            if record is None:
                continue
            user_id, travellers = record["user_id"], len(record["passengers"])
            cabin = _cabin(inp, i, args["reservation_id"], record)
        if user_id not in state["users"] or cabin not in FREE_BAGS["regular"]:
            continue
        membership = state["users"][user_id]["membership"]
        free = FREE_BAGS.get(membership, FREE_BAGS["regular"])[cabin] * travellers
        expected = max(0, args.get("total_baggages", 0) - free)
        if args.get("nonfree_baggages") != expected:
            out.append(f"{_where(i, action)}: {args.get('total_baggages')} bags for "
                       f"{travellers} {membership} {cabin} passenger(s) include {free} free, "
                       f"so {expected} should be paid, not {args.get('nonfree_baggages')}")
    return out


# changes ---------------------------------------------------------------------------
def basic_economy_flights_unchanged(inp: RuleInput) -> list[str]:
    """Basic economy flights cannot be changed (a cabin change on the same flights can)."""
    out = []
    for i, action in _calls(inp, "update_reservation_flights"):
        rid = action.arguments.get("reservation_id")
        record = _reservation(inp.before[i], rid)
        if record is None or _cabin(inp, i, rid, record) != "basic_economy":
            continue
        if _segments(action.arguments.get("flights")) != _segments(record["flights"]):
            out.append(f"{_where(i, action)}: changes the flights of a basic economy "
                       f"reservation")
    return out


def flight_change_keeps_trip(inp: RuleInput) -> list[str]:
    """New flights keep the reservation's origin, destination and trip type."""
    out = []
    for i, action in _calls(inp, "update_reservation_flights"):
        state = inp.before[i]
        record = _reservation(state, action.arguments.get("reservation_id"))
        flights = [f for f in action.arguments.get("flights") or [] if isinstance(f, dict)]
        if record is None or not flights:
            continue
        table = state["flights"]
        ends = [(table[f["flight_number"]]["origin"], table[f["flight_number"]]["destination"])
                for f in flights if f.get("flight_number") in table]
        if len(ends) != len(flights):
            continue
        origin, destination = record["origin"], record["destination"]
        problems = []
        if ends[0][0] != origin:
            problems.append(f"starts at {ends[0][0]} instead of {origin}")
        if record["flight_type"] == "one_way" and ends[-1][1] != destination:
            problems.append(f"ends at {ends[-1][1]} instead of {destination}")
        if record["flight_type"] == "round_trip":
            if ends[-1][1] != origin:
                problems.append(f"does not return to {origin}")
            if all(dest != destination for _, dest in ends):
                problems.append(f"never reaches {destination}")
        if problems:
            out.append(f"{_where(i, action)}: the new itinerary " + " and ".join(problems)
                       + f" ({record['flight_type']} {origin}-{destination})")
    return out


def checked_bags_only_added(inp: RuleInput) -> list[str]:
    """Checked bags can be added to a reservation, never removed."""
    out = []
    for i, action in _calls(inp, "update_reservation_baggages"):
        record = _reservation(inp.before[i], action.arguments.get("reservation_id"))
        if record is None:
            continue
        new = action.arguments.get("total_baggages", 0)
        if new < record["total_baggages"]:
            out.append(f"{_where(i, action)}: lowers checked bags from "
                       f"{record['total_baggages']} to {new}")
    return out


def passenger_count_unchanged(inp: RuleInput) -> list[str]:
    """Passengers can be edited but their number cannot change (attempts count too)."""
    out = []
    for i, action in _calls(inp, "update_reservation_passengers", failed=True):
        record = _reservation(inp.before[i], action.arguments.get("reservation_id"))
        if record is None:
            continue
        new = len(_list(action.arguments.get("passengers")))
        if new != len(record["passengers"]):
            out.append(f"{_where(i, action)}: changes the number of passengers from "
                       f"{len(record['passengers'])} to {new}")
    return out


# cancellation and compensation -----------------------------------------------------
def cancellation_eligible(inp: RuleInput) -> list[str]:
    """Cancel only within 24 h of booking, after an airline cancellation, in business, or
    with travel insurance."""
    out = []
    for i, action in _calls(inp, "cancel_reservation"):
        state = inp.before[i]
        rid = action.arguments.get("reservation_id")
        record = _reservation(state, rid)
        if record is None:
            continue
        booked = datetime.fromisoformat(record["created_at"])
        if (NOW - booked <= timedelta(hours=24)
                or any(_day_status(state, seg) == "cancelled" for seg in record["flights"])
                or _cabin(inp, i, rid, record) == "business"
                or record.get("insurance") == "yes"):
            continue
        out.append(f"{_where(i, action)}: booked {record['created_at']} in "
                   f"{_cabin(inp, i, rid, record)} without insurance and no flight was "
                   f"cancelled by the airline, so it cannot be cancelled")
    return out


def cancel_only_unflown_trips(inp: RuleInput) -> list[str]:
    """A trip with any segment already flown (or in the air) cannot be cancelled."""
    out = []
    for i, action in _calls(inp, "cancel_reservation"):
        state = inp.before[i]
        record = _reservation(state, action.arguments.get("reservation_id"))
        if record is None:
            continue
        used = [f"{seg['flight_number']} on {seg['date']}" for seg in record["flights"]
                if _day_status(state, seg) in FLOWN]
        if used:
            out.append(f"{_where(i, action)}: segment(s) already flown: {', '.join(used)}")
    return out


def _delayed(state: State, segment: dict[str, Any]) -> bool:
    """Delayed today, or landed / in the air later than scheduled."""
    flights = state["flights"]
    number = segment.get("flight_number")
    if number not in flights or segment.get("date") not in flights[number]["dates"]:
        return False
    flight = flights[number]
    day = flight["dates"][segment["date"]]
    if day["status"] == "delayed":
        return True
    actual = day.get("actual_arrival_time_est") or day.get("estimated_arrival_time_est")
    if day["status"] not in FLOWN or not actual:
        return False
    clock = flight["scheduled_arrival_time_est"]
    planned = datetime.fromisoformat(f"{segment['date']}T{clock[:8]}")
    if clock.endswith("+1"):
        planned += timedelta(days=1)
    return datetime.fromisoformat(actual) > planned


def compensation_eligible(inp: RuleInput) -> list[str]:
    """A certificate only for a reservation that qualifies (silver or gold member, travel
    insurance, or business) and was hit by a cancelled flight (100 per passenger) or a
    delayed one (50 per passenger)."""
    out = []
    for i, action in _calls(inp, "send_certificate"):
        state = inp.before[i]
        user_id = action.arguments.get("user_id")
        if user_id not in state["users"]:
            continue
        user = state["users"][user_id]
        amount = action.arguments.get("amount")
        allowed = set()
        for rid in user["reservations"]:
            record = _reservation(state, rid)
            if record is None:
                continue
            if not (user["membership"] in ("silver", "gold")
                    or record.get("insurance") == "yes"
                    or _cabin(inp, i, rid, record) == "business"):
                continue
            travellers = len(record["passengers"])
            if any(_day_status(state, seg) == "cancelled" for seg in record["flights"]):
                allowed.add(100 * travellers)
            if any(_delayed(state, seg) for seg in record["flights"]):
                allowed.add(50 * travellers)
        if amount not in allowed:
            detail = (f"eligible amounts are {', '.join(map(str, sorted(allowed)))}" if allowed
                      else "no reservation of theirs qualifies")
            out.append(f"{_where(i, action)}: a {amount} certificate is not justified; "
                       f"{detail}")
    return out


# conversation ----------------------------------------------------------------------
def _call_positions(inp: RuleInput) -> list[int]:
    """For each executed call, the index of the assistant message that made it.

    Tool calls are matched to executed calls in order and by name, so calls missing from
    the trace (such as a conversation-ending transfer) do not shift the others.
    """
    positions: list[int] = []
    for m, message in enumerate(inp.messages or []):
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            name = (call.get("function") or {}).get("name")
            if len(positions) < len(inp.actions) and name == inp.actions[len(positions)].name:
                positions.append(m)
    return positions


def _owner(inp: RuleInput, i: int, action: Executed) -> str | None:
    """The user a write call acts for."""
    if action.name in ("book_reservation", "send_certificate"):
        return action.arguments.get("user_id")
    record = _reservation(inp.before[i], action.arguments.get("reservation_id"))
    return record["user_id"] if record else None


def one_user_per_task(inp: RuleInput) -> list[str]:
    """All changes are for one user, the one the task is for: the agent acts only on the
    reservations and the account of the user it serves."""
    owners: dict[str, list[str]] = {}
    for i, action in _calls(inp, *WRITE_TOOLS):
        owner = _owner(inp, i, action)
        if owner:
            owners.setdefault(owner, []).append(_where(i, action))
    return one_owner_findings(owners, inp.user_id)


def user_identified_before_write(inp: RuleInput) -> list[str]:
    """The user gives their user id before anything is changed on their behalf."""
    if inp.messages is None:
        return []
    positions = _call_positions(inp)
    out = []
    for i, action in enumerate(inp.actions):
        if action.kind != "write" or i >= len(positions):
            continue
        owner = _owner(inp, i, action)
        said = " ".join(message_text(m) for m in inp.messages[:positions[i]]
                        if m.get("role") == "user")
        if owner and owner.lower() not in said.lower():
            out.append(f"{_where(i, action)}: the user never gave their user id ({owner}) "
                       f"before this change")
    return out


def explicit_confirmation_before_write(inp: RuleInput) -> list[str]:
    """The user's last message before each change is an explicit yes."""
    if inp.messages is None:
        return []
    positions = _call_positions(inp)
    out = []
    for i, action in enumerate(inp.actions):
        if action.kind != "write" or i >= len(positions):
            continue
        last = next((message_text(m) for m in reversed(inp.messages[:positions[i]])
                     if m.get("role") == "user"), "")
        if not is_affirmative(last):
            out.append(f"{_where(i, action)}: no explicit confirmation from the user right "
                       f"before it (last user message: {json.dumps(last[:80])})")
    return out


def _rule(check: Any, tools: frozenset[str] | set[str], conversation_only: bool = False,
          purpose: str = "") -> PolicyRule:
    description = " ".join((check.__doc__ or "").split())
    return PolicyRule(name=check.__name__, description=description, check=check,
                      conversation_only=conversation_only, purpose=purpose,
                      tools=frozenset(tools))


RULES: list[PolicyRule] = [
    _rule(at_most_five_passengers, {"book_reservation"}),
    _rule(payment_method_limits, {"book_reservation", "update_reservation_flights",
                                  "update_reservation_baggages"}),
    _rule(nonfree_bags_match_allowance, {"book_reservation", "update_reservation_baggages"}),
    _rule(basic_economy_flights_unchanged, {"update_reservation_flights"}),
    _rule(flight_change_keeps_trip, {"update_reservation_flights"}),
    _rule(checked_bags_only_added, {"update_reservation_baggages"}),
    _rule(passenger_count_unchanged, {"update_reservation_passengers"}),
    _rule(cancellation_eligible, {"cancel_reservation"}),
    _rule(cancel_only_unflown_trips, {"cancel_reservation"}),
    _rule(compensation_eligible, {"send_certificate"}),
    _rule(one_user_per_task, WRITE_TOOLS),
    _rule(user_identified_before_write, WRITE_TOOLS, conversation_only=True,
          purpose="identification"),
    _rule(explicit_confirmation_before_write, WRITE_TOOLS, conversation_only=True,
          purpose="confirmation"),
]
