"""The simulated human: sees only its instruction, answers one line at a time.

Stabilised by best-of-N: N candidate replies are sampled, a critic scores them 0–10 for
faithfulness to the instruction, and the best one is sent (N=1 turns it off).

Cost: the N candidates come from one request with ``n=N`` where the endpoint supports it
(the prompt is paid once; otherwise one request per candidate), and by default one
critic request scores all distinct candidates together (``critic: batched``). The
paper's critic, one request per candidate, is ``critic: each``. When every candidate is
the same text there is nothing to choose and no critic request is made.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from apigen_mt.blueprint.replies import ReplyError, parse_json_object
from apigen_mt.llm.base import ChatModel, Settings, complete_n
from apigen_mt.prompts import load_prompt

TRANSCRIPT_TURNS = 8  # the critic sees the last turns only: enough to judge one reply


def human_view(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as the human sees it: agent text as 'user', its own as 'assistant'.

    Tool calls and tool results are invisible to the human.
    """
    out = []
    for m in conversation:
        if m["role"] == "assistant" and m.get("content"):
            out.append({"role": "user", "content": m["content"]})
        elif m["role"] == "user":
            out.append({"role": "assistant", "content": m["content"]})
    return out


def _transcript(view: list[dict[str, Any]]) -> str:
    return "\n".join(f"{'agent' if m['role'] == 'user' else 'customer'}: {m['content']}"
                     for m in view[-TRANSCRIPT_TURNS:])


def critic_messages(instruction: str, view: list[dict[str, Any]],
                    candidate: str) -> list[dict[str, Any]]:
    """The critic's prompt for one candidate reply (``critic: each``)."""
    user = (f"Instruction:\n{instruction}\n\nConversation so far:\n{_transcript(view)}\n\n"
            f"Candidate customer reply:\n{candidate}")
    return [{"role": "system", "content": load_prompt("critic").render()},
            {"role": "user", "content": user}]


def batch_critic_messages(instruction: str, view: list[dict[str, Any]],
                          candidates: list[str]) -> list[dict[str, Any]]:
    """The critic's prompt scoring several candidates at once (``critic: batched``).

    Stable parts first (the rules, then the instruction, then the conversation), so a
    provider's prefix cache serves what earlier requests of the episode already sent.
    """
    listed = "\n\n".join(f"Candidate {i}:\n{c}" for i, c in enumerate(candidates, 1))
    user = (f"Instruction:\n{instruction}\n\nConversation so far:\n{_transcript(view)}\n\n"
            f"Candidate customer replies ({len(candidates)}):\n\n{listed}")
    return [{"role": "system", "content": load_prompt("critic_batch").render()},
            {"role": "user", "content": user}]


