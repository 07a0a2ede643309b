"""The interpreter that runs a compiled condition and explains, pytest-style, why it did not hold."""

from __future__ import annotations

import ast
import functools
import operator
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from router.routing._condition import Condition, _short_repr, _Source, _source
from router.routing._limits import (
    EvaluationError,
    ExpressionError,
    LimitExceeded,
    Limits,
    binary,
    budget,
    check_size,
    weight,
)
from router.routing._records import _LITERALS, _VALUE_FIELDS, DEFAULT_LIMITS, Record


@dataclass
class Outcome:
    """Result of one evaluation; ``explanation`` (pytest-style) is set when the condition did not pass."""

    value: Any
    passed: bool
    explanation: str | None


def evaluate(
    condition: Condition,
    names: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
    limits: Limits = DEFAULT_LIMITS,
) -> Outcome:
    """Evaluate a compiled condition; raises EvaluationError (LimitExceeded for limits), nothing else.

    Registered functions run inside the evaluation's budget: they can read it with ``current_limits()``
    and ``remaining_time()`` to bound their own work (``matches`` does).
    """
    if not isinstance(condition, Condition) or not isinstance(condition.tree, ast.Expression):
        raise EvaluationError("evaluate() needs a Condition from compile_condition()")
    with budget(limits) as current:
        try:
            interpreter = _Interpreter(condition, names, functions, limits, current.deadline)
            value = interpreter.eval(condition.tree.body)
            passed = interpreter.truth(value)
        except EvaluationError:
            raise
        except ExpressionError as exc:  # e.g. a plugin raised ExpressionSyntaxError
            raise EvaluationError(exc.message, exc.line, exc.column) from exc
        except Exception as exc:  # pragma: no cover - defence in depth; eval() wraps everything
            raise EvaluationError(f"evaluation failed: {_describe(exc)}") from exc
    return Outcome(value, passed, None if passed else interpreter.explain())


_RECORDED = (ast.Name, ast.Attribute, ast.Subscript, ast.Call)  # their values appear in explanations
_RECORDED_TYPES = frozenset(_RECORDED)  # eval() dispatches on the exact node type, so this is the same test
_CHAIN = (ast.Name, ast.Attribute, ast.Subscript)  # in ticket.requester.tier only the whole is listed
_DECIDED_BY_RUN = (ast.BoolOp, ast.IfExp)  # which of their parts decided depends on the evaluation
_IS = (ast.Is, ast.IsNot)
_SLICEABLE = (str, list, tuple)
_LITERAL_TYPES = frozenset(_LITERALS)
_monotonic = time.monotonic
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is None,  # the validator only allows 'is None' / 'is not None'
    ast.IsNot: lambda a, b: a is not None,
}


class _Plan:
    """What every evaluation of one condition shares, built once per compiled tree rather than per ticket:
    the source positions for error messages and, at the first explanation, the explanation's header
    and the order in which it lists values."""

    __slots__ = ("header", "program", "source", "text")

    def __init__(self, source: str) -> None:
        self.source, self.text = source, _Source(source)
        self.header: str | None = None
        self.program: tuple[tuple[ast.AST, str | None, int], ...] | None = None


_PLANS: weakref.WeakKeyDictionary[ast.Expression, _Plan] = weakref.WeakKeyDictionary()


def _plan(condition: Condition) -> _Plan:
    plan = _PLANS.get(condition.tree)
    if plan is None or plan.source != condition.source:
        plan = _PLANS[condition.tree] = _Plan(condition.source)
    return plan


