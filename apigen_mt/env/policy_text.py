"""Pick the sections of a markdown policy that bear on some tools (domain-free helper).

A domain maps keywords to tools; a section is kept when its heading holds a keyword of a
tool in play. The text before the first ``## `` heading (the general part) and sections
whose heading matches ``always`` are kept too, so the result reads as a policy.
"""

from __future__ import annotations

import re


def split_sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs; the preamble has heading ''."""
    parts: list[tuple[str, str]] = []
    heading, lines = "", []
    for line in text.splitlines():
        if line.startswith("## "):
            parts.append((heading, "\n".join(lines)))
            heading, lines = line[3:].strip(), []
        lines.append(line)
    parts.append((heading, "\n".join(lines)))
    return [(h, b) for h, b in parts if b.strip()]


def sections_for(text: str, tools: set[str], keywords: dict[str, list[str]],
                 always: list[str] = ()) -> str:
    """The preamble, the ``always`` sections, and those whose heading names a tool in play.

    ``keywords`` maps a heading word (case-insensitive) to the tools it covers. With no
    tools, or when nothing matches, the whole text is returned.
    """
    if not tools:
        return text
    kept, matched = [], False
    for heading, body in split_sections(text):
        low = heading.lower()
        hit = any(re.search(rf"\b{re.escape(word.lower())}", low) and tools & set(names)
                  for word, names in keywords.items())
        matched |= hit
        if not heading or hit or any(a.lower() in low for a in always):
            kept.append(body)
    return "\n".join(kept) if matched else text
