"""Trajectories → exported records (pure functions, no I/O).

Decisions every training format shares (written into the dataset card, too):

* ``###STOP###`` is the simulated human's end-of-conversation marker, not language:
  it is removed from the text, and a user turn left empty by that is dropped.
* ShareGPT follows APIGen-MT-5k, whose conversations start with the human and end
  with the agent (or a final observation): the fixed greeting (the same sentence in
  every record; not model output) and the closing human turn (nothing answers it, and
  LLaMA-Factory needs an even number of turns) are left out. The policy is the
  ``system`` field.
* Empty assistant turns (a model that said nothing) carry nothing and are dropped.
  In ShareGPT, text the agent wrote next to a tool call has no slot (a ``function_call``
  value holds one call) and is dropped and counted.
* OpenAI and DPO records keep the conversation as played otherwise: system, greeting,
  every turn; tool call ids are made unique within a record when they are not.
* Parquet / HF rows are the archival form: messages exactly as played, marker included.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from apigen_mt.records import Blueprint, Trajectory
from apigen_mt.rollout.settings import STOP
from apigen_mt.runner.phase2 import failure_reason


def strip_stop(text: str) -> str:
    """The text without the end-of-conversation marker."""
    return text.replace(STOP, "").strip() if STOP in text else text


def parse_arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they parse as one, else as given."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return raw
    return value if isinstance(value, dict) else raw


def _text(message: dict[str, Any]) -> str:
    return message.get("content") or ""


def _results_by_call(messages: list[dict[str, Any]], start: int) -> dict[str, list[str]]:
    """The tool messages right after ``start``, by the call id they answer (in order)."""
    out: dict[str, list[str]] = {}
    j = start + 1
    while j < len(messages) and messages[j].get("role") == "tool":
        out.setdefault(messages[j].get("tool_call_id") or "", []).append(_text(messages[j]))
        j += 1
    return out


def to_sharegpt(traj: Trajectory, functions: list[dict[str, Any]],
                notes: Counter | None = None) -> dict[str, Any]:
    """One trajectory in the APIGen-MT-5k layout (``notes`` counts what was left out)."""
    notes = notes if notes is not None else Counter()
    msgs = traj.messages
    system = next((_text(m) for m in msgs if m.get("role") == "system"), "")
    turns: list[dict[str, str]] = []

    def add(who: str, value: str) -> None:
        if who in ("gpt", "human") and turns and turns[-1]["from"] == who:
            turns[-1]["value"] += "\n\n" + value  # never two turns of one side in a row
            notes[f"merged_{who}"] += 1
        else:
            turns.append({"from": who, "value": value})

    started = False  # the greeting is every assistant text before the first user turn
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role == "user":
            started = True
            text = strip_stop(_text(m))
            if text:
                add("human", text)
            else:
                notes["empty_user_turns"] += 1
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            if not started and not calls:
                notes["greetings"] += 1
                continue
            if calls:
                if _text(m).strip():
                    notes["text_beside_tool_calls"] += 1
                results = _results_by_call(msgs, i)
                for call in calls:
                    fn = call.get("function") or {}
                    value = {"name": fn.get("name", ""),
                             "arguments": parse_arguments(fn.get("arguments", "{}"))}
                    turns.append({"from": "function_call",
                                  "value": json.dumps(value, ensure_ascii=False)})
                    answers = results.get(call.get("id") or "", [])
                    turns.append({"from": "observation",
                                  "value": answers.pop(0) if answers else ""})
            elif _text(m).strip():
                add("gpt", _text(m))
            else:
                notes["empty_assistant_turns"] += 1
        # tool messages were emitted with their call; system is the `system` field
    while turns and turns[-1]["from"] == "human":
        turns.pop()
        notes["closing_user_turns"] += 1
    # A conversation cut off (max turns) right after a tool call has no reply to learn
    # from: it ends on the agent's last spoken reply, like every other record.
    while turns and turns[-1]["from"] in ("function_call", "observation", "human"):
        notes["unanswered_tail_turns"] += 1
        turns.pop()
    return {"conversations": turns, "system": system,
            "tools": json.dumps(functions, ensure_ascii=False)}


def to_openai_messages(traj: Trajectory, arguments_as_objects: bool = False,
                       notes: Counter | None = None) -> list[dict[str, Any]]:
    """The conversation as chat messages: marker stripped, empty turns out, ids unique."""
    notes = notes if notes is not None else Counter()
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    renamed: dict[str, list[str]] = {}  # original id → new ids, in call order
    for m in traj.messages:
        role = m.get("role")
        if role in ("system", "user"):
            text = strip_stop(_text(m))
            if not text:
                notes[f"empty_{role}_turns"] += 1
                continue
            out.append({"role": role, "content": text})
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            text = _text(m)
            if not calls:
                if text.strip():
                    out.append({"role": "assistant", "content": text})
                else:
                    notes["empty_assistant_turns"] += 1
                continue
            msg: dict[str, Any] = {"role": "assistant"}
            if text.strip():
                msg["content"] = text
            new_calls = []
            for call in calls:
                original = call.get("id") or "call"
                new = original
                k = 1
                while new in used:
                    new = f"{original}_{k}"
                    k += 1
                used.add(new)
                renamed.setdefault(original, []).append(new)
                fn = call.get("function") or {}
                args = fn.get("arguments", "{}")
                if arguments_as_objects:
                    args = parse_arguments(args)
                elif not isinstance(args, str):
                    args = json.dumps(args, ensure_ascii=False)
                new_calls.append({"id": new, "type": "function",
                                  "function": {"name": fn.get("name", ""), "arguments": args}})
            msg["tool_calls"] = new_calls
            out.append(msg)
        elif role == "tool":
            original = m.get("tool_call_id") or ""
            queue = renamed.get(original)
            out.append({"role": "tool", "tool_call_id": queue.pop(0) if queue else original,
                        "content": _text(m)})
    return out


def to_openai(traj: Trajectory, tools: list[dict[str, Any]],
              notes: Counter | None = None) -> dict[str, Any]:
    """One chat fine-tuning record: ``messages``, ``tools``, ``parallel_tool_calls``."""
    messages = to_openai_messages(traj, notes=notes)
    parallel = any(len(m.get("tool_calls") or []) > 1 for m in messages)
    return {"messages": messages, "tools": tools, "parallel_tool_calls": parallel}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal messages, ignoring tool call ids (they differ between trials)."""
    def key(m: dict[str, Any]) -> Any:
        calls = [(c["function"]["name"], json.dumps(c["function"]["arguments"],
                                                    sort_keys=True))
                 for c in m.get("tool_calls") or []]
        return m.get("role"), m.get("content"), calls
    return key(a) == key(b)