class _Interpreter:
    """Walks a validated tree; checks the deadline at every node and records values for explanations."""

    __slots__ = (
        "condition",
        "deadline",
        "decided",
        "depth",
        "functions",
        "limits",
        "max_depth",
        "names",
        "path",
        "plan",
        "text",
        "values",
    )

    def __init__(
        self,
        condition: Condition,
        names: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
        limits: Limits,
        deadline: float,
    ) -> None:
        self.condition, self.names, self.functions, self.limits = condition, names, functions, limits
        self.plan = _plan(condition)
        self.deadline, self.depth, self.max_depth, self.text = deadline, 0, limits.max_depth, self.plan.text
        self.values: dict[ast.AST, Any] = {}  # Name/Attribute/Subscript/Call -> value
        self.path: dict[ast.AST, int] = {}  # BoolOp -> operands evaluated; IfExp -> branch taken
        self.decided: set[ast.AST] = set()  # BoolOps whose last evaluated operand decided the result

    def eval(self, node: ast.AST) -> Any:
        if _monotonic() > self.deadline:
            raise LimitExceeded(f"evaluation took longer than {self.limits.time_budget_s * 1000:g} ms")
        kind = type(node)
        # A literal, the commonest node, without the frame and bookkeeping below (same checks, same value).
        if kind is ast.Constant and self.depth < self.max_depth:
            value = cast(ast.Constant, node).value
            if type(value) in _LITERAL_TYPES:
                return value
        handler = _HANDLERS.get(kind)
        self.depth += 1
        try:
            if handler is None:
                raise EvaluationError(f"{kind.__name__} expressions are not allowed")
            if self.depth > self.max_depth:
                raise LimitExceeded(f"expression is nested more than {self.limits.max_depth} levels deep")
            value = handler(self, node)
        except ExpressionError as exc:
            if exc.line is None:
                exc.line, exc.column = self.text.of(node)
            raise
        except (RecursionError, MemoryError) as exc:
            raise LimitExceeded(f"{type(exc).__name__} in `{_source(node)}`", *self.text.of(node)) from None
        except Exception as exc:
            raise EvaluationError(f"{_describe(exc)} in `{_source(node)}`", *self.text.of(node)) from exc
        finally:
            self.depth -= 1
        if kind in _RECORDED_TYPES:
            self.values[node] = value
        return value

    def truth(self, value: Any) -> bool:
        try:
            return bool(value)
        except Exception as exc:
            raise EvaluationError(f"{type(value).__name__} value cannot be used as true/false") from exc

    def _constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, _LITERALS):
            raise EvaluationError(f"{type(node.value).__name__} literals are not allowed")
        return node.value

    def _name(self, node: ast.Name) -> Any:
        if node.id.startswith("_") or node.id not in self.names:
            raise EvaluationError(f"name {node.id!r} is not available")
        return self.names[node.id]

    def _attribute(self, node: ast.Attribute) -> Any:
        base, attr = self.eval(node.value), node.attr
        if attr.startswith("_"):
            raise EvaluationError(f"attribute names starting with '_' are not allowed ({attr!r})")
        if base is None:
            return None
        if isinstance(base, Record):
            return base.field(attr)
        for kind, fields in _VALUE_FIELDS:
            if isinstance(base, kind) and attr in fields:
                return fields[attr](base)
        raise EvaluationError(f"{type(base).__name__} value has no field {attr!r}")

    def _subscript(self, node: ast.Subscript) -> Any:
        base = self.eval(node.value)
        if isinstance(node.slice, ast.Slice):
            parts = (node.slice.lower, node.slice.upper, node.slice.step)
            bounds = [None if part is None else self.eval(part) for part in parts]
            if not all(b is None or isinstance(b, int) for b in bounds):
                raise EvaluationError("slice bounds must be integers")
            if base is None:
                return None
            if not isinstance(base, _SLICEABLE):
                raise EvaluationError(f"{type(base).__name__} value cannot be sliced")
            return base[slice(*bounds)]
        key = self.eval(node.slice)
        if base is None:
            return None
        if isinstance(base, Mapping):
            return base.get(key)
        if not isinstance(base, _SLICEABLE):
            raise EvaluationError(f"{type(base).__name__} value cannot be indexed")
        if not isinstance(key, int):
            raise EvaluationError(f"an index must be an integer, not {type(key).__name__}")
        return base[key] if -len(base) <= key < len(base) else None

    def _call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        function = self.functions.get(name) if name and not name.startswith("_") else None
        if function is None:
            raise EvaluationError(f"unknown function {name or _source(node.func)!r}")
        what = f"arguments of {name}()"
        args = self._values(node.args, what)
        keywords: dict[str, Any] = {}
        if node.keywords:
            values = self._values([k.value for k in node.keywords], what)
            for keyword, value in zip(node.keywords, values, strict=True):
                if keyword.arg is None:
                    raise EvaluationError("keyword unpacking (**) is not allowed")
                keywords[keyword.arg] = value
        try:
            result = function(*args, **keywords)
        except ExpressionError:
            raise
        except TimeoutError:
            raise LimitExceeded(f"{name}() timed out") from None
        except Exception as exc:
            raise EvaluationError(f"{name}() failed: {_describe(exc)}") from exc
        if _monotonic() > self.deadline:
            raise LimitExceeded(f"{name}() used up the {self.limits.time_budget_s * 1000:g} ms time budget")
        check_size(result, self.limits, f"the result of {name}()")
        return result

    def _values(self, nodes: list[ast.expr], what: str) -> list[Any]:
        """Evaluate ``nodes``, refusing as soon as their combined size exceeds ``max_sequence``."""
        values, total, cap = [], len(nodes), self.limits.max_sequence
        for node in nodes:
            values.append(self.eval(node))
            total += weight(values[-1], cap)
            if total > cap:
                raise LimitExceeded(f"{what} are larger than {cap} items/characters in total")
        return values

    def _compare(self, node: ast.Compare) -> Any:
        left, result = self.eval(node.left), True
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            if isinstance(op, _IS) and right is not None:
                raise EvaluationError("'is' is only allowed as 'is None' or 'is not None'")
            result = _COMPARISONS[type(op)](left, right)
            if not self.truth(result):
                return result
            left = right
        return result

    def _boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for count, operand in enumerate(node.values, 1):
            value = self.eval(operand)
            self.path[node] = count
            if self.truth(value) == isinstance(node.op, ast.Or):  # and: stop at falsy; or: stop at truthy
                self.decided.add(node)
                break
        return value

    def _unaryop(self, node: ast.UnaryOp) -> Any:
        operand = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not self.truth(operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
        raise EvaluationError("bitwise operators are not allowed")

    def _binop(self, node: ast.BinOp) -> Any:
        return binary(node.op, self.eval(node.left), self.eval(node.right), self.limits)

    def _ifexp(self, node: ast.IfExp) -> Any:
        branch = self.truth(self.eval(node.test))
        self.path[node] = int(branch)
        return self.eval(node.body if branch else node.orelse)

    def _list(self, node: ast.List) -> list[Any]:
        return self._values(node.elts, "list items")

    def _tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._values(node.elts, "tuple items"))

    def _set(self, node: ast.Set) -> set[Any]:
        return set(self._values(node.elts, "set items"))

    def _dict(self, node: ast.Dict) -> dict[Any, Any]:
        parts: list[ast.expr] = []
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise EvaluationError("dict unpacking (**) is not allowed")
            parts += [key, value]
        items = self._values(parts, "dict items")
        return dict(zip(items[::2], items[1::2], strict=True))

    # --- explanations -------------------------------------------------------------------------------------

    def explain(self) -> str:
        """pytest-style text: the assertion, then ``where``/``and`` lines with sub-expression values."""
        try:
            return self._explain(self.condition.tree.body)
        except Exception:  # pragma: no cover - an explanation must never turn a result into an error
            return f"assert {self.condition.source.strip()}"

    def _explain(self, body: ast.expr) -> str:
        plan = self.plan
        if plan.header is None:
            header = _source(body, 10_000)
            if isinstance(body, _DECIDED_BY_RUN):
                header = f"({header})"
            plan.program = None if _run_dependent(body) else _program(body)
            plan.header = f"assert {header}"
        pairs: dict[str, str] = {}
        if plan.program is None:
            for node in self._focus(body):
                self._collect(node, pairs)
        else:
            self._replay(plan.program, pairs)
        lines = [plan.header]
        for i, (src, value) in enumerate(pairs.items()):
            lines.append(f" {'where' if i == 0 else 'and'} {src} = {value}")
        return "\n".join(lines)

    def _replay(self, program: tuple[tuple[ast.AST, str | None, int], ...], pairs: dict[str, str]) -> None:
        """What :meth:`_collect` adds, following a walk laid out in advance by :func:`_program`."""
        values, i, end = self.values, 0, len(program)
        while i < end:
            node, src, skip = program[i]
            if src is None:  # and/or, if-else, not: the parts that decided depend on this evaluation
                self._collect(node, pairs)
                i += 1
            elif node in values:
                if src not in pairs:
                    pairs[src] = _short_repr(values[node])
                i += 1
            else:  # not evaluated: neither it nor anything inside it is listed
                i = skip

    def _focus(self, node: ast.AST) -> list[ast.AST]:
        """The parts that decided ``node``'s value: the operand an and/or stopped at, the branch taken..."""
        if isinstance(node, ast.BoolOp) and node in self.path:
            evaluated = node.values[: self.path[node]]
            if node in self.decided:
                evaluated = evaluated[-1:]
            return [part for operand in evaluated for part in self._focus(operand)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return self._focus(node.operand)
        if isinstance(node, ast.IfExp) and node in self.path:
            return [node.test, *self._focus(node.body if self.path[node] else node.orelse)]
        return [node]

    def _collect(self, node: ast.AST, pairs: dict[str, str]) -> None:
        """Add ``source = value`` for evaluated names, fields, subscripts and calls, outermost first."""
        if _run_dependent(node):
            focus = self._focus(node)
            if focus != [node]:
                for part in focus:
                    self._collect(part, pairs)
                return
        children = list(_children(node))
        if isinstance(node, _RECORDED):
            if node not in self.values:
                return
            pairs.setdefault(_source(node), _short_repr(self.values[node]))
            if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, _CHAIN):
                children.remove(node.value)  # ticket.requester.tier: do not list ticket.requester too
            if isinstance(node, ast.Call):
                children.remove(node.func)
        for child in children:
            self._collect(child, pairs)


