"""Tools are typed Python functions; their OpenAI function schema is derived from them.

A domain declares a tool with :func:`tool`::

    @tool(kind="write")
    def cancel_pending_order(db: State, order_id: str,
                             reason: Literal["no longer needed", "ordered by mistake"]) -> str:
        '''Cancel a pending order.

        Args:
            order_id: The order id, such as '#W0000000'.
            reason: Why the user cancels.
        '''

The first parameter receives the environment's state and is not part of the schema.
Argument descriptions come from the docstring's ``Args:`` section; types, enums and
nested objects (``TypedDict``) from the annotations, through pydantic.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_type_hints

from pydantic import ConfigDict, TypeAdapter, ValidationError, WithJsonSchema, create_model

ToolKind = Literal["read", "write"]

# A JSON number that keeps ints as ints: pydantic's `float` would turn 250 into 250.0,
# which changes what the tool stores and so the state hash.
Number = Annotated[Union[int, float], WithJsonSchema({"type": "number"})]  # noqa: UP007


class ToolError(Exception):
    """Raised inside a tool to fail the call; the message becomes ``"Error: <message>"``."""


class ArgumentError(ValueError):
    """The arguments of a call do not fit the tool's schema."""


@dataclass
class Tool:
    """A callable tool with its derived schema and its tags."""

    name: str
    func: Callable[..., Any]
    kind: ToolKind
    description: str
    parameters: dict[str, Any]
    ends_conversation: bool = False
    _validator: Any = field(default=None, repr=False)

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def validate(self, arguments: Any, nested_extra_keys: bool = False) -> dict[str, Any]:
        """Check arguments against the schema; raise :class:`ArgumentError` with a reason.

        ``nested_extra_keys`` lets objects nested inside the arguments carry keys the
        schema does not name (τ-bench's tools read the keys they know and ignore the
        rest); an unknown argument at the top level is always an error.
        """
        if not isinstance(arguments, dict):
            raise ArgumentError(f"arguments must be a JSON object, got {type(arguments).__name__}")
        try:
            self._validator.validate_python(arguments, strict=True)
        except ValidationError as exc:
            errors = [e for e in exc.errors() if not (
                nested_extra_keys and e["type"] == "extra_forbidden" and len(e["loc"]) > 1)]
            if errors:
                raise ArgumentError(_explain(errors)) from None
        return arguments


_BRANCHES = {"int", "float", "str", "bool", "list", "dict", "none"}


def _explain(errors: list[Any]) -> str:
    by_loc: dict[str, str] = {}
    for err in errors:
        loc_parts = []
        for p in err["loc"]:
            if isinstance(p, str) and (p in _BRANCHES or "[" in p):
                break  # pydantic names union branches in the location; users need the path
            loc_parts.append(str(p))
        loc = ".".join(loc_parts) or "arguments"
        kind = err["type"]
        if kind == "missing":
            by_loc[loc] = f"missing argument '{loc}'"
        elif kind == "extra_forbidden":
            by_loc[loc] = f"unexpected argument '{loc}'"
        else:
            # for a union (int | float) the last branch's message is the general one
            by_loc[loc] = f"invalid argument '{loc}': {err['msg']}"
    return "; ".join(list(by_loc.values())[:3])


_ARG_START = re.compile(r"^(\w+)\s*(?:\([^)]*\))?:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (summary, {argument: description})."""
    if not doc:
        return "", {}
    summary: list[str] = []
    args: dict[str, str] = {}
    section = "summary"
    arg_indent: int | None = None
    current: str | None = None
    for line in inspect.cleandoc(doc).splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 0 and stripped.endswith(":") and " " not in stripped:
            section = "args" if stripped in ("Args:", "Arguments:", "Parameters:") else "other"
            arg_indent, current = None, None
            continue
        if section == "summary":
            if stripped:
                summary.append(stripped)
        elif section == "args" and stripped:
            if arg_indent is None:
                arg_indent = indent
            match = _ARG_START.match(stripped)
            if indent == arg_indent and match:
                current = match.group(1)
                args[current] = match.group(2)
            elif current:
                args[current] = f"{args[current]} {stripped}".strip()
    return " ".join(summary), args


def _inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    """Inline ``$ref``s and drop pydantic's titles so the schema reads like a hand-written one."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            # a TypedDict's class docstring is not an argument description
            target = {k: v for k, v in defs[schema["$ref"].split("/")[-1]].items()
                      if k != "description"}
            merged = {**_inline_refs(target, defs), **{k: v for k, v in schema.items()
                                                       if k != "$ref"}}
            return _inline_refs(merged, defs)
        out = {}
        for key, value in schema.items():
            if key in ("title", "$defs", "additionalProperties"):
                continue
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: _inline_refs(sub, defs) for name, sub in value.items()}
            else:
                out[key] = _inline_refs(value, defs)
        return out
    if isinstance(schema, list):
        return [_inline_refs(item, defs) for item in schema]
    return schema


def _clean_enum(schema: Any) -> Any:
    """Literal[...] of strings renders as ``{"type": "string", "enum": [...]}``."""
    if isinstance(schema, dict):
        schema = {k: _clean_enum(v) for k, v in schema.items()}
        if "const" in schema and "enum" not in schema:
            schema["enum"] = [schema.pop("const")]
        if "enum" in schema and "type" not in schema:
            values = schema["enum"]
            if all(isinstance(v, str) for v in values):
                schema["type"] = "string"
            elif all(isinstance(v, int) for v in values):
                schema["type"] = "integer"
        return schema
    if isinstance(schema, list):
        return [_clean_enum(v) for v in schema]
    return schema


def derive_schema(func: Callable[..., Any]) -> tuple[str, dict[str, Any], Any]:
    """Derive (description, JSON parameters schema, validator) from a typed function."""
    summary, arg_docs = parse_docstring(func.__doc__)
    hints = get_type_hints(func, include_extras=True)
    params = list(inspect.signature(func).parameters.values())[1:]  # first is the state
    fields: dict[str, Any] = {}
    for p in params:
        if p.name not in hints:
            raise TypeError(f"tool {func.__name__}: argument '{p.name}' has no type hint")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], default)
    model = create_model(
        f"{func.__name__}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    raw = model.model_json_schema()
    schema = _clean_enum(_inline_refs(raw, raw.get("$defs", {})))
    schema.pop("additionalProperties", None)
    props = schema.get("properties", {})
    for name, prop in props.items():
        if arg_docs.get(name):
            prop["description"] = arg_docs[name]
    parameters = {"type": "object", "properties": props, "required": schema.get("required", [])}
    return summary, parameters, TypeAdapter(model)


def tool(
    kind: ToolKind = "read",
    *,
    name: str | None = None,
    ends_conversation: bool = False,
) -> Callable[[Callable[..., Any]], Tool]:
    """Declare a typed function as a tool; ``kind`` tags it read or write."""

    def wrap(func: Callable[..., Any]) -> Tool:
        description, parameters, validator = derive_schema(func)
        return Tool(
            name=name or func.__name__,
            func=func,
            kind=kind,
            description=description,
            parameters=parameters,
            ends_conversation=ends_conversation,
            _validator=validator,
        )

    return wrap
