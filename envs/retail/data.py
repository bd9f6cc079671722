"""Seeded generator of retail databases in τ-bench's exact schema.

``generate(seed)`` builds ``{"orders": …, "products": …, "users": …}`` from its own
vocabularies. The same seed always gives byte-identical JSON (one ``random.Random``,
deterministic iteration order). The data is internally consistent: orders point at
existing users, products and variants; every user's ``orders`` lists exactly their
orders; payments use the user's own methods; gift-card balances are never negative;
and every product has at least two available variants and at least one unavailable
one, so modifications and exchanges always have somewhere to go.

Order records carry the fields τ-bench's tools give each status: ``cancel_reason``
for cancelled orders, ``return_items`` / ``return_payment_method_id`` for returns,
``exchange_items`` / ``exchange_new_items`` / ``exchange_payment_method_id`` /
``exchange_price_difference`` for exchanges, and a second payment-history entry for
``pending (item modified)`` orders.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

FIRST_NAMES = [
    "Ada", "Amir", "Ana", "Arjun", "Beatriz", "Bilal", "Camila", "Chidi", "Clara", "Dario",
    "Daniel", "Elif", "Elena", "Emeka", "Farah", "Felix", "Gabriel", "Greta", "Hana", "Hugo",
    "Ines", "Isaac", "Jonas", "Julia", "Kai", "Kenji", "Lara", "Leon", "Lucia", "Malik",
    "Maya", "Mateo", "Nadia", "Nikhil", "Nora", "Oscar", "Paloma", "Priya", "Quentin", "Rafael",
    "Rosa", "Ruben", "Sami", "Selin", "Soren", "Tariq", "Thea", "Tomas", "Uma", "Valentina",
    "Victor", "Wanjiru", "Xavier", "Yasmin", "Yuki", "Zara", "Zoltan", "Ingrid", "Kofi", "Mina",
]
LAST_NAMES = [
    "Abbott", "Adeyemi", "Alvarez", "Bauer", "Bianchi", "Castillo", "Chowdhury", "Costa",
    "Dubois", "Eriksen", "Fischer", "Fontaine", "Gallagher", "Haddad", "Hoffman", "Ibrahim",
    "Jansen", "Kaur", "Kowalski", "Larsen", "Lindqvist", "Marino", "Mensah", "Moreau",
    "Nakamura", "Novak", "Okafor", "Olsen", "Park", "Petrov", "Quinn", "Reyes", "Rossi",
    "Sato", "Schmidt", "Silva", "Takahashi", "Tanaka", "Urban", "Varga", "Vogel", "Wagner",
    "Weiss", "Xu", "Yilmaz", "Young", "Zhang", "Zimmerman", "Osei", "Duarte",
]
STREETS = [
    "Alder Way", "Aspen Court", "Bay Street", "Birch Road", "Canal Street", "Cedar Lane",
    "Chestnut Avenue", "Cypress Drive", "Elm Street", "Fairview Road", "Garden Path",
    "Harbor Boulevard", "Highland Avenue", "Juniper Street", "Lakeshore Drive", "Linden Avenue",
    "Magnolia Road", "Maple Terrace", "Meadow Lane", "Mill Road", "Orchard Street",
    "Pine Ridge Road", "Poplar Avenue", "Quarry Lane", "Ridge Road", "River Bend Drive",
    "Rosewood Court", "Spruce Street", "Summit Avenue", "Sycamore Lane", "Valley View Road",
    "Walnut Street", "Willow Avenue",
]
# (city, state, first three digits of its zip codes)
CITIES = [
    ("Albuquerque", "NM", "871"), ("Atlanta", "GA", "303"), ("Baltimore", "MD", "212"),
    ("Boise", "ID", "837"), ("Boston", "MA", "021"), ("Charlotte", "NC", "282"),
    ("Chicago", "IL", "606"), ("Cleveland", "OH", "441"), ("Columbus", "OH", "432"),
    ("Des Moines", "IA", "503"), ("Detroit", "MI", "482"), ("Indianapolis", "IN", "462"),
    ("Kansas City", "MO", "641"), ("Las Vegas", "NV", "891"), ("Madison", "WI", "537"),
    ("Memphis", "TN", "381"), ("Miami", "FL", "331"), ("Milwaukee", "WI", "532"),
    ("Minneapolis", "MN", "554"), ("Nashville", "TN", "372"), ("New Orleans", "LA", "701"),
    ("Oakland", "CA", "946"), ("Omaha", "NE", "681"), ("Orlando", "FL", "328"),
    ("Pittsburgh", "PA", "152"), ("Portland", "OR", "972"), ("Providence", "RI", "029"),
    ("Raleigh", "NC", "276"), ("Richmond", "VA", "232"), ("Sacramento", "CA", "958"),
    ("Salt Lake City", "UT", "841"), ("San Diego", "CA", "921"), ("Santa Fe", "NM", "875"),
    ("Spokane", "WA", "992"), ("St. Louis", "MO", "631"), ("Tampa", "FL", "336"),
    ("Tucson", "AZ", "857"), ("Tulsa", "OK", "741"),
]

# (name, lowest price, highest price, {option: values})
CATALOGUE: list[tuple[str, float, float, dict[str, list[str]]]] = [
    ("Acoustic Guitar", 180, 900, {"body": ["dreadnought", "concert", "parlor"],
                                   "top wood": ["spruce", "cedar", "mahogany"],
                                   "strings": ["steel", "nylon"]}),
    ("Air Fryer", 60, 240, {"capacity": ["3 qt", "5 qt", "8 qt"],
                            "color": ["black", "white", "red"], "display": ["dial", "digital"]}),
    ("Bath Towel Set", 25, 110, {"pieces": ["3", "6", "8"],
                                 "color": ["ivory", "navy", "sage", "charcoal"],
                                 "fabric": ["cotton", "bamboo"]}),
    ("Bean Bag Chair", 45, 260, {"size": ["small", "large", "extra large"],
                                 "cover": ["velvet", "corduroy", "faux leather"],
                                 "color": ["grey", "mustard", "teal"]}),
    ("Blender", 40, 420, {"power": ["600W", "1000W", "1500W"], "jar": ["glass", "plastic"],
                          "color": ["black", "silver", "white"]}),
    ("Board Game", 15, 85, {"genre": ["strategy", "party", "cooperative", "trivia"],
                            "players": ["2-4", "3-6", "2-8"], "edition": ["standard", "deluxe"]}),
    ("Camping Tent", 70, 650, {"capacity": ["1-person", "2-person", "4-person", "6-person"],
                               "season": ["3-season", "4-season"],
                               "color": ["green", "orange", "blue"]}),
    ("Ceiling Fan", 90, 480, {"blade span": ["42 inch", "52 inch", "60 inch"],
                              "finish": ["brushed nickel", "matte black", "bronze"],
                              "light": ["yes", "no"]}),
    ("Coffee Grinder", 25, 350, {"burr": ["blade", "conical", "flat"],
                                 "capacity": ["60g", "120g", "250g"],
                                 "color": ["black", "steel", "white"]}),
    ("Cookware Set", 90, 700, {"material": ["stainless steel", "nonstick", "cast iron",
                                            "copper"],
                               "pieces": ["5", "10", "12"], "induction ready": ["yes", "no"]}),
    ("Cordless Drill", 50, 320, {"voltage": ["12V", "18V", "20V"],
                                 "battery": ["1 battery", "2 batteries"],
                                 "chuck": ["3/8 inch", "1/2 inch"]}),
    ("Dash Cam", 40, 300, {"resolution": ["1080p", "1440p", "4K"],
                           "channels": ["front", "front and rear"], "gps": ["yes", "no"]}),
    ("Desk Organizer", 12, 90, {"material": ["bamboo", "metal mesh", "acrylic", "walnut"],
                                "compartments": ["4", "6", "9"], "color": ["natural", "black",
                                                                          "white"]}),
    ("Dog Leash", 10, 60, {"length": ["4 ft", "6 ft", "retractable 16 ft"],
                           "material": ["nylon", "leather", "rope"],
                           "color": ["red", "black", "blue", "pink"]}),
    ("Drone", 150, 1600, {"camera": ["2.7K", "4K", "6K"], "flight time": ["20 min", "31 min",
                                                                          "45 min"],
                          "color": ["grey", "white"]}),
    ("Duvet Cover", 35, 210, {"size": ["twin", "queen", "king"],
                              "fabric": ["linen", "percale", "sateen"],
                              "color": ["white", "stone", "dusty rose", "slate"]}),
    ("Electric Scooter", 280, 1400, {"range": ["15 miles", "25 miles", "40 miles"],
                                     "top speed": ["15 mph", "20 mph"],
                                     "color": ["black", "white", "green"]}),
    ("External Hard Drive", 50, 400, {"capacity": ["1TB", "2TB", "4TB", "8TB"],
                                      "type": ["HDD", "SSD"],
                                      "interface": ["USB-C", "USB-A", "Thunderbolt"]}),
    ("Fitness Tracker", 40, 260, {"band": ["silicone", "woven", "metal"],
                                  "color": ["black", "lavender", "olive", "sand"],
                                  "display": ["monochrome", "color"]}),
    ("Floor Lamp", 45, 380, {"style": ["arc", "tripod", "torchiere"],
                             "finish": ["brass", "black", "white"],
                             "bulb": ["LED included", "no bulb"]}),
    ("French Press", 18, 120, {"capacity": ["350ml", "600ml", "1L"],
                               "material": ["glass", "stainless steel", "ceramic"],
                               "color": ["black", "copper", "white"]}),
    ("Gaming Chair", 150, 650, {"material": ["fabric", "PU leather", "mesh"],
                                "color": ["black", "red", "blue", "white"],
                                "footrest": ["yes", "no"]}),
    ("Hair Dryer", 30, 420, {"power": ["1600W", "1875W", "2000W"],
                             "technology": ["ionic", "ceramic", "tourmaline"],
                             "color": ["black", "rose gold", "white"]}),
    ("Hammock", 30, 220, {"type": ["single", "double"], "material": ["cotton", "nylon",
                                                                     "polyester rope"],
                          "stand": ["included", "not included"]}),
    ("Handbag", 60, 900, {"style": ["tote", "crossbody", "satchel", "clutch"],
                          "material": ["leather", "canvas", "vegan leather"],
                          "color": ["black", "tan", "burgundy"]}),
    ("Ice Skates", 60, 420, {"size": ["6", "7", "8", "9", "10", "11"],
                             "type": ["figure", "hockey"], "color": ["white", "black"]}),
    ("Inflatable Kayak", 150, 900, {"seats": ["1", "2"], "length": ["9 ft", "10 ft", "12 ft"],
                                    "color": ["yellow", "orange", "blue"]}),
    ("Kitchen Scale", 12, 95, {"capacity": ["5 kg", "10 kg", "15 kg"],
                               "precision": ["0.1 g", "1 g"],
                               "finish": ["glass", "stainless steel", "bamboo"]}),
    ("Knife Set", 45, 600, {"pieces": ["3", "7", "14"],
                            "steel": ["German steel", "Japanese steel", "ceramic"],
                            "block": ["wood", "magnetic", "none"]}),
    ("Lunch Box", 10, 60, {"style": ["bento", "insulated bag", "stackable"],
                           "material": ["stainless steel", "plastic", "glass"],
                           "color": ["green", "pink", "grey", "navy"]}),
    ("Massage Gun", 60, 480, {"speeds": ["5", "20", "30"],
                              "attachments": ["4", "6", "10"],
                              "color": ["black", "grey", "sky blue"]}),
    ("Microwave Oven", 80, 450, {"capacity": ["0.7 cu ft", "1.1 cu ft", "1.6 cu ft"],
                                 "power": ["700W", "1000W", "1200W"],
                                 "finish": ["black", "stainless steel", "white"]}),
    ("Computer Monitor", 110, 1300, {"size": ["24 inch", "27 inch", "32 inch", "34 inch"],
                                     "resolution": ["1080p", "1440p", "4K"],
                                     "refresh rate": ["60Hz", "144Hz", "240Hz"]}),
    ("Picture Frame", 10, 85, {"size": ["4x6", "5x7", "8x10", "11x14"],
                               "material": ["wood", "metal", "acrylic"],
                               "color": ["black", "white", "oak", "gold"]}),
    ("Pillow", 20, 140, {"fill": ["memory foam", "down", "down alternative", "latex"],
                         "size": ["standard", "queen", "king"],
                         "firmness": ["soft", "medium", "firm"]}),
    ("Plant Pot", 8, 120, {"diameter": ["4 inch", "8 inch", "12 inch"],
                           "material": ["terracotta", "ceramic", "concrete", "fiberglass"],
                           "drainage": ["yes", "no"]}),
    ("Rain Jacket", 50, 380, {"size": ["XS", "S", "M", "L", "XL"],
                              "color": ["yellow", "navy", "forest green", "black"],
                              "hood": ["fixed", "packable"]}),
    ("Record Player", 80, 800, {"drive": ["belt", "direct"],
                                "speakers": ["built-in", "none"],
                                "finish": ["walnut", "black", "white"]}),
    ("Robot Vacuum", 150, 1100, {"navigation": ["gyroscope", "lidar", "camera"],
                                 "mopping": ["yes", "no"],
                                 "self-emptying": ["yes", "no"]}),
    ("Rowing Machine", 220, 1500, {"resistance": ["air", "water", "magnetic"],
                                   "folding": ["yes", "no"], "monitor": ["basic", "smart"]}),
    ("Scarf", 15, 160, {"material": ["wool", "cashmere", "silk", "cotton"],
                        "pattern": ["solid", "plaid", "striped"],
                        "color": ["camel", "grey", "burgundy", "navy"]}),
    ("Sewing Machine", 110, 900, {"type": ["mechanical", "computerized"],
                                  "stitches": ["23", "60", "200"],
                                  "color": ["white", "pink", "teal"]}),
    ("Sleeping Bag", 40, 420, {"temperature rating": ["50F", "30F", "15F", "0F"],
                               "fill": ["down", "synthetic"], "shape": ["mummy",
                                                                       "rectangular"]}),
    ("Slow Cooker", 35, 190, {"capacity": ["4 qt", "6 qt", "8 qt"],
                              "control": ["manual", "programmable"],
                              "color": ["black", "stainless steel", "red"]}),
    ("Snowboard", 200, 850, {"length": ["148 cm", "152 cm", "156 cm", "160 cm"],
                             "profile": ["camber", "rocker", "hybrid"],
                             "flex": ["soft", "medium", "stiff"]}),
    ("Soundbar", 90, 1200, {"channels": ["2.0", "3.1", "5.1", "7.1"],
                            "subwoofer": ["wireless", "none"],
                            "color": ["black", "white"]}),
    ("Standing Desk", 250, 1100, {"top size": ["48 x 24 inch", "60 x 30 inch", "72 x 30 inch"],
                                  "frame": ["single motor", "dual motor"],
                                  "finish": ["walnut", "white", "black", "oak"]}),
    ("Stand Mixer", 120, 750, {"bowl size": ["4.5 qt", "5 qt", "6 qt"],
                               "power": ["300W", "500W", "1000W"],
                               "color": ["red", "cream", "black", "sage"]}),
    ("Suitcase", 70, 650, {"size": ["carry-on", "medium", "large"],
                           "shell": ["hard", "soft"],
                           "color": ["black", "navy", "silver", "coral"]}),
    ("Swim Goggles", 10, 70, {"lens": ["clear", "tinted", "mirrored", "prescription"],
                              "fit": ["adult", "junior"], "strap": ["silicone", "bungee"]}),
    ("Table Lamp", 25, 260, {"shade": ["linen", "glass", "metal", "paper"],
                             "base": ["ceramic", "brass", "wood"],
                             "switch": ["touch", "pull chain", "inline"]}),
    ("Tennis Racket", 45, 320, {"head size": ["98 sq in", "100 sq in", "105 sq in"],
                                "weight": ["270g", "285g", "300g", "315g"],
                                "grip size": ["2", "3", "4"]}),
    ("Toaster", 25, 300, {"slots": ["2", "4"], "finish": ["stainless steel", "matte black",
                                                        "cream", "red"],
                          "wide slots": ["yes", "no"]}),
    ("Trail Running Shoes", 80, 260, {"size": ["6", "7", "8", "9", "10", "11", "12"],
                                      "drop": ["0 mm", "4 mm", "8 mm"],
                                      "waterproof": ["yes", "no"]}),
    ("Travel Mug", 10, 55, {"capacity": ["12 oz", "16 oz", "20 oz"],
                            "lid": ["slider", "flip", "straw"],
                            "color": ["black", "white", "teal", "orange"]}),
    ("Webcam", 30, 330, {"resolution": ["720p", "1080p", "4K"],
                         "microphone": ["mono", "stereo"], "privacy shutter": ["yes", "no"]}),
    ("Weighted Blanket", 50, 280, {"weight": ["10 lb", "15 lb", "20 lb", "25 lb"],
                                   "size": ["throw", "queen"],
                                   "cover": ["minky", "cotton", "cooling bamboo"]}),
    ("Wine Glasses", 20, 180, {"type": ["red", "white", "universal", "stemless"],
                               "count": ["2", "4", "6", "8"],
                               "material": ["glass", "crystal"]}),
    ("Wireless Router", 60, 500, {"standard": ["Wi-Fi 5", "Wi-Fi 6", "Wi-Fi 6E", "Wi-Fi 7"],
                                  "mesh": ["yes", "no"], "ports": ["4", "8"]}),
    ("Wool Sweater", 45, 300, {"size": ["S", "M", "L", "XL"],
                               "neck": ["crew", "v-neck", "turtleneck"],
                               "color": ["oatmeal", "charcoal", "forest", "rust"]}),
]

STATUS_WEIGHTS = [
    ("pending", 34), ("processed", 10), ("delivered", 30), ("cancelled", 9),
    ("return requested", 6), ("exchange requested", 6), ("pending (item modified)", 5),
]
CANCEL_REASONS = ["no longer needed", "ordered by mistake"]


class _Ids:
    """Unique random digit strings: product, item, payment, order and tracking ids."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def digits(self, n: int) -> str:
        while True:
            value = str(self.rng.randrange(10 ** (n - 1), 10 ** n))
            if value not in self.used:
                self.used.add(value)
                return value


