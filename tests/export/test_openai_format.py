"""`apigen-mt export --format openai` against OpenAI's published fine-tuning rules.

The rules are checked here on their own, not through the exporter's validator, so a
mistake in one does not hide a mistake in the other. From OpenAI's chat fine-tuning
format (the per-line training example of the API reference, the fine-tuning guide's
tool-calling example and the cookbook's format checks):

- a line is an object with ``messages`` (a non-empty list) and optionally ``tools`` and
  ``parallel_tool_calls`` (a boolean), nothing else;
- a message has a ``role`` among system, user, assistant, tool and only the keys that
  role takes (``weight`` 0/1 on assistant messages only);
- system and user messages carry text; an assistant message carries text or
  ``tool_calls``; at least one message is the assistant's, and the example ends on one
  (only assistant messages are trained);
- a tool call is ``{"id", "type": "function", "function": {"name", "arguments"}}`` with
  ``arguments`` a JSON string of an object; a ``tool`` message carries ``content`` and the
  ``tool_call_id`` of a call made in the assistant message just before it;
- a ``tools`` entry is ``{"type": "function", "function": {"name", "description",
  "parameters"}}``, the name at most 64 characters among a-z, A-Z, 0-9, ``_`` and ``-``,
  the parameters a JSON Schema object.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from apigen_mt.export.formats import openai_problems
from tests.export.conftest import rows

KEYS = {"system": {"role", "content", "name"}, "user": {"role", "content", "name"},
        "assistant": {"role", "content", "name", "tool_calls", "weight"},
        "tool": {"role", "content", "tool_call_id"}}
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def broken_rules(record: dict) -> list[str]:
    """Each published rule the record breaks."""
    out = []
    if not set(record) <= {"messages", "tools", "parallel_tool_calls"}:
        out.append(f"unknown keys {set(record) - {'messages', 'tools', 'parallel_tool_calls'}}")
    if "parallel_tool_calls" in record and not isinstance(record["parallel_tool_calls"], bool):
        out.append("parallel_tool_calls is not a boolean")
    declared = set()
    for tool in record.get("tools") or []:
        fn = tool.get("function") or {}
        if tool.get("type") != "function" or set(tool) != {"type", "function"}:
            out.append(f"tools entry is not {{type: function, function}}: {tool}")
        if not NAME.match(str(fn.get("name", ""))):
            out.append(f"tool name {fn.get('name')!r}")
        if not isinstance(fn.get("description"), str):
            out.append(f"tool {fn.get('name')!r} has no description")
        if not isinstance(fn.get("parameters"), dict) or fn["parameters"].get("type") != "object":
            out.append(f"tool {fn.get('name')!r}: parameters are not a JSON Schema object")
        declared.add(fn.get("name"))
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*out, "messages is not a non-empty list"]
    open_calls: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in KEYS:
            out.append(f"message {i}: role {role!r}")
            continue
        if not set(m) <= KEYS[role]:
            out.append(f"message {i}: keys {set(m) - KEYS[role]} on a {role} message")
        if role != "tool":
            open_calls = set()  # calls are answered right after the message that made them
        content = m.get("content")
        if role in ("system", "user") and not (isinstance(content, str) and content.strip()):
            out.append(f"message {i}: {role} without text")
        if role == "assistant":
            if not m.get("tool_calls") and not (isinstance(content, str) and content.strip()):
                out.append(f"message {i}: assistant with neither text nor tool calls")
            if m.get("weight", 1) not in (0, 1):
                out.append(f"message {i}: weight {m['weight']}")
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                if set(call) != {"id", "type", "function"} or call["type"] != "function" \
                        or set(fn) != {"name", "arguments"}:
                    out.append(f"message {i}: tool call shape {call}")
                    continue
                if declared and fn["name"] not in declared:
                    out.append(f"message {i}: undeclared tool {fn['name']}")
                if not isinstance(fn["arguments"], str) or \
                        not isinstance(json.loads(fn["arguments"]), dict):
                    out.append(f"message {i}: arguments are not a JSON object string")
                open_calls.add(call["id"])
        if role == "tool":
            if not isinstance(content, str):
                out.append(f"message {i}: tool message without content")
            if m.get("tool_call_id") not in open_calls:
                out.append(f"message {i}: answers no call of the message before")
            open_calls.discard(m.get("tool_call_id"))
    if not any(m.get("role") == "assistant" for m in messages):
        out.append("no assistant message")
    elif messages[-1].get("role") != "assistant":
        out.append(f"ends on a {messages[-1].get('role')} message, not the assistant's")
    return out


def _export(run: Path, out: Path) -> list[dict]:
    exe = shutil.which("apigen-mt")
    if exe is None:
        pytest.skip("the apigen-mt command is not installed")
    done = subprocess.run([exe, "export", "--run", str(run), "--format", "openai",
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return rows(out / "train.jsonl")


def test_every_exported_record_follows_the_published_rules(run30: Path, tmp_path: Path):
    records = _export(run30, tmp_path / "openai")
    kept = {r["id"]: r for r in rows(run30 / "trajectories.jsonl")}
    assert len(records) == len(kept) > 0
    for record in records:
        assert broken_rules(record) == [], broken_rules(record)
        last = record["messages"][-1]
        assert last["role"] == "assistant" and last.get("content")  # the agent's last reply
    # what was left out is the closing customer line, nothing else
    ids = json.loads((tmp_path / "openai" / "export.json").read_text())["ids"]["train"]
    for rec_id, record in zip(ids, records, strict=True):
        played = kept[rec_id]["messages"]
        cut = max(i for i, m in enumerate(played) if m["role"] == "assistant")
        assert played[cut + 1:] and all(m["role"] == "user" for m in played[cut + 1:])
        assert record["messages"][-1]["content"] == played[cut]["content"]


def test_the_rules_catch_what_they_name():
    good = {"messages": [{"role": "system", "content": "policy"},
                         {"role": "user", "content": "look up a"},
                         {"role": "assistant", "tool_calls": [
                             {"id": "c1", "type": "function",
                              "function": {"name": "lookup", "arguments": '{"k": "a"}'}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "A"},
                         {"role": "assistant", "content": "a is A"}],
            "tools": [{"type": "function", "function": {
                "name": "lookup", "description": "d",
                "parameters": {"type": "object", "properties": {}}}}],
            "parallel_tool_calls": False}
    assert broken_rules(good) == [] and openai_problems(good) == []
    ends_on_user = json.loads(json.dumps(good))
    ends_on_user["messages"].append({"role": "user", "content": "thanks"})
    bad_name = json.loads(json.dumps(good))
    bad_name["tools"][0]["function"]["name"] = "look up"
    bad_params = json.loads(json.dumps(good))
    bad_params["tools"][0]["function"]["parameters"] = {"type": "string"}
    late_answer = json.loads(json.dumps(good))
    late_answer["messages"].insert(3, {"role": "assistant", "content": "one moment"})
    for broken in (ends_on_user, bad_name, bad_params, late_answer):
        assert broken_rules(broken), broken
        assert openai_problems(broken), broken  # the exporter refuses it too
