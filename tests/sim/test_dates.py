"""Dates said in words by the sim customer come back exactly as the sim agent hears them."""

from __future__ import annotations

import random

from apigen_mt.sim.dates import iso_dates, present_date, say_date
from apigen_mt.sim.itinerary import plain_travel
from apigen_mt.sim.wording import spoken

PROMPT = "# Desk policy\n\nTreat the present moment as 15:00 EST on 15 May 2024.\n"


def test_present_moment_read_from_prompt_in_words_or_iso() -> None:
    assert present_date(PROMPT).isoformat() == "2024-05-15"
    assert present_date("The current time is 2024-05-15 15:00:00 EST.").isoformat() == \
        "2024-05-15"
    assert present_date("No date here.") is None


def test_every_spoken_flight_and_birth_date_is_heard_back() -> None:
    today = present_date(PROMPT)
    value = "flight number HAT030, date 2024-05-25; flight number HAT112, date 2024-06-01"
    birth = "Keiko Rasmussen, born 1975-08-16; Ann Lee, born 1990-11-03"
    forms_seen = set()
    for seed in range(200):
        rng = random.Random(seed)
        said = spoken(value, rng)
        forms_seen.add(said)
        if said == value:  # at times the record is read out as written
            continue
        assert "2024" not in said  # a trip's date is said without its year
        assert plain_travel(iso_dates(said, today), today) == \
            "HAT030 on 2024-05-25; HAT112 on 2024-06-01"
        # a birth date keeps its year
        assert plain_travel(iso_dates(spoken(birth, rng), None), None) == birth
    assert len(forms_seen) >= 4


def test_year_left_out_needs_a_present_moment() -> None:
    said = "HAT030 on " + say_date("2024-05-25", "{M} {o}")
    assert said == "HAT030 on May 25th"
    assert iso_dates(said, None) == said  # no present moment known: left as heard
    # the nearest year to the present moment: a late-December date read in early January
    assert iso_dates("December 30", present_date("on 2 January 2025")) == "2024-12-30"
