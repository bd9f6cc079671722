"""Exact set statistics of a run, kept in a temporary SQLite file instead of in memory.

``stats`` needs a few facts that are sets over the whole run: the distinct conversations,
the blueprints that have kept trajectories, the distinct n-grams of their instructions and
the instructions' word shingles for the near-duplicate search. Held as Python sets these
grow with the run (about 30 KB per blueprint); here they live in a SQLite database in a
temporary folder with a bounded page cache, so memory stays flat however many records a
run holds, and every figure is still exact (SQLite sorts and groups on disk).

Near-duplicates use the same prefix filter as :func:`apigen_mt.stats.text.near_duplicates`
(shingles ordered rarest first; two sets with Jaccard ≥ t share a shingle among the first
``|s| - ⌈t·|s|⌉ + 1`` of each), written as a self-join on the prefixes.
"""

from __future__ import annotations

import math
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from apigen_mt.stats.text import words

CACHE_KIB = 16 * 1024  # SQLite page cache: what the database may hold in memory
_EPS = 1e-9
_BATCH = 20_000  # rows per INSERT: few calls into SQLite, a bounded list in memory
_SCHEMA = """
CREATE TABLE bp (id TEXT, pattern TEXT, instruction TEXT);
CREATE TABLE used (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE conv (id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE gram (n INTEGER, g TEXT);
CREATE TABLE sh (doc INTEGER, tok TEXT);
CREATE TABLE pre (tok TEXT, doc INTEGER, size INTEGER);
CREATE TABLE partner (doc INTEGER PRIMARY KEY);
"""


@dataclass
class NearDuplicateCount:
    """How many pairs reach the threshold and how many texts have a partner."""

    pairs: int
    with_partner: int
    total: int
    compared: int

    @property
    def rate(self) -> float:
        """Share of texts that have at least one near-duplicate."""
        return self.with_partner / self.total if self.total else 0.0