def _products(rng: random.Random, ids: _Ids, count: int) -> dict[str, Any]:
    products: dict[str, Any] = {}
    for index in range(count):
        name, low, high, options = CATALOGUE[index % len(CATALOGUE)]
        if index >= len(CATALOGUE):  # more products than types: numbered product lines
            name = f"{name} {index // len(CATALOGUE) + 1}"
        combos = list(itertools.product(*options.values()))
        rng.shuffle(combos)
        chosen = combos[: min(len(combos), rng.randint(5, 18))]
        availability = [rng.random() < 0.65 for _ in chosen]
        # at least two items to switch between and one sold out, whatever the dice say
        availability[0], availability[1], availability[-1] = True, True, False
        product_id = ids.digits(10)
        variants = {}
        for combo, available in zip(chosen, availability, strict=True):
            item_id = ids.digits(10)
            variants[item_id] = {
                "item_id": item_id,
                "options": dict(zip(options, combo, strict=True)),
                "available": available,
                "price": round(rng.uniform(low, high), 2),
            }
        products[product_id] = {"name": name, "product_id": product_id, "variants": variants}
    return products


def _address(rng: random.Random) -> dict[str, str]:
    city, state, prefix = rng.choice(CITIES)
    unit = rng.choice(["Suite", "Suite", "Apt", "Unit"])
    return {
        "address1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
        "address2": f"{unit} {rng.randint(100, 999)}" if rng.random() < 0.85 else "",
        "city": city,
        "country": "USA",
        "state": state,
        "zip": prefix + str(rng.randint(0, 99)).zfill(2),
    }


