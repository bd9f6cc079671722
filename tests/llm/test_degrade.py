"""Calls that degrade well: tool_choice fallback, no retry storm on a slow self-hosted
server, packaged configs by name, and the opt-in request log with secrets removed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from apigen_mt.commands_model import register
from apigen_mt.config import Endpoint, RunConfig, packaged_names
from apigen_mt.llm.base import ModelError, Settings
from apigen_mt.llm.openai_adapter import EndpointRuntime, OpenAIChatModel
from apigen_mt.llm.server import serve_in_thread
from apigen_mt.sim import SimModel, builtin_roles
from tests.faults.conftest import apigen, cli_env, rows

REPO = Path(__file__).resolve().parents[2]


class RefusesRequired:
    """A model whose server fails on tool_choice "required", as llama.cpp does (HTTP 500)."""

    def __init__(self) -> None:
        self.inner = SimModel(roles=builtin_roles())
        self.name = self.inner.name
        self.choices: list[Any] = []

    async def complete(self, messages, tools=None, settings=None):
        settings = settings or Settings()
        self.choices.append(settings.tool_choice)
        if settings.tool_choice == "required":
            raise RuntimeError("GGML_ASSERT: tool_choice required is not supported")
        # with "auto" it calls the tool, as a model asked to use it would
        forced = settings.model_copy(update={"tool_choice": "required"})
        return await self.inner.complete(messages, tools, forced)


def test_check_falls_back_to_auto_when_required_gets_a_500(tmp_path: Path) -> None:
    model = RefusesRequired()
    app = typer.Typer()
    register(app)
    with serve_in_thread(model) as handle:
        config = tmp_path / "c.yaml"
        config.write_text(f'roles:\n  agent: {{model: "local:sim"}}\nendpoints:\n'
                          f'  local: {{base_url: "{handle.base_url}", max_retries: 3}}\n')
        result = CliRunner().invoke(app, ["check", "--config", str(config)])
        # no retries of the 500: one try, then auto (then the n=2 probe, once tools work)
        assert handle.stats()["requests"] == 3
    assert result.exit_code == 0, result.output
    assert "sim: ok, tool call in" in result.output
    assert "tool_choice 'required' refused; 'auto' works" in result.output
    assert model.choices[:2] == ["required", "auto"]


def _hanging(timeout_s: float, **endpoint: Any):
    handle = serve_in_thread(SimModel(), faults=("timeout",), fault_rate=1.0, hang_s=60)
    ep = Endpoint(base_url=handle.base_url, timeout_s=timeout_s, max_retries=5,
                  retry_backoff_s=0.01, retry_backoff_max_s=0.02, max_concurrency=8,
                  **endpoint)
    runtime = EndpointRuntime("local", ep)
    return handle, OpenAIChatModel("local:sim", "sim", ep, runtime=runtime), runtime


async def _many(model: OpenAIChatModel, n: int) -> list[BaseException]:
    messages = [{"role": "user", "content": "hi"}]
    out = await asyncio.gather(*(model.complete(messages) for _ in range(n)),
                               return_exceptions=True)
    await model.runtime.aclose()
    return out


def test_a_self_hosted_server_that_times_out_sees_no_retry_storm() -> None:
    handle, model, runtime = _hanging(0.3)
    try:
        errors = asyncio.run(_many(model, 8))
        requests = handle.stats()["requests"]
    finally:
        handle.stop()
    assert all(isinstance(e, ModelError) and e.kind == "timeout" for e in errors)
    # 8 calls, each tried at most twice (max_retries is 5): not 8 × 6 = 48
    assert requests <= 16, requests
    assert runtime.semaphore.limit == 1  # in-flight requests halved down to one
    assert "timeouts are retried at most 1 time(s) here" in str(errors[0])
    assert "raise endpoints.local.timeout_s" in str(errors[0])


def test_a_hosted_api_still_retries_its_timeouts() -> None:
    handle, model, runtime = _hanging(0.2, self_hosted=False)
    try:
        errors = asyncio.run(_many(model, 2))
        requests = handle.stats()["requests"]
    finally:
        handle.stop()
    assert all(isinstance(e, ModelError) for e in errors)
    assert requests == 12 and runtime.semaphore.limit == 8


def test_self_hosted_is_inferred_from_the_host() -> None:
    def hosted(url: str, **kw: Any) -> bool:
        return Endpoint(base_url=url, **kw).is_self_hosted()

    assert hosted("http://127.0.0.1:8080/v1") and hosted("http://localhost:11434/v1")
    assert hosted("http://10.0.0.7:8000/v1") and hosted("http://gpu-box:8000/v1")
    assert not hosted("https://api.openai.com/v1")
    assert not hosted("http://127.0.0.1:8000/v1", self_hosted=False)


def test_packaged_configs_resolve_by_name_from_anywhere(tmp_path: Path) -> None:
    assert {"sim", "openai", "vllm", "llamacpp", "ollama"} <= set(packaged_names())
    for name in ("llamacpp", "ollama"):
        assert (REPO / "configs" / f"{name}.yaml").read_text() == (
            REPO / "apigen_mt" / "configs_data" / f"{name}.yaml").read_text()
        cfg = RunConfig.load(name)
        (endpoint,) = cfg.endpoints.values()
        assert endpoint.context_window and endpoint.is_self_hosted()
        assert all(spec.max_tokens for _, spec in cfg.roles.items())
    # from a folder with no configs in it, through the installed command
    env = cli_env(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "apigen_mt", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)

    result = cli("check", "--config", "openai")  # no key: nothing leaves the machine
    assert result.returncode == 1
    assert ("FAIL  openai (https://api.openai.com/v1): endpoint 'openai' needs the "
            "environment variable OPENAI_API_KEY") in result.stdout
    missing = cli("check", "--config", "nosuch")
    assert missing.returncode == 2 and "packaged: " in missing.stderr
    assert "llamacpp" in missing.stderr


@pytest.fixture
def keyed_server():
    secret = f"sk-logtest-{uuid.uuid4().hex}"
    # the served sim plays the pipeline's roles
    with serve_in_thread(SimModel(roles=builtin_roles()), api_key=secret) as handle:
        yield handle, secret


def test_request_log_holds_every_call_of_every_role_without_the_key(keyed_server,
                                                                    tmp_path: Path) -> None:
    handle, secret = keyed_server
    roles = "\n".join(f'  {r}: {{model: "local:sim"}}'
                      for r in ("drafter", "feedback", "human", "critic", "agent"))
    config = tmp_path / "local.yaml"
    config.write_text(f'roles:\n{roles}\n  reviewers: [{{model: "local:sim"}}]\n'
                      f'endpoints:\n  local: {{base_url: "{handle.base_url}", '
                      f'api_key_env: LOG_TEST_KEY, context_window: 32000}}\n')
    out = tmp_path / "run"
    env = cli_env(tmp_path, LOG_TEST_KEY=secret)
    result = apigen("run", "--env", "retail", "--n", "2", "--out", str(out), "--quiet",
                    "--config", str(config), "--log-requests", env=env)
    assert result.returncode == 0, result.stderr
    logged = rows(out / "requests.jsonl")
    usage = json.loads((out / "manifest.json").read_text())["usage"]
    calls = sum(usage[p]["calls"] + usage[p]["errors"] for p in ("blueprint", "rollout"))
    assert len(logged) == calls
    assert {r["role"] for r in logged} >= {"drafter", "reviewers", "human", "critic", "agent"}
    agent = [r for r in logged if r["role"] == "agent"]
    assert agent[0]["tools"] and all("tools" not in r for r in agent[1:])  # written once
    assert len({r["tools_digest"] for r in agent}) == 1
    assert all(r["fit"]["window"] == 32000 for r in logged if "reply" in r)
    assert secret.encode() not in (out / "requests.jsonl").read_bytes()
    # off unless asked for
    plain = tmp_path / "plain"
    apigen("run", "--env", "retail", "--n", "1", "--out", str(plain), "--quiet",
           "--config", str(config), env=env)
    assert not (plain / "requests.jsonl").exists()


def test_redaction_masks_key_shapes_and_known_keys(tmp_path: Path) -> None:
    from apigen_mt.llm.requestlog import RequestLog

    log = RequestLog(tmp_path / "r.jsonl", ["hunter2-secret"])
    log.write({"messages": [{"content": "my key is sk-abcdefghijklmnopqrstu and "
                                        "hunter2-secret, Bearer abc.def.ghi123"}]})
    log.close()
    text = (tmp_path / "r.jsonl").read_text()
    assert "sk-abc" not in text and "hunter2" not in text and "abc.def" not in text
    assert text.count("***") == 3
