"""Prompt templates live in this folder as files; this module loads and fills them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

# Markers the prompts define and every reader of a reply shares (the pipeline's code, a
# real model's answer, the offline sim): the drafter's context block opens with the fence;
# a simulated customer ends the conversation with STOP, or answers UNREADABLE (and why)
# when its instruction makes no sense to it.
CONTEXT_FENCE = "```json context"
STOP = "###STOP###"
UNREADABLE = "###UNREADABLE###"

_HEADER = re.compile(r"<!--\s*role:\s*([\w.-]+)\s+(v\d+)\s*-->")


@dataclass(frozen=True)
class Prompt:
    """A template with the role marker and version from its first line."""

    name: str
    role: str
    version: str
    text: str

    @property
    def tag(self) -> str:
        """``name@version+hash`` recorded in provenance; changes when the file changes."""
        digest = hashlib.sha256(self.text.encode()).hexdigest()[:8]
        return f"{self.name}@{self.version}+{digest}"

    def render(self, **values: str) -> str:
        """Fill ``$name`` placeholders (JSON braces in the text are left alone)."""
        return Template(self.text).safe_substitute(**values)


@cache
def load_prompt(name: str) -> Prompt:
    """Load ``<name>.md`` from this package."""
    text = resources.files(__package__).joinpath(f"{name}.md").read_text()
    match = _HEADER.search(text.splitlines()[0] if text else "")
    if not match:
        raise ValueError(f"prompt {name}.md must start with '<!-- role: NAME vN -->'")
    return Prompt(name=name, role=match.group(1), version=match.group(2), text=text)
