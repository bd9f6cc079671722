"""The sim's phrase banks (``phrases.json``), read once for every module that speaks or
listens: the customer, its sentence parts, the agent and the drafter's places."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

PHRASES: dict[str, Any] = json.loads(
    resources.files("apigen_mt.sim").joinpath("phrases.json").read_text())
