"""``apigen-mt export``: records streamed from the run, validated and written one by one.

Output is built in a temporary folder next to ``--out`` and renamed into place only
when everything was written, so a failure never leaves a half-written export. ``--out``
may be replaced only when it is empty or an earlier export (it holds ``export.json``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apigen_mt.atomic import clean_stale_folders
from apigen_mt.errors import UsageError
from apigen_mt.export import convert
from apigen_mt.export.card import build_card, generator_version
from apigen_mt.export.formats import DPORecord, ShareGPTRecord, openai_problems
from apigen_mt.export.source import RunData
from apigen_mt.export.split import assign_splits, parse_split
from apigen_mt.records import Trajectory, content_id, normalized_conversation
from apigen_mt.runner.phase2 import failure_reason

FORMATS = ("sharegpt", "openai", "parquet", "hf", "dpo")
MARKER = "export.json"
DEFAULT_LICENSE = "cc-by-4.0"
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt", "function_tag": "function_call",
                 "observation_tag": "observation"}


@dataclass
class ExportOptions:
    """What the user asked for."""

    fmt: str
    out: Path | None = None
    split: str | None = None
    include_failed: bool = False
    seed: int = 0
    license: str = DEFAULT_LICENSE
    skip_invalid: bool = False  # leave out accepted records the format rejects, not refuse


@dataclass
class ExportResult:
    """What was written."""

    out: Path
    files: dict[str, dict[str, Any]]
    failed_files: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)  # files left out for having no records
    duplicates: int = 0  # records left out because an earlier one holds the same conversation
    failed_duplicates: int = 0


def _check_options(run: RunData, opts: ExportOptions) -> list[tuple[str, float]]:
    if opts.fmt not in FORMATS:
        raise UsageError(f"unknown --format {opts.fmt!r}; choose one of {', '.join(FORMATS)}")
    splits = parse_split(opts.split)
    if not opts.license.strip() or any(c.isspace() for c in opts.license.strip()):
        raise UsageError(f"--license must be one identifier such as cc-by-4.0, not "
                         f"{opts.license!r}")
    if opts.fmt == "dpo" and opts.include_failed:
        raise UsageError("--include-failed does not apply to --format dpo: the failures are "
                         "already the rejected side of every pair")
    if not run.trajectories:
        raise UsageError(f"{run.path} has no accepted trajectories to export; run "
                         "`apigen-mt rollout` first")
    if opts.fmt in ("parquet", "hf"):
        missing = [m for m in (("pyarrow",) if opts.fmt == "parquet" else ("pyarrow", "datasets"))
                   if not _importable(m)]
        if missing:
            raise UsageError(f"--format {opts.fmt} needs {' and '.join(missing)}: "
                             "pip install 'apigen-mt[hf]'")
    return splits


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _prepare_out(out: Path) -> Path:
    """A fresh temporary folder next to ``out``; refuses an ``out`` it must not replace."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise UsageError(f"--out {out} is not empty and holds no earlier export; choose "
                         "another folder")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    clean_stale_folders(out)  # half-written exports of killed processes
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return tmp


def _swap_in(tmp: Path, out: Path) -> None:
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def record_key(fmt: str, rec: dict[str, Any]) -> str:
    """What makes two records of one format the same conversation (ids ignored).

    Taken from the record as written, after the conversion: two trajectories that differ
    only in what a format leaves out (a greeting, text beside a tool call) are one
    conversation there.
    """
    if fmt == "sharegpt":  # ShareGPT carries no ids at all
        payload: Any = [rec.get("system"), rec.get("conversations")]
    elif fmt == "dpo":
        payload = [normalized_conversation(rec.get(k) or []) for k in
                   ("prompt", "chosen", "rejected")]
    else:
        payload = normalized_conversation(rec.get("messages") or [])
    return content_id("rec", payload)