def _run_dependent(node: ast.AST) -> bool:
    """Whether which parts of ``node`` an explanation lists depends on how the evaluation went."""
    return isinstance(node, _DECIDED_BY_RUN) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))


def _program(body: ast.AST) -> tuple[tuple[ast.AST, str | None, int], ...]:
    """:meth:`_Interpreter._collect`'s walk of ``body`` laid out once: ``(node, source, skip)`` for each
    name, field, subscript and call in the order it is visited, ``skip`` being the index past its
    parts (where the walk goes on when it was not evaluated); ``source`` is None for a part whose
    walk depends on the evaluation (and/or, if-else, not), left to ``_collect``."""
    out: list[Any] = []

    def visit(node: ast.AST) -> None:
        if _run_dependent(node):
            out.append((node, None, len(out) + 1))
            return
        children = list(_children(node))
        if isinstance(node, _RECORDED):
            at = len(out)
            out.append(None)
            if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, _CHAIN):
                children.remove(node.value)
            if isinstance(node, ast.Call):
                children.remove(node.func)
            for child in children:
                visit(child)
            out[at] = (node, _source(node), len(out))
        else:
            for child in children:
                visit(child)

    visit(body)
    return tuple(out)


@functools.lru_cache(maxsize=16384)
def _children(node: ast.AST) -> tuple[ast.AST, ...]:
    """A node's direct children (cached: trees never change once compiled)."""
    return tuple(ast.iter_child_nodes(node))


def _describe(exc: Exception) -> str:
    """A short message for a Python error raised while evaluating."""
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "number too large"
    text = str(exc)[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_HANDLERS: dict[type[ast.AST], Callable[[_Interpreter, Any], Any]] = {
    ast.Constant: _Interpreter._constant,
    ast.Name: _Interpreter._name,
    ast.Attribute: _Interpreter._attribute,
    ast.Subscript: _Interpreter._subscript,
    ast.Call: _Interpreter._call,
    ast.Compare: _Interpreter._compare,
    ast.BoolOp: _Interpreter._boolop,
    ast.UnaryOp: _Interpreter._unaryop,
    ast.BinOp: _Interpreter._binop,
    ast.IfExp: _Interpreter._ifexp,
    ast.List: _Interpreter._list,
    ast.Tuple: _Interpreter._tuple,
    ast.Set: _Interpreter._set,
    ast.Dict: _Interpreter._dict,
}
