"""RunConfig: YAML < environment < overrides, strict keys, one-line errors, no secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from apigen_mt.config import (
    ConfigError,
    Endpoint,
    RunConfig,
    default_config_path,
    packaged_config,
)

REPO = Path(__file__).resolve().parents[2]

BASE = """\
seed: 1
roles:
  agent: {model: "sim:sim", temperature: 0.1, max_tokens: 5}
  drafter: {model: "local:m1"}
endpoints:
  local:
    base_url: http://127.0.0.1:9/v1
    api_key_env: LOCAL_KEY
    extra_headers: {X-Api-Key: hunter2, X-Trace: "yes"}
"""


@pytest.fixture
def cfg_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(BASE)
    return path


def test_file_then_env_then_overrides(cfg_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = RunConfig.load(cfg_file)
    assert cfg.seed == 1 and cfg.roles.agent.temperature == 0.1
    assert cfg.roles.agent.max_tokens == 5
    monkeypatch.setenv("APIGEN_MT_SEED", "2")
    monkeypatch.setenv("APIGEN_MT_ROLES__AGENT__TEMPERATURE", "0.4")
    monkeypatch.setenv("APIGEN_MT_SIM__FLAWS", '{"drafter.wrong_argument": 0.3}')
    cfg = RunConfig.load(cfg_file)
    assert cfg.seed == 2 and cfg.roles.agent.temperature == 0.4
    assert cfg.roles.agent.max_tokens == 5  # untouched keys of the file survive
    assert cfg.sim.flaw("drafter.wrong_argument") == 0.3
    assert cfg.sim.flaw("agent.other", 0.05) == 0.05
    cfg = RunConfig.load(cfg_file, {"seed": 3, "roles.agent.temperature": 0.9,
                                    "roles": {"human": {"model": "sim:perfect"}}})
    assert cfg.seed == 3 and cfg.roles.agent.temperature == 0.9
    assert cfg.roles.agent.max_tokens == 5 and cfg.roles.human.model == "sim:perfect"


def test_unrelated_prefixed_env_vars_are_ignored(cfg_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APIGEN_MT_ANCHORS", "/somewhere")
    assert RunConfig.load(cfg_file).seed == 1


def test_unknown_key_names_file_line_and_dotted_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\nroles:\n  drafter:\n    model: sim:sim\n    temprature: 0.3\n")
    with pytest.raises(ConfigError) as err:
        RunConfig.load(path)
    assert str(err.value) == f"{path}:5: roles.drafter.temprature: unknown key"


def test_unknown_key_from_overrides_and_env(cfg_file: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^roles\.agent\.bogus: unknown key$"):
        RunConfig.load(cfg_file, {"roles.agent.bogus": 1})
    monkeypatch.setenv("APIGEN_MT_SIM__SEED", "not-a-number")
    with pytest.raises(ConfigError, match=r"sim\.seed: .*integer"):
        RunConfig.load(cfg_file)


def test_api_key_in_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("endpoints:\n  x:\n    base_url: http://h/v1\n    api_key: sk-123\n")
    with pytest.raises(ConfigError, match=r":4: endpoints\.x\.api_key: unknown key .*api_key_env"):
        RunConfig.load(path)


def test_bad_values_and_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("seed: 1\nroles:\n  agent: {model: gpt4}\n")
    with pytest.raises(ConfigError, match=r"m\.yaml:3: roles\.agent\.model: .*provider:model"):
        RunConfig.load(path)
    path.write_text("seed: 1\nroles:\n  agent: [unclosed\n")
    with pytest.raises(ConfigError, match=r"m\.yaml:4: malformed YAML"):
        RunConfig.load(path)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="config file not found"):
        RunConfig.load(tmp_path / "missing.yaml")


def test_redacted_dump_has_no_secrets(cfg_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", "sk-very-secret")
    dump = RunConfig.load(cfg_file, {"endpoints.local.base_url":
                                     "http://user:pw@127.0.0.1:9/v1"}).redacted_dump()
    text = repr(dump)
    assert "sk-very-secret" not in text and "hunter2" not in text and "pw@" not in text
    ep = dump["endpoints"]["local"]
    # any header may carry a credential whatever its name: every value is masked
    assert ep["api_key_env"] == "LOCAL_KEY" and ep["extra_headers"]["X-Trace"] == "***"


def test_packaged_configs_load_and_match_the_repo_copies() -> None:
    assert RunConfig.load(None).roles.agent.model == "sim:sim"
    assert RunConfig.load(default_config_path()).roles.reviewers[0].model == "sim:sim"
    for name in ("sim", "openai", "vllm"):
        cfg = RunConfig.load(packaged_config(name))
        copy = REPO / "configs" / f"{name}.yaml"
        assert copy.read_text() == packaged_config(name).read_text(), (
            f"configs/{name}.yaml differs from apigen_mt/configs_data/{name}.yaml")
        assert cfg.roles.agent.provider in ({"sim"} | set(cfg.endpoints))
    openai = RunConfig.load(packaged_config("openai")).endpoints["openai"]
    assert openai.api_key_env == "OPENAI_API_KEY" and openai.price_output_per_m > 0


def test_cost_uses_cached_price() -> None:
    ep = Endpoint(base_url="http://x/v1", price_input_per_m=2.0, price_output_per_m=8.0,
                  price_cached_per_m=0.5)
    assert ep.cost(1_000_000, 1_000_000, cached_tokens=500_000) == pytest.approx(
        1.0 + 0.25 + 8.0)
    assert Endpoint(base_url="http://x/v1", price_input_per_m=2.0).cost(
        1000, 0, cached_tokens=1000) == pytest.approx(0.002)


def test_each_layer_owns_its_settings_and_the_model_layer_needs_no_run_config(
        tmp_path: Path) -> None:
    """RunConfig composes the layers' own settings models; the model builders read only
    the model part (any object with roles, endpoints, sim, cache and request_log)."""
    from types import SimpleNamespace

    from apigen_mt.blueprint.settings import BlueprintSettings
    from apigen_mt.llm.registry import build_role_models
    from apigen_mt.llm.settings import CacheSettings, ModelsConfig, Roles, SimSettings
    from apigen_mt.rollout.settings import RolloutSettings

    cfg = RunConfig.load()
    assert isinstance(cfg.blueprint, BlueprintSettings)
    assert isinstance(cfg.rollout, RolloutSettings)
    assert isinstance(cfg.sim, SimSettings) and isinstance(cfg, ModelsConfig)
    models_only = SimpleNamespace(roles=Roles(), endpoints={}, sim=SimSettings(seed=3),
                                  cache=CacheSettings(enabled=False), request_log=False)
    models = build_role_models(models_only, tmp_path)
    assert models.agent.name == "sim:sim" and models.cache is None
    assert issubclass(ConfigError, ValueError)  # callers catching ValueError still do
