"""The run configuration: one pydantic-settings model, layered YAML < environment < flags.

Precedence is implemented by pydantic-settings itself (``settings_customise_sources``):
the YAML file is the lowest source, ``APIGEN_MT_*`` environment variables (nested with
``__``, e.g. ``APIGEN_MT_ROLES__AGENT__TEMPERATURE=0.2``) override it, and the explicit
``overrides`` dict (command-line flags; dotted keys allowed) overrides both.

Secrets never live in a config: an endpoint names the environment variable that holds
its key (``api_key_env``), so :meth:`RunConfig.redacted_dump` can be written into every
run directory as it is.

The ready configurations ship inside the package (``apigen_mt/configs_data/*.yaml``,
read with :mod:`importlib.resources`, so they load after a normal ``pip install``);
``configs/`` at the top of the repository holds identical copies for people browsing
the source (a test keeps them in sync).
"""

from __future__ import annotations

import contextvars
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from apigen_mt.blueprint.settings import BlueprintSettings
from apigen_mt.errors import ConfigError
from apigen_mt.llm.settings import (
    MODEL_REF,
    CacheSettings,
    Endpoint,
    ModelsConfig,
    RoleModel,
    Roles,
    SimSettings,
)
from apigen_mt.rollout.settings import RolloutSettings

# Each layer owns the settings it reads (llm/settings.py, blueprint/settings.py,
# rollout/settings.py); they are re-exported here, where they are composed.
__all__ = [
    "MODEL_REF", "CacheSettings", "ConfigError", "Endpoint", "ModelsConfig", "RoleModel",
    "Roles", "RunConfig", "SimSettings", "default_config_path", "packaged_config",
    "packaged_names", "resolve_config",
]

ENV_PREFIX = "APIGEN_MT_"

_yaml_file: contextvars.ContextVar[Any] = contextvars.ContextVar("apigen_mt_yaml", default=None)


