"""How the offline ``sim`` plays the batched critic (``critic_batch.md``).

It reads the one request it is given, splits it into the instruction, the conversation
and the candidates, and scores each candidate as the single-candidate sim critic would
score it alone (that handler is the one place the sim's judgement lives). Flaw
``critic.bad_batch`` (default 0.02): one score is left out, so the role's retry path
is exercised by offline runs too.
"""

from __future__ import annotations

import json
import random
import re

from apigen_mt.prompts import load_prompt
from apigen_mt.sim.customer import critic as single_critic
from apigen_mt.sim.request import SimReply, SimRequest, content_text

DEFAULT_BAD_BATCH = 0.02
_CANDIDATE = re.compile(r"(?:^|\n\n)Candidate (\d+):\n")


def critic_batch(req: SimRequest) -> SimReply:
    """Score every candidate of a batched critic request, in order."""
    first_user = next((content_text(m.get("content")) for m in req.messages
                       if m.get("role") == "user"), "")
    head, _, listed = first_user.partition("\n\nCandidate customer replies")
    listed = listed.split("\n\n", 1)[-1] if listed else ""
    parts = _CANDIDATE.split(listed)
    candidates = [parts[i + 1] for i in range(1, len(parts) - 1, 2)]
    system = load_prompt("critic").render()
    entries = []
    for i, candidate in enumerate(candidates, 1):
        text = f"{head}\n\nCandidate customer reply:\n{candidate}"
        one = SimRequest(role="critic", messages=[{"role": "system", "content": system},
                                                  {"role": "user", "content": text}],
                         tools=None, settings=req.settings,
                         rng=random.Random(req.rng.getrandbits(64)), sim=req.sim,
                         perfect=req.perfect)
        verdict = json.loads(single_critic(one).text or "{}")
        entries.append({"candidate": i, "score": verdict.get("score", 0),
                        "reason": verdict.get("reason", "")})
    retried = len(req.messages) > 2  # a correction was asked for: answer it properly
    if entries and not retried and req.chance("critic.bad_batch", DEFAULT_BAD_BATCH):
        entries.pop(req.rng.randrange(len(entries)))
    return SimReply(text=json.dumps({"scores": entries}))

