"""``export`` and ``stats``: what to do with a run once it holds data."""

from __future__ import annotations

from pathlib import Path

import typer

from apigen_mt import api
from apigen_mt.atomic import write_atomic
from apigen_mt.cli.common import LATEST_RUN_OPT, console, next_line
from apigen_mt.errors import UsageError
from apigen_mt.outputs import check_output_file


def export(
    fmt: str = typer.Option(..., "--format", help="sharegpt, openai, parquet, hf or dpo."),
    run: Path | None = LATEST_RUN_OPT,
    out: Path | None = typer.Option(None, "--out",
                                    help="Output folder (default: RUN/export/FORMAT)."),
    split: str | None = typer.Option(None, "--split",
                                     help="By blueprint, e.g. train=0.9,test=0.1."),
    include_failed: bool = typer.Option(False, "--include-failed",
                                        help="Also write failed trajectories, with reasons."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    license_id: str = typer.Option("cc-by-4.0", "--license",
                                   help="Licence identifier for the dataset card."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid",
                                      help="Leave out records the format rejects (e.g. a "
                                           "malformed tool call) instead of refusing."),
    quiet: bool = typer.Option(False, "--quiet",
                               help="Print nothing on success (errors still go to stderr)."),
):
    """Write the accepted trajectories as training data, with a dataset card."""
    result = api.export(fmt, run=run, out=out, split=split, include_failed=include_failed,
                        seed=seed, license=license_id, skip_invalid=skip_invalid)
    if quiet:
        return
    parts = ", ".join(f"{name} {info['records']}" for name, info in result.files.items())
    failed = ", ".join(f"{name} {info['records']}" for name, info in result.failed_files.items())
    console.print(f"{result.out}: {fmt} export, {parts} records"
                  + (f"; failures: {failed}" if failed else "")
                  + "; dataset card README.md")
    if result.empty:
        console.print(f"no records, so not written: {', '.join(result.empty)}")
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} record(s), e.g. {result.skipped[0]}")
    if run is not None:
        next_line("stats", "--run", str(run))
    else:
        next_line("stats")


def stats(
    run: Path | None = LATEST_RUN_OPT,
    html: Path | None = typer.Option(None, "--html",
                                     help="Also write a self-contained HTML report."),
):
    """Funnel, rejection reasons, distributions, tool coverage, diversity and cost."""
    _stats(run, html)


def _stats(run: Path | None, html: Path | None) -> None:
    from apigen_mt.export.source import RunData
    from apigen_mt.runner.store import resolve_run
    from apigen_mt.stats.compute import compute
    from apigen_mt.stats.html import render_html
    from apigen_mt.stats.terminal import print_stats

    path = resolve_run(run)
    if html is not None:  # before any work: a refusal leaves every file as it was
        check_output_file(html, "--html", input_dirs=[path])
    data = RunData.load(path)
    stats = compute(  # streamed: one record at a time, whatever the size of the run
        env=data.env_name, blueprints=data.blueprints.rows(), rejected=data.rejected.rows(),
        accepted=data.trajectories.rows(), failed=data.failed.rows(), ledger=data.ledger.rows(),
        blueprint_errors=data.blueprint_errors, episode_errors=data.episode_errors,
        tool_kinds=data.tool_kinds, usage=data.usage())
    print_stats(stats, console)
    if html is not None:
        page = render_html(stats, f"apigen-mt run report: {path.name}")
        try:
            html.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(html, page)
        except OSError as exc:
            raise UsageError(f"cannot write {html}: {exc.strerror or exc}") from None
        console.print(f"report written to {html}")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``stats``."""
    app.command("export")(export)
    app.command("stats")(stats)