def _closing_trimmed(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(messages)
    while out and out[-1]["role"] == "user":
        out.pop()
    return out


def to_dpo(chosen: Trajectory, rejected: Trajectory,
           tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A TRL conversational preference record from two trials of one blueprint.

    ``prompt`` is the longest shared prefix that ends right before an assistant turn;
    ``chosen`` / ``rejected`` are the two continuations from there (closing user turns
    dropped: nothing answers them). None when the trials never diverge.
    """
    a = to_openai_messages(chosen, arguments_as_objects=True)
    b = to_openai_messages(rejected, arguments_as_objects=True)
    cut = common_prefix(a, b)

    def both_assistant(k: int) -> bool:
        return (k < len(a) and k < len(b) and a[k]["role"] == "assistant"
                and b[k]["role"] == "assistant")

    while cut > 0 and not both_assistant(cut):
        cut -= 1
    if cut == 0:
        return None
    good, bad = _closing_trimmed(a[cut:]), _closing_trimmed(b[cut:])
    if not good or not bad or good == bad:
        return None
    return {"prompt": a[:cut], "chosen": good, "rejected": bad, "tools": tools,
            "blueprint_id": chosen.blueprint_id, "chosen_id": chosen.id,
            "rejected_id": rejected.id, "rejected_reason": failure_reason(rejected)}


def common_prefix(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    """How many leading messages two conversations share (ids ignored)."""
    n = 0
    while n < min(len(a), len(b)) and _same(a[n], b[n]):
        n += 1
    return n


def _count_tool_calls(messages: list[dict[str, Any]]) -> int:
    return sum(len(m.get("tool_calls") or []) for m in messages)


def trajectory_row(traj: Trajectory, bp: Blueprint | None,
                   tools: list[dict[str, Any]], failed: bool = False) -> dict[str, Any]:
    """One flat row (Parquet / HF): messages as played, arguments as JSON strings."""
    messages = []
    for m in traj.messages:
        calls = m.get("tool_calls")
        messages.append({
            "role": m.get("role"),
            "content": m.get("content"),
            "tool_calls": None if calls is None else [
                {"id": c.get("id"), "type": c.get("type", "function"),
                 "function": {"name": (c.get("function") or {}).get("name"),
                              "arguments": _as_json_string(
                                  (c.get("function") or {}).get("arguments"))}}
                for c in calls],
            "tool_call_id": m.get("tool_call_id"),
        })
    usage = traj.usage or {}
    v = traj.verdict
    return {
        "id": traj.id, "blueprint_id": traj.blueprint_id, "env": traj.env, "trial": traj.trial,
        "user_id": bp.user_id if bp else None,
        "instruction": bp.instruction if bp else None,
        "actions": json.dumps([a.model_dump() for a in bp.actions], ensure_ascii=False)
        if bp else None,
        "outputs": list(bp.outputs) if bp else [],
        "system": next((m.get("content") for m in traj.messages if m.get("role") == "system"),
                       None),
        "tools": json.dumps(tools, ensure_ascii=False),
        "messages": messages,
        "passed": v.passed, "state_match": v.state_match, "reasons": list(v.reasons),
        "missing_outputs": list(v.missing_outputs), "rule_violations": list(v.rule_violations),
        "end_reason": traj.end_reason,
        "failure_reason": failure_reason(traj) if failed else None,
        "final_hash": traj.final_hash, "target_hash": traj.target_hash,
        "turns": sum(1 for m in traj.messages if m.get("role") != "system"),
        "user_turns": sum(1 for m in traj.messages if m.get("role") == "user"),
        "tool_calls": _count_tool_calls(traj.messages),
        "invalid_tool_calls": traj.invalid_tool_calls,
        "prompt_tokens": _int_or_none(usage.get("prompt_tokens")),
        "completion_tokens": _int_or_none(usage.get("completion_tokens")),
        "seed": traj.seed,
    }


def row_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of a row, back in the run's own form (the inverse of the row)."""
    out = []
    for m in row["messages"]:
        msg: dict[str, Any] = {"role": m["role"]}
        if m.get("tool_call_id") is not None:
            msg["tool_call_id"] = m["tool_call_id"]
        msg["content"] = m.get("content")
        if m.get("tool_calls") is not None:
            msg["tool_calls"] = [{"id": c["id"], "type": c["type"],
                                  "function": {"name": c["function"]["name"],
                                               "arguments": c["function"]["arguments"]}}
                                 for c in m["tool_calls"]]
        out.append(msg)
    return out


def _as_json_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
