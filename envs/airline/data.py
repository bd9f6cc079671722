"""Seeded generator of an airline database in τ-bench's exact schema.

Three tables, each a JSON object keyed by record id:

- ``flights``: ``HAT001`` … with origin, destination, scheduled local times (arrivals
  past midnight carry ``+1``) and one entry per date 2024-05-01 … 2024-05-30. The clock
  stands at 2024-05-15 15:00 EST, so earlier dates are ``landed`` or ``cancelled``,
  the 15th is ``landed`` / ``flying`` / ``on time`` / ``delayed`` depending on the
  time, and later dates are ``available`` with seats and prices per cabin.
- ``users``: profile, payment methods (credit cards, gift cards and certificates with
  balances), saved passengers, membership and the ids of their reservations.
- ``reservations``: one-way or round trips of direct or one-stop segments on existing
  flights and dates, paid in full by one of the owner's cards.

Everything comes from one ``random.Random(seed)``: the same arguments always give the
same JSON, byte for byte.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from typing import Any

from .tools import AIRPORTS, NEW_CERTIFICATE_IDS, NEW_RESERVATION_IDS

CABINS = ("basic_economy", "economy", "business")
PRICE_RANGE = {"basic_economy": (50, 100), "economy": (100, 200), "business": (200, 500)}
# Free checked bags per passenger, by membership then cabin (the policy's table).
FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 3},
}
FIRST_DAY = date(2024, 5, 1)
DAYS = 30
NOW = datetime(2024, 5, 15, 15, 0)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# Approximate airport coordinates (degrees), used only to make durations plausible.
COORDINATES = {
    "SFO": (37.6, -122.4), "JFK": (40.6, -73.8), "LAX": (33.9, -118.4), "ORD": (42.0, -87.9),
    "DFW": (32.9, -97.0), "DEN": (39.9, -104.7), "SEA": (47.4, -122.3), "ATL": (33.6, -84.4),
    "MIA": (25.8, -80.3), "BOS": (42.4, -71.0), "PHX": (33.4, -112.0), "IAH": (30.0, -95.3),
    "LAS": (36.1, -115.2), "MCO": (28.4, -81.3), "EWR": (40.7, -74.2), "CLT": (35.2, -80.9),
    "MSP": (44.9, -93.2), "DTW": (42.2, -83.4), "PHL": (39.9, -75.2), "LGA": (40.8, -73.9),
}

FIRST_NAMES = [
    "Adele", "Bruno", "Carmen", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Keiko", "Lars", "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Samir", "Tessa",
    "Umar", "Vera", "Wendell", "Ximena", "Yusuf", "Zara", "Anders", "Bianca", "Cyrus",
    "Dalia", "Emeka", "Freya", "Gideon", "Hana", "Ivo", "Jun", "Kofi", "Leila", "Marco",
    "Nadia", "Oscar", "Priya", "Rafael", "Sina", "Tomas", "Ulla", "Viktor", "Wren", "Yara",
    "Zane",
]
LAST_NAMES = [
    "Abara", "Bergstrom", "Castillo", "Dubois", "Eriksen", "Fontaine", "Gallagher", "Haddad",
    "Iverson", "Jablonski", "Kowalczyk", "Lindqvist", "Moreau", "Nakagawa", "Okafor",
    "Petrov", "Quintero", "Rasmussen", "Sandoval", "Takahashi", "Ueda", "Valdez", "Whitaker",
    "Xu", "Yilmaz", "Zielinski", "Acosta", "Brennan", "Chandra", "Delgado", "Esposito",
    "Fischer", "Gutierrez", "Holloway", "Ibarra", "Jovanovic", "Kaur", "Lombardi", "Mensah",
    "Novak",
]
STREETS = [
    "Alder Lane", "Birch Court", "Cedar Avenue", "Dogwood Road", "Elm Street", "Fern Way",
    "Granite Drive", "Harbor View", "Iris Boulevard", "Juniper Trail", "Kestrel Place",
    "Linden Row", "Maple Terrace", "Orchard Path", "Quarry Street", "Ridge Road",
    "Spruce Circle", "Tamarack Lane", "Willow Bend", "Yarrow Street",
]
UNIT_KINDS = ["Suite", "Apt", "Unit"]
# (city, state, first three digits of the zip code)
CITIES = [
    ("Portland", "OR", "972"), ("Tucson", "AZ", "857"), ("Madison", "WI", "537"),
    ("Raleigh", "NC", "276"), ("Boise", "ID", "837"), ("Omaha", "NE", "681"),
    ("Richmond", "VA", "232"), ("Albuquerque", "NM", "871"), ("Savannah", "GA", "314"),
    ("Spokane", "WA", "992"), ("Louisville", "KY", "402"), ("Tulsa", "OK", "741"),
    ("Providence", "RI", "029"), ("Des Moines", "IA", "503"), ("Anchorage", "AK", "995"),
    ("Burlington", "VT", "054"), ("Fresno", "CA", "937"), ("El Paso", "TX", "799"),
    ("Knoxville", "TN", "379"), ("Columbus", "OH", "432"), ("Baton Rouge", "LA", "708"),
    ("Charleston", "SC", "294"), ("Reno", "NV", "895"), ("Pittsburgh", "PA", "152"),
]
RESERVATION_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _day(index: int) -> str:
    """Date string of the ``index``-th day of the calendar (0 = 2024-05-01)."""
    return (FIRST_DAY + timedelta(days=index)).isoformat()


def _clock(minutes: int) -> str:
    """``HH:MM:SS`` of a time of day, with ``+1`` when it falls on the next day."""
    day, rest = divmod(minutes, 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return text + "+1" if day else text


def _hours(a: str, b: str) -> float:
    """Scheduled duration in hours between two airports: about 800 km/h plus taxiing."""
    (lat1, lon1), (lat2, lon2) = COORDINATES[a], COORDINATES[b]
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    km = 6371 * math.hypot(x, y)
    return min(6.0, max(1.0, round((km / 800 + 0.5) * 2) / 2))


class _Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used_payment_ids: set[str] = set(NEW_CERTIFICATE_IDS)

    # flights ---------------------------------------------------------------------
    def routes(self, count: int) -> list[tuple[str, str]]:
        pairs = [(a, b) for a in AIRPORTS for b in AIRPORTS if a != b]
        self.rng.shuffle(pairs)
        chosen: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for a, b in pairs:
            if len(chosen) >= count:
                break
            for pair in ((a, b), (b, a)) if self.rng.random() < 0.9 else ((a, b),):
                if pair not in seen and len(chosen) < count:
                    seen.add(pair)
                    chosen.append(pair)
        return chosen

    def flights(self, count: int) -> dict[str, dict[str, Any]]:
        rng = self.rng
        routes = self.routes(max(1, min(count, round(count * 0.36))))
        plan = list(routes) + [rng.choice(routes) for _ in range(count - len(routes))]
        rng.shuffle(plan)
        table = {}
        for i, (origin, destination) in enumerate(plan[:count], 1):
            number = f"HAT{i:03d}"
            depart = rng.randrange(24) * 60
            hours = max(1.0, _hours(origin, destination) + rng.choice((-0.5, 0, 0, 0.5)))
            arrive = depart + int(hours * 60)
            table[number] = {
                "flight_number": number,
                "origin": origin,
                "destination": destination,
                "scheduled_departure_time_est": _clock(depart),
                "scheduled_arrival_time_est": _clock(arrive),
                "dates": {_day(d): self.day_status(d, depart, arrive) for d in range(DAYS)},
            }
        return table

    def day_status(self, index: int, depart: int, arrive: int) -> dict[str, Any]:
        rng = self.rng
        midnight = datetime.combine(FIRST_DAY + timedelta(days=index), datetime.min.time())
        planned_dep = midnight + timedelta(minutes=depart)
        planned_arr = midnight + timedelta(minutes=arrive)
        if planned_dep.date() > NOW.date():
            seats = {cabin: rng.randint(0, 20) for cabin in CABINS}
            prices = {cabin: rng.randint(*PRICE_RANGE[cabin]) for cabin in CABINS}
            return {"status": "available", "available_seats": seats, "prices": prices}
        if planned_dep.date() < NOW.date() and rng.random() < 0.09:
            return {"status": "cancelled"}
        delayed = planned_dep.date() == NOW.date() and rng.random() < 0.15
        shift = rng.randint(60, 180) if delayed else rng.randint(-30, 30)
        dep = planned_dep + timedelta(minutes=shift)
        arr = planned_arr + timedelta(minutes=shift + rng.randint(-25, 25))
        arr = max(arr, dep + timedelta(minutes=30))
        if arr <= NOW:
            return {"status": "landed", "actual_departure_time_est": dep.strftime(TIME_FORMAT),
                    "actual_arrival_time_est": arr.strftime(TIME_FORMAT)}
        if dep <= NOW:
            return {"status": "flying", "actual_departure_time_est": dep.strftime(TIME_FORMAT),
                    "estimated_arrival_time_est": arr.strftime(TIME_FORMAT)}
        return {"status": "delayed" if delayed else "on time",
                "estimated_departure_time_est": dep.strftime(TIME_FORMAT),
                "estimated_arrival_time_est": arr.strftime(TIME_FORMAT)}

    # users -----------------------------------------------------------------------
    def person(self) -> dict[str, str]:
        rng = self.rng
        return {"first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES),
                "dob": self.birthday()}

    def birthday(self) -> str:
        return (date(1950, 1, 1) + timedelta(days=self.rng.randrange(18_627))).isoformat()

    def payment_id(self, source: str) -> str:
        while True:
            pid = f"{source}_{self.rng.randint(1_000_000, 9_999_999)}"
            if pid not in self.used_payment_ids:
                self.used_payment_ids.add(pid)
                return pid

    def payment_methods(self) -> dict[str, dict[str, Any]]:
        rng = self.rng
        count = rng.choices(range(1, 8), weights=(80, 142, 111, 90, 41, 28, 8))[0]
        # The first method can pay for a trip; the rest are any kind.
        sources = [rng.choice(("credit_card", "gift_card"))]
        sources += rng.choices(("credit_card", "gift_card", "certificate"), k=count - 1)
        methods = {}
        for source in sources:
            pid = self.payment_id(source)
            if source == "credit_card":
                methods[pid] = {"source": source, "brand": rng.choice(("visa", "mastercard")),
                                "last_four": f"{rng.randrange(10_000):04d}", "id": pid}
            elif source == "gift_card":
                methods[pid] = {"source": source, "amount": rng.randint(0, 300), "id": pid}
            else:
                methods[pid] = {"source": source, "amount": rng.choice((100, 150, 250, 500)),
                                "id": pid}
        return methods

    def users(self, count: int) -> dict[str, dict[str, Any]]:
        rng = self.rng
        table: dict[str, dict[str, Any]] = {}
        while len(table) < count:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            user_id = f"{first}_{last}_{rng.randint(1000, 9999)}".lower()
            if user_id in table:
                continue
            city, state, zip3 = rng.choice(CITIES)
            table[user_id] = {
                "name": {"first_name": first, "last_name": last},
                "address": {
                    "address1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
                    "address2": f"{rng.choice(UNIT_KINDS)} {rng.randint(100, 999)}",
                    "city": city,
                    "country": "USA",
                    "state": state,
                    "zip": f"{zip3}{rng.randrange(100):02d}",
                },
                "email": f"{first}.{last}{rng.randint(1000, 9999)}@example.com".lower(),
                "dob": self.birthday(),
                "payment_methods": self.payment_methods(),
                "saved_passengers": [self.person()
                                     for _ in range(rng.choices((1, 2), weights=(2, 1))[0])],
                "membership": rng.choices(("regular", "silver", "gold"), weights=(3, 4, 4))[0],
                "reservations": [],
            }
        return table

    # reservations ----------------------------------------------------------------
    def reservation_id(self, taken: dict[str, Any]) -> str:
        while True:
            rid = "".join(self.rng.choices(RESERVATION_ALPHABET, k=6))
            if rid not in taken and rid not in NEW_RESERVATION_IDS:
                return rid

    def itinerary(self, flights: dict[str, Any], by_origin: dict[str, list[str]], start: str,
                  end: str | None, day: int) -> list[tuple[str, int]] | None:
        """Segments ``[(flight_number, day index)]`` from ``start`` (to ``end`` if given)."""
        rng = self.rng
        direct = [f for f in by_origin.get(start, [])
                  if end is None or flights[f]["destination"] == end]
        if direct and rng.random() < (0.5 if end is None else 0.7):
            return [(rng.choice(direct), day)]
        options = []
        for first in by_origin.get(start, []):
            hub = flights[first]["destination"]
            arrival = flights[first]["scheduled_arrival_time_est"]
            for second in by_origin.get(hub, []):
                target = flights[second]["destination"]
                if target == start or (end is not None and target != end):
                    continue
                # Connect only when the second leg leaves after the first lands.
                if arrival[:8] < flights[second]["scheduled_departure_time_est"]:
                    options.append((first, second, day + 1 if "+1" in arrival else day))
        if not options:
            return [(rng.choice(direct), day)] if direct else None
        first, second, next_day = rng.choice(options)
        return [(first, day), (second, next_day)]

    def reservations(self, count: int, flights: dict[str, Any],
                     users: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        rng = self.rng
        by_origin: dict[str, list[str]] = {}
        for number, flight in flights.items():
            by_origin.setdefault(flight["origin"], []).append(number)
        origins = sorted(by_origin)
        user_ids = list(users)
        table: dict[str, dict[str, Any]] = {}
        for _ in range(count):
            rid = self.reservation_id(table)
            user_id = rng.choice(user_ids)
            user = users[user_id]
            cabin = rng.choice(CABINS)
            legs, flight_type, far_end = None, "one_way", ""
            for _attempt in range(50):
                flight_type = rng.choices(("one_way", "round_trip"), weights=(52, 48))[0]
                day = rng.choices(range(DAYS), weights=[min(d + 1, 16) for d in range(DAYS)])[0]
                start = rng.choice(origins)
                out = self.itinerary(flights, by_origin, start, None, day)
                if out is None or out[-1][1] >= DAYS:
                    continue
                end = far_end = flights[out[-1][0]]["destination"]
                if flight_type == "one_way":
                    legs = out
                    break
                back_day = out[-1][1] + rng.randint(1, 6)
                if back_day >= DAYS:
                    continue
                back = self.itinerary(flights, by_origin, end, start, back_day)
                if back is not None and back[-1][1] < DAYS:
                    legs = out + back
                    break
            if legs is None:  # tiny flight tables: fall back to any single flight
                number = rng.choice(list(flights))
                legs, flight_type = [(number, rng.randrange(DAYS))], "one_way"
                far_end = flights[number]["destination"]
            table[rid] = self.reservation(rid, user_id, user, flights, legs, flight_type,
                                          cabin, far_end)
            user["reservations"].append(rid)
        return table

    def reservation(self, rid: str, user_id: str, user: dict[str, Any],
                    flights: dict[str, Any], legs: list[tuple[str, int]], flight_type: str,
                    cabin: str, far_end: str) -> dict[str, Any]:
        """One reservation record; ``far_end`` is where the (outbound) trip ends."""
        rng = self.rng
        segments = []
        for number, day in legs:
            flight = flights[number]
            entry = flight["dates"][_day(day)]
            price = (entry["prices"][cabin] if entry["status"] == "available"
                     else rng.randint(*PRICE_RANGE[cabin]))
            segments.append({"origin": flight["origin"], "destination": flight["destination"],
                             "flight_number": number, "date": _day(day), "price": price})
        travellers = rng.choices((1, 2, 3, 4), weights=(920, 662, 323, 95))[0]
        passengers = []
        if rng.random() < 0.8:
            passengers.append({**user["name"], "dob": user["dob"]})
        for saved in user["saved_passengers"]:
            if len(passengers) < travellers and rng.random() < 0.5:
                passengers.append(dict(saved))
        while len(passengers) < travellers:
            passengers.append(self.person())
        insurance = rng.choice(("yes", "no"))
        total = sum(s["price"] for s in segments) * travellers
        if insurance == "yes":
            total += 30 * travellers
        payers = [pid for pid, m in user["payment_methods"].items()
                  if m["source"] in ("credit_card", "gift_card")]
        free = FREE_BAGS[user["membership"]][cabin]
        bags = sum(rng.randint(0, free) if rng.random() < 0.5 else 0 for _ in passengers)
        return {
            "reservation_id": rid,
            "user_id": user_id,
            "origin": segments[0]["origin"],
            "destination": far_end,
            "flight_type": flight_type,
            "cabin": cabin,
            "flights": segments,
            "passengers": passengers,
            "payment_history": [{"payment_id": rng.choice(payers), "amount": total}],
            "created_at": self.created_at(segments, flights),
            "total_baggages": bags,
            "nonfree_baggages": 0,
            "insurance": insurance,
        }

    def created_at(self, segments: list[dict[str, Any]], flights: dict[str, Any]) -> str:
        first = segments[0]
        clock = flights[first["flight_number"]]["scheduled_departure_time_est"][:8]
        departs = datetime.fromisoformat(f"{first['date']}T{clock}")
        low = datetime(2024, 4, 30)
        high = min(datetime(2024, 5, 14, 23, 59, 59), departs - timedelta(hours=3))
        span = int((high - low).total_seconds())
        return (low + timedelta(seconds=self.rng.randint(0, max(0, span)))).strftime(TIME_FORMAT)


def generate(seed: int = 0, users: int = 500, flights: int = 300,
             reservations: int = 2000) -> dict[str, dict[str, Any]]:
    """A τ-bench-schema airline database: ``{"flights", "reservations", "users"}``."""
    if reservations and (users < 1 or flights < 1):
        raise ValueError("reservations need at least one user and one flight")
    gen = _Generator(seed)
    flight_table = gen.flights(flights)
    user_table = gen.users(users)
    reservation_table = gen.reservations(reservations, flight_table, user_table)
    return {"flights": flight_table, "reservations": reservation_table, "users": user_table}