class _Distinct:
    """Keeps the first record of each conversation across every split of one export."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.seen: set[str] = set()
        self.dropped = 0

    def keep(self, rec: dict[str, Any]) -> bool:
        key = record_key(self.fmt, rec)
        if key in self.seen:
            self.dropped += 1
            return False
        self.seen.add(key)
        return True


def _failure(t: Trajectory) -> dict[str, Any]:
    return {"trajectory_id": t.id, "blueprint_id": t.blueprint_id, "trial": t.trial,
            "reason": failure_reason(t), "reasons": t.verdict.reasons,
            "end_reason": t.end_reason}


class _Builder:
    """Turns trajectories into one format's records, with its checks."""

    def __init__(self, run: RunData, fmt: str, result: ExportResult, skip_invalid: bool,
                 blueprints: dict[str, Any]):
        self.run, self.fmt, self.result = run, fmt, result
        self.skip_invalid = skip_invalid
        self.blueprints = blueprints
        self.functions = run.functions()

    def record(self, t: Trajectory, failed: bool) -> dict[str, Any] | None:
        notes = self.result.notes if not failed else Counter()
        if self.fmt == "sharegpt":
            rec = convert.to_sharegpt(t, self.functions, notes)
            if not rec["conversations"]:
                self.result.skipped.append(f"{t.id}: nothing left after the conversion")
                return None
            problems = ShareGPTRecord.model_validate(rec).problems()
        elif self.fmt == "openai":
            rec = convert.to_openai(t, self.run.tools, notes)
            problems = openai_problems(rec)
        else:
            return convert.trajectory_row(t, self.blueprints.get(t.blueprint_id),
                                          self.functions, failed=failed)
        if problems:
            if failed or self.skip_invalid:
                self.result.skipped.append(f"{t.id}: {problems[0]}")
                if not failed:
                    self.result.notes["invalid_records_skipped"] += 1
                return None
            raise UsageError(f"{self.fmt} export refused: trajectory {t.id} (blueprint "
                             f"{t.blueprint_id}, trial {t.trial}) breaks the format: "
                             f"{problems[0]} (--skip-invalid leaves such records out)")
        if failed:
            rec["failure"] = _failure(t)
        return rec


def dpo_records(run: RunData, trajs: list[Trajectory], failed: list[Trajectory],
                result: ExportResult) -> list[dict[str, Any]]:
    """One preference pair per failed trial that has a passing trial of its blueprint."""
    good: dict[str, list[Trajectory]] = {}
    for t in trajs:
        good.setdefault(t.blueprint_id, []).append(t)
    out = []
    for bad in sorted(failed, key=lambda t: (t.blueprint_id, t.trial)):
        candidates = good.get(bad.blueprint_id)
        if not candidates:
            continue
        bad_msgs = convert.to_openai_messages(bad, arguments_as_objects=True)
        best = max(candidates, key=lambda a: (convert.common_prefix(
            convert.to_openai_messages(a, arguments_as_objects=True), bad_msgs), -a.trial))
        rec = convert.to_dpo(best, bad, run.tools)
        if rec is None:
            result.skipped.append(f"{bad.id}: never diverges from {best.id}")
            continue
        DPORecord.model_validate(rec)
        out.append(rec)
    return out


def _arrow_schema():
    import pyarrow as pa

    call = pa.struct([("id", pa.string()), ("type", pa.string()),
                      ("function", pa.struct([("name", pa.string()),
                                              ("arguments", pa.string())]))])
    message = pa.struct([("role", pa.string()), ("content", pa.string()),
                         ("tool_calls", pa.list_(call)), ("tool_call_id", pa.string())])
    strings = pa.list_(pa.string())
    return pa.schema([
        ("id", pa.string()), ("blueprint_id", pa.string()), ("env", pa.string()),
        ("trial", pa.int64()), ("user_id", pa.string()), ("instruction", pa.string()),
        ("actions", pa.string()), ("outputs", strings), ("system", pa.string()),
        ("tools", pa.string()), ("messages", pa.list_(message)), ("passed", pa.bool_()),
        ("state_match", pa.bool_()), ("reasons", strings), ("missing_outputs", strings),
        ("rule_violations", strings), ("end_reason", pa.string()),
        ("failure_reason", pa.string()), ("final_hash", pa.string()),
        ("target_hash", pa.string()), ("turns", pa.int64()), ("user_turns", pa.int64()),
        ("tool_calls", pa.int64()), ("invalid_tool_calls", pa.int64()),
        ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("seed", pa.int64()),
    ])


