"""Seeded generator of bank databases.

``generate(seed)`` builds ``{"accounts", "cards", "customers", "disputes", "transactions"}``
from its own vocabularies with one ``random.Random(seed)`` and a fixed iteration order,
so the same seed always gives byte-identical JSON. The data is internally consistent:

- every account, card, transaction and dispute points at records that exist;
- a customer's ``accounts`` and ``cards`` list exactly the records that name them, and
  an account's ``transactions`` list exactly its transactions, oldest first;
- a savings account's ``withdrawals_this_month`` counts its outgoing transactions dated
  in the current month (some accounts have used all six);
- a payee payment names a payee saved for the account's owner at least a day before,
  and today's payments stay within the customer's daily payment limit;
- a disputed transaction carries the id of its dispute, which carries its amount;
- a lost or stolen card names its replacement, which names it back;
- first name, last name and phone identify one customer; every email is unique.

All dates are relative to :data:`TODAY`, the bank's "current" date that the tools use.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

TODAY = "2025-05-15"
_TODAY = date.fromisoformat(TODAY)
HISTORY_DAYS = 110  # how far back generated transactions go
PENDING_DAYS = 2  # card transactions of the last two days have not posted yet
SAVINGS_WITHDRAWALS_PER_MONTH = 6

FIRST_NAMES = [
    "Abena", "Adrian", "Aiko", "Alejandro", "Amara", "Anika", "Arturo", "Astrid", "Bao",
    "Bettina", "Callum", "Carmen", "Cyrus", "Dalia", "Declan", "Dmitri", "Esther", "Ezra",
    "Fatima", "Finn", "Gideon", "Gloria", "Hamza", "Helga", "Idris", "Imogen", "Ivan",
    "Jasmine", "Joaquin", "Keiko", "Kwame", "Leila", "Lorenzo", "Lucia", "Magnus", "Marisol",
    "Mei", "Milan", "Nadia", "Naveen", "Olga", "Omar", "Orla", "Pablo", "Petra", "Rashid",
    "Renata", "Rohan", "Saoirse", "Sergio", "Shira", "Tobias", "Tomasz", "Ursula", "Vikram",
    "Wren", "Yusuf", "Zainab", "Zeynep", "Elio",
]
LAST_NAMES = [
    "Achterberg", "Afolabi", "Almeida", "Andersson", "Baptiste", "Brennan", "Calloway",
    "Chaudhry", "Dimitriou", "Donnelly", "Eze", "Fairbanks", "Ferreira", "Gutierrez",
    "Halvorsen", "Hashemi", "Iwasaki", "Jovanovic", "Kapoor", "Kowalczyk", "Lambert",
    "Lindgren", "Mahlangu", "Medina", "Nwosu", "Oyelaran", "Pacheco", "Quispe", "Ramadan",
    "Rasmussen", "Sandoval", "Szabo", "Takeda", "Thorne", "Umarov", "Valdivia", "Wexler",
    "Whitfield", "Yamamoto", "Zielinski",
]
STREETS = [
    "Ash Grove", "Beacon Street", "Bramble Lane", "Cobblestone Way", "Copper Ridge Road",
    "Dogwood Drive", "Ember Court", "Fern Hollow", "Foundry Street", "Glen Echo Road",
    "Granite Avenue", "Heron Point", "Ivy Terrace", "Kestrel Way", "Lantern Lane",
    "Larkspur Avenue", "Millbrook Road", "Mossy Oak Drive", "North Pier Street",
    "Old Mill Lane", "Osprey Circle", "Pebble Creek Road", "Quartz Street", "Riverstone Drive",
    "Saddle Ridge", "Shoreline Avenue", "Stonebridge Road", "Tamarack Street", "Thistle Way",
    "Union Square",
]
# (city, state, first three digits of its zip codes, phone area code)
CITIES = [
    ("Anchorage", "AK", "995", "907"), ("Austin", "TX", "787", "512"),
    ("Burlington", "VT", "054", "802"), ("Charleston", "SC", "294", "843"),
    ("Cincinnati", "OH", "452", "513"), ("Denver", "CO", "802", "303"),
    ("Duluth", "MN", "558", "218"), ("El Paso", "TX", "799", "915"),
    ("Eugene", "OR", "974", "541"), ("Fargo", "ND", "581", "701"),
    ("Hartford", "CT", "061", "860"), ("Honolulu", "HI", "968", "808"),
    ("Jackson", "MS", "392", "601"), ("Knoxville", "TN", "379", "865"),
    ("Lexington", "KY", "405", "859"), ("Little Rock", "AR", "722", "501"),
    ("Louisville", "KY", "402", "502"), ("Lubbock", "TX", "794", "806"),
    ("Manchester", "NH", "031", "603"), ("Mobile", "AL", "366", "251"),
    ("Montgomery", "AL", "361", "334"), ("Newark", "NJ", "071", "973"),
    ("Norfolk", "VA", "235", "757"), ("Olympia", "WA", "985", "360"),
    ("Phoenix", "AZ", "850", "602"), ("Reno", "NV", "895", "775"),
    ("Rochester", "NY", "146", "585"), ("Savannah", "GA", "314", "912"),
    ("Sioux Falls", "SD", "571", "605"), ("Syracuse", "NY", "132", "315"),
    ("Topeka", "KS", "666", "785"), ("Wichita", "KS", "672", "316"),
]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
MERCHANTS = {  # category -> (merchant names, lowest, highest amount)
    "groceries": (["Green Basket Market", "FreshFields Grocery", "Corner Pantry"], 12, 180),
    "dining": (["Blue Door Bistro", "Noodle Harbor", "Sunrise Diner", "Taqueria Luna"], 8, 95),
    "fuel": (["Beacon Fuel", "Roadrunner Gas"], 25, 90),
    "travel": (["Skyway Airlines", "Harborview Hotel", "Metro Rail Pass"], 40, 900),
    "shopping": (["Northwind Outfitters", "Pixel & Co Electronics", "Maple Home Goods"],
                 15, 650),
    "utilities": (["City Water Utility", "Brightline Power", "Cascade Internet"], 35, 210),
    "subscriptions": (["StreamBox", "CloudVault Storage", "DailyPress Digital"], 5, 30),
    "health": (["Riverside Pharmacy", "Evergreen Dental"], 10, 420),
}
EMPLOYERS = ["Harbor Logistics", "Summit Health", "Brightwave Software", "County Schools",
             "Keystone Builders", "Orion Retail Group", "Meridian Labs"]
PAYEE_NAMES = [
    "Oakridge Property Management", "Lakeside Apartments LLC", "Valley Auto Finance",
    "Pinecrest Daycare", "Riverbend Insurance", "Northgate Dental Group",
    "Summit Student Loans", "Harbor Gym", "Crestview HOA", "Bluebird Piano Lessons",
    "Ironwood Landscaping", "Greenleaf Tutoring", "Silver Lake Storage", "Cedar Vet Clinic",
]
BANKS = ["First Prairie Bank", "Coastal Credit Union", "Granite Trust", "Union Harbor Bank",
         "Redwood Savings", "Tri-County Federal"]
DISPUTE_REASONS = ("unauthorized", "duplicate_charge", "not_received", "incorrect_amount")
NICKNAMES = {"checking": ["Everyday Checking", "Main Checking", "Bills Account"],
             "savings": ["Rainy Day Savings", "Vacation Fund", "Emergency Savings"],
             "credit": ["Rewards Card", "Cashback Card", "Travel Card"]}
ID_PREFIX = {"checking": "CHK", "savings": "SAV", "credit": "CRD"}


def _day(days_ago: int) -> str:
    return (_TODAY - timedelta(days=days_ago)).isoformat()


def _money(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 2)


class _Ids:
    """Unique random numeric ids per prefix, from the shared generator."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def new(self, prefix: str, digits: int) -> str:
        while True:
            value = f"{prefix}{self.rng.randrange(10 ** (digits - 1), 10 ** digits)}"
            if value not in self.used:
                self.used.add(value)
                return value


