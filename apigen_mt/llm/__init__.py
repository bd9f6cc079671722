"""The model layer: one port (:class:`ChatModel`), its backends, cache and accounting.

Backends: ``sim`` (offline: the :mod:`apigen_mt.sim` package, which the registry builds
with the pipeline's roles), any OpenAI-compatible endpoint
(:mod:`apigen_mt.llm.openai_adapter`, the only module that imports ``openai``; not
imported here so offline runs never load it), and :class:`ScriptedModel` for tests.
"""

from importlib import import_module
from typing import Any

from apigen_mt.llm.base import (
    ChatModel,
    Completion,
    ModelError,
    Settings,
    ToolCall,
    ToolCallError,
    Usage,
)
from apigen_mt.llm.cache import CachedModel, ResponseCache
from apigen_mt.llm.toolcalls import parse_tool_call
from apigen_mt.llm.usage import UsageSnapshot, UsageStats, UsageTracker

__all__ = [
    "CachedModel", "ChatModel", "Completion", "ModelError", "ResponseCache", "RoleModels",
    "ScriptExhausted", "ScriptedModel", "Settings",
    "ToolCall", "ToolCallError", "Usage", "UsageSnapshot", "UsageStats", "UsageTracker",
    "build_model", "build_role_models", "parse_tool_call",
]

# The registry (which builds every backend, the sim among them) and the scripted model
# (which answers as the sim does) are loaded on first use, so a backend package can
# import the port (``apigen_mt.llm.base``) without building the registry that builds it.
_LAZY = {"RoleModels": "registry", "build_model": "registry", "build_role_models": "registry",
         "ScriptedModel": "scripted", "ScriptExhausted": "scripted"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"apigen_mt.llm.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
