"""The dataset card (README.md) written next to every export."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from apigen_mt.export.source import RunData
from apigen_mt.records import conversation_id
from apigen_mt.runner.funnel import Funnel
from apigen_mt.stats.compute import funnel_counts

FORMAT_NOTES = {
    "sharegpt": (
        "ShareGPT, in exactly the layout of the released APIGen-MT-5k records: "
        "`conversations` (a list of `{\"from\", \"value\"}` with `from` one of `human`, `gpt`, "
        "`function_call`, `observation`), `system` (the domain policy the agent was given) and "
        "`tools` (a JSON string of the tool definitions: `name`, `description`, `parameters`). "
        "A `function_call` value is a JSON string `{\"name\": …, \"arguments\": {…}}` holding "
        "one call, always followed by exactly one `observation` (the tool's output). "
        "`dataset_info.json` registers the files with LLaMA-Factory (`formatting: sharegpt`)."),
    "openai": (
        "OpenAI chat fine-tuning JSONL: `messages` (system, user, assistant, tool), `tools` "
        "(`{\"type\": \"function\", \"function\": {…}}`) and `parallel_tool_calls`. Assistant "
        "tool calls carry ids unique within a record and `arguments` as JSON strings; each "
        "`tool` message carries the `tool_call_id` it answers. Every record was checked "
        "against the fine-tuning format's rules before it was written."),
    "parquet": (
        "Parquet, one row per trajectory: ids, environment, trial, the blueprint's "
        "instruction, ground-truth actions (JSON) and expected outputs, the system prompt, "
        "`tools` (JSON string), `messages` exactly as played (tool-call arguments as JSON "
        "strings, tool results as strings), the judge's verdict, counts of turns and tool "
        "calls, and token usage where known. Load with "
        "`datasets.load_dataset(\"parquet\", data_files=…)`."),
    "hf": (
        "A Hugging Face dataset saved with `save_to_disk` (a `DatasetDict` when split); load "
        "with `datasets.load_from_disk(path)`. Columns as in the Parquet export: messages "
        "exactly as played, tool-call arguments as JSON strings, verdict fields, counts."),
    "dpo": (
        "Preference pairs in TRL's conversational format: `prompt` (the messages both trials "
        "share, ending right before an assistant turn), `chosen` (the continuation of a "
        "trial that passed the judge) and `rejected` (the continuation of a trial of the "
        "same blueprint that failed), plus `tools` and provenance columns (`blueprint_id`, "
        "`chosen_id`, `rejected_id`, `rejected_reason`). Tool-call arguments are objects, as "
        "chat templates expect."),
}

TRANSFORMS = {
    "sharegpt": [
        "The conversation starts with the customer's first message, as in APIGen-MT-5k: the "
        "agent's fixed greeting (identical in every record, not model output) is left out.",
        "The simulated customer's end marker `###STOP###` is removed; the closing customer "
        "turn that carried it is left out (nothing answers it, and LLaMA-Factory needs the "
        "conversation to end on an agent turn); an episode cut off right after a tool call "
        "ends on the agent's last spoken reply.",
        "Empty agent turns are dropped; text written next to a tool call has no slot in a "
        "`function_call` turn and is dropped.",
    ],
    "openai": [
        "Conversations are kept as played, greeting included, up to the agent's last reply: "
        "the closing customer turn is left out (only assistant messages are trained, so "
        "the record ends on one).",
        "The simulated customer's end marker `###STOP###` is removed from the text; a "
        "customer turn left empty by that is dropped.",
        "Empty agent turns are dropped.",
    ],
    "dpo": [
        "`###STOP###` is removed; closing customer turns are dropped from `chosen` / "
        "`rejected` (they are not model output).",
        "A failed trial is paired with the passing trial of the same blueprint that shares "
        "the longest prefix with it; pairs that never diverge are skipped.",
    ],
    "parquet": ["Messages are archived exactly as played, `###STOP###` marker included."],
    "hf": ["Messages are archived exactly as played, `###STOP###` marker included."],
}


TOOL_MODES = {
    True: "τ-bench's exact behaviour, quirks included (`tau_compat`), as its ground-truth "
          "hashes need",
    False: "the domain's corrected tools: τ-bench behaviours that would teach wrong "
           "facts are fixed (each is listed in the domain's README)",
}


def generator_version() -> str:
    """The installed apigen-mt version."""
    try:
        return metadata.version("apigen-mt")
    except metadata.PackageNotFoundError:
        return "unknown"


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


@dataclass
class _Tally:
    """What the card counts in a run, read once (one trajectory at a time: a long run's
    files stay on disk)."""

    kept: int  # accepted trajectories
    distinct: int  # distinct conversations among them (the same ids as `stats`')
    blueprints_behind: int  # blueprints the accepted trajectories come from
    repeats: int  # passing episodes that repeated a kept conversation
    counts: dict[str, int]  # funnel step label → count
    funnel: Funnel

    @classmethod
    def of(cls, run: RunData) -> _Tally:
        ids: set[str] = set()
        behind: set[str] = set()
        for row in run.trajectories.rows():
            ids.add(conversation_id(row.get("messages") or []))
            behind.add(row["blueprint_id"])
        repeats = sum(1 for r in run.ledger.rows() if r.get("outcome") == "duplicate")
        kept = len(run.trajectories)
        steps, funnel = funnel_counts(
            Funnel.from_records(run.blueprints.rows(), run.rejected.rows()),
            len(run.blueprints), len(run.rejected), len(run.blueprint_errors), kept,
            len(run.failed), repeats, len(run.episode_errors), len(ids))
        return cls(kept, len(ids), len(behind), repeats, {s.label: s.count for s in steps},
                   funnel)


def build_card(run: RunData, fmt: str, files: dict[str, dict[str, Any]],
               failed_files: dict[str, dict[str, Any]], notes: Counter, license_id: str,
               seed: int, split_text: str | None, empty: list[str] | None = None,
               duplicates: int = 0) -> str:
    """Markdown with YAML front matter (licence, size, configs for the Hub).

    ``duplicates`` is how many records the export left out for repeating an earlier
    record's conversation; the card states the distinct counts.
    """
    total = sum(f["records"] for f in files.values())
    tally = _Tally.of(run)
    lines = [
        *_front_matter(run.env_name, fmt, files, total, license_id), *_intro(run.env_name),
        *_size_section(files, failed_files, empty),
        *_totals(fmt, total, duplicates, tally),
        *_split_note(split_text, seed), *_failures_note(failed_files),
        *_domains_section(run), *_models_section(run), *_funnel_section(run, tally),
        *_cost_section(run, tally.kept), *_verification_section(),
        *_format_section(fmt, notes), *_licence_section(license_id),
        *_generator_section(run.path.name, fmt)]
    return "\n".join(lines) + "\n"


def _front_matter(env_name: str, fmt: str, files: dict[str, dict[str, Any]], total: int,
                  license_id: str) -> list[str]:
    front = ["---", f"license: {license_id}", "language:", "- en", "tags:", "- function-calling",
             "- tool-use", "- agent", "- synthetic", "- apigen-mt", "task_categories:",
             "- text-generation", "size_categories:", f"- {_size_category(total)}",
             f"pretty_name: apigen-mt {env_name} ({fmt})"]
    if fmt in ("sharegpt", "openai", "dpo", "parquet"):  # the formats the Hub reads as files
        front += ["configs:", "- config_name: default", "  data_files:"]
        for split, info in files.items():
            front += [f"  - split: {split}", f"    path: {info['file']}"]
    front.append("---")
    return front


def _intro(env_name: str) -> list[str]:
    return [
        "", f"# apigen-mt {env_name}: verified multi-turn tool-use conversations", "",
        f"Conversations between a simulated customer and a tool-using agent in the "
        f"`{env_name}` environment, generated with "
        f"[apigen-mt](https://arxiv.org/abs/2504.03601) {generator_version()} "
        "(the APIGen-MT method) and kept only when verified (see *How records were "
        "verified*)."]


def _size_section(files: dict[str, dict[str, Any]], failed_files: dict[str, dict[str, Any]],
                  empty: list[str] | None) -> list[str]:
    lines = ["", "## Size and splits", "", "| split | records | file |", "| --- | --- | --- |"]
    for split, info in files.items():
        lines.append(f"| {split} | {info['records']} | `{info['file']}` |")
    for split, info in failed_files.items():
        lines.append(f"| {split} (failures) | {info['records']} | `{info['file']}` |")
    if empty:
        lines += ["", "No records, so not written: " + ", ".join(f"`{e}`" for e in empty) + "."]
    return lines


def _totals(fmt: str, total: int, duplicates: int, tally: _Tally) -> list[str]:
    unit = "preference pairs" if fmt == "dpo" else "conversations"
    left_out = f"; left out for repeating an earlier record: {duplicates}" if duplicates else ""
    return ["", f"Total: {total} records, {total} distinct {unit}: no two records are "
            f"the same conversation (compared with tool-call ids ignored){left_out}. "
            f"They come from {tally.kept} accepted trajectories "
            f"({tally.distinct} distinct) of {tally.blueprints_behind} blueprints."]


def _split_note(split_text: str | None, seed: int) -> list[str]:
    if not split_text:
        return []
    return ["", f"Split `{split_text}` by blueprint with seed {seed}: every trajectory "
            "of a blueprint (and of the blueprints it was recombined from) is in one "
            "split only, so no task leaks between splits; fractions are of blueprints."]


def _failures_note(failed_files: dict[str, dict[str, Any]]) -> list[str]:
    if not failed_files:
        return []
    return ["", "Failure files hold trajectories that did **not** pass the judge, with "
            "their reasons (`failure`), for analysis or preference training; do not use "
            "them as supervised targets."]


def _domains_section(run: RunData) -> list[str]:
    env = run.manifest.get("env") or {}
    data = f", data from `{env.get('data_dir')}`" if env.get("data_dir") \
        else ", built-in generated data"
    tools = [f"- tools: {TOOL_MODES[bool(env['tau_compat'])]}"] \
        if env.get("tau_compat") is not None else []
    writes = sum(1 for k in run.tool_kinds.values() if k == "write")
    return ["", "## Domains", "",
            f"- environment `{env.get('spec', run.env_name)}`{data}"
            f", run seed {run.manifest.get('seed', 0)}",
            *tools, f"- {len(run.tools)} tools ({writes} that write)"]


def _models_section(run: RunData) -> list[str]:
    lines = ["", "## Models per role", "", "| role | model |", "| --- | --- |"]
    for role, model in run.models().items():
        shown = ", ".join(map(str, model)) if isinstance(model, list) else str(model)
        lines.append(f"| {role} | `{shown}` |")
    return lines


def _funnel_section(run: RunData, tally: _Tally) -> list[str]:
    counts, funnel = tally.counts, tally.funnel
    return [
        "", "## Acceptance funnel", "", "| stage | count |", "| --- | --- |",
        f"| blueprint contexts sampled | {counts['contexts sampled']} |",
        f"| blueprint drafts written (all feedback rounds) | {counts['drafts written']} |",
        f"| blueprints accepted | {len(run.blueprints)} (rescued by feedback: "
        f"{funnel.rescued}, recombined: {funnel.recombined}) |",
        f"| episodes played | {counts['episodes played']} |",
        f"| trajectories accepted (distinct conversations) | {tally.kept} "
        f"({tally.distinct}) |",
        f"| passing episodes that repeated a kept conversation (not kept) | {tally.repeats} |",
        f"| trajectories failed | {len(run.failed)} |"]


def _cost_section(run: RunData, kept: int) -> list[str]:
    usage = run.usage()
    lines = ["", "## Cost", "",
             "| phase | calls | prompt tokens | completion tokens | cost (USD) |",
             "| --- | --- | --- | --- | --- |"]
    total_cost = 0.0
    for phase, u in usage.items():
        total_cost += _cost(u)
        lines.append(f"| {phase} | {u.get('calls', 0):,} | {u.get('prompt_tokens', 0):,} | "
                     f"{u.get('completion_tokens', 0):,} | ${_cost(u):.4f} |")
    if kept:
        lines += ["", f"Total ${total_cost:.4f}, "
                  f"${total_cost / kept:.5f} per accepted trajectory."]
    roles = [(phase, role, r) for phase, u in usage.items()
             for role, r in (u.get("roles") or {}).items()]
    if roles:
        lines += ["", "| phase | role | calls | prompt tokens | cached prompt tokens | "
                  "completion tokens | cost (USD) |", "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {phase} | {role} | {r.get('calls', 0):,} | {r.get('prompt_tokens', 0):,} | "
                  f"{r.get('cached_tokens', 0):,} | {r.get('completion_tokens', 0):,} | "
                  f"${_cost(r):.4f} |" for phase, role, r in roles]
    return lines


def _cost(usage: dict[str, Any]) -> float:
    return float(usage.get("cost", 0) or 0)


def _verification_section() -> list[str]:
    return [
        "", "## How records were verified", "",
        "- **Blueprints** (task + answer key: instruction, ground-truth actions, expected "
        "outputs) passed, in order: a format check (schema, tool names, argument types), "
        "execution of the actions on a fresh copy of the environment, the domain policy as "
        "code over the execution trace, and a review committee of LLM judges (majority per "
        "criterion); rejected drafts were revised with feedback.",
        "- **Conversations**: a simulated customer who knew only the instruction talked to "
        "an agent that knew only the policy and the tools; the agent's calls ran on a fresh "
        "environment. A conversation was kept only if the final environment state's hash "
        "equals the hash reached by replaying the blueprint's actions on a fresh copy, and "
        "every expected output appears in the agent's replies (lower-cased, commas removed)."]


def _format_section(fmt: str, notes: Counter) -> list[str]:
    lines = ["", "## Format", "", FORMAT_NOTES[fmt], ""]
    lines += [f"- {t}" for t in TRANSFORMS[fmt]]
    if notes:
        lines += ["", "Counts of what the conversion left out: "
                  + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(notes.items()))
                  + "."]
    return lines


def _licence_section(license_id: str) -> list[str]:
    return ["", "## Licence", "",
            f"Released under `{license_id}` (set with `apigen-mt export --license`). Text "
            "written by the models listed above may also be subject to their providers' "
            "terms; data loaded with `--data-dir` keeps its own licence."]


def _generator_section(run_name: str, fmt: str) -> list[str]:
    return ["", "## Generator", "",
            f"apigen-mt {generator_version()}, run `{run_name}`, exported as `{fmt}`."]