class _Builder:
    """Builds the tables customer by customer; transactions get ids at the end."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.customers: dict[str, Any] = {}
        self.accounts: dict[str, Any] = {}
        self.cards: dict[str, Any] = {}
        self.transactions: dict[str, Any] = {}
        self.disputes: dict[str, Any] = {}
        self.unnumbered: list[tuple[str, dict[str, Any]]] = []  # (account id, record)
        self.identities: set[tuple[str, str, str]] = set()
        self.emails: set[str] = set()
        self.paid_today: dict[str, float] = {}

    # ----------------------------------------------------------------- customers
    def customer(self) -> str:
        rng = self.rng
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            city, state, zip3, area = rng.choice(CITIES)
            phone = f"{area}-555-{rng.randrange(100, 10000):04d}"
            if (first.lower(), last.lower(), phone) not in self.identities:
                break
        self.identities.add((first.lower(), last.lower(), phone))
        while True:
            email = (f"{first.lower()}.{last.lower()}{rng.randrange(10, 1000)}"
                     f"@{rng.choice(EMAIL_DOMAINS)}")
            if email not in self.emails:
                break
        self.emails.add(email)
        customer_id = self.ids.new("C", 6)
        premier = rng.random() < 0.2
        self.customers[customer_id] = {
            "customer_id": customer_id,
            "name": {"first_name": first, "last_name": last},
            "email": email,
            "phone": phone,
            "address": {
                "address1": f"{rng.randrange(10, 9999)} {rng.choice(STREETS)}",
                "address2": rng.choice(["", "", f"Apt {rng.randrange(1, 40)}",
                                        f"Unit {rng.randrange(100, 999)}"]),
                "city": city,
                "state": state,
                "zip": f"{zip3}{rng.randrange(0, 100):02d}",
            },
            "date_of_birth": date(rng.randrange(1950, 2004), rng.randrange(1, 13),
                                  rng.randrange(1, 29)).isoformat(),
            "segment": "premier" if premier else "standard",
            "daily_payment_limit": 5000 if premier else rng.choice([1000, 2500]),
            "member_since": _day(rng.randrange(200, 6000)),
            "accounts": [],
            "cards": [],
            "payees": {},
        }
        self.payees(customer_id)
        self.open_accounts(customer_id)
        return customer_id

    def payees(self, customer_id: str) -> None:
        rng = self.rng
        payees = self.customers[customer_id]["payees"]
        for name in rng.sample(PAYEE_NAMES, k=rng.choice([0, 1, 1, 2, 2, 3, 4])):
            payee_id = self.ids.new("PY", 6)
            added = 0 if rng.random() < 0.12 else rng.randrange(1, 900)
            payees[payee_id] = {
                "payee_id": payee_id,
                "name": name,
                "bank": rng.choice(BANKS),
                "account_number": str(rng.randrange(10 ** 9, 10 ** 12)),
                "added_on": _day(added),
            }

    # ------------------------------------------------------------------ accounts
    def open_accounts(self, customer_id: str) -> None:
        rng = self.rng
        kinds = ["checking"]
        if rng.random() < 0.65:
            kinds.append("savings")
        if rng.random() < 0.45:
            kinds.append("credit")
        if rng.random() < 0.1:
            kinds.append(rng.choice(["checking", "savings"]))
        for kind in kinds:
            self.account(customer_id, kind)

    def account(self, customer_id: str, kind: str) -> str:
        rng = self.rng
        account_id = self.ids.new(ID_PREFIX[kind], 8)
        status = rng.choices(["open", "frozen", "closed"], weights=[90, 5, 5])[0]
        record: dict[str, Any] = {
            "account_id": account_id,
            "customer_id": customer_id,
            "type": kind,
            "nickname": rng.choice(NICKNAMES[kind]),
            "status": status,
            "opened_on": _day(rng.randrange(120, 4000)),
        }
        if kind == "checking":
            record["balance"] = 0.0 if status == "closed" else _money(rng, 150, 9000)
            record["overdraft_protection"] = rng.random() < 0.4
        elif kind == "savings":
            record["balance"] = 0.0 if status == "closed" else _money(rng, 200, 40000)
            record["interest_rate"] = rng.choice([0.5, 1.25, 3.8, 4.1])
            record["withdrawals_this_month"] = 0
        else:
            limit = rng.choice([1500, 3000, 5000, 10000])
            record["balance"] = 0.0 if status == "closed" else _money(rng, 0, limit * 0.7)
            record["credit_limit"] = limit
            record["payment_due"] = _day(-rng.randrange(3, 28))
        record["transactions"] = []
        self.accounts[account_id] = record
        self.customers[customer_id]["accounts"].append(account_id)
        if kind != "savings":
            self.issue_cards(account_id)
        self.history(account_id)
        return account_id

    def issue_cards(self, account_id: str) -> None:
        rng = self.rng
        account = self.accounts[account_id]
        kind = "debit" if account["type"] == "checking" else "credit"
        if account["status"] == "closed":
            self.card(account_id, kind, "closed")
            return
        status = rng.choices(["active", "frozen", "lost", "stolen", "expired"],
                             weights=[70, 12, 6, 4, 8])[0]
        if status in ("lost", "stolen"):
            old = self.card(account_id, kind, status)
            new = self.card(account_id, kind, rng.choice(["active", "pending_activation"]))
            self.cards[old]["replaced_by"] = new
            self.cards[new]["replaces"] = old
        elif status == "expired":
            self.card(account_id, kind, "expired")
            self.card(account_id, kind, "active")
        else:
            self.card(account_id, kind, status)

    def card(self, account_id: str, kind: str, status: str) -> str:
        rng = self.rng
        account = self.accounts[account_id]
        card_id = self.ids.new("CARD", 7)
        if status == "expired":
            year = _TODAY.year - rng.randrange(1, 3)
        else:
            year = _TODAY.year + rng.randrange(1, 5)
        self.cards[card_id] = {
            "card_id": card_id,
            "customer_id": account["customer_id"],
            "account_id": account_id,
            "kind": kind,
            "last4": f"{rng.randrange(0, 10000):04d}",
            "status": status,
            "frozen_by": (rng.choice(["customer", "customer", "bank"]) if status == "frozen"
                          else None),
            "expires": f"{year}-{rng.randrange(1, 13):02d}",
            "replaces": None,
            "replaced_by": None,
        }
        self.customers[account["customer_id"]]["cards"].append(card_id)
        return card_id

    # -------------------------------------------------------------- transactions
    def history(self, account_id: str) -> None:
        """About three months of one account's transactions (numbered later)."""
        account = self.accounts[account_id]
        if account["status"] == "closed":
            return
        if account["type"] == "checking":
            records = self._checking_history(account)
        elif account["type"] == "savings":
            records = self._savings_history(account)
        else:
            records = self._credit_history(account)
        records.sort(key=lambda r: r["date"])
        self.unnumbered.extend((account_id, record) for record in records)

    def _cards_of(self, account: dict[str, Any]) -> list[str]:
        customer = self.customers[account["customer_id"]]
        # cards that have been in use lately (a stolen card's last charges may be fraud)
        usable = ("active", "frozen", "lost", "stolen")
        return [c for c in customer["cards"] if self.cards[c]["account_id"] ==
                account["account_id"] and self.cards[c]["status"] in usable]

    def _checking_history(self, account: dict[str, Any]) -> list[dict[str, Any]]:
        rng = self.rng
        records = []
        employer = rng.choice(EMPLOYERS)
        pay = _money(rng, 1200, 4200)
        for days_ago in range(rng.randrange(3, 15), HISTORY_DAYS, 14):
            records.append(self._txn(days_ago, pay, "credit", "salary",
                                     f"Payroll deposit - {employer}"))
        cards = self._cards_of(account)
        for _ in range(rng.randrange(4, 12)):
            records.append(self._purchase(rng.randrange(0, HISTORY_DAYS), cards))
        customer = self.customers[account["customer_id"]]
        customer_id = customer["customer_id"]
        for payee_id, payee in list(customer["payees"].items())[:2]:
            days_ago = 0 if rng.random() < 0.15 else rng.randrange(1, 40)
            amount = _money(rng, 40, 1600)
            if payee["added_on"] >= _day(days_ago):
                continue  # a payee can be paid from the day after it was added
            if days_ago == 0:  # today's payments stay within the daily limit
                total = self.paid_today.get(customer_id, 0) + amount
                if total > customer["daily_payment_limit"]:
                    continue
                self.paid_today[customer_id] = total
            records.append(self._txn(days_ago, amount, "debit", "payee_payment",
                                     f"Payment to {payee['name']}", payee_id=payee_id))
        return records

    def _savings_history(self, account: dict[str, Any]) -> list[dict[str, Any]]:
        rng = self.rng
        records = []
        for days_ago in range(rng.randrange(5, 30), HISTORY_DAYS, 30):
            records.append(self._txn(days_ago, _money(rng, 50, 800), "credit", "transfer",
                                     "Transfer in"))
        this_month = _TODAY.day - 1  # days since the 1st
        heavy = rng.random() < 0.15
        count = SAVINGS_WITHDRAWALS_PER_MONTH if heavy else rng.randrange(0, 3)
        for _ in range(count):
            records.append(self._txn(rng.randrange(0, this_month + 1), _money(rng, 20, 600),
                                     "debit", "transfer", "Transfer out"))
        for _ in range(rng.randrange(0, 3)):  # earlier months
            records.append(self._txn(rng.randrange(this_month + 1, HISTORY_DAYS),
                                     _money(rng, 20, 600), "debit", "transfer", "Transfer out"))
        account["withdrawals_this_month"] = count
        return records

    def _credit_history(self, account: dict[str, Any]) -> list[dict[str, Any]]:
        rng = self.rng
        cards = self._cards_of(account)
        records = [self._purchase(rng.randrange(0, HISTORY_DAYS), cards)
                   for _ in range(rng.randrange(4, 12))]
        for days_ago in range(rng.randrange(5, 30), HISTORY_DAYS, 30):
            records.append(self._txn(days_ago, _money(rng, 50, 900), "credit", "card_payment",
                                     "Card payment - thank you"))
        return records

    def _purchase(self, days_ago: int, cards: list[str]) -> dict[str, Any]:
        rng = self.rng
        category = rng.choice(sorted(MERCHANTS))
        names, low, high = MERCHANTS[category]
        card_id = rng.choice(cards) if cards else None
        return self._txn(days_ago, _money(rng, low, high), "debit", category, rng.choice(names),
                         card_id=card_id)

    def _txn(self, days_ago: int, amount: float, direction: str, category: str,
             description: str, card_id: str | None = None,
             payee_id: str | None = None) -> dict[str, Any]:
        pending = card_id is not None and days_ago < PENDING_DAYS
        record: dict[str, Any] = {
            "date": _day(days_ago),
            "amount": amount,
            "direction": direction,
            "category": category,
            "description": description,
            "status": "pending" if pending else "posted",
        }
        if card_id is not None:
            record["card_id"] = card_id
        if payee_id is not None:
            record["payee_id"] = payee_id
        record["dispute_id"] = None
        return record

    def number_transactions(self) -> None:
        """Sequential ids in date order (ties keep generation order), as a core system would."""
        ordered = sorted(enumerate(self.unnumbered), key=lambda p: (p[1][1]["date"], p[0]))
        for n, (_, (account_id, record)) in enumerate(ordered, 1):
            txn_id = f"TXN{n:08d}"
            self.transactions[txn_id] = {"transaction_id": txn_id, "account_id": account_id,
                                         **record}
            self.accounts[account_id]["transactions"].append(txn_id)

    def past_disputes(self) -> None:
        """A few disputes already on file, the older ones settled."""
        rng = self.rng
        charges = [t for t in self.transactions.values()
                   if t["direction"] == "debit" and "card_id" in t and t["status"] == "posted"]
        picked = rng.sample(charges, k=len(charges) // 60)
        picked.sort(key=lambda t: t["transaction_id"])
        for n, txn in enumerate(picked, 1):
            dispute_id = f"DSP{n:06d}"
            txn["dispute_id"] = dispute_id
            opened = min(date.fromisoformat(txn["date"]) + timedelta(days=rng.randrange(1, 10)),
                         _TODAY)
            self.disputes[dispute_id] = {
                "dispute_id": dispute_id,
                "transaction_id": txn["transaction_id"],
                "account_id": txn["account_id"],
                "customer_id": self.accounts[txn["account_id"]]["customer_id"],
                "reason": rng.choice(DISPUTE_REASONS),
                "amount": txn["amount"],
                "status": "open" if (_TODAY - opened).days < 30 else rng.choice(
                    ["resolved_in_favor", "rejected"]),
                "opened_on": opened.isoformat(),
            }


def generate(seed: int = 0, customers: int = 300) -> dict[str, dict[str, Any]]:
    """A bank database: ``customers`` customers with their accounts, cards and history.

    Args:
        seed: Seed of the one random generator; the same seed gives byte-identical data.
        customers: How many customers (each has a checking account, often savings and a
            credit account, cards, payees and about three months of transactions).
    """
    builder = _Builder(seed)
    for _ in range(customers):
        builder.customer()
    builder.number_transactions()
    builder.past_disputes()
    return {
        "accounts": builder.accounts,
        "cards": builder.cards,
        "customers": builder.customers,
        "disputes": builder.disputes,
        "transactions": builder.transactions,
    }