class Spill:
    """A temporary database of one ``stats`` computation; close it (or use ``with``)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="apigen-mt-stats-")
        self.db = sqlite3.connect(Path(self._dir.name) / "stats.sqlite")
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "temp_store = FILE",
                       f"cache_size = -{CACHE_KIB}"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.executescript(_SCHEMA)
        self.blueprints = 0

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the database and its folder."""
        self.db.close()
        self._dir.cleanup()

    def add_blueprint(self, bp_id: str, pattern: str, instruction: str) -> None:
        """One accepted blueprint, in file order."""
        self.db.execute("INSERT INTO bp VALUES (?, ?, ?)", (bp_id, pattern, instruction))
        self.blueprints += 1

    def add_kept(self, blueprint_id: str | None, conversation: str) -> None:
        """One kept trajectory: its blueprint and its conversation id."""
        # a missing id still counts once, and matches no blueprint
        self.db.execute("INSERT OR IGNORE INTO used VALUES (?)",
                        ("\0none" if blueprint_id is None else blueprint_id,))
        self.db.execute("INSERT OR IGNORE INTO conv VALUES (?)", (conversation,))

    def count(self, table: str) -> int:
        """Rows of ``used`` or ``conv``: distinct blueprints used, distinct conversations."""
        assert table in ("used", "conv")
        return self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def behind(self) -> Iterator[tuple[str, str]]:
        """(pattern, instruction) of the blueprints with kept trajectories, in file order
        (every blueprint when none has any)."""
        yield from self.db.execute(
            f"SELECT pattern, instruction FROM bp {self._where_used()} ORDER BY rowid")

    def _where_used(self) -> str:
        used = self.db.execute("SELECT count(*) FROM bp WHERE id IN (SELECT id FROM used)"
                               ).fetchone()[0]
        return "WHERE id IN (SELECT id FROM used)" if used else ""

    def patterns(self) -> tuple[int, list[tuple[str, int]]]:
        """Distinct action patterns behind the data and the 8 most common (ties in order of
        first appearance, as ``Counter.most_common``)."""
        self.db.execute(f"CREATE TEMP TABLE pat AS SELECT pattern, count(*) c, min(rowid) f "
                        f"FROM bp {self._where_used()} GROUP BY pattern")
        n = self.db.execute("SELECT count(*) FROM pat").fetchone()[0]
        top = self.db.execute("SELECT pattern, c FROM pat ORDER BY c DESC, f LIMIT 8").fetchall()
        return n, [(p, c) for p, c in top]

    def distinct_n(self, texts: Iterable[str], ns: tuple[int, ...] = (1, 2)) -> dict[int, float]:
        """Distinct n-grams over all n-grams of ``texts``, for each n in ``ns``."""
        totals = dict.fromkeys(ns, 0)
        rows: list[tuple[int, str]] = []
        for text in texts:
            toks = words(text)
            for n in ns:
                grams = [" ".join(toks[i:i + n]) for i in range(len(toks) - n + 1)]
                totals[n] += len(grams)
                rows += ((n, g) for g in grams)
            if len(rows) >= _BATCH:
                self.db.executemany("INSERT INTO gram VALUES (?, ?)", rows)
                rows = []
        self.db.executemany("INSERT INTO gram VALUES (?, ?)", rows)
        # one sort at the end is much cheaper than keeping a unique index while inserting
        seen = dict(self.db.execute("SELECT n, count(DISTINCT g) FROM gram GROUP BY n"))
        return {n: seen.get(n, 0) / totals[n] if totals[n] else 0.0 for n in ns}

    def near_duplicates(self, texts: Iterable[str], threshold: float = 0.8,
                        k: int = 3) -> NearDuplicateCount:
        """Pairs of ``texts`` whose word k-shingle sets have Jaccard ≥ ``threshold``."""
        total, empty = self._shingle(texts, k)
        self._prefixes(threshold)
        pairs = compared = 0
        for a, b, sim in self._verified(threshold):
            compared += 1
            if sim >= threshold - _EPS:
                pairs += 1
                self.db.executemany("INSERT OR IGNORE INTO partner VALUES (?)", ((a,), (b,)))
        partners = self.db.execute("SELECT count(*) FROM partner").fetchone()[0]
        if empty > 1:  # texts without words are copies of each other only
            pairs += empty * (empty - 1) // 2
            partners += empty
        return NearDuplicateCount(pairs=pairs, with_partner=partners, total=total,
                                  compared=compared)

    def _shingle(self, texts: Iterable[str], k: int) -> tuple[int, int]:
        total = empty = 0
        rows: list[tuple[int, str]] = []
        for doc, text in enumerate(texts):
            total += 1
            toks = words(text)
            grams = ({" ".join(toks)} if toks else set()) if len(toks) < k else \
                {" ".join(toks[i:i + k]) for i in range(len(toks) - k + 1)}
            empty += not grams
            rows += ((doc, g) for g in grams)
            if len(rows) >= _BATCH:
                self.db.executemany("INSERT INTO sh VALUES (?, ?)", rows)
                rows = []
        self.db.executemany("INSERT INTO sh VALUES (?, ?)", rows)
        self.db.execute("CREATE INDEX sh_doc ON sh (doc)")
        return total, empty

    def _prefixes(self, threshold: float) -> None:
        """Each set's rarest ``|s| - ⌈t·|s|⌉ + 1`` shingles (ties by text: a total order)."""
        self.db.execute("CREATE TEMP TABLE freq AS SELECT tok, count(*) c FROM sh GROUP BY tok")
        self.db.execute("CREATE INDEX temp.freq_tok ON freq (tok)")
        rows = self.db.execute("SELECT sh.doc, sh.tok FROM sh JOIN freq ON freq.tok = sh.tok "
                               "ORDER BY sh.doc, freq.c, sh.tok")
        insert = self.db.cursor()
        for doc, toks in _grouped(rows):
            size = len(toks)
            keep = size - math.ceil(threshold * size - _EPS) + 1
            insert.executemany("INSERT INTO pre VALUES (?, ?, ?)",
                               ((t, doc, size) for t in toks[:keep]))
        self.db.execute("CREATE INDEX pre_tok ON pre (tok)")

    def _verified(self, threshold: float) -> Iterator[tuple[int, int, float]]:
        """Every candidate pair (sharing a prefix shingle, sizes compatible) with its
        Jaccard similarity, computed exactly."""
        candidates = self.db.execute(
            "SELECT DISTINCT a.doc, b.doc FROM pre a JOIN pre b ON a.tok = b.tok "
            "AND a.doc < b.doc WHERE min(a.size, b.size) >= ? * max(a.size, b.size) - ? "
            "ORDER BY a.doc, b.doc", (threshold, _EPS))
        look = self.db.cursor()
        current, left = -1, frozenset()
        for a, b in candidates:
            if a != current:
                current, left = a, self._set(look, a)
            right = self._set(look, b)
            inter = len(left & right)
            yield a, b, inter / (len(left) + len(right) - inter)

    @staticmethod
    def _set(cursor: sqlite3.Cursor, doc: int) -> frozenset[str]:
        return frozenset(t for (t,) in cursor.execute("SELECT tok FROM sh WHERE doc = ?",
                                                      (doc,)))


def _grouped(rows: Iterable[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """(doc, its tokens in order) from rows sorted by doc."""
    doc, toks = None, []
    for d, t in rows:
        if d != doc:
            if toks:
                yield doc, toks
            doc, toks = d, []
        toks.append(t)
    if toks:
        yield doc, toks