def _score(text: str | None) -> float:
    try:
        value = parse_json_object(text).get("score")
    except ReplyError:
        match = re.search(r"\b(10|[0-9])\b", text or "")
        value = int(match.group(1)) if match else 0
    try:
        return max(0.0, min(10.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


def parse_batch_scores(text: str | None, count: int) -> tuple[list[float], list[str]]:
    """Scores and reasons of ``count`` candidates from a batched critic answer.

    Accepts ``{"scores": [{"candidate": i, "score": s, "reason": r}, ...]}`` (entries
    may also be bare numbers, in order). Raises :class:`ReplyError`, saying what is wrong
    in words the critic can act on, unless there is exactly one score in 0–10 per
    candidate.
    """
    data = parse_json_object(text)
    entries = data.get("scores")
    if not isinstance(entries, list):
        raise ReplyError('the answer has no "scores" list')
    if len(entries) != count:
        raise ReplyError(f"there are {count} candidates but {len(entries)} scores")
    scores: list[float | None] = [None] * count
    reasons = [""] * count
    for pos, entry in enumerate(entries):
        index, value, reason = pos, entry, ""
        if isinstance(entry, dict):
            index = entry.get("candidate", pos + 1)
            if not isinstance(index, int) or isinstance(index, bool) or not 1 <= index <= count:
                raise ReplyError(f"entry {pos + 1} names candidate {index!r}, not 1 to {count}")
            index -= 1
            value, reason = entry.get("score"), str(entry.get("reason") or "")
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not 0 <= value <= 10:
            raise ReplyError(f"candidate {index + 1}'s score {value!r} is not a number "
                             "from 0 to 10")
        if scores[index] is not None:
            raise ReplyError(f"candidate {index + 1} is scored twice")
        scores[index], reasons[index] = float(value), reason
    return [float(s) for s in scores if s is not None], reasons


@dataclass
class HumanTurn:
    """The reply sent, with every candidate and the critic's scores (empty when unscored)."""

    text: str
    scores: list[float]
    candidates: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    chosen: int = 0
    critic_error: str | None = None


@dataclass
class SimulatedHuman:
    """The customer role plus its critic."""

    model: ChatModel
    critic: ChatModel
    instruction: str
    best_of_n: int
    settings: Settings
    critic_mode: str = "batched"  # or "each": one critic request per candidate (the paper)
    parse_retries: int = 2
    _system: str | None = field(default=None, init=False, repr=False, compare=False)

    def system(self) -> dict[str, Any]:
        """The human's system prompt: the human template filled with the instruction."""
        if self._system is None:  # the same on every turn: rendered once per episode
            self._system = load_prompt("human").render(instruction=self.instruction)
        return {"role": "system", "content": self._system}

    async def reply(self, conversation: list[dict[str, Any]], turn: int) -> HumanTurn:
        """The next customer message."""
        view = [self.system(), *human_view(conversation)]
        base = self.settings.model_copy(update={"sample": self.settings.sample * 1000
                                                + turn * 10})
        choices, _ = await complete_n(self.model, view, None, base, self.best_of_n)
        candidates = [(c.text or "").strip() for c in choices]
        if self.best_of_n == 1:
            return HumanTurn(candidates[0], [])
        if self.critic_mode == "each":
            samples = [base.model_copy(update={"sample": base.sample + i})
                       for i in range(len(candidates))]
            judged = await asyncio.gather(*(
                self.critic.complete(critic_messages(self.instruction, view[1:], c), None, s)
                for c, s in zip(candidates, samples, strict=True)))
            scores = [_score(j.text) for j in judged]
            return self._pick(candidates, scores, [""] * len(scores))
        distinct = list(dict.fromkeys(candidates))
        if len(distinct) == 1:  # nothing to choose between: no critic request
            return HumanTurn(candidates[0], [], candidates)
        scored, reasons, error = await self._batch(view[1:], distinct, base)
        if error is not None:
            return HumanTurn(candidates[0], [], candidates, critic_error=error)
        by_text = {c: (s, r) for c, s, r in zip(distinct, scored, reasons, strict=True)}
        return self._pick(candidates, [by_text[c][0] for c in candidates],
                          [by_text[c][1] for c in candidates])

    async def _batch(self, view: list[dict[str, Any]], distinct: list[str],
                     base: Settings) -> tuple[list[float], list[str], str | None]:
        """One critic request for every distinct candidate; a malformed answer is sent
        back with what is wrong, at most ``parse_retries`` times."""
        messages = batch_critic_messages(self.instruction, view, distinct)
        error = "no answer"
        for attempt in range(self.parse_retries + 1):
            out = await self.critic.complete(
                messages, None, base.model_copy(update={"sample": base.sample + attempt}))
            try:
                scores, reasons = parse_batch_scores(out.text, len(distinct))
                return scores, reasons, None
            except ReplyError as exc:
                error = str(exc)
            messages = [*messages, {"role": "assistant", "content": out.text or ""},
                        {"role": "user", "content":
                         f"That answer could not be used: {error}. Answer again with one "
                         f"JSON object holding exactly {len(distinct)} scores, one per "
                         "candidate, in order."}]
        return [], [], error

    @staticmethod
    def _pick(candidates: list[str], scores: list[float], reasons: list[str]) -> HumanTurn:
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        return HumanTurn(candidates[best], scores, candidates, reasons, best)
