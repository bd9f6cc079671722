"""Phase 2 holds its blueprints by their place in the run's file, and reads them back whole."""

from __future__ import annotations

import sys

import pytest

from apigen_mt.errors import UsageError
from apigen_mt.records import Action, Blueprint, Provenance
from apigen_mt.runner.shelf import Shelved, shelve
from apigen_mt.runner.store import JsonlLog


def _blueprint(i: int) -> Blueprint:
    return Blueprint(id=f"bp{i}", env="retail", user_id=f"user_{i}", instruction="é" * 300 + str(i),
                     actions=[Action(name="get_user_details", arguments={"user_id": f"user_{i}"})]
                     * (1 + i % 3),
                     diff=[{"path": ["users", "u", "name"], "old": "a", "new": "b"}],
                     provenance=Provenance(slot=i, seed=0, drafter="sim", rounds=1,
                                           feedback=["x" * 2000]))


def test_a_shelved_blueprint_reads_back_as_the_lean_record_it_was(tmp_path):
    log = JsonlLog(tmp_path / "blueprints.jsonl")
    written = [_blueprint(i) for i in range(5)]
    spans = log.append(written[:2]) + log.append(written[2:])  # two appends, one file
    shelf = shelve(log, None)
    assert [(s.offset, s.size) for s in shelf] == spans
    assert [s.id for s in shelf] == [b.id for b in written]
    assert [s.length for s in shelf] == [len(b.actions) for b in written]
    assert [s.load() for s in shelf] == [b.for_play() for b in written]
    assert Shelved.of(written[3], log, spans[3]) == shelf[3]
    assert [s.id for s in shelve(log, 2)] == ["bp0", "bp1"]
    # what phase 2 holds per blueprint is a small fraction of the record itself
    held = sys.getsizeof(shelf[0]) + sys.getsizeof(shelf[0].id)
    assert held < len(written[0].for_play().model_dump_json()) / 4


def test_a_damaged_blueprints_file_is_named_with_its_line(tmp_path):
    log = JsonlLog(tmp_path / "blueprints.jsonl")
    log.append([_blueprint(0)])
    with open(log.path, "a") as fh:
        fh.write('{"id": "bad", "env": "retail"}\n')
    with pytest.raises(UsageError, match=r"blueprints.jsonl:2: not a valid Blueprint record"):
        shelve(log, None)
