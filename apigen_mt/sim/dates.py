"""Dates as people say them, and back.

The sim customer reads ``2024-05-24`` in its instruction and says "May 24th", "the 24th
of May" or "Friday, May 24"; a travel date without its year, the way people speak of a
trip weeks away, a birth date with it. The sim agent turns what it hears back into
``YYYY-MM-DD``: a date said without a year takes the year that puts it nearest the present
moment its own system prompt gives ("Treat the present moment as 15:00 EST on 15 May
2024"), as a desk clerk would. No present moment in the prompt: the date stays as heard.
"""

from __future__ import annotations

import datetime as dt
import random
import re

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")

_MONTH = "(" + "|".join(MONTHS) + ")"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_WEEKDAY = "(?:(?:" + "|".join(DAYS) + r"),? )?"
# "Friday, May 24th, 2024" / "the 24th of May 2024" / "24 May 2024": month, day, year groups
_SAID = [
    (re.compile(rf"\b{_WEEKDAY}{_MONTH} {_DAY}\b(?:,? (\d{{4}})\b)?"), (1, 2, 3)),
    (re.compile(rf"\b{_WEEKDAY}the {_DAY} of {_MONTH}\b(?:,? (\d{{4}})\b)?"), (2, 1, 3)),
    (re.compile(rf"\b{_WEEKDAY}{_DAY} {_MONTH}\b(?:,? (\d{{4}})\b)?"), (2, 1, 3)),
]
# without the year (a trip's date) and with it (a birth date)
_FORMS = ["{M} {d}", "{M} {o}", "the {o} of {M}", "{W}, {M} {d}", "{W} the {o} of {M}",
          "{d} {M}"]
_FORMS_YEAR = ["{M} {d}, {Y}", "{d} {M} {Y}", "the {o} of {M} {Y}", "{M} {o}, {Y}"]


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def date_form(rng: random.Random, with_year: bool) -> str:
    """One way of saying a date (a template for :func:`say_date`)."""
    return rng.choice(_FORMS_YEAR if with_year else _FORMS)


def say_date(iso: str, form: str) -> str:
    """``2024-05-24`` in ``form`` ("{W}, {M} {d}" → "Friday, May 24"); as written when it is
    no date."""
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return iso
    return form.format(M=MONTHS[day.month - 1], d=day.day, o=_ordinal(day.day),
                       W=DAYS[day.weekday()], Y=day.year)


def present_date(text: str) -> dt.date | None:
    """The first date written in ``text`` with its year (ISO or in words)."""
    found = ISO.search(text)
    best = None
    if found:
        try:
            best = (found.start(), dt.date(*map(int, found.groups())))
        except ValueError:
            best = None
    for pattern, (m, d, y) in _SAID:
        for hit in pattern.finditer(text):
            if hit.group(y) is None:
                continue
            try:
                day = dt.date(int(hit.group(y)), MONTHS.index(hit.group(m)) + 1,
                              int(hit.group(d)))
            except ValueError:
                continue
            if best is None or hit.start() < best[0]:
                best = (hit.start(), day)
            break
    return best[1] if best else None


def _nearest(month: int, day: int, today: dt.date) -> dt.date | None:
    options = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            options.append(dt.date(year, month, day))
        except ValueError:
            continue
    return min(options, key=lambda d: abs((d - today).days), default=None)


def iso_dates(text: str, today: dt.date | None) -> str:
    """Every date said in words written ``YYYY-MM-DD`` (a year left out taken from
    ``today``; without ``today`` such a date is left as said)."""
    def repl(hit: re.Match, groups: tuple[int, int, int]) -> str:
        m, d, y = groups
        month, day = MONTHS.index(hit.group(m)) + 1, int(hit.group(d))
        try:
            if hit.group(y):
                return dt.date(int(hit.group(y)), month, day).isoformat()
        except ValueError:
            return hit.group(0)
        if today is None:
            return hit.group(0)
        found = _nearest(month, day, today)
        return found.isoformat() if found else hit.group(0)

    for pattern, groups in _SAID:
        text = pattern.sub(lambda hit, g=groups: repl(hit, g), text)
    return text
