"""Prompts fitted to a context window: what each role loses first, and a clear error when
nothing can make a request fit."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from apigen_mt.llm.budget import ContextOverflow, FittedModel, fit, trim_steps
from apigen_mt.llm.scripted import ScriptedModel
from apigen_mt.llm.tokens import ServerCounter, count_request, make_counter
from tests.faults.conftest import apigen, cli_env, rows

FENCE = "```json context"
EST = make_counter("estimate", None, "m")


def _drafter_messages(examples: int = 3, orders: int = 6, touched: str = "#W0") -> list[dict]:
    block = {
        "policy": "Rule one.\n\nRule two.\n\nRule three.",
        "user_records": {"user": {"user_id": "ann_1", "name": "Ann"},
                         "orders": {f"#W{i}": {"status": "pending", "items": ["x" * 300]}
                                    for i in range(orders)}},
        "suggested_tools": ["get_order_details", "cancel_pending_order"],
        "persona": "A patient retired teacher. " * 10,
        "examples": [{"instruction": "e" * 600, "actions": []} for _ in range(examples)],
    }
    user = (f"Draft a task about order {touched}.\n\n{FENCE}\n"
            f"{json.dumps(block, separators=(',', ':'))}\n```")
    return [{"role": "system", "content": "You write tasks. " * 20},
            {"role": "user", "content": user}]


def _block(messages: list[dict]) -> dict:
    text = messages[1]["content"]
    return json.loads(text.split(FENCE + "\n", 1)[1].rsplit("\n```", 1)[0])


def run(coro):
    return asyncio.run(coro)


def test_a_request_that_fits_is_sent_as_built():
    msgs = _drafter_messages()
    done = run(fit("drafter", "m", msgs, None, 100, 100_000, EST))
    assert done.messages is msgs and done.trimmed == []


def test_a_tiny_window_trims_examples_first_then_persona_then_untouched_records():
    msgs = _drafter_messages()
    full = run(count_request(EST, msgs, None))
    labels = [label for label, _ in trim_steps("drafter", msgs)]
    assert labels[:4] == ["examples: one item", "examples: one item", "examples: one item",
                          "examples"]
    assert labels[4] == "persona" and labels[5].startswith("user_records")
    # a window just too small for the examples: only they go
    done = run(fit("drafter", "m", msgs, None, 100, full + 100 - 300, EST))
    kept = _block(done.messages)
    assert done.tokens + 100 <= full + 100 - 300
    assert "persona" in kept and len(kept["user_records"]["orders"]) == 6
    assert len(kept.get("examples", [])) < 3
    # smaller still: examples, persona and orders the task does not name
    done = run(fit("drafter", "m", msgs, None, 100, 700, EST))
    kept = _block(done.messages)
    assert "examples" not in kept and "persona" not in kept
    assert "#W0" in kept["user_records"]["orders"]  # named in the request: kept
    assert len(kept["user_records"]["orders"]) < 6
    assert kept["user_records"]["user"]["user_id"] == "ann_1"
    assert kept["suggested_tools"] == ["get_order_details", "cancel_pending_order"]
    assert done.trimmed[0] == "examples: one item ×3"


def test_a_window_nothing_can_fit_is_a_clear_error_naming_role_and_sizes():
    msgs = _drafter_messages()
    with pytest.raises(ContextOverflow) as err:
        run(fit("drafter", "local:tiny", msgs, None, 200, 300, EST))
    text = str(err.value)
    assert text.startswith("drafter: the request does not fit local:tiny's context window "
                           "of 300 tokens: ")
    assert "+ 200 for the reply (max_tokens)" in text and "after trimming examples" in text
    assert err.value.kind == "context" and not err.value.retryable


def test_agent_loses_oldest_turns_but_never_a_tool_result_without_its_call():
    convo = [{"role": "system", "content": "policy " * 50},
             {"role": "assistant", "content": "Hi! How can I help?"}]
    for i in range(6):
        convo += [{"role": "user", "content": f"turn {i} " + "words " * 40},
                  {"role": "assistant", "content": None, "tool_calls": [
                      {"id": f"c{i}", "type": "function",
                       "function": {"name": "get", "arguments": "{}"}}]},
                  {"role": "tool", "tool_call_id": f"c{i}", "content": "result " * 30},
                  {"role": "assistant", "content": f"answer {i}"}]
    full = run(count_request(EST, convo, None))
    done = run(fit("agent", "m", convo, None, 50, full // 2, EST))
    sent = done.messages
    assert sent[0] == convo[0] and sent[1]["role"] == "user"
    assert sent[-4:] == convo[-4:]  # the latest turn whole
    ids = {c["id"] for m in sent for c in m.get("tool_calls") or []}
    assert all(m["tool_call_id"] in ids for m in sent if m["role"] == "tool")
    assert done.trimmed and done.trimmed[0].startswith("an older turn")


def test_critic_loses_the_oldest_transcript_lines():
    lines = "\n".join(f"{'agent' if i % 2 else 'customer'}: line {i} " + "x" * 80
                      for i in range(10))
    msgs = [{"role": "system", "content": "Score it."},
            {"role": "user", "content": f"Instruction:\nDo it.\n\nConversation so far:\n{lines}"
                                        f"\n\nCandidate customer reply:\nok"}]
    full = run(count_request(EST, msgs, None))
    done = run(fit("critic", "m", msgs, None, 20, full - 100, EST))
    text = done.messages[1]["content"]
    assert "line 0 " not in text and "line 9 " in text and "Candidate customer reply" in text


def test_fitted_model_sends_the_fitted_request_and_reserves_a_reply():
    seen: list[Any] = []

    def answer(messages, tools, settings):
        seen.append((messages, settings))
        return "ok"

    model = FittedModel(ScriptedModel(answer), "drafter", 900, EST)
    run(model.complete(_drafter_messages()))
    messages, settings = seen[0]
    assert settings.max_tokens == 225  # a quarter of the window when the role sets none
    assert "examples" not in _block(messages)


class _Tokenizer(BaseHTTPRequestHandler):
    """llama.cpp's /tokenize: one token per word (so counts differ from the estimate)."""

    calls = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/tokenize" or "content" not in body:
            self.send_response(404)
            self.end_headers()
            return
        type(self).calls += 1
        data = json.dumps({"tokens": list(range(len(body["content"].split())))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_token_counts_use_the_servers_tokenizer_when_it_has_one():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tokenizer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        counter = ServerCounter(url, "m")
        assert run(counter.count(["one two three", "four"])) == [3, 1]
        assert counter.name == "server:llama.cpp"
        memo = make_counter("auto", url, "m")
        before = _Tokenizer.calls
        run(memo.count(["a b", "a b"]))
        run(memo.count(["a b"]))
        assert _Tokenizer.calls == before + 1  # remembered
    finally:
        server.shutdown()
    # a server without a tokenize endpoint: the estimate
    gone = ServerCounter(url, "m")
    assert run(gone.count(["x" * 30])) == [10] and gone.name == "estimate"


def test_an_impossible_window_errors_per_slot_and_does_not_stop_the_run(tmp_path: Path):
    out = tmp_path / "run"
    result = apigen("blueprint", "--env", "retail", "--n", "2", "--max-slots", "10",
                    "--out", str(out), "--quiet", "--log-requests",
                    env=cli_env(tmp_path, APIGEN_MT_SIM__CONTEXT_WINDOW="1200"))
    # ten slots in a row failed on the drafter's window, and the run was not stopped
    # after eight: the closing line says what happened
    assert result.returncode == 0, result.stderr
    assert "10 errored" in result.stdout, result.stdout
    errors = rows(out / "blueprints.errors.jsonl")
    assert len(errors) == 10 and all(e["kind"] == "context" for e in errors)
    assert all(e["error"].startswith("drafter: the request does not fit sim:sim's context "
                                     "window of 1200 tokens") for e in errors)
    logged = rows(out / "requests.jsonl")
    assert len(logged) == 10 and all(r["sent"] is False and r["role"] == "drafter"
                                     for r in logged)