def _arrow_table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=_arrow_schema())


def _save_hf(parts: dict[str, list[dict[str, Any]]], path: Path, as_dict: bool) -> None:
    import datasets

    datasets.disable_progress_bars()
    built = {name: datasets.Dataset(_arrow_table(rows)) for name, rows in parts.items()}
    if as_dict:
        datasets.DatasetDict(built).save_to_disk(str(path))
    else:
        next(iter(built.values())).save_to_disk(str(path))


class _Sink:
    """One output file (or, for ``hf``, one in-memory part), filled record by record."""

    def __init__(self, fmt: str, path: Path):
        self.fmt, self.path = fmt, path
        self.count = 0
        self._fh: Any = None
        self._writer: Any = None
        self._batch: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []  # hf only: `datasets` builds from memory

    def add(self, rec: dict[str, Any]) -> None:
        self.count += 1
        if self.fmt == "hf":
            self.rows.append(rec)
        elif self.fmt == "parquet":
            self._batch.append(rec)
            if len(self._batch) >= PARQUET_BATCH:
                self._flush()
        else:
            if self._fh is None:
                self._fh = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
            self._fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def _flush(self) -> None:
        if not self._batch:
            return
        import pyarrow.parquet as pq

        table = _arrow_table(self._batch)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self._batch = []

    def close(self) -> None:
        if self.fmt == "parquet":
            self._flush()
            if self._writer is not None:
                self._writer.close()
        elif self._fh is not None:
            self._fh.close()


PARQUET_BATCH = 500  # rows per Parquet row group written at once


