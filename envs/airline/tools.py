"""The airline domain's fourteen tools: τ-bench's airline tools, and their corrections.

Every tool takes the environment state first (not part of its schema), then its typed
arguments. Failures raise :class:`ToolError` with τ-bench's message, which the engine
turns into ``"Error: <message>"`` after rolling back anything the call changed.
Successful calls return the same text τ-bench returns (mostly ``json.dumps`` of a
record, with the record's keys in τ-bench's order).

With the state option ``tau_compat`` (τ-bench's own data, ``env replay --hash tau``, or
``tau_compat: true``) the tools are τ-bench's exactly, oddities included, because those
shape the final database and so the ground-truth hashes; each is marked ``Quirk`` below.
Otherwise (generated data, by default) the oddities that would teach an agent wrong
behaviour are corrected, each marked ``Corrected``; the domain README lists both.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import date as Date
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from apigen_mt.env.calculator import CalculationError, evaluate
from apigen_mt.env.state import State
from apigen_mt.env.tools import Number, ToolError, tool

Cabin = Literal["basic_economy", "economy", "business"]

# τ-bench's clock: bookings are stamped with this instant.
NOW = "2024-05-15T15:00:00"
# Ids a new reservation may take, in order (τ-bench assumes at most three per task).
NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
# Payment ids a sent certificate may take, in order.
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")

AIRPORTS = {
    "SFO": "San Francisco", "JFK": "New York", "LAX": "Los Angeles", "ORD": "Chicago",
    "DFW": "Dallas", "DEN": "Denver", "SEA": "Seattle", "ATL": "Atlanta", "MIA": "Miami",
    "BOS": "Boston", "PHX": "Phoenix", "IAH": "Houston", "LAS": "Las Vegas",
    "MCO": "Orlando", "EWR": "Newark", "CLT": "Charlotte", "MSP": "Minneapolis",
    "DTW": "Detroit", "PHL": "Philadelphia", "LGA": "LaGuardia",
}

_PAYMENT_ID_DOC = (
    "The payment id stored in user profile, such as 'credit_card_7815826', "
    "'gift_card_7815826', 'certificate_7815826'."
)


class FlightRef(TypedDict):
    """One flight segment of a booking request."""

    flight_number: Annotated[str, Field(description="Flight number, such as 'HAT001'.")]
    date: Annotated[str, Field(
        description="The date for the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.")]


class Passenger(TypedDict):
    """One traveller on a reservation."""

    first_name: Annotated[str, Field(
        description="The first name of the passenger, such as 'Noah'.")]
    last_name: Annotated[str, Field(
        description="The last name of the passenger, such as 'Brown'.")]
    dob: Annotated[str, Field(
        description="The date of birth of the passenger in the format 'YYYY-MM-DD', "
                    "such as '1990-01-01'.")]


class Payment(TypedDict):
    """One payment method and the amount it covers."""

    payment_id: Annotated[str, Field(description=_PAYMENT_ID_DOC)]
    amount: Annotated[Number, Field(description="The amount to be paid.")]


def _dump(record: Any) -> str:
    return json.dumps(record)


def _tau(db: State) -> bool:
    """τ-bench's exact behaviour, quirks included (the ``tau_compat`` option)."""
    return bool(db.options.get("tau_compat"))


_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _fresh_id(taken: Any, material: Any, make: Any) -> str:
    """An id not in ``taken``, derived from ``material`` (so replays agree on it)."""
    salt = 0
    while True:
        digest = hashlib.sha256(
            json.dumps([material, salt], sort_keys=True).encode()).digest()
        candidate = make(digest)
        if candidate not in taken:
            return candidate
        salt += 1


def _move_seats(db: State, segments: list[dict[str, Any]], cabin: str, delta: int) -> None:
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


def _open_reservation(db: State, reservation_id: str) -> dict[str, Any]:
    """The reservation; a cancelled one cannot change any more (unless τ-bench mode)."""
    if reservation_id not in db["reservations"]:
        raise ToolError("reservation not found")
    current = db["reservations"][reservation_id]
    if not _tau(db) and current.get("status") == "cancelled":
        # Corrected: τ-bench lets cancelled reservations change (and be cancelled again)
        raise ToolError("reservation is cancelled")
    return current