def _payment_methods(rng: random.Random, ids: _Ids) -> dict[str, Any]:
    kinds = rng.choice([
        ["credit_card"], ["paypal"], ["gift_card"], ["credit_card", "paypal"],
        ["credit_card", "gift_card"], ["paypal", "gift_card"],
        ["credit_card", "paypal", "gift_card"], ["credit_card", "credit_card"],
        ["credit_card", "credit_card", "gift_card"],
    ])
    methods: dict[str, Any] = {}
    for kind in kinds:
        method_id = f"{kind}_{ids.digits(7)}"
        if kind == "credit_card":
            methods[method_id] = {"source": kind, "brand": rng.choice(["visa", "mastercard"]),
                                  "last_four": str(rng.randrange(10_000)).zfill(4),
                                  "id": method_id}
        elif kind == "gift_card":
            methods[method_id] = {"source": kind, "balance": rng.randint(0, 150), "id": method_id}
        else:
            methods[method_id] = {"source": kind, "id": method_id}
    return methods


def _users(rng: random.Random, ids: _Ids, count: int) -> dict[str, Any]:
    users: dict[str, Any] = {}
    seen_people: set[tuple[str, str, str]] = set()
    emails: set[str] = set()
    for _ in range(count):
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            address = _address(rng)
            person = (first.lower(), last.lower(), address["zip"])
            user_id = f"{first.lower()}_{last.lower()}_{rng.randint(1000, 9999)}"
            email = f"{first.lower()}.{last.lower()}{rng.randint(1000, 9999)}@example.com"
            # name + zip, the user id and the email must each identify one user
            if person not in seen_people and user_id not in users and email not in emails:
                seen_people.add(person)
                emails.add(email)
                break
        users[user_id] = {
            "name": {"first_name": first, "last_name": last},
            "address": address,
            "email": email,
            "payment_methods": _payment_methods(rng, ids),
            "orders": [],
        }
    return users


