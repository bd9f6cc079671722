"""The class adapter: plain Python classes (a file-system tree, a messaging service, a
trading account) become environments with derived schemas, inferred read/write kinds,
rolled-back failures, independent copies, hashes and readable diffs."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from apigen_mt.cli import app
from apigen_mt.env.class_adapter import (
    ClassEnvError,
    Codec,
    build_object,
    env_tool,
    load_class_environment,
    parse_class_spec,
    to_plain,
)
from apigen_mt.env.domain import load_domain, load_environment
from apigen_mt.records import Blueprint, Trajectory
from tests.fixtures.classes.filesystem import FileSystem
from tests.fixtures.classes.messaging import MessagingService

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classes"
PKG = "tests.fixtures.classes"
FS = (f"{PKG}.filesystem:FileSystem", str(FIXTURES / "filesystem_init.json"), "load_tree")
CHAT = (f"{PKG}.messaging:MessagingService", str(FIXTURES / "messaging_init.json"), None)
TRADE = (f"{PKG}.trading:TradingAccount", str(FIXTURES / "trading_init.json"),
         "load_snapshot")


def fs():
    return load_class_environment(*FS)


def chat():
    return load_class_environment(*CHAT)


def trade():
    return load_class_environment(*TRADE)


def ok(env, name, **arguments):
    obs = env.execute(name, arguments)
    assert not obs.startswith("Error:"), obs
    try:
        return json.loads(obs)
    except json.JSONDecodeError:
        return obs


def fails(env, name, fragment, **arguments):
    """The call fails with ``fragment`` in its observation and changes nothing."""
    before, changes = env.hash(), [c.render() for c in env.diff()]
    obs = env.execute(name, arguments)
    assert obs.startswith("Error:") and fragment in obs, obs
    assert env.hash() == before and [c.render() for c in env.diff()] == changes
    assert env.trace[-1].ok is False
    return obs


# ------------------------------------------------------------------- schemas


def test_public_methods_become_tools_with_derived_schemas():
    assert [t.name for t in fs().domain.tools] == [
        "list_directory", "read_file", "write_file", "make_directory", "move", "delete",
        "find_files", "disk_usage"]  # the loader `load_tree` is not a tool
    tools = {t.name: t for t in chat().domain.tools}
    assert "export_thread" not in tools and "_post" not in tools  # hidden, private
    send = tools["send_message"].schema["function"]
    assert send["description"] == "Post a message in a thread."
    assert send["parameters"] == {"type": "object", "required": ["thread_id", "sender_id", "text"],
                                  "properties": {
                                      "thread_id": {"type": "string",
                                                    "description": "The thread id."},
                                      "sender_id": {"type": "string", "description":
                                                    "The user id of the member who writes."},
                                      "text": {"type": "string",
                                               "description": "The message text."}}}
    start = tools["start_thread"].parameters["properties"]["participant_ids"]
    assert start["type"] == "array" and start["items"] == {"type": "string"}
    order = {t.name: t for t in trade().domain.tools}["place_order"].parameters
    assert order["required"] == ["symbol", "side", "quantity"]
    assert order["properties"]["side"]["enum"] == ["buy", "sell"]
    assert order["properties"]["quantity"]["type"] == "integer"
    assert order["properties"]["limit_price"]["default"] == 0
    summary = {t.name: t for t in trade().domain.tools}["get_account_summary"]
    assert summary.parameters == {"type": "object", "properties": {}, "required": []}


def test_policy_description_and_users_come_from_the_class():
    env = chat()
    assert env.policy.startswith("You help one member of a messaging service.")
    assert env.domain.name == "MessagingService"
    assert env.domain.user_table == "users" and sorted(env.state["users"]) == [
        "ana", "ben", "chen", "dora"]
    view = env.domain.user_view(env.state, "chen")
    assert view["user"] == {"id": "chen", "name": "Chen Wu", "email": "chen@example.com",
                            "blocked": ["dora"]}
    assert set(view) == {"user", "users", "threads", "messages"}  # `_next_message` is internal
    assert "__class__" not in json.dumps(view)
    # no users-like attribute: one pseudo-user, and the drafter sees the whole state
    trading = trade()
    assert sorted(trading.state["users"]) == ["trading_account"]
    view = trading.domain.user_view(trading.state, "trading_account")
    assert view["cash"] == 5000.0 and view["positions"]["ACME"]["quantity"] == 10


# ------------------------------------------------------------- read / write


def test_read_write_inference_and_overrides():
    kinds = {t.name: t.kind for t in fs().domain.tools}
    assert kinds == {"list_directory": "read", "read_file": "read", "write_file": "write",
                     "make_directory": "write", "move": "write", "delete": "write",
                     "find_files": "read", "disk_usage": "read"}
    kinds = {t.name: t.kind for t in chat().domain.tools}
    assert kinds == {"find_user_id_by_email": "read", "get_user": "read", "list_threads": "read",
                     "get_thread_details": "read", "send_message": "write",
                     "start_thread": "write", "mark_thread_read": "write",
                     "delete_message": "write", "block_user": "write"}
    kinds = {t.name: t.kind for t in trade().domain.tools}
    assert kinds == {"get_account_summary": "read", "get_quote": "read", "place_order": "write",
                     "cancel_order": "write", "withdraw_cash": "write"}


class Gauge:
    """A gauge whose method names say nothing about what they do."""

    __apigen_tools__ = {"nudge": "read"}  # noqa: RUF012  (an override that lies on purpose)

    def __init__(self) -> None:
        self.level = 3
        self.log: list[str] = []

    def peek(self) -> int:
        """The level (the probe finds it changes nothing)."""
        return self.level

    def bump(self, by: int) -> int:
        """Raise the level (the probe sees the state change).

        Args:
            by: How much.
        """
        self.level += by
        return self.level

    def nudge(self) -> str:
        """Declared a read by the class, so it is one whatever it does."""
        self.log.append("nudged")
        return "nudged"

    @env_tool("write", ends_conversation=True)
    def hand_over(self, note: str) -> str:
        """Ends the conversation.

        Args:
            note: Why.
        """
        return "bye"

    @env_tool(hidden=True)
    def debug(self) -> str:
        """Hidden."""
        return repr(self.__dict__)

    @staticmethod
    def helper() -> None:
        """Static methods are not tools."""

    @property
    def double(self) -> int:
        """Properties are not tools."""
        return 2 * self.level


def test_kinds_come_from_running_the_method_not_its_name():
    env = load_class_environment("tests.env.test_class_adapter:Gauge")
    tools = {t.name: t for t in env.domain.tools}
    assert list(tools) == ["peek", "bump", "nudge", "hand_over"]
    assert tools["peek"].kind == "read" and tools["bump"].kind == "write"
    assert tools["nudge"].kind == "read" and tools["hand_over"].kind == "write"
    assert tools["hand_over"].ends_conversation
    assert ok(env, "bump", by=2) == 5 and ok(env, "peek") == 5
    assert [c.render() for c in env.diff()] == ["state[level]: 3 -> 5"]


class Untyped:
    """A class with a public method lacking type hints."""

    def poke(self, thing):
        """Poke."""


def test_a_method_without_hints_is_reported_with_the_way_out():
    with pytest.raises(ClassEnvError, match=r"poke.*no type hint.*'hidden'"):
        load_class_environment("tests.env.test_class_adapter:Untyped")


# --------------------------------------------------------- failures roll back


def test_error_values_and_exceptions_fail_the_call_and_roll_back():
    env = fs()
    fails(env, "delete", "directory not empty: /home", path="/home")  # {"error": ...}
    fails(env, "make_directory", "/home already exists", path="/home")  # "Error: ..."
    fails(env, "read_file", "FileNotFoundError: no such file", path="/nope.txt")  # exception
    # the method deletes first and raises after: nothing of the deletion is left
    fails(env, "delete", "PermissionError: /tmp/cache.lock is locked", path="/tmp/cache.lock")
    assert "cache.lock" in ok(env, "list_directory", path="/tmp")
    fails(env, "write_file", "invalid argument 'content'", path="/tmp/x", content=5)
    fails(env, "write_file", "missing argument 'content'", path="/tmp/x")
    fails(env, "no_such_tool", "unknown tool")
    assert not env.diff() and env.hash() == fs().hash()
    trading = trade()
    fails(trading, "place_order", "insufficient cash: 5000.00 available", symbol="ACME",
          side="buy", quantity=1000)
    fails(trading, "place_order", "not enough shares", symbol="ACME", side="sell", quantity=11)
    fails(trading, "place_order", "KeyError", symbol="NOPE", side="buy", quantity=1)
    ok(trading, "cancel_order", order_id="O0001")
    fails(trading, "cancel_order", "order O0001 is cancelled", order_id="O0001")
    chatting = chat()
    ok(chatting, "block_user", user_id="ben", blocked_user_id="dora")
    fails(chatting, "send_message", "ben blocked dora", thread_id="t3", sender_id="dora",
          text="hi")
    fails(chatting, "send_message", "dora is not a participant of t1", thread_id="t1",
          sender_id="dora", text="hi")
    fails(chatting, "send_message", "ValueError: empty message", thread_id="t1",
          sender_id="ana", text="  ")
    fails(chatting, "find_user_id_by_email", "no member with that email", email="x@y.z")


def test_successful_writes_update_the_state_and_observations_are_plain_json():
    env = trade()
    order = ok(env, "place_order", symbol="ACME", side="buy", quantity=10)
    assert order == {"order_id": "O0002", "symbol": "ACME", "side": "buy", "quantity": 10,
                     "limit_price": None, "status": "filled"}
    summary = ok(env, "get_account_summary")
    assert summary["cash"] == 3795.0 and summary["positions"]["ACME"] == {"quantity": 20,
                                                                          "value": 2410.0}
    assert summary["open_orders"][0]["order_id"] == "O0001"
    assert sorted(c.render() for c in env.diff()) == [
        'state[_order_seq]: 1 -> 2',
        'state[cash]: 5000.0 -> 3795.0',
        'state[orders].O0002: <absent> -> {"__class__": "Order", "order_id": "O0002", "symbol": '
        '"ACME", "side": {"__enum__": "Side", "value": "buy"}, "quantity": 10, "limit_price": '
        'null, "status": "f...',
        'state[positions].ACME.average_price: 101.0 -> 110.75',
        'state[positions].ACME.quantity: 10 -> 20',
    ]
    chatting = chat()
    message = ok(chatting, "send_message", thread_id="t2", sender_id="dora", text="Chapter 3?")
    assert message == {"message_id": "m7", "thread_id": "t2", "sender_id": "dora",
                       "text": "Chapter 3?", "read_by": ["dora"]}
    assert ok(chatting, "mark_thread_read", thread_id="t2", user_id="ana") == 2
    assert sorted(c.render() for c in chatting.diff()) == [
        'state[_next_message]: 7 -> 8',
        'state[messages].m4.read_by.__set__: ["dora"] -> ["ana", "dora"]',
        'state[messages].m7: <absent> -> {"__class__": "Message", "message_id": "m7", '
        '"thread_id": "t2", "sender_id": "dora", "text": "Chapter 3?", "read_by": {"__set__": '
        '["ana", "dora"]}}',
        'state[threads].t2.message_ids: ["m4", "m5"] -> ["m4", "m5", "m7"]',
    ]
    threads = ok(chatting, "list_threads", user_id="ana")
    assert {t["thread_id"]: t["unread"] for t in threads} == {"t1": 2, "t2": 0}
    assert ok(fs(), "move", from_path="/home/photos", to_path="/tmp/pics") == \
        "moved /home/photos to /tmp/pics"


def test_nested_objects_keep_their_classes_across_calls():
    env = fs()
    ok(env, "move", from_path="/home/photos", to_path="/tmp/pics")
    assert ok(env, "list_directory", path="/tmp/pics") == ["beach.jpg", "old/"]
    assert ok(env, "find_files", name_contains="beach") == ["/tmp/pics/beach.jpg"]
    ok(env, "write_file", path="/tmp/pics/old/a.txt", content="abc")
    assert ok(env, "disk_usage", path="/tmp") == len("<binary>") + len("abc") + len("temp")
    record = env.state["state"]["root"]
    pics = record["children"]["tmp"]["children"]["pics"]
    assert pics["__class__"] == "Directory"
    assert pics["children"]["old"]["children"]["a.txt"] == {
        "__class__": "File", "path": "/tmp/pics/old/a.txt", "content": "abc"}


# ------------------------------------------------------- copies, hashes, diffs


def test_fresh_copies_and_forks_are_independent():
    env = chat()
    ok(env, "block_user", user_id="ana", blocked_user_id="ben")
    other = env.fresh()
    assert other.hash() == chat().hash() != env.hash()
    assert "ben" not in ok(other, "get_user", user_id="ana")["blocked"]
    assert ok(env, "get_user", user_id="ana")["blocked"] == ["ben"]
    fork = env.fork()
    ok(fork, "block_user", user_id="ana", blocked_user_id="chen")
    assert ok(env, "get_user", user_id="ana")["blocked"] == ["ben"]
    assert ok(fork, "get_user", user_id="ana")["blocked"] == ["ben", "chen"]
    # the loaded base is never mutated: a new environment starts from the file again
    assert load_environment(f"class:{CHAT[0]}", data_dir=CHAT[1]).hash() == other.hash()


def test_hashes_equal_for_equal_states_and_differ_otherwise():
    a, b = trade(), trade()
    for env in (a, b):
        ok(env, "withdraw_cash", amount=100)
    assert a.hash() == b.hash() and a.hash("tau") == b.hash("tau")
    ok(b, "withdraw_cash", amount=0.5)
    assert a.hash() != b.hash() and a.hash("tau") != b.hash("tau")
    # the same end state reached in another order hashes the same
    x, y = fs(), fs()
    ok(x, "write_file", path="/tmp/a.txt", content="1")
    ok(x, "make_directory", path="/home/new")
    ok(y, "make_directory", path="/home/new")
    ok(y, "write_file", path="/tmp/a.txt", content="1")
    assert x.hash() == y.hash()
    # undoing a change gives back the initial hash
    z = fs()
    ok(z, "write_file", path="/home/notes.txt", content="call mom")
    assert z.hash() != fs().hash()
    ok(z, "write_file", path="/home/notes.txt", content="buy milk")
    assert z.hash() == fs().hash() and not z.diff()
    # an int and a float of equal value are different states
    p, q = trade(), trade()
    ok(p, "withdraw_cash", amount=100)
    ok(q, "withdraw_cash", amount=100.0)
    assert p.hash() == q.hash()  # the method rounds, so both store 4900.0


def test_diffs_read_like_paths():
    env = fs()
    ok(env, "write_file", path="/home/notes.txt", content="call mom")
    ok(env, "delete", path="/tmp/scratch.txt")
    assert [c.render() for c in env.diff()] == [
        'state[root].children.home.children.notes.txt.content: "buy milk" -> "call mom"',
        'state[root].children.tmp.children.scratch.txt: {"__class__": "File", "path": '
        '"/tmp/scratch.txt", "content": "temp"} -> <absent>',
    ]
    other = fs()
    ok(other, "write_file", path="/home/notes.txt", content="call dad")
    assert [c.render() for c in env.diff(other)] == [
        'state[root].children.home.children.notes.txt.content: "call dad" -> "call mom"',
        'state[root].children.tmp.children.scratch.txt: {"__class__": "File", "path": '
        '"/tmp/scratch.txt", "content": "temp"} -> <absent>']


# ------------------------------------------------------------------ initial state


def test_init_through_constructor_kwargs_and_loader_methods(tmp_path):
    service = build_object(MessagingService, CHAT[1])
    assert sorted(service.users) == ["ana", "ben", "chen", "dora"]
    assert service.threads["t1"].participants == ("ana", "ben", "chen")
    tree = build_object(FileSystem, FS[1], "load_tree")
    assert sorted(tree.root.children) == ["home", "tmp"]
    # no file: the constructor (or the loader) gets no data
    assert load_class_environment(FS[0]).state["state"]["root"]["children"] == {}
    empty = load_class_environment(CHAT[0])
    assert empty.state["state"]["users"] == {}
    assert list(empty.state["users"]) == ["messaging_service"]  # no users yet: a pseudo-user
    with pytest.raises(ClassEnvError, match=r"load_tree needs initial data \(tree\)"):
        load_class_environment(FS[0], None, "load_tree")
    with pytest.raises(FileNotFoundError):
        load_class_environment(FS[0], tmp_path / "missing.json", "load_tree")
    with pytest.raises(ClassEnvError, match="no method"):
        load_class_environment(FS[0], FS[1], "load_everything")
    with pytest.raises(ClassEnvError, match=r"package\.module:ClassName"):
        load_class_environment("tests.fixtures.classes.filesystem")
    with pytest.raises(ClassEnvError, match="no Nope"):
        load_class_environment(f"{PKG}.filesystem:Nope")


class Shelf:
    """Books on a shelf, built by a class-method loader from a list."""

    def __init__(self) -> None:
        self.books: list[str] = []

    @classmethod
    def from_titles(cls, titles: list[str]) -> Shelf:
        shelf = cls()
        shelf.books = sorted(titles)
        return shelf

    def add_book(self, title: str) -> list[str]:
        """Put a book on the shelf.

        Args:
            title: The book's title.
        """
        self.books.append(title)
        return self.books


def test_class_method_loader_with_a_list(tmp_path):
    init = tmp_path / "titles.json"
    init.write_text('["Dune", "Emma"]')
    env = load_environment("class:tests.env.test_class_adapter:Shelf@from_titles",
                           data_dir=str(init))
    assert ok(env, "add_book", title="Ulysses") == ["Dune", "Emma", "Ulysses"]
    assert [t.name for t in env.domain.tools] == ["add_book"]  # the loader is not a tool


def test_spec_parsing_and_the_domain_hook():
    assert parse_class_spec("class:a.b:C@load") == ("a.b:C", "load")
    assert parse_class_spec("class:a.b:C") == ("a.b:C", None)
    env = load_environment(f"class:{TRADE[0]}@{TRADE[2]}", data_dir=TRADE[1])
    assert env.state["state"]["cash"] == 5000.0
    assert load_domain(f"class:{FS[0]}").name == "FileSystem"
    # without `@load_tree` the loader is an ordinary method, hence a tool; a hidden one is not
    assert "load_tree" in [t.name for t in load_domain(f"class:{FS[0]}").tools]
    assert "load_snapshot" not in [t.name for t in load_domain(f"class:{TRADE[0]}").tools]
    file_env = load_class_environment(str(FIXTURES / "filesystem.py") + ":FileSystem",
                                      FS[1], "load_tree")
    assert ok(file_env, "read_file", path="/home/notes.txt") == "buy milk"


# ------------------------------------------------------------------ the codec


class Color(enum.Enum):
    RED = "red"


Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass(frozen=True)
class Frozen:
    when: dt.date
    price: Decimal


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = 1
        self.b = (2, 3)


def test_codec_round_trips_every_supported_kind():
    codec = Codec()
    value = {"tuple": (1, "a"), "set": {3, 1, 2}, "frozen": frozenset({"x"}),
             "color": Color.RED, "point": Point(1, 2), "keys": {1: "one", (2, 3): "pair"},
             "dunder": {"__class__": "not a tag"}, "dc": Frozen(dt.date(2025, 5, 15),
                                                                Decimal("1.10")),
             "slots": Slotted(), "when": dt.datetime(2025, 5, 15, 9, 30), "at": dt.time(8),
             "nested": [[{"deep": None}]]}
    snapshot = codec.encode(value)
    json.dumps(snapshot)  # JSON-like
    back = codec.decode(snapshot)
    assert back["tuple"] == (1, "a") and back["set"] == {1, 2, 3}
    assert back["frozen"] == frozenset({"x"}) and back["color"] is Color.RED
    assert back["point"] == Point(1, 2) and isinstance(back["point"], Point)
    assert back["keys"] == {1: "one", (2, 3): "pair"} and back["dunder"] == value["dunder"]
    assert back["dc"] == value["dc"] and back["when"] == value["when"] and back["at"] == dt.time(8)
    assert isinstance(back["slots"], Slotted) and back["slots"].b == (2, 3)
    assert snapshot["set"] == {"__set__": [1, 2, 3]}  # sets are stored sorted
    assert to_plain(snapshot)["slots"] == {"a": 1, "b": [2, 3]}
    assert to_plain(snapshot)["color"] == "red"


def test_cycles_and_shared_objects_keep_their_identity_and_non_data_is_refused():
    node: dict = {"name": "a", "kids": []}
    node["self"] = node
    shared = Slotted()
    node["kids"] += [shared, shared]
    snapshot = Codec().encode(node)
    assert snapshot["self"] == {"__ref__": ""}
    assert snapshot["kids"][1] == {"__ref__": "/kids/0"}
    back = Codec().decode(snapshot)
    assert back["self"] is back and back["kids"][0] is back["kids"][1]
    assert back["kids"][0] is not shared and back["kids"][0].b == (2, 3)
    with pytest.raises(ClassEnvError, match="not data"):
        Codec().encode({"f": print})


# -------------------------------------------------------------- end to end


def test_offline_run_on_a_class_environment(tmp_path, monkeypatch):
    """`apigen-mt run --env class:…` with the sim roles keeps only conversations whose
    final state equals the replayed blueprint's."""
    monkeypatch.setenv("APIGEN_MT_RUNS", str(tmp_path / "runs"))
    out = tmp_path / "chat"
    spec = f"class:{CHAT[0]}"
    result = CliRunner().invoke(app, ["run", "--env", spec, "--data-dir", CHAT[1], "--n", "10",
                                      "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    blueprints = {b.id: b for b in (Blueprint.model_validate_json(line)
                                    for line in (out / "blueprints.jsonl").open())}
    accepted = [Trajectory.model_validate_json(line)
                for line in (out / "trajectories.jsonl").open()]
    assert len(accepted) >= 10
    env = load_environment(spec, data_dir=CHAT[1])
    for trajectory in accepted:
        replayed = env.fresh()
        replayed.replay([a.model_dump() for a in blueprints[trajectory.blueprint_id].actions])
        conversation = env.fresh()
        for message in trajectory.messages:
            for call in message.get("tool_calls") or []:
                conversation.execute(call["function"]["name"],
                                     json.loads(call["function"]["arguments"]))
        assert conversation.hash() == replayed.hash() == trajectory.target_hash
        assert replayed.diff()  # every kept conversation changed something
