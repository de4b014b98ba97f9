"""Rule conditions (`when`, `until`): Jinja2 expressions, compiled once, run in a sandbox.

A condition is written by an operator, not a developer, so it is never Python `eval`. It
goes through three gates when a rule file loads:

1. static checks on the parsed expression: no names, attributes or keys starting with "_"
   (the road to `__class__` and `__globals__`), only the variables an event provides, only
   the fields the sample context has, no calls, and a short list of cheap filters;
2. Jinja2's SandboxedEnvironment with StrictUndefined, which refuses unsafe attributes again
   at run time and turns a misspelt name into an error instead of a silent `None`;
3. one evaluation against `sample_context()`, so type errors show at load, not at 3 a.m.

The sandbox bounds neither CPU nor memory (`'a' * 10**9` runs), hence no calls, a filter
allow-list and the operator caps in `_ConditionEnvironment`: with those, a condition's cost
is bounded by its length and the size of the event.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from notifier.errors import RuleError
from notifier.templating.context import sample_context as templating_sample_context

MAX_SOURCE_LENGTH = 1000
MAX_SEQUENCE_LENGTH = 10_000
MAX_EXPONENT = 64
MAX_INTEGER_BITS = 4096

# Filters that answer questions about data and cost at most linear time in their input.
# Left out on purpose: `attr` (attribute access by a string), `map`/`select` (they call other
# filters by name) and text builders such as `center`, `indent`, `replace`, `format`.
ALLOWED_FILTERS = frozenset(
    {
        "abs",
        "capitalize",
        "count",
        "d",
        "default",
        "first",
        "float",
        "int",
        "join",
        "last",
        "length",
        "list",
        "lower",
        "max",
        "min",
        "round",
        "sort",
        "string",
        "sum",
        "title",
        "trim",
        "unique",
        "upper",
    }
)


def sample_context() -> dict[str, Any]:
    """A realistic event context that every condition must evaluate against without error.

    The templates' sample (an open incident mid-way, in English) minus `customer`, so rules
    and templates are checked against the same shape. Its event payload holds the keys of
    every event an open incident raises: incident.updated, the deadlines and follow-ups.
    No `customer`: a condition is decided once per event, before any customer is chosen, so
    naming one is refused at load.
    """
    context = templating_sample_context("en", message="incident_updated")
    del context["customer"], context["messages"]  # chosen per customer, after the condition
    del context["told"]  # counted after the customers' messages, for operations alerts only
    return context


class _ConditionEnvironment(SandboxedEnvironment):
    # Intercepting also stops Jinja from folding constants at compile time, so `9**9**9`
    # cannot hang the loader either.
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float):
            # Chained powers grow the result's size exponentially: bound it, not just `right`.
            bits = abs(left).bit_length() if isinstance(left, int) else 1
            if abs(right) > MAX_EXPONENT or bits * abs(right) > MAX_INTEGER_BITS:
                raise SecurityError(f"a power over {MAX_INTEGER_BITS} bits is not allowed")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string formatting with % is not allowed in conditions")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_SEQUENCE_LENGTH
                ):
                    raise SecurityError(f"repeating would build over {MAX_SEQUENCE_LENGTH} items")
        return super().call_binop(context, operator, left, right)


def _environment() -> _ConditionEnvironment:
    env = _ConditionEnvironment(undefined=StrictUndefined)
    # range, cycler, joiner, lipsum, namespace, dict: nothing a condition needs, and each is
    # one more object to climb from.
    env.globals.clear()
    env.filters = {name: f for name, f in env.filters.items() if name in ALLOWED_FILTERS}
    return env


_ENV = _environment()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _suggest(word: str, options: Iterable[str]) -> str:
    # A higher cutoff than difflib's 0.6: short names otherwise "match" unrelated ones.
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _suggest_name(name: str, sample: Mapping[str, Any]) -> str:
    # "severity" alone is most often a field of one of the variables: say which.
    owners = [key for key, value in sample.items() if isinstance(value, Mapping) and name in value]
    if owners:
        return f" (did you mean {f'{owners[0]}.{name}'!r}?)"
    return _suggest(name, sample)


def _all_nodes(root: nodes.Node) -> Iterator[nodes.Node]:
    yield root
    yield from root.find_all(nodes.Node)


def _path(node: nodes.Node) -> list[str] | None:
    """`event.payload['update_id']` -> ["event", "payload", "update_id"]; None if not plain."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        base = _path(node.node)
        return None if base is None else [*base, node.attr]
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _path(node.node)
        if base is not None and isinstance(node.arg.value, str):
            return [*base, node.arg.value]
    return None


