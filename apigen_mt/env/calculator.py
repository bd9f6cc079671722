"""``calculate``'s arithmetic: τ-bench's results and error texts, without ``eval``.

τ-bench accepts an expression made only of digits, ``+ - * / ( ) .`` and spaces, hands it
to Python's ``eval`` and returns ``str(round(float(result), 2))``, or ``Error: <message>``
for whatever Python raised. Here the same expression is parsed with :mod:`ast` (the same
parser, so the same syntax errors) and only the node kinds those characters can produce
are evaluated, with Python's own operators, so results and messages match.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

ALLOWED_CHARS = frozenset("0123456789+-*/(). ")


class CalculationError(Exception):
    """The expression cannot be evaluated; the message is τ-bench's text."""


_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_MAX_EXPONENT = 10_000


def _evaluate(node: ast.AST) -> Any:
    """Evaluate the few node kinds the allowed characters can produce, with Python semantics."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):  # numbers, and `...` (which float() then rejects)
        return node.value
    if isinstance(node, ast.Tuple) and not node.elts:  # `()`
        return ()
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if (isinstance(node.op, ast.Pow) and type(left) is int and type(right) is int
                and right > _MAX_EXPONENT and abs(left) > 1):
            # Python would spend unbounded time and memory on the exact integer, which
            # float() then rejects with this message; stop early with the same text.
            raise OverflowError("int too large to convert to float")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call):  # `2(3)`: no comma is allowed, so at most one argument
        _call(node)
    raise ValueError("unsupported expression")


def _call(node: ast.Call) -> None:
    """A "call" of a number can only fail; fail with the message Python gives."""
    target = _evaluate(node.func)
    for arg in node.args:
        value = _evaluate(arg.value if isinstance(arg, ast.Starred) else arg)
        if isinstance(arg, ast.Starred) and not isinstance(value, tuple):
            raise TypeError(f"{target} argument after * must be an iterable, "
                            f"not {type(value).__name__}")
    for keyword in node.keywords:  # only `**value` can be written without letters
        value = _evaluate(keyword.value)
        raise TypeError(f"{target} argument after ** must be a mapping, "
                        f"not {type(value).__name__}")
    raise TypeError(f"'{type(target).__name__}' object is not callable")


def evaluate(expression: str) -> str:
    """The result text τ-bench's calculator gives; :class:`CalculationError` on failure."""
    if not all(ch in ALLOWED_CHARS for ch in expression):
        raise CalculationError("invalid characters in expression")
    try:
        # Evaluating a string skips its leading blanks and names the source "<string>";
        # parsing the same way gives the same syntax error texts.
        tree = ast.parse(expression.lstrip(" \t"), filename="<string>", mode="eval")
        return str(round(float(_evaluate(tree)), 2))
    except Exception as exc:  # whatever Python raised, as τ-bench reports it
        raise CalculationError(str(exc)) from None
