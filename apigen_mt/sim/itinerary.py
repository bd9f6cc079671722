"""Trips as travellers say them, and back: flight lists, passenger lists and bag counts.

The sim customer reads ``flight number HAT165, date 2024-05-18; flight number HAT129, date
2024-05-20; flight number HAT124, date 2024-05-20`` in its instruction and says it the way
people read out an itinerary: the month named once ("HAT165 on May 18th, then HAT129 and
HAT124 on the 20th"), a next-day leg said as such ("HAT031 the day after"). Passengers
come with their birth dates in one of several shapes ("Priya Ueda (born October 24,
1982)", "Nadia Esposito, date of birth 1999-05-10"), small bag counts at times in words.

The sim agent hears all of it back from the conversation text alone
(:func:`plain_travel`): a date said by its day only takes its month and year from the date
said before it in the same list, "the day after" is the day after that one, and every
list is written out plainly ("HAT165 on 2024-05-18; HAT129 on 2024-05-20; …", "Priya Ueda,
born 1982-10-24; …", "3 bags") for the ordinary reading of details.
"""

from __future__ import annotations

import datetime as dt
import random
import re

from apigen_mt.sim.dates import DAYS, date_form, say_date

# ------------------------------------------------------------------------ flights

_FLIGHT = r"[A-Z]{2,3}\d{1,4}"
_ISO = r"\d{4}-\d{2}-\d{2}"
_WEEKDAY = "(?:" + "|".join(DAYS) + ")"
_NEXT_DAY = ("the day after", "the next day", "a day later", "the following day")
# a list's first date said whole: short shapes mostly, as people read dates out
_LIST_DATES = ("{M} {d}", "{M} {o}", "{d} {M}", "{M} {o}", "the {o} of {M}", "{W}, {M} {d}")
_DAY_ONLY = ("the {o}", "the {o}", "{W} the {o}")  # a day inside the month already named
# between the legs of a list flown on different days
_THEN = ("; ", ", then ", " and then ", ", and ", ", ", "; then ")


def _legs_said(flights: list[str]) -> str:
    return flights[0] if len(flights) == 1 else ", ".join(flights[:-1]) + " and " + flights[-1]


def say_flights(legs: list[tuple[str, str]], rng: random.Random) -> str:
    """``[("HAT165", "2024-05-18"), ("HAT129", "2024-05-20"), ("HAT124", "2024-05-20")]``
    as a traveller reads it out: legs of one day said together, the month named once, a
    next-day leg at times said as such; dates without their year."""
    form = rng.choice(_LIST_DATES)  # one way of saying dates per list, as people do
    try:
        days = [dt.date.fromisoformat(iso) for _, iso in legs]
    except ValueError:
        days = []
    on = " on " if rng.random() < 0.7 else " "  # "HAT165 May 18th", as an itinerary reads
    if not days or len(legs) == 1 or rng.random() < 0.06:  # each leg with its whole date
        return "; ".join(f"{f}{on}{say_date(iso, form)}" for f, iso in legs)
    groups: list[tuple[list[str], str, dt.date]] = []
    for (flight, iso), day in zip(legs, days, strict=True):
        if groups and groups[-1][2] == day:
            groups[-1][0].append(flight)
        else:
            groups.append(([flight], iso, day))
    day_form = rng.choice(_DAY_ONLY)
    said: list[str] = []
    previous: dt.date | None = None
    for flights, iso, day in groups:
        if previous and day == previous + dt.timedelta(days=1) and rng.random() < 0.45:
            when = " " + rng.choice(_NEXT_DAY)
        elif previous and (day.year, day.month) == (previous.year, previous.month) \
                and rng.random() < 0.85:
            when = (on if rng.random() < 0.6 else " ") + say_date(iso, day_form)  # "HAT2 the 20th"
        else:
            when = on + say_date(iso, form)
        names = _legs_said(flights)
        if len(flights) > 1 and when.startswith(" on ") and rng.random() < 0.4:
            names += ", both" if len(flights) == 2 else ", all"
        part = names + when
        said.append(part if not said else rng.choice(_THEN) + part)
        previous = day
    return "".join(said)


_WHEN = (rf"(?:(?: on)? (?P<iso>{_ISO})|(?: on)? (?:{_WEEKDAY},? )?the "
         rf"(?P<day>\d{{1,2}})(?:st|nd|rd|th)\b(?! of)| (?P<next>{'|'.join(_NEXT_DAY)}))")
_LEG = re.compile(rf"(?P<flights>{_FLIGHT}(?:(?:, | and ){_FLIGHT})*)(?:, (?:both|all))?"
                  + _WHEN)
_LEG_PLAIN = re.sub(r"\(\?P<\w+>", "(?:", _LEG.pattern)
_SEPARATORS = "|".join(map(re.escape, _THEN))
_LEG_LIST = re.compile(rf"(?<![\w-]){_LEG_PLAIN}(?:(?:{_SEPARATORS}){_LEG_PLAIN})*")


def _day_in(month_of: dt.date, day: int) -> dt.date | None:
    try:
        return month_of.replace(day=day)
    except ValueError:
        return None


