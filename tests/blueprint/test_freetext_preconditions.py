"""Free-text values and call ordering for drafters: invented titles and messages (never
ids or credentials), session steps the policy asks for, prerequisite calls chosen from
an error that says something must come first, and the walk filler using all of them."""

from __future__ import annotations

import random
from pathlib import Path

from apigen_mt.blueprint.context import user_view
from apigen_mt.blueprint.fill import fill_walk
from apigen_mt.blueprint.preconditions import plan_session, prerequisites, states_precondition
from apigen_mt.env.class_adapter import load_class_environment
from apigen_mt.env.domain import load_environment
from apigen_mt.env.freetext import propose_text, theme_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classes"


def load(module: str, cls: str, init: str | None = None):
    return load_class_environment(f"tests.fixtures.classes.{module}:{cls}",
                                  str(FIXTURES / f"{module}_init.json"), init)


def schemas(env):
    return [t.schema for t in env.domain.tools]


def kinds(env):
    return {t.name: t.kind for t in env.domain.tools}


def test_text_is_invented_for_content_never_for_ids_or_credentials():
    rng = random.Random(0)
    ticket = "File a new ticket as the logged-in user."
    title = propose_text("title", "A short summary of the problem.", "create_ticket", ticket, rng)
    body = propose_text("description", "What happened.", "create_ticket", ticket, rng)
    assert title and body and title != body and body.endswith(".")
    for secret in ("password", "username", "ticket_id", "pin", "email", "handle"):
        assert propose_text(secret, "", "login", "Log in.", rng) is None
    assert propose_text("name", "The new folder's name.", "mkdir", "Create a folder.",
                        rng) in ("archive", "drafts", "receipts", "projects", "old-notes",
                                 "invoices", "school", "trips")
    assert propose_text("name", "", "write", "Create a file.", rng).count(".") == 1
    assert theme_of("add_comment", "Comment on a ticket as the logged-in user.",
                    "You are the help desk assistant. File a ticket.") == "support"
    assert theme_of("reply", "Reply to a post.", "A small social network.") == "social"
    search = propose_text("query", "Text to look for.", "search", "Search posts.", rng,
                          known=["Ten miles along the river"])
    assert search in ("miles", "along", "river")


def test_the_policy_puts_session_steps_before_the_first_write():
    desk, shell, car, feed = (load("helpdesk", "HelpDesk"), load("shell", "Shell", "mount"),
                              load("vehicle", "Vehicle"), load("feed", "Feed"))
    assert plan_session(["get_ticket", "create_ticket", "login"], schemas(desk), desk.policy,
                        kinds(desk)) == ["get_ticket", "login", "create_ticket"]
    assert plan_session(["ls", "write", "cd"], schemas(shell), shell.policy,
                        kinds(shell)) == ["ls", "cd", "write", "cd"]  # a cursor may move
    assert plan_session(["shift"], schemas(car), car.policy, kinds(car))[0] == "unlock"
    # a drafter that sees only the prompt (tool schemas, no kinds) gets the same plan
    assert plan_session(["get_ticket", "create_ticket"], schemas(desk), desk.policy) == \
        ["get_ticket", "login", "create_ticket"]
    assert plan_session(["follow"], schemas(feed), feed.policy, kinds(feed)) == ["follow"]
    assert plan_session(["get_ticket"], schemas(desk), desk.policy, kinds(desk)) == \
        ["get_ticket"]  # no write, no session
    retail = load_environment("retail")
    walk = ["get_order_details", "cancel_pending_order"]
    assert plan_session(walk, schemas(retail), retail.policy, kinds(retail)) == walk


def test_prerequisites_come_from_errors_that_say_what_must_come_first():
    desk, car, shell = (load("helpdesk", "HelpDesk"), load("vehicle", "Vehicle"),
                        load("shell", "Shell", "mount"))
    error = "Error: PermissionError: nobody is logged in: log in first"
    assert prerequisites(error, "create_ticket", schemas(desk), kinds(desk))[0] == "login"
    error = "Error: PermissionError: the car is locked: unlock it with the PIN first"
    assert prerequisites(error, "shift", schemas(car), kinds(car))[0] == "unlock"
    error = "Error: no file notes.txt in the current directory /"
    assert prerequisites(error, "cat", schemas(shell), kinds(shell))[0] == "cd"
    assert not states_precondition("Error: order not found")
    assert prerequisites("Error: KeyError: 'no ticket T999'", "add_comment", schemas(desk),
                         kinds(desk)) == []


def test_the_walk_filler_logs_in_as_the_user_and_invents_the_ticket():
    env = load("helpdesk", "HelpDesk")
    view = user_view(env, "mlopez")
    for seed in range(5):
        filled = fill_walk(env, ["create_ticket"], view, random.Random(seed))
        assert filled is not None
        names = [a.name for a in filled.actions]
        assert names[0] == "login" and "create_ticket" in names
        login = filled.actions[0].arguments
        assert login == {"username": "mlopez", "password": "teal-otter-7"}
        ticket = filled.actions[names.index("create_ticket")].arguments
        assert ticket["title"] not in str(env.state.materialize())
    shell = load("shell", "Shell", "mount")
    filled = fill_walk(shell, ["append"], user_view(shell, "shell"), random.Random(1))
    assert filled is not None and [a.name for a in filled.actions][:1] == ["cd"]
    assert filled.actions[0].arguments["path"].startswith("/")
