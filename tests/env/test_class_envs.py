"""Four classes written for the class adapter (a shell over a file tree with parent links,
a help desk with logins and free-text tickets, a social feed, a car controller): how
their initial state is applied, their schemas from every annotation and docstring style,
session state in the hash, identity across calls, and rules found next to each class."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from apigen_mt.blueprint.checks import check_policy, execute_actions
from apigen_mt.env.class_adapter import ClassEnvError, build_object, load_class_environment
from apigen_mt.env.class_adapter import state_object as live
from apigen_mt.env.docstrings import parse, type_from_text
from apigen_mt.records import Action, Blueprint
from tests.fixtures.classes.feed import Feed, Profile
from tests.fixtures.classes.helpdesk import HelpDesk
from tests.fixtures.classes.shell import Shell
from tests.fixtures.classes.vehicle import Gear, Vehicle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classes"
PKG = "tests.fixtures.classes"


def env_of(name: str, cls: str, init: str | None = None):
    return load_class_environment(f"{PKG}.{name}:{cls}", str(FIXTURES / f"{name}_init.json"),
                                  init)


def shell():
    return env_of("shell", "Shell", "mount")


def desk():
    return env_of("helpdesk", "HelpDesk")


def feed():
    return env_of("feed", "Feed")


def car():
    return env_of("vehicle", "Vehicle")


def ok(env, tool, /, **arguments):
    obs = env.execute(tool, arguments)
    assert not obs.startswith("Error:"), obs
    try:
        return json.loads(obs)
    except json.JSONDecodeError:
        return obs


# ------------------------------------------------------------------ initial state


def test_the_json_is_applied_the_way_that_fits():
    helpdesk = build_object(HelpDesk, FIXTURES / "helpdesk_init.json")  # constructor keywords
    assert helpdesk.people["apatel"].role == "agent" and len(helpdesk.tickets) == 3
    social = build_object(Feed, FIXTURES / "feed_init.json")  # attributes, by annotation
    assert isinstance(social.profiles["lena"], Profile)
    assert social.profiles["lena"].following == {"omar", "kofi"}
    assert social.clock == dt.datetime(2025, 3, 2, 18, 30)
    assert social.posts["p2"].likes == {"omar"} and social.posts["p1"].tags == ("baking",)
    vehicle = build_object(Vehicle, FIXTURES / "vehicle_init.json")  # one positional argument
    assert vehicle.gear is Gear.PARK and vehicle.pin == "4729"
    tree = build_object(Shell, FIXTURES / "shell_init.json", "mount")  # a class-method loader
    assert tree.cwd is tree.root and [c.name for c in tree.root.children] == ["home", "tmp"]


class Shop:
    """A shop whose constructor takes nothing: the JSON sets its attributes."""

    def __init__(self) -> None:
        self.stock: dict[str, int] = {}
        self.tags: set[str] = set()

    def sell(self, item: str) -> int:
        """Sell one.

        Args:
            item: What.
        """
        self.stock[item] -= 1
        return self.stock[item]


class Ledger:
    """The constructor takes one dict, and the keys are attributes too: ambiguous."""

    def __init__(self, entries: dict | None = None) -> None:
        self.entries = entries or {}
        self.total = 0


def test_attributes_by_default_ambiguity_and_mismatches_are_named(tmp_path):
    data = tmp_path / "shop.json"
    data.write_text('{"stock": {"pen": 3}, "tags": ["office"]}')
    shop = build_object(Shop, data)
    assert shop.stock == {"pen": 3} and shop.tags == {"office"}  # the set stays a set
    env = load_class_environment("tests.env.test_class_envs:Shop", data)
    assert ok(env, "sell", item="pen") == 2
    ledger = tmp_path / "ledger.json"
    ledger.write_text('{"total": 5}')
    with pytest.raises(ClassEnvError, match=r"Ledger: .*--env-init constructor or "
                                            r"--env-init attributes"):
        build_object(Ledger, ledger)
    assert build_object(Ledger, ledger, "attributes").total == 5
    assert build_object(Ledger, ledger, "constructor").entries == {"total": 5}
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"stok": {}}')
    with pytest.raises(ClassEnvError, match=r"Shop: the JSON keys \(stok\) match neither "
                                            r"Shop.__init__'s parameters \(none\) nor its "
                                            r"attributes \(stock, tags\)"):
        build_object(Shop, wrong)
    with pytest.raises(ClassEnvError, match="Shop has no attribute stok"):
        build_object(Shop, wrong, "attributes")
    with pytest.raises(ClassEnvError, match=r"HelpDesk cannot be built with no arguments"):
        build_object(HelpDesk, FIXTURES / "helpdesk_init.json", "attributes")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ClassEnvError, match="not valid JSON"):
        build_object(Shop, broken)


# ------------------------------------------------------------------ schemas


def test_schemas_from_every_annotation_and_docstring_style():
    tools = {t.name: t.parameters for t in desk().domain.tools}  # reST docstrings
    assert tools["get_ticket"] == {"type": "object", "required": ["ticket_id"], "properties": {
        "ticket_id": {"type": "string", "description": "The ticket id, such as 'T101'."}}}
    status = tools["list_tickets"]["properties"]["status"]  # Optional[str] = None
    assert status["anyOf"] == [{"type": "string"}, {"type": "null"}] and not \
        tools["list_tickets"]["required"]
    tools = {t.name: t.parameters for t in feed().domain.tools}  # numpy, no annotations
    assert tools["timeline"]["properties"] == {
        "handle": {"type": "string", "description": "Whose timeline."},
        "limit": {"type": "integer", "default": 5, "description": "How many posts at most."}}
    tags = tools["publish_post"]["properties"]["tags"]  # Optional[List[str]]
    assert tags["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    tools = {t.name: t.parameters for t in car().domain.tools}  # Google, types in the text
    assert tools["unlock"]["properties"]["pin"] == {"type": "string", "description":
                                                    "The owner's four-digit PIN."}
    assert tools["charge"]["properties"]["minutes"]["type"] == "integer"
    assert tools["shift"]["properties"]["gear"]["enum"] == ["park", "reverse", "neutral",
                                                            "drive"]  # an Enum parameter
    tools = {t.name: t.parameters for t in shell().domain.tools}  # Dict[str, Any] returns
    assert tools["ls"]["required"] == [] and tools["cd"]["required"] == ["path"]


def test_docstring_parsing_in_three_styles():
    google = parse("""Do it.

    Args:
        when (int): How soon,
            in days.
        *rest: Ignored.
    """)
    assert google[0] == "Do it." and google[1]["when"].type_text == "int"
    assert google[1]["when"].description == "How soon, in days."
    rest = parse("""Do it.

    :param str who: The person.
    :param when: How soon.
    :type when: list of int
    :returns: nothing
    """)
    assert rest[1]["who"].type_text == "str" and rest[1]["when"].type_text == "list of int"
    numpy = parse("""Do it.

    Parameters
    ----------
    who : str, optional
        The person.
    Returns
    -------
    int
    """)
    assert numpy[1]["who"].description == "The person." and "int" not in numpy[1]
    assert type_from_text("list of int") == list[int]
    assert type_from_text("str, optional") is str
    assert type_from_text("Dict[str, Any]") is not None and type_from_text("gibberish") is None


# --------------------------------------------------- session state, identity, errors


def test_session_state_is_state_the_hash_and_the_diff_cover():
    a, b, c = desk(), desk(), desk()
    ok(a, "login", username="jkim", password="quiet-fern-3")
    ok(b, "login", username="mlopez", password="teal-otter-7")
    assert a.hash() != b.hash() != c.hash() != a.hash()
    assert [ch.render() for ch in a.diff()] == ['state[session]: null -> {"__ref__": '
                                                '"/people/jkim"}']
    assert a.execute("create_ticket", {"title": "x", "description": "y"}).startswith("Error:") \
        is False
    assert c.execute("create_ticket", {"title": "x", "description": "y"}) == \
        "Error: PermissionError: nobody is logged in: log in first"
    ok(c, "login", username="jkim", password="quiet-fern-3")
    ok(c, "create_ticket", title="x", description="y")
    assert c.hash() == a.hash()  # same session, same ticket: same state
    ok(a, "logout")
    assert a.hash() != c.hash()
    fs = shell()
    ok(fs, "cd", path="home/ana")
    assert fs.hash() != shell().hash()
    assert ok(fs, "pwd") == "/home/ana"
    ok(fs, "cd", path="/")
    assert fs.hash() == shell().hash() and not fs.diff()


def test_shared_references_and_parent_links_stay_one_object_across_calls():
    env = desk()
    ok(env, "login", username="apatel", password="amber-hawk-9")
    ok(env, "assign_ticket", ticket_id="T102", assignee="rnovak")
    ok(env, "add_comment", ticket_id="T102", text="On it.")
    helpdesk = live(env.state, HelpDesk)
    ticket = helpdesk.tickets["T102"]
    assert ticket.assignee is helpdesk.people["rnovak"]
    assert ticket.comments[0].author is helpdesk.session is helpdesk.people["apatel"]
    assert ticket.author is helpdesk.people["jkim"]
    fs = shell()
    ok(fs, "cd", path="/home/ana/recipes")
    ok(fs, "write", name="stew.txt", text="beans")
    tree = live(fs.state, Shell)
    assert tree.cwd.name == "recipes" and tree.cwd.parent.parent.parent is tree.root
    assert all(child.parent is tree.cwd for child in tree.cwd.children)
    assert ok(fs, "cd", path="..")["names"] == ["drafts/", "notes.txt", "recipes/", "todo.md"]
    posts = feed()
    ok(posts, "reply", post_id="p2", handle="omar", text="Nice run!")
    ok(posts, "reply", post_id="p4", handle="lena", text="Thanks!")
    social = live(posts.state, Feed)
    assert social.posts["p4"].reply_to is social.posts["p2"]
    assert social.posts["p2"].replies[0] is social.posts["p4"]
    assert social.posts["p5"].reply_to.reply_to is social.posts["p2"]
    assert ok(posts, "get_post", post_id="p2")["replies"] == ["p4"]


def test_failures_roll_back_and_enums_arrive_as_members():
    env = car()
    before = env.hash()
    assert env.execute("shift", {"gear": "drive"}).startswith("Error: PermissionError")
    assert env.execute("unlock", {"pin": "1111"}) == "Error: wrong PIN"
    assert env.hash() == before and not env.diff()
    ok(env, "unlock", pin="4729")
    assert env.execute("shift", {"gear": "drive"}) == \
        "Error: unplug the charger before leaving park"
    ok(env, "unplug")
    assert ok(env, "shift", gear="drive") == {"gear": "drive"}
    assert live(env.state, Vehicle).gear is Gear.DRIVE
    assert env.execute("shift", {"gear": "fly"}).startswith("Error: invalid argument 'gear'")
    ok(env, "drive", distance_km=12.5, note="Groceries")
    assert "state[gear].value: \"park\" -> \"drive\"" in [c.render() for c in env.diff()]
    status = ok(env, "get_status")
    assert status["gear"] == "drive" and status["charging"] == "unplugged"


# ------------------------------------------------------------------ rules


def _policy(env, actions):
    bp = Blueprint(env=env.name, user_id="u", instruction="-",
                   actions=[Action(name=n, arguments=a) for n, a in actions])
    return check_policy(env, execute_actions(env, bp))


def test_rules_next_to_each_class_check_traces():
    assert [r.name for r in shell().domain.rules] == ["top_folder_read_only"]
    assert [r.name for r in desk().domain.rules] == ["urgent_by_agents"]  # a dict by class
    assert [r.name for r in feed().domain.rules] == ["one_member"]
    assert [r.name for r in car().domain.rules] == ["battery_reserve"]
    env = shell()
    assert not _policy(env, [("mkdir", {"name": "junk"})]).passed
    assert _policy(env, [("cd", {"path": "home"}), ("mkdir", {"name": "junk"})]).passed
    env = desk()
    staff = [("login", {"username": "jkim", "password": "quiet-fern-3"})]
    agent = [("login", {"username": "rnovak", "password": "stone-lark-2"})]
    urgent = ("create_ticket", {"title": "Down", "description": "All down.",
                                "priority": "urgent"})
    verdict = _policy(env, [*staff, urgent])
    assert not verdict.passed and "jkim, who is not an agent" in verdict.reasons[0]
    assert _policy(env, [*agent, urgent]).passed
    env = feed()
    assert not _policy(env, [("like", {"post_id": "p1", "handle": "lena"}),
                             ("like", {"post_id": "p1", "handle": "omar"})]).passed
    env = car()
    trip = [("unlock", {"pin": "4729"}), ("unplug", {}), ("shift", {"gear": "drive"})]
    assert _policy(env, [*trip, ("drive", {"distance_km": 100})]).passed
    verdict = _policy(env, [*trip, ("drive", {"distance_km": 200})])
    assert not verdict.passed and "below the 10% reserve" in verdict.reasons[0]
