"""Model-layer commands: ``serve`` (an OpenAI-compatible server) and ``check`` (endpoints).

``register(app)`` adds them to the main typer app; ``python -m apigen_mt.commands_model``
runs them on their own.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from apigen_mt import bounds
from apigen_mt.config import ConfigError, RunConfig
from apigen_mt.errors import RunFailure
from apigen_mt.redact import redact_text, redact_url


def serve(
    model: str = typer.Option("sim:sim", "--model", help="The model to serve (provider:model)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port; 0 picks a free one (printed)."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", help="Added delay per request."),
    jitter_ms: float = typer.Option(0.0, "--jitter-ms", help="Random extra delay, 0..this."),
    fault_rate: float = typer.Option(0.0, "--fault-rate", help="Share of requests that fail."),
    faults: str = typer.Option("429,500,timeout,disconnect,bad-json,bad-args,empty", "--faults",
                               help="Comma-separated fault kinds to draw from."),
    fault_first: int = typer.Option(0, "--fault-first",
                                    help="Fail the first N requests (deterministic)."),
    retry_after: float = typer.Option(1.0, "--retry-after", help="Retry-After sent with 429."),
    api_key_env: str | None = typer.Option(
        None, "--api-key-env", help="Require the key held in this environment variable."),
    model_name: str | None = typer.Option(
        None, "--model-name", help="Model id clients must ask for (default: after the colon)."),
    config: Path | None = typer.Option(None, "--config", help="Run config (sim settings, "
                                                                 "endpoints)."),
    cache: Path | None = typer.Option(
        None, "--cache", help="Answer repeated requests from a response cache in this "
                              "folder (benchmarks: a warm cache makes the served model cost "
                              "no CPU; latency is still added)."),
):
    """Serve a model over an OpenAI-compatible HTTP API (default: the offline sim)."""
    from apigen_mt.llm.registry import build_model
    from apigen_mt.llm.server import ServeOptions, run_server

    bounds.check(port=port, latency_ms=latency_ms, jitter_ms=jitter_ms, fault_rate=fault_rate,
                 fault_first=fault_first, retry_after=retry_after)
    cfg = RunConfig.load(config)
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ConfigError(f"serve needs the environment variable {api_key_env}")
    try:
        options = ServeOptions(
            model_name=model_name, latency_ms=latency_ms, jitter_ms=jitter_ms,
            fault_rate=fault_rate, faults=tuple(f.strip() for f in faults.split(",") if f.strip()),
            fault_first=fault_first, retry_after_s=retry_after, api_key=api_key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    chat_model = build_model(model, cfg)
    if cache is not None:
        from apigen_mt.llm.cache import CACHE_FILE, CachedModel, ResponseCache

        chat_model = CachedModel(chat_model, ResponseCache(cache / CACHE_FILE))

    def ready(base_url: str) -> None:
        typer.echo(f"serving {model} as {options.model_name or model.split(':', 1)[1]!r} "
                   f"at {base_url}", err=False)

    run_server(chat_model, host, port, options, on_ready=ready)


def check(
    config: Path | None = typer.Option(None, "--config", help="Run config to check."),
):
    """Check every endpoint the config's roles use: reachable, key, model, tool calling."""
    from apigen_mt.llm.openai_adapter import probe_endpoint

    cfg = RunConfig.load(config)
    wanted: dict[str, list[str]] = {}
    for _, spec in cfg.roles.items():
        ids = wanted.setdefault(spec.provider, [])
        if spec.model_id not in ids:
            ids.append(spec.model_id)
    failed = 0
    for provider, ids in wanted.items():
        if provider == "sim":
            typer.echo(f"ok    sim: built in, offline ({', '.join(ids)})")
            continue
        endpoint = cfg.endpoints.get(provider)
        if endpoint is None:
            typer.echo(f"FAIL  {provider}: no endpoint of that name in the config")
            failed += 1
            continue
        results = asyncio.run(probe_endpoint(provider, endpoint, ids))
        bad = [r for r in results if not r.ok]
        for r in bad:
            typer.echo(f"FAIL  {redact_text(r.message)}")
        if not bad:
            detail = "; ".join(r.message.split(": ", 1)[1] for r in results)
            typer.echo(redact_text(f"ok    {provider} ({redact_url(endpoint.base_url)}): {detail}"))
        failed += bool(bad)
    if failed:
        raise RunFailure(f"{failed} endpoint(s) failed the check")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``check`` to ``app``."""
    app.command("serve")(serve)
    app.command("check")(check)


def main() -> None:
    """Run the model commands on their own (``python -m apigen_mt.commands_model``)."""
    from apigen_mt.errors import guarded

    app = typer.Typer(add_completion=False, no_args_is_help=True)
    register(app)
    raise SystemExit(guarded(app))


if __name__ == "__main__":
    main()
