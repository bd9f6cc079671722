"""τ-bench's calculator without ``eval``: a small walker over Python's own syntax tree.

τ-bench accepts an expression made only of digits, ``+ - * / ( ) .`` and spaces, hands
it to ``eval`` and prints ``str(round(float(result), 2))``, or ``Error: <message>``.
Here the expression is parsed with :func:`ast.parse` (which gives the same syntax error
texts as ``eval``) and only the node kinds those characters can form are evaluated,
each with Python's own operators, so results and error texts are the same.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_ALLOWED_CHARS = frozenset("0123456789+-*/(). ")
# A float tops out near 2**1024, so an integer power this large can hardly end as a number;
# refusing it keeps a tiny expression such as 9**9**9 from stalling (eval would hang).
_MAX_POWER_BITS = 1 << 22


def _power(base: Any, exponent: Any) -> Any:
    if (isinstance(base, int) and isinstance(exponent, int) and exponent > 0
            and abs(base) > 1 and exponent * (abs(base).bit_length() - 1) > _MAX_POWER_BITS):
        raise OverflowError("int too large to convert to float")
    return operator.pow(base, exponent)


def _evaluate(node: ast.AST) -> Any:
    """Evaluate the few node kinds the allowed characters can form, using Python's own
    operators so results and error messages are those of Python arithmetic."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and (isinstance(node.value, (int, float))
                                           or node.value is Ellipsis):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.Tuple) and not node.elts:
        return ()
    if isinstance(node, ast.Call):
        return _call(node)
    raise ValueError("unsupported expression")


def _call(node: ast.Call) -> Any:
    """"(2)(3)" and the like: no value these characters can form is callable, but Python
    evaluates the callee and every argument first and checks unpacked ones, in this order."""
    callee = _evaluate(node.func)
    lone_star = len(node.args) == 1 and isinstance(node.args[0], ast.Starred)
    star_value: Any = ()
    for arg in node.args:
        value = _evaluate(arg.value if isinstance(arg, ast.Starred) else arg)
        if lone_star:
            star_value = value  # checked only when the call is made
        elif isinstance(arg, ast.Starred) and not isinstance(value, tuple):
            raise TypeError(f"Value after * must be an iterable, not {type(value).__name__}")
    for keyword in node.keywords:  # only "**value" can be spelled without letters
        value = _evaluate(keyword.value)
        raise TypeError(f"{callee!r} argument after ** must be a mapping, "
                        f"not {type(value).__name__}")
    if not isinstance(star_value, tuple):
        raise TypeError(f"{callee!r} argument after * must be an iterable, "
                        f"not {type(star_value).__name__}")
    raise TypeError(f"'{type(callee).__name__}' object is not callable")


def evaluate_expression(expression: str) -> str:
    """τ-bench's calculator result text for an expression, computed without ``eval``."""
    if not all(char in _ALLOWED_CHARS for char in expression):
        return "Error: invalid characters in expression"
    try:
        # eval() strips surrounding spaces; the filename gives eval's syntax error texts.
        tree = ast.parse(expression.strip(" \t"), filename="<string>", mode="eval")
        return str(round(float(_evaluate(tree)), 2))
    except Exception as exc:  # the message is the observation, as in τ-bench
        return f"Error: {exc}"
