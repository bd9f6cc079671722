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
import json
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict

from apigen_mt.env.calculator import CalculationError, evaluate
from apigen_mt.env.state import State
from apigen_mt.env.tools import Number, ToolError, tool

from .bookkeeping import (
    ID_CHARS,
    charge_gift_card,
    fresh_id,
    move_seats,
    open_reservation,
    payment_source,
    price_segments,
    tau_mode,
)
from .search import search_direct_flight, search_onestop_flight

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
    if tau_mode(db):
        # Quirk: ids are not generated; the third id is reused even when already taken.
        new_id = next((rid for rid in NEW_RESERVATION_IDS[:2] if rid not in reservations),
                      NEW_RESERVATION_IDS[2])
    else:
        # Corrected: a new id, never one in use, the same whenever the same booking is made
        # (from the fields the schema names only: extra keys a call may carry change
        # nothing else either)
        new_id = fresh_id(
            reservations,
            [user_id, [[f.get("flight_number"), f.get("date")] for f in flights],
             [[p.get("first_name"), p.get("last_name"), p.get("dob")] for p in passengers],
             cabin, db["users"][user_id]["reservations"]],
            lambda d: "".join(ID_CHARS[b % len(ID_CHARS)] for b in d[:6]))
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
    price_segments(db, record["flights"], cabin, len(passengers))
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
    if not tau_mode(db):  # Corrected: the booked seats are taken (τ-bench never counts them)
        move_seats(db, record["flights"], cabin, -len(passengers))
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
    current = open_reservation(db, reservation_id)
    record = db["reservations"].edit(reservation_id)
    history = record["payment_history"]
    # Refunds are appended as negative payments (quirk: in τ-bench mode cancelling again
    # refunds the refunds too, and the flights' seats are not released).
    history.extend([{"payment_id": p["payment_id"], "amount": -p["amount"]} for p in history])
    record["status"] = "cancelled"
    if not tau_mode(db):  # Corrected: the seats go back on sale
        move_seats(db, current["flights"], current["cabin"], len(current["passengers"]))
    return _dump(record)


@tool(kind="read")
def get_reservation_details(db: State, reservation_id: str) -> str:
    """Get the details of a reservation.

    Args:
        reservation_id: The reservation id, such as '8JX2WO'.
    """
    if reservation_id not in db["reservations"]:
        # Quirk: τ-bench's message says "user" (corrected: "reservation")
        raise ToolError("user not found" if tau_mode(db) else "reservation not found")
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
    if not tau_mode(db):
        # Corrected: always a new certificate with an id the user does not hold yet
        pid = fresh_id(wallet, [user_id, amount, sorted(wallet)],
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
    current = open_reservation(db, reservation_id)
    if not tau_mode(db) and (total_baggages < current["total_baggages"]
                         or nonfree_baggages < current["nonfree_baggages"]):
        # Corrected: τ-bench lowers the counts and refunds nothing
        raise ToolError("checked bags can be added but not removed")
    due = 50 * max(0, nonfree_baggages - current["nonfree_baggages"])
    owner = current["user_id"]
    method = payment_source(db, owner, payment_id, due)

    record = db["reservations"].edit(reservation_id)
    # Quirk (τ-bench mode): nothing stops the counts from going down, and nothing is
    # refunded then.
    record["total_baggages"] = total_baggages
    record["nonfree_baggages"] = nonfree_baggages
    if method["source"] == "gift_card":
        charge_gift_card(db, owner, payment_id, due)
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
    current = open_reservation(db, reservation_id)
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
        price_segments(db, [seg], cabin, travellers)
        total += seg["price"] * travellers
        taken.append(seg)
    total -= sum(old["price"] for old in current["flights"]) * travellers

    owner = current["user_id"]
    method = payment_source(db, owner, payment_id, total)
    if method["source"] == "gift_card":
        charge_gift_card(db, owner, payment_id, total)  # a negative total refunds the card
    record = db["reservations"].edit(reservation_id)
    # Quirk (τ-bench mode): the reservation's "cabin" is not updated, and seats are not
    # moved.
    if not tau_mode(db):  # Corrected: the new cabin is stored and the seats follow the change
        new_ones = {id(seg) for seg in taken}
        stays = {(s["flight_number"], s["date"]) for s in segments if id(s) not in new_ones}
        released = [old for old in current["flights"]
                    if (old["flight_number"], old["date"]) not in stays]
        move_seats(db, released, current["cabin"], travellers)
        move_seats(db, taken, cabin, -travellers)
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
    current = open_reservation(db, reservation_id)
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
