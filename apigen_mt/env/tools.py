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

import enum
import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin, get_type_hints

from pydantic import ConfigDict, TypeAdapter, ValidationError, WithJsonSchema, create_model

from apigen_mt.env import docstrings

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
    _schema: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool.

        Built once and the same object afterwards (while name, description and
        parameters stay), so every conversation offers the same definitions and the
        model layer serialises them once (``apigen_mt.llm.cache``). Read it, never
        change it.
        """
        made_of = (self.name, self.description, id(self.parameters))
        if self._schema is None or self._schema[0] != made_of:
            self._schema = (made_of, {
                "type": "function",
                "function": {
                    "name": self.name,
                    "description": self.description,
                    "parameters": self.parameters,
                },
            })
        return self._schema[1]

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


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a docstring (Google, reST or numpy style) into (summary, {argument: text})."""
    summary, args = docstrings.parse(doc)
    return summary, {name: entry.description for name, entry in args.items()}


def json_side(hint: Any) -> Any:
    """The type as JSON arguments carry it: an Enum becomes the Literal of its values
    (the class adapter turns the value back into the member before the call)."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return Literal[tuple(member.value for member in hint)]
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        return Union[tuple(json_side(arg) for arg in get_args(hint))]  # noqa: UP007
    return hint


def _parameter_type(func: Callable[..., Any], p: inspect.Parameter, hints: dict[str, Any],
                    arg_docs: dict[str, docstrings.ArgDoc]) -> Any:
    """The annotation, else the docstring's type, else the default's type."""
    if p.name in hints:
        return hints[p.name]
    doc = arg_docs.get(p.name)
    found = docstrings.type_from_text(doc.type_text if doc else None)
    if found is not None:
        if p.default is None:
            return Optional[found]  # noqa: UP045 (built at run time)
        return found
    if p.default is not inspect.Parameter.empty:
        if p.default is None:
            return Any
        return Number if type(p.default) is float else type(p.default)  # 1 fits 0.5 too
    raise TypeError(f"tool {func.__name__}: argument '{p.name}' has no type hint and its "
                    "docstring gives no type")


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
    summary, parsed = docstrings.parse(func.__doc__)
    arg_docs = {name: entry.description for name, entry in parsed.items()}
    hints = get_type_hints(func, include_extras=True)
    params = [p for p in list(inspect.signature(func).parameters.values())[1:]  # the state
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    fields: dict[str, Any] = {}
    for p in params:
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (json_side(_parameter_type(func, p, hints, parsed)), default)
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