def _internal_access(expr: nodes.Node) -> str | None:
    for node in _all_nodes(expr):
        key: Any = None
        if isinstance(node, nodes.Name):
            key = node.name
        elif isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
        if isinstance(key, str) and key.startswith("_"):
            return f"refers to {key!r}, a Python internal: conditions may only read event data"
    return None


def _static_problem(expr: nodes.Node, sample: Mapping[str, Any]) -> str | None:
    """The first reason to refuse the expression without running it, or None."""
    internal = _internal_access(expr)
    if internal:
        return internal
    names = sorted(sample)
    for node in _all_nodes(expr):
        if isinstance(node, nodes.Call):
            return "calls are not allowed; use filters and tests (x|length, x is none)"
        if isinstance(node, nodes.Name) and node.name not in sample:
            return (
                f"unknown name {node.name!r}{_suggest_name(node.name, sample)}; "
                f"conditions can read {', '.join(names)}"
            )
        if isinstance(node, nodes.Filter) and node.name not in _ENV.filters:
            allowed = sorted(_ENV.filters)
            return (
                f"filter {node.name!r} is not allowed{_suggest(node.name, allowed)}; "
                f"conditions can use {', '.join(allowed)}"
            )
        if isinstance(node, nodes.Test) and node.name not in _ENV.tests:
            return f"unknown test {node.name!r}{_suggest(node.name, sorted(_ENV.tests))}"
        path = _path(node) if isinstance(node, nodes.Getattr | nodes.Getitem) else None
        if path is not None:
            missing = _missing_field(path, sample)
            if missing:
                return missing
    return None


def _missing_field(path: list[str], sample: Mapping[str, Any]) -> str | None:
    """Check a dotted path against the sample, as far as the sample is made of mappings.

    This catches a misspelt field even in a branch the sample evaluation never reaches.
    """
    value: Any = sample
    for depth, key in enumerate(path):
        if not isinstance(value, Mapping):
            return None
        if key not in value:
            if depth == 0:
                return None  # an unknown variable: the Name check says so, with suggestions
            owner = ".".join(path[:depth])
            return f"{owner} has no field {key!r}{_suggest(key, sorted(map(str, value)))}"
        value = value[key]
    return None


class Condition:
    """A `when`/`until` expression, checked and compiled once; call it with an event context.

    `origin` says where it came from ("rules/a.toml: rule 'x': when"); every error, at load
    or at run time, is a one-line RuleError that starts with it.
    """

    __slots__ = ("_expression", "origin", "source")

    def __init__(self, source: str, origin: str = "condition") -> None:
        self.source = source
        self.origin = origin
        sample = sample_context()
        if not source.strip():
            self._fail("is empty; leave the field out to always match")
        if len(source) > MAX_SOURCE_LENGTH:
            self._fail(f"is longer than {MAX_SOURCE_LENGTH} characters")
        try:
            parser = Parser(_ENV, source, state="variable")
            expr = parser.parse_expression()
            if not parser.stream.eos:
                self._fail(f"does not parse: unexpected {parser.stream.current.value!r}")
        except JinjaTemplateError as exc:
            self._fail(f"does not parse: {_one_line(exc.message or str(exc))}")
        except RecursionError:
            self._fail("is nested too deeply")
        problem = _static_problem(expr, sample)
        if problem:
            self._fail(problem)
        try:
            self._expression = _ENV.compile_expression(source, undefined_to_none=False)
        except JinjaTemplateError as exc:
            self._fail(f"does not compile: {_one_line(exc.message or str(exc))}")
        try:
            self._evaluate(sample)
        except Exception as exc:  # any failure of the expression is the rule's fault
            self._fail(f"fails on a sample event: {_describe(exc)}")

    def _fail(self, reason: str) -> NoReturn:
        raise RuleError(f"{self.origin}: {reason}")

    def _evaluate(self, context: Mapping[str, Any]) -> bool:
        # bool() here, not on the caller's side: StrictUndefined raises only when used.
        return bool(self._expression(context))

    def __call__(self, context: Mapping[str, Any]) -> bool:
        try:
            return self._evaluate(context)
        except Exception as exc:  # the context comes from live data; name the rule, not a trace
            reason = f"cannot evaluate {self.source!r}: {_describe(exc)}"
            raise RuleError(f"{self.origin}: {reason}") from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"


def _describe(exc: BaseException) -> str:
    reason = _one_line(str(exc)) or type(exc).__name__
    return reason if isinstance(exc, JinjaTemplateError) else f"{type(exc).__name__}: {reason}"
