"""The model layer: one port (:class:`ChatModel`), its backends, cache and accounting.

Backends: ``sim`` (offline, :mod:`apigen_mt.llm.sim`), any OpenAI-compatible endpoint
(:mod:`apigen_mt.llm.openai_adapter`, the only module that imports ``openai``; not
imported here so offline runs never load it), and :class:`ScriptedModel` for tests.
"""

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
from apigen_mt.llm.registry import RoleModels, build_model, build_role_models
from apigen_mt.llm.scripted import ScriptedModel, ScriptExhausted
from apigen_mt.llm.sim import SimModel, SimReply, SimRequest, register_sim_role
from apigen_mt.llm.toolcalls import parse_tool_call
from apigen_mt.llm.usage import UsageSnapshot, UsageStats, UsageTracker

__all__ = [
    "CachedModel", "ChatModel", "Completion", "ModelError", "ResponseCache", "RoleModels",
    "ScriptExhausted", "ScriptedModel", "Settings", "SimModel", "SimReply", "SimRequest",
    "ToolCall", "ToolCallError", "Usage", "UsageSnapshot", "UsageStats", "UsageTracker",
    "build_model", "build_role_models", "parse_tool_call", "register_sim_role",
]