def _other_variant(rng: random.Random, product: dict[str, Any], item_id: str) -> str:
    """An available item of the same product other than ``item_id``."""
    choices = [v for v, var in product["variants"].items() if var["available"] and v != item_id]
    return rng.choice(choices)


def _pick_items(rng: random.Random, products: dict[str, Any],
                product_ids: list[str]) -> list[dict[str, Any]]:
    items = []
    # an order may hold the same product, even the same item, more than once
    for product_id in rng.choices(product_ids, k=rng.randint(1, 5)):
        product = products[product_id]
        item_id = rng.choice(list(product["variants"]))
        variant = product["variants"][item_id]
        items.append({"name": product["name"], "product_id": product_id, "item_id": item_id,
                      "price": variant["price"], "options": dict(variant["options"])})
    return items


def _fulfillments(rng: random.Random, ids: _Ids, items: list[dict[str, Any]]) -> list[Any]:
    item_ids = [item["item_id"] for item in items]
    if len(item_ids) > 1 and rng.random() < 0.15:  # shipped in two parcels
        cut = rng.randint(1, len(item_ids) - 1)
        groups = [item_ids[:cut], item_ids[cut:]]
    else:
        groups = [item_ids]
    return [{"tracking_id": [ids.digits(12)], "item_ids": group} for group in groups]