def export_run(run: RunData, opts: ExportOptions) -> ExportResult:
    """Write one export of a run; returns what was written.

    Records are converted, checked and written one at a time into a temporary folder
    (memory stays flat in the size of the run, except for ``hf`` and ``dpo``, which
    need their records together); a refusal removes that folder, so ``--out`` is left
    as it was.
    """
    splits = _check_options(run, opts)
    names = [n for n, _ in splits] or ["train"]
    out = opts.out or (run.path / "export" / opts.fmt)
    result = ExportResult(out=out, files={})
    with_failed = opts.include_failed or opts.fmt == "dpo"
    # the task fields only where records carry them (Parquet / HF rows)
    blueprints = run.blueprint_map(task=opts.fmt in ("parquet", "hf"))
    good_ids = [r["blueprint_id"] for r in run.trajectories.rows()]
    bad_ids = [r["blueprint_id"] for r in run.failed.rows()] if with_failed else []
    assignment = assign_splits(good_ids, bad_ids, splits or [("train", 1.0)], blueprints,
                               opts.seed)
    del good_ids, bad_ids
    ids: dict[str, list[str]] = {n: [] for n in names}
    tmp = _prepare_out(out)
    try:
        if opts.fmt == "dpo":
            _write_dpo(run, tmp, names, assignment, ids, result)
        else:
            _write_streamed(run, opts, tmp, names, assignment, ids, result, blueprints,
                            bool(splits))
        marker = {"format": opts.fmt, "run": str(run.path.resolve()), "split": opts.split,
                  "seed": opts.seed, "license": opts.license,
                  "generator": f"apigen-mt {generator_version()}",
                  "files": result.files, "failed_files": result.failed_files,
                  "ids": ids, "skipped": result.skipped, "empty": result.empty,
                  "duplicates_left_out": result.duplicates,
                  "failed_duplicates_left_out": result.failed_duplicates}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        (tmp / "README.md").write_text(build_card(run, opts.fmt, result.files,
                                                  result.failed_files, result.notes,
                                                  opts.license, opts.seed, opts.split,
                                                  result.empty, result.duplicates))
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _write_streamed(run: RunData, opts: ExportOptions, tmp: Path, names: list[str],
                    assignment: dict[str, str], ids: dict[str, list[str]],
                    result: ExportResult, blueprints: dict[str, Any], split: bool) -> None:
    fmt = opts.fmt
    ext = {"parquet": "parquet", "hf": ""}.get(fmt, "jsonl")
    builder = _Builder(run, fmt, result, opts.skip_invalid, blueprints)
    passes = [("", run.trajectories, result.files, False)]
    if opts.include_failed:
        passes.append((".failed", run.failed, result.failed_files, True))
    hf_parts: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind, source, target, failed in passes:
        sinks = {n: _Sink(fmt, tmp / f"{n}{kind}.{ext}") for n in names}
        distinct = _Distinct(fmt)  # one per pass, across every split
        try:
            for t in source:  # one record at a time
                name = assignment.get(t.blueprint_id, names[0])
                rec = builder.record(t, failed)
                if rec is None or not distinct.keep(rec):
                    continue
                sinks[name].add(rec)
                if not failed:
                    ids[name].append(t.id)
        finally:
            for sink in sinks.values():
                sink.close()
        if failed:
            result.failed_duplicates = distinct.dropped
        else:
            result.duplicates = distinct.dropped
        for name, sink in sinks.items():
            if fmt == "hf":
                hf_parts.setdefault("failed" if failed else "", {})[name] = sink.rows
                continue
            # an empty file helps no one (and `datasets` cannot read an empty Parquet file)
            if not sink.count:
                result.empty.append(sink.path.name)
                sink.path.unlink(missing_ok=True)
                continue
            target[name] = {"file": sink.path.name, "records": sink.count}
    if fmt == "sharegpt":
        entries = {f"apigen_mt_{run.env_name}_{name}": {
            "file_name": part_info["file"], "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
            "tags": SHAREGPT_TAGS} for name, part_info in result.files.items()}
        (tmp / "dataset_info.json").write_text(json.dumps(entries, indent=2) + "\n")
    if fmt == "hf":  # `datasets` cannot load an empty split back, so those are left out too
        for folder, part in hf_parts.items():
            target = result.failed_files if folder else result.files
            kept = {n: rows for n, rows in part.items() if rows}
            result.empty += [f"{folder}/{n}".strip("/") for n, rows in part.items() if not rows]
            if not kept:
                continue
            _save_hf(kept, tmp / folder if folder else tmp, split)
            for name, rows in kept.items():
                where = "/".join(p for p in (folder, name if split else "") if p) or "."
                target[name] = {"file": where, "records": len(rows)}


def _write_dpo(run: RunData, tmp: Path, names: list[str], assignment: dict[str, str],
               ids: dict[str, list[str]], result: ExportResult) -> None:
    """Pairs need every trial of a blueprint together: built in memory, then written."""
    good: dict[str, list[Trajectory]] = {n: [] for n in names}
    bad: dict[str, list[Trajectory]] = {n: [] for n in names}
    for source, parts in ((run.trajectories, good), (run.failed, bad)):
        for t in source:
            parts[assignment.get(t.blueprint_id, names[0])].append(t)
    distinct = _Distinct("dpo")  # one across every split
    records = {name: [r for r in dpo_records(run, good[name], bad[name], result)
                      if distinct.keep(r)] for name in names}
    result.duplicates = distinct.dropped
    if not any(records.values()):
        raise UsageError(f"{run.path}: no blueprint has both an accepted and a failed "
                         "trajectory that diverge; nothing to pair for --format dpo")
    for name in names:
        ids[name] = [r["rejected_id"] for r in records[name]]
        file = f"{name}.jsonl"
        if not records[name]:
            result.empty.append(file)
            continue
        _write_jsonl(tmp / file, records[name])
        result.files[name] = {"file": file, "records": len(records[name])}
