"""Reading JSON objects out of model replies (fences, prose around them)."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class ReplyError(ValueError):
    """The reply holds no usable JSON object; the message is sent back to the model."""


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The first JSON object in ``text``; fenced blocks are tried first."""
    if not text or not text.strip():
        raise ReplyError("the reply was empty; answer with one JSON object")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    last_error = "no JSON object found"
    for chunk in candidates:
        start = chunk.find("{")
        while start != -1:
            try:
                value, _ = json.JSONDecoder().raw_decode(chunk[start:])
            except json.JSONDecodeError as exc:
                last_error = f"invalid JSON at character {start + exc.pos}: {exc.msg}"
                start = chunk.find("{", start + 1)
                continue
            if isinstance(value, dict):
                return value
            start = chunk.find("{", start + 1)
    raise ReplyError(f"could not read a JSON object from the reply ({last_error})")