class RunConfig(BaseSettings):
    """Everything a run needs to know about models, limits and paths: the settings each
    layer owns, composed (the model layer reads it as :class:`ModelsConfig`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
        validate_default=True, nested_model_default_partial_update=False,
    )

    seed: int = 0
    # τ-bench's exact tools, quirks included (true), or the domains' corrected tools
    # (false); unset: exact only on τ-bench's own data loaded with --data-dir.
    tau_compat: bool | None = None
    roles: Roles = Field(default_factory=Roles)
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)
    sim: SimSettings = Field(default_factory=SimSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    # Opt-in: write every role's request and reply (secrets removed) to
    # <run dir>/requests.jsonl, to see what a model saw.
    request_log: bool = False
    # The method's knobs, typed where they are used (unknown keys are errors here too).
    blueprint: BlueprintSettings = Field(default_factory=BlueprintSettings)
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: flags (init kwargs) > environment > YAML file. No .env / secrets dir.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _yaml_file.get()
        if path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    @classmethod
    def load(cls, path: str | Path | None = None,
             overrides: dict[str, Any] | None = None) -> RunConfig:
        """Load ``path`` (default: the packaged offline ``sim.yaml``), then env, then overrides.

        ``overrides`` may use dotted keys: ``{"roles.agent.model": "openai:gpt-4o"}``.
        Raises :class:`ConfigError` with one clear line on any problem.
        """
        source: Any = default_config_path() if path is None else resolve_config(path)
        text = _read_text(source)
        _check_yaml(text, source)
        token = _yaml_file.set(source)
        try:
            return cls(**_expand_dotted(overrides or {}))
        except ValidationError as exc:
            raise ConfigError(_explain(exc, text, source)) from None
        except SettingsError as exc:  # a malformed APIGEN_MT_* value (e.g. bad JSON)
            cause = f": {exc.__cause__}" if exc.__cause__ else ""
            raise ConfigError(f"{exc} (check the {ENV_PREFIX}* environment variables)"
                              f"{cause}") from None
        finally:
            _yaml_file.reset(token)

    def redacted_dump(self) -> dict[str, Any]:
        """The resolved config as JSON-able data, safe to write into a run directory.

        API keys are never part of a config (only env var names are); every header value
        (any header may carry a credential, whatever its name) and credentials in URLs
        are masked as well.
        """
        from apigen_mt.redact import MASK, redact_url

        data = self.model_dump(mode="json")
        for ep in data["endpoints"].values():
            ep["base_url"] = redact_url(ep["base_url"])
            ep["extra_headers"] = {k: MASK for k in ep["extra_headers"]}
        return data


def default_config_path() -> Any:
    """The packaged offline configuration (every role ``sim:sim``), as a Traversable."""
    return packaged_config("sim")


def packaged_config(name: str) -> Any:
    """A ready configuration shipped in the package (``sim``, ``openai``, ``llamacpp`` …)."""
    ref = resources.files("apigen_mt.configs_data").joinpath(f"{name}.yaml")
    if not ref.is_file():
        raise ConfigError(f"no packaged configuration named {name!r} "
                          f"(packaged: {', '.join(packaged_names())})")
    return ref


def packaged_names() -> list[str]:
    """The names ``--config`` accepts besides a file path."""
    folder = resources.files("apigen_mt.configs_data")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_config(path: str | Path) -> Any:
    """A config file, or a packaged config by name (``openai``, ``llamacpp``) from anywhere.

    An existing file always wins; a bare name (no folder, no suffix) that is not a file
    names a packaged config.
    """
    file = Path(path)
    if file.exists() or len(file.parts) != 1:
        return file
    name = file.name[:-5] if file.name.endswith(".yaml") else file.name
    if name in packaged_names():
        return packaged_config(name)
    if file.suffix:
        return file  # "nope.yaml": let the reader say it is not found
    raise ConfigError(f"{path}: config file not found, and no packaged config has that name "
                      f"(packaged: {', '.join(packaged_names())})")


# --- helpers -------------------------------------------------------------------------------


def _read_text(source: Any) -> str:
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{source}: the config is a folder, not a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read config file ({exc.strerror})") from None
    if b"\x00" in data:
        raise ConfigError(f"{source}: the config is a binary file, not YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: the config is not UTF-8 text (byte {exc.start})") \
            from None


def _check_yaml(text: str, source: Any) -> None:
    """Fail early, with file:line, on malformed YAML or a top level that is not a mapping."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the config must be a mapping of sections, "
                          f"not a {type(data).__name__}")


def _expand_dotted(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(value, dict):
            value = _expand_dotted(value)
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r} conflicts with another override")
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]].update(value)
        else:
            node[parts[-1]] = value
    return out


def _explain(exc: ValidationError, text: str, source: Any) -> str:
    """One line: ``file:line: dotted.key: what is wrong`` for the first error (+N more)."""
    errors = exc.errors()
    err = errors[0]
    loc = [str(p) for p in err["loc"]]
    dotted = ".".join(loc)
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
        if loc and loc[-1] in ("api_key", "key", "token"):
            msg += " (put the key in an environment variable and name it in api_key_env)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    else:
        msg = err["msg"]
    variable = _env_variable_for(loc)
    if variable is not None:  # the environment overrides the file: blame the variable
        where = f"environment variable {variable}: "
    else:
        line = _line_of(text, loc)
        where = f"{source}:{line}: " if line else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{dotted}: {msg}{more}"


def _env_variable_for(loc: list[str]) -> str | None:
    """The ``APIGEN_MT_*`` variable that set ``loc`` (or one of its parents), if any."""
    import os

    names = {k.upper(): k for k in os.environ if k.upper().startswith(ENV_PREFIX)}
    for depth in range(len(loc), 0, -1):
        name = ENV_PREFIX + "__".join(loc[:depth]).upper()
        if name in names:
            return names[name]
    return None


def _line_of(text: str, loc: list[str]) -> int | None:
    """The 1-based line of a dotted key in the YAML text, if it is there."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == part:
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return None  # not in the file (it came from the environment or a flag)
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() \
                and int(part) < len(node.value):
            node = node.value[int(part)]
            line = node.start_mark.line + 1
        else:
            return None
    return line