def _flights_plain(said: str, today: dt.date | None) -> str:
    """One spoken list of legs written ``F on YYYY-MM-DD; …``; as said when a day cannot
    be placed."""
    out: list[str] = []
    previous: dt.date | None = None
    for leg in _LEG.finditer(said):
        if leg.group("iso"):
            try:
                day = dt.date.fromisoformat(leg.group("iso"))
            except ValueError:
                return said
        elif leg.group("day"):  # month and year from the date before it in the list
            anchor = previous or today
            found = _day_in(anchor, int(leg.group("day"))) if anchor else None
            if found is None:
                return said
            day = found
        else:
            if previous is None:
                return said
            day = previous + dt.timedelta(days=1)
        out.extend(f"{f} on {day.isoformat()}" for f in re.findall(_FLIGHT, leg.group("flights")))
        previous = day
    return "; ".join(out) if out else said


# ------------------------------------------------------------------------ passengers

_PERSON_SAID = re.compile(r"([A-Z][\w'-]* [A-Z][\w'-]*), born (\d{4}-\d{2}-\d{2})")
# how one traveller and their birth date are given ({n} the name, {d} the date)
_PERSON_FORMS = ("{n}, born {d}", "{n}, born {d}", "{n} (born {d})", "{n}, {d}", "{n}, {d}",
                 "{n}, birthday {d}", "{n}, DOB {d}", "{n} ({d})")


def say_people(value: str, rng: random.Random) -> str | None:
    """``Priya Ueda, born 1982-10-24; Nadia Esposito, born 1999-05-10`` as a traveller
    lists people: one shape for every person, birth dates in words or as written, the
    last at times joined by "and"; None when the value is no such list."""
    people = [_PERSON_SAID.fullmatch(p) for p in value.split("; ")]
    if not all(people):
        return None
    form = rng.choice(_PERSON_FORMS)
    dates = date_form(rng, with_year=True) if rng.random() < 0.75 else ""
    said = [form.format(n=m.group(1), d=say_date(m.group(2), dates) if dates else m.group(2))
            for m in people if m]
    if len(said) > 1 and rng.random() < 0.4:
        return "; ".join(said[:-1]) + rng.choice((" and ", "; and ")) + said[-1]
    return "; ".join(said)


_PERSON = (r"(?P<name>[A-Z][\w'-]* [A-Z][\w'-]*)(?:, | \()(?:born on |born |date of birth |"
           rf"birthday |DOB )?(?P<dob>{_ISO})\)?")
_PERSON_ONE = re.compile(_PERSON)
_PERSON_PLAIN = re.sub(r"\(\?P<\w+>", "(?:", _PERSON)
_PEOPLE = re.compile(rf"(?<![\w-]){_PERSON_PLAIN}(?:(?:; and |; |, and | and ){_PERSON_PLAIN})*")


def _people_plain(said: str) -> str:
    return "; ".join(f"{m.group('name')}, born {m.group('dob')}"
                     for m in _PERSON_ONE.finditer(said))


# ------------------------------------------------------------------------ bag counts

COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def say_count(value: str, rng: random.Random) -> str | None:
    """A small count ("3") at times said in words ("three"); None for anything else."""
    if re.fullmatch(r"[1-9]", value) and rng.random() < 0.35:
        return COUNTS[int(value)]
    return None


def bag_counts(total: str, paid: str, rng: random.Random) -> tuple[str, str]:
    """Bags in all and bags paid as said in one breath: "three", "one"; every bag paid
    said as "both" or "all" ("two bags, both paid"); "none" as it is."""
    if paid == total and total not in ("0", "1", "none") and rng.random() < 0.6:
        paid = "both" if total == "2" else "all"
    return say_count(total, rng) or total, say_count(paid, rng) or paid


def count_of(text: str) -> str | None:
    """``three`` → ``3`` (a count said in words); None when it is none."""
    low = text.strip().rstrip(".!").lower()
    return str(COUNTS.index(low)) if low in COUNTS else None


# a count in words said of bags or of some of them ("three bags", "two of them paid"); "zero
# bags" is how some say they have none (read as such)
_COUNTED = re.compile(r"\b(" + "|".join(COUNTS[1:]) + r")(?= (?:checked |paid |more )?(?:bags?|"
                      r"suitcases?|pieces? of luggage)\b| of (?:them|those|the bags)\b| paid\b)",
                      re.IGNORECASE)


def plain_travel(text: str, today: dt.date | None) -> str:
    """What a traveller said, with its lists and counts written plainly (after
    :func:`~apigen_mt.sim.dates.iso_dates` has written its whole dates ``YYYY-MM-DD``)."""
    text = _LEG_LIST.sub(lambda m: _flights_plain(m.group(0), today), text)
    text = _PEOPLE.sub(lambda m: _people_plain(m.group(0)), text)
    return plain_counts(text)


def plain_counts(text: str) -> str:
    """Bag counts said in words written in digits ("Three bags, two paid" → "3 bags, 2
    paid")."""
    return _COUNTED.sub(lambda m: str(COUNTS.index(m.group(1).lower())), text)