def _price_segments(db: State, segments: list[dict[str, Any]], cabin: str,
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


@tool(kind="write")
def book_reservation(
    db: State,
    user_id: str,
    origin: str,
    destination: str,
    flight_type: Literal["one_way", "round_trip"],
    cabin: Cabin,
    flights: list[FlightRef],
    passengers: list[Passenger],
    payment_methods: list[Payment],
    total_baggages: int,
    nonfree_baggages: int,
    insurance: Literal["yes", "no"],
) -> str:
    """Book a reservation.

    Args:
        user_id: The ID of the user to book the reservation, such as 'sara_doe_496'.
        origin: The IATA code for the origin city, such as 'SFO'.
        destination: The IATA code for the destination city, such as 'JFK'.
        flights: An array of objects containing details about each piece of flight.
        passengers: An array of objects containing details about each passenger.
        payment_methods: An array of objects containing details about each payment method.
        total_baggages: The total number of baggage items included in the reservation.
        nonfree_baggages: The number of non-free baggage items included in the reservation.
    """
    if user_id not in db["users"]:
        raise ToolError("user not found")
    reservations = db["reservations"]
    if _tau(db):
        # Quirk: ids are not generated; the third id is reused even when already taken.
        new_id = next((rid for rid in NEW_RESERVATION_IDS[:2] if rid not in reservations),
                      NEW_RESERVATION_IDS[2])
    else:
        # Corrected: a new id, never one in use, the same whenever the same booking is made
        new_id = _fresh_id(
            reservations,
            [user_id, flights, passengers, cabin, db["users"][user_id]["reservations"]],
            lambda d: "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in d[:6]))
    record = {
        "reservation_id": new_id,
        "user_id": user_id,
        "origin": origin,
        "destination": destination,
        "flight_type": flight_type,
        "cabin": cabin,
        "flights": copy.deepcopy(flights),
        # Quirk: the passenger and payment lists are stored exactly as passed in.
        "passengers": passengers,
        "payment_history": payment_methods,
        "created_at": NOW,  # Quirk: every booking is stamped with the fixed clock
        "total_baggages": total_baggages,
        "nonfree_baggages": nonfree_baggages,
        "insurance": insurance,
    }
    _price_segments(db, record["flights"], cabin, len(passengers))
    # Same order of float additions as τ-bench: segments, insurance, then bags.
    total = 0
    for seg in record["flights"]:
        total += seg["price"] * len(passengers)
    if insurance == "yes":
        total += 30 * len(passengers)
    total += 50 * nonfree_baggages

    wallet = db["users"][user_id]["payment_methods"]
    for pay in payment_methods:
        pid = pay["payment_id"]
        if pid not in wallet:
            raise ToolError(f"payment method {pid} not found")
        method = wallet[pid]
        if method["source"] in ("gift_card", "certificate") and method["amount"] < pay["amount"]:
            raise ToolError(f"not enough balance in payment method {pid}")
    paid = sum(pay["amount"] for pay in payment_methods)
    if paid != total:
        raise ToolError(
            f"payment amount does not add up, total price is {total}, but paid {paid}")

    user = db["users"].edit(user_id)
    for pay in payment_methods:
        pid = pay["payment_id"]
        source = user["payment_methods"][pid]["source"]
        if source == "gift_card":
            user["payment_methods"][pid]["amount"] -= pay["amount"]
        elif source == "certificate":
            # Quirk: a certificate is used up whole; any remainder is lost.
            del user["payment_methods"][pid]
    if not _tau(db):  # Corrected: the booked seats are taken (τ-bench never counts them)
        _move_seats(db, record["flights"], cabin, -len(passengers))
    reservations[new_id] = record
    user["reservations"].append(new_id)
    return _dump(record)


@tool(kind="read")
def calculate(db: State, expression: str) -> str:
    """Calculate the result of a mathematical expression.

    Args:
        expression: The mathematical expression to calculate, such as '2 + 2'. The expression
            can contain numbers, operators (+, -, *, /), parentheses, and spaces.
    """
    try:
        return evaluate(expression)
    except CalculationError as exc:
        raise ToolError(str(exc)) from None


@tool(kind="write")
def cancel_reservation(db: State, reservation_id: str) -> str:
    """Cancel the whole reservation.

    Args:
        reservation_id: The reservation ID, such as 'ZFA04Y'.
    """
    current = _open_reservation(db, reservation_id)
    record = db["reservations"].edit(reservation_id)
    history = record["payment_history"]
    # Refunds are appended as negative payments (quirk: in τ-bench mode cancelling again
    # refunds the refunds too, and the flights' seats are not released).
    history.extend([{"payment_id": p["payment_id"], "amount": -p["amount"]} for p in history])
    record["status"] = "cancelled"
    if not _tau(db):  # Corrected: the seats go back on sale
        _move_seats(db, current["flights"], current["cabin"], len(current["passengers"]))
    return _dump(record)


@tool(kind="read")
def get_reservation_details(db: State, reservation_id: str) -> str:
    """Get the details of a reservation.

    Args:
        reservation_id: The reservation id, such as '8JX2WO'.
    """
    if reservation_id not in db["reservations"]:
        # Quirk: τ-bench's message says "user" (corrected: "reservation")
        raise ToolError("user not found" if _tau(db) else "reservation not found")
    return _dump(db["reservations"][reservation_id])


@tool(kind="read")
def get_user_details(db: State, user_id: str) -> str:
    """Get the details of an user.

    Args:
        user_id: The user id, such as 'sara_doe_496'.
    """
    if user_id not in db["users"]:
        raise ToolError("user not found")
    return _dump(db["users"][user_id])


@tool(kind="read")
def list_all_airports(db: State) -> str:
    """List all airports and their cities."""
    # Quirk: a fixed list, whatever airports the flights table uses.
    return _dump(AIRPORTS)


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
    tau = _tau(db)
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


@tool(kind="write")
def send_certificate(db: State, user_id: str, amount: Number) -> str | None:
    """Send a certificate to a user. Be careful!

    Args:
        user_id: The ID of the user to book the reservation, such as 'sara_doe_496'.
        amount: Certificate amount to send.
    """
    if user_id not in db["users"]:
        raise ToolError("user not found")
    wallet = db["users"][user_id]["payment_methods"]
    if not _tau(db):
        # Corrected: always a new certificate with an id the user does not hold yet
        pid = _fresh_id(wallet, [user_id, amount, sorted(wallet)],
                        lambda d: f"certificate_{int.from_bytes(d[:8], 'big') % 10**7:07d}")
        user = db["users"].edit(user_id)
        user["payment_methods"][pid] = {"source": "certificate", "amount": amount, "id": pid}
        return f"Certificate {pid} added to user {user_id} with amount {amount}."
    for pid in NEW_CERTIFICATE_IDS:
        if pid not in wallet:
            user = db["users"].edit(user_id)
            user["payment_methods"][pid] = {"source": "certificate", "amount": amount, "id": pid}
            return f"Certificate {pid} added to user {user_id} with amount {amount}."
    # Quirk: with all three certificate ids taken, nothing happens and nothing is
    # returned (the engine renders it as "null").
    return None


@tool(kind="read")
def think(db: State, thought: str) -> str:
    """Use the tool to think about something. It will not obtain new information or change the
    database, but just append the thought to the log. Use it when complex reasoning is needed.

    Args:
        thought: A thought to think about.
    """
    return ""


@tool(kind="read", ends_conversation=True)
def transfer_to_human_agents(db: State, summary: str) -> str:
    """Transfer the user to a human agent, with a summary of the user's issue. Only transfer if
    the user explicitly asks for a human agent, or if the user's issue cannot be resolved by
    the agent with the available tools.

    Args:
        summary: A summary of the user's issue.
    """
    return "Transfer successful"


def _payment_source(db: State, owner: str, payment_id: str, due: Any) -> dict[str, Any]:
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


def _charge_gift_card(db: State, owner: str, payment_id: str, due: Any) -> None:
    user = db["users"].edit(owner)
    user["payment_methods"][payment_id]["amount"] -= due


@tool(kind="write")
def update_reservation_baggages(
    db: State,
    reservation_id: str,
    total_baggages: int,
    nonfree_baggages: int,
    payment_id: str,
) -> str:
    """Update the baggage information of a reservation.

    Args:
        reservation_id: The reservation ID, such as 'ZFA04Y'.
        total_baggages: The updated total number of baggage items included in the reservation.
        nonfree_baggages: The updated number of non-free baggage items included in the
            reservation.
        payment_id: The payment id stored in user profile, such as 'credit_card_7815826',
            'gift_card_7815826', 'certificate_7815826'.
    """
    current = _open_reservation(db, reservation_id)
    if not _tau(db) and (total_baggages < current["total_baggages"]
                         or nonfree_baggages < current["nonfree_baggages"]):
        # Corrected: τ-bench lowers the counts and refunds nothing
        raise ToolError("checked bags can be added but not removed")
    due = 50 * max(0, nonfree_baggages - current["nonfree_baggages"])
    owner = current["user_id"]
    method = _payment_source(db, owner, payment_id, due)

    record = db["reservations"].edit(reservation_id)
    # Quirk (τ-bench mode): nothing stops the counts from going down, and nothing is
    # refunded then.
    record["total_baggages"] = total_baggages
    record["nonfree_baggages"] = nonfree_baggages
    if method["source"] == "gift_card":
        _charge_gift_card(db, owner, payment_id, due)
    if due != 0:
        record["payment_history"].append({"payment_id": payment_id, "amount": due})
    return _dump(record)


@tool(kind="write")
def update_reservation_flights(
    db: State,
    reservation_id: str,
    cabin: Cabin,
    flights: list[FlightRef],
    payment_id: str,
) -> str:
    """Update the flight information of a reservation.

    Args:
        reservation_id: The reservation ID, such as 'ZFA04Y'.
        flights: An array of objects containing details about each piece of flight in the
            ENTIRE new reservation. Even if the a flight segment is not changed, it should still
            be included in the array.
        payment_id: The payment id stored in user profile, such as 'credit_card_7815826',
            'gift_card_7815826', 'certificate_7815826'.
    """
    current = _open_reservation(db, reservation_id)
    travellers = len(current["passengers"])
    segments = copy.deepcopy(flights)
    total = 0
    taken: list[dict[str, Any]] = []  # new segments, whose seats the change takes
    for seg in segments:
        # A segment the reservation already holds, in an unchanged cabin, keeps its old
        # price and skips the availability checks.
        kept = [old for old in current["flights"]
                if old["flight_number"] == seg["flight_number"] and old["date"] == seg["date"]
                and cabin == current["cabin"]]
        if kept:
            total += kept[0]["price"] * travellers
            seg["price"] = kept[0]["price"]
            seg["origin"] = kept[0]["origin"]
            seg["destination"] = kept[0]["destination"]
            continue
        _price_segments(db, [seg], cabin, travellers)
        total += seg["price"] * travellers
        taken.append(seg)
    total -= sum(old["price"] for old in current["flights"]) * travellers

    owner = current["user_id"]
    method = _payment_source(db, owner, payment_id, total)
    if method["source"] == "gift_card":
        _charge_gift_card(db, owner, payment_id, total)  # a negative total refunds the card
    record = db["reservations"].edit(reservation_id)
    # Quirk (τ-bench mode): the reservation's "cabin" is not updated, and seats are not
    # moved.
    if not _tau(db):  # Corrected: the new cabin is stored and the seats follow the change
        new_ones = {id(seg) for seg in taken}
        stays = {(s["flight_number"], s["date"]) for s in segments if id(s) not in new_ones}
        released = [old for old in current["flights"]
                    if (old["flight_number"], old["date"]) not in stays]
        _move_seats(db, released, current["cabin"], travellers)
        _move_seats(db, taken, cabin, -travellers)
        record["cabin"] = cabin
    record["flights"] = segments
    if total != 0:
        record["payment_history"].append({"payment_id": payment_id, "amount": total})
    return _dump(record)


@tool(kind="write")
def update_reservation_passengers(
    db: State,
    reservation_id: str,
    passengers: list[Passenger],
) -> str:
    """Update the passenger information of a reservation.

    Args:
        reservation_id: The reservation ID, such as 'ZFA04Y'.
        passengers: An array of objects containing details about each passenger.
    """
    current = _open_reservation(db, reservation_id)
    if len(passengers) != len(current["passengers"]):
        raise ToolError("number of passengers does not match")
    record = db["reservations"].edit(reservation_id)
    record["passengers"] = passengers
    return _dump(record)


TOOLS = [
    book_reservation,
    calculate,
    cancel_reservation,
    get_reservation_details,
    get_user_details,
    list_all_airports,
    search_direct_flight,
    search_onestop_flight,
    send_certificate,
    think,
    transfer_to_human_agents,
    update_reservation_baggages,
    update_reservation_flights,
    update_reservation_passengers,
]
