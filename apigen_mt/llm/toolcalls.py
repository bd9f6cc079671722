"""Turn a model's raw tool call into a typed :class:`ToolCall`, never an exception.

Shared by every backend (the OpenAI adapter, ``sim``, scripted models) so a malformed
call is reported identically wherever it came from. The role that asked decides what to
do about it (principle 8: semantic retries live in the role, not here).

The schema check is deliberately small: required keys, no unexpected keys, JSON types,
``enum``, and the same rules recursively for nested objects and array items. That is
what tool schemas derived from typed Python functions use.
"""

from __future__ import annotations

from typing import Any

import orjson

from apigen_mt.llm.base import ToolCall, ToolCallError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list,), "object": (dict,), "null": (type(None),),
}


def tool_schemas(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """Name → parameters schema for OpenAI-format tools (``{"type": "function", …}``)."""
    out: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        fn = tool.get("function", tool)
        if isinstance(fn, dict) and "name" in fn:
            out[fn["name"]] = fn.get("parameters") or {"type": "object", "properties": {}}
    return out


def parse_tool_call(call_id: str, name: str, raw_arguments: str,
                    tools: list[dict[str, Any]] | dict[str, dict[str, Any]] | None) -> ToolCall:
    """Validate one call against the offered tools.

    ``tools`` is the list sent to the model (or its :func:`tool_schemas`); ``None`` means
    no tools were offered in a form we can check, so only the JSON is validated.
    """
    def bad(kind: str, message: str) -> ToolCall:
        return ToolCall(id=call_id, name=name, raw_arguments=raw_arguments,
                        error=ToolCallError(kind=kind, message=message))

    schemas = tools if isinstance(tools, dict) else (
        tool_schemas(tools) if tools is not None else None)
    try:
        args = orjson.loads(raw_arguments) if raw_arguments.strip() else {}
    except orjson.JSONDecodeError as exc:
        return bad("bad_json", f"arguments of {name!r} are not valid JSON: {exc}")
    if not isinstance(args, dict):
        return bad("not_object", f"arguments of {name!r} must be a JSON object, "
                                 f"got {_json_type(args)}")
    if schemas is not None:
        if name not in schemas:
            offered = ", ".join(sorted(schemas)) or "none"
            return bad("unknown_tool", f"tool {name!r} is not offered (offered: {offered})")
        problem = schema_problem(args, schemas[name])
        if problem:
            return bad("schema", f"arguments of {name!r}: {problem}")
    return ToolCall(id=call_id, name=name, raw_arguments=raw_arguments, arguments=args)


def schema_problem(value: Any, schema: dict[str, Any], path: str = "") -> str | None:
    """The first way ``value`` breaks ``schema`` (a JSON-schema subset), or None."""
    where = path or "arguments"
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        if any(schema_problem(value, s, path) is None for s in options):
            return None
        return f"{where}: {_json_type(value)} matches none of the allowed forms"
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, t) for t in names):
            return f"{where}: expected {' or '.join(names)}, got {_json_type(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where}: {value!r} is not one of {schema['enum']}"
    if isinstance(value, dict) and ("properties" in schema or "required" in schema):
        props: dict[str, Any] = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                return f"missing required argument {_join(path, key)!r}"
        if schema.get("additionalProperties", False) is False:
            extra = [k for k in value if k not in props]
            if extra:
                return f"unexpected argument {_join(path, extra[0])!r}"
        for key, sub in value.items():
            if key in props and isinstance(props[key], dict):
                problem = schema_problem(sub, props[key], _join(path, key))
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problem = schema_problem(item, schema["items"], f"{where}[{i}]")
            if problem:
                return problem
    return None


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(name, (object,)))


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