def _order(rng: random.Random, ids: _Ids, order_id: str, user_id: str, user: dict[str, Any],
           products: dict[str, Any], product_ids: list[str]) -> dict[str, Any]:
    statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
    status = rng.choices(statuses, weights)[0]
    items = _pick_items(rng, products, product_ids)
    methods = list(user["payment_methods"])
    gift_cards = [m for m in methods if m.startswith("gift_card")]
    paid_with = rng.choice(methods)
    amount = round(sum(item["price"] for item in items), 2)
    order: dict[str, Any] = {
        "order_id": order_id,
        "user_id": user_id,
        # a fifth of the orders went to an address the user no longer has on file
        "address": dict(user["address"]) if rng.random() < 0.8 else _address(rng),
        "items": items,
        "fulfillments": [] if status.startswith("pending") else _fulfillments(rng, ids, items),
        "status": status,
        "payment_history": [{"transaction_type": "payment", "amount": amount,
                             "payment_method_id": paid_with}],
    }
    if status == "cancelled":
        order["payment_history"].append({"transaction_type": "refund", "amount": amount,
                                         "payment_method_id": paid_with})
        order["cancel_reason"] = rng.choice(CANCEL_REASONS)
    elif status == "return requested":
        chosen = rng.sample(items, rng.randint(1, len(items)))
        order["return_items"] = sorted(item["item_id"] for item in chosen)
        order["return_payment_method_id"] = rng.choice([paid_with, *gift_cards])
    elif status == "exchange requested":
        chosen = rng.sample(items, rng.randint(1, len(items)))
        new_ids = [_other_variant(rng, products[i["product_id"]], i["item_id"]) for i in chosen]
        difference = 0
        for item, new_id in zip(chosen, new_ids, strict=True):  # the exchange tool's arithmetic
            difference += products[item["product_id"]]["variants"][new_id]["price"] - item["price"]
        order["exchange_items"] = sorted(item["item_id"] for item in chosen)
        order["exchange_new_items"] = sorted(new_ids)
        order["exchange_payment_method_id"] = rng.choice(methods)
        order["exchange_price_difference"] = round(difference, 2)
    elif status == "pending (item modified)":
        difference = 0
        for item in rng.sample(items, rng.randint(1, len(items))):  # the modify tool's steps
            product = products[item["product_id"]]
            new_id = _other_variant(rng, product, item["item_id"])
            variant = product["variants"][new_id]
            difference += variant["price"] - item["price"]
            item.update(item_id=new_id, price=variant["price"], options=dict(variant["options"]))
        # paid or refunded on a card or PayPal, so no gift-card balance moves
        settled = rng.choice([m for m in methods if not m.startswith("gift_card")] or [paid_with])
        order["payment_history"].append({
            "transaction_type": "payment" if difference > 0 else "refund",
            "amount": abs(difference),
            "payment_method_id": settled,
        })
    return order


def generate(seed: int = 0, users: int = 500, orders: int = 1000,
             products: int = 50) -> dict[str, dict]:
    """A retail database in τ-bench's schema: ``{"orders", "products", "users"}`` tables.

    Args:
        seed: Seed of the one random generator used; same seed, same data.
        users: Number of users.
        orders: Number of orders, spread over random users (some users have none).
        products: Number of product types (the catalogue repeats as numbered lines past
            its size).
    """
    if users < 1 or products < 1 or orders < 0:
        raise ValueError("need at least one user and one product, and no negative counts")
    rng = random.Random(seed)
    ids = _Ids(rng)
    product_table = _products(rng, ids, products)
    user_table = _users(rng, ids, users)
    product_ids = list(product_table)
    user_ids = list(user_table)
    order_table: dict[str, Any] = {}
    for _ in range(orders):
        order_id = "#W" + ids.digits(7)
        user_id = rng.choice(user_ids)
        user = user_table[user_id]
        order_table[order_id] = _order(rng, ids, order_id, user_id, user, product_table,
                                       product_ids)
        user["orders"].append(order_id)
    return {"orders": order_table, "products": product_table, "users": user_table}
