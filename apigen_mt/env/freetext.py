"""Plausible free-text values for string arguments that no record holds: a ticket's
title and description, a post, a file name and its content, a comment, a tag.

A drafter (the walk filler, or the offline sim drafter reading only its prompt) calls
:func:`propose_text` with what a tool's schema says about the argument; the kind of
text comes from the argument's name, then its description, and the theme (a help desk,
a social feed, files, trips) from the tool's name and description. Identifiers and
credentials are never invented (they must come from the data), so for those the answer
is None. The word banks live in ``freetext.json``, next to this module.
"""

from __future__ import annotations

import json
import random
import re
from functools import lru_cache
from importlib import resources
from typing import Any

_NEVER = re.compile(r"(^|_)(id|ids|uuid|key|password|passwd|pin|code|token|secret|username|"
                    r"login|email|phone|handle|account|number)$")
_KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("resolution", ("resolution", "solution", "fix", "remedy", "outcome")),
    ("tags", ("tag", "tags", "label", "labels", "topic", "topics", "category", "keywords")),
    ("query", ("query", "search", "keyword", "term", "contains", "pattern", "filter")),
    ("title", ("title", "subject", "summary", "headline", "caption", "heading")),
    ("folder", ("folder", "directory", "dir", "mkdir")),
    ("file", ("file", "filename", "attachment", "document")),
    ("person", ("person", "contact", "recipient", "full_name", "display_name", "author_name")),
    ("place", ("city", "place", "location", "destination", "address", "where")),
    ("url", ("url", "link", "website", "href")),
    ("text", ("description", "details", "detail", "body", "text", "content", "message", "comment",
              "reply", "note", "notes", "bio", "reason", "feedback", "post",
              "line", "purpose", "explanation")),
]


_PEOPLE = {"payee", "contact", "person", "recipient", "member", "customer", "employee",
           "friend", "owner", "beneficiary", "guest", "passenger", "traveler", "traveller"}


@lru_cache(maxsize=1)
def _banks() -> dict[str, Any]:
    text = resources.files("apigen_mt.env").joinpath("freetext.json").read_text()
    return json.loads(text)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def text_kind(param: str, description: str, tool_name: str) -> str | None:
    """What sort of text an argument holds (``title``, ``text``, ``file``, ``folder``,
    ``tags``, ``person``, ``place``, ``url``, ``query``), or None."""
    name_words = param.lower().split("_")
    for kind, cues in _KINDS:
        if param.lower() in cues or any(w in cues for w in name_words):
            return kind
    if param.lower() in ("name", "new_name", "target", "destination_name"):
        tool_words = set(_words(tool_name))
        described = set(_words(description))
        if tool_words & {"mkdir", "folder", "directory", "dir"} or \
                described & {"folder", "directory"}:
            return "folder"
        if tool_words & {"file", "write", "touch", "rename", "save", "upload"} or \
                described & {"file"}:
            return "file"
        if (tool_words | described) & _PEOPLE:
            return "person"
        return None
    return None  # the description alone is too loose a cue ("the first line of the address")


@lru_cache(maxsize=1024)
def theme_of(tool_name: str, tool_description: str, domain: str = "") -> str:
    """Which bank suits a tool: the theme whose cue words its name and description use
    most (each distinct word counted once, twice for the tool's own words), with the
    environment's description (``domain``) deciding between close themes."""
    tool_words = set(_words(tool_name.replace("_", " ") + " " + tool_description))
    domain_words = set(_words(domain))
    best, score = "generic", 0
    for theme, cues in _banks()["themes"].items():
        def hits(words: set[str], cues: list[str] = cues) -> int:
            return sum(1 for w in words if any(w.startswith(c) for c in cues))
        total = 2 * hits(tool_words) + hits(domain_words)
        if total > score:
            best, score = theme, total
    return best


_CREDENTIAL = re.compile(r"(^|_)(password|passwd|passcode|pin|username|login|handle|email)$")


def is_credential(param: str) -> bool:
    """A value that identifies or authenticates the user (their login, PIN, handle)."""
    return bool(_CREDENTIAL.search(param.lower()))


def is_free_text(param: str) -> bool:
    """Whether a value may be invented for ``param`` (never ids or credentials)."""
    return not _NEVER.search(param.lower())


def propose_text(param: str, description: str, tool_name: str, tool_description: str,
                 rng: random.Random, known: list[str] = (), domain: str = "") -> str | None:
    """A plausible value for a string argument, or None when it must come from data.

    ``known`` are strings seen in the data (a search term is one of their words);
    ``domain`` is what the environment is about (its policy's first lines)."""
    if not is_free_text(param):
        return None
    kind = text_kind(param, description, tool_name)
    if kind is None:
        return None
    banks = _banks()
    theme = theme_of(tool_name, tool_description, domain)
    if kind == "title":
        return rng.choice(banks["titles"].get(theme) or banks["titles"]["generic"])
    if kind == "text":
        pool = banks["sentences"].get(theme) or banks["sentences"]["generic"]
        if any(w in param for w in ("description", "details", "body", "content")) and \
                rng.random() < 0.5:
            first, second = rng.sample(pool, k=2)
            return f"{first} {second}"
        return rng.choice(pool)
    if kind == "resolution":
        return rng.choice(banks["resolutions"])
    if kind == "file":
        return rng.choice(banks["file_names"])
    if kind == "folder":
        return rng.choice(banks["folder_names"])
    if kind == "tags":
        return rng.choice(banks["tags"])
    if kind == "person":
        return rng.choice(banks["people"])
    if kind == "place":
        return rng.choice(banks["places"])
    if kind == "url":
        return f"https://example.com/{rng.choice(banks['tags'])}"
    words = sorted({w for text in known if isinstance(text, str) and " " in text
                    for w in _words(text) if len(w) > 3})
    return rng.choice(words) if words else None


def propose_tags(param: str, rng: random.Random) -> list[str]:
    """One or two tags for a list-of-strings argument such as ``tags``."""
    return rng.sample(_banks()["tags"], k=1 if rng.random() < 0.6 else 2)
