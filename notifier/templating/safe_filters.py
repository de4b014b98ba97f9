"""Jinja's built-in filters, bounded.

Every filter counts one step and has its result size checked. The few whose output can grow
far beyond their input in one call (a width, a count, a separator or replacement string
multiplied by the input) estimate the result first and refuse before allocating it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from typing import Any

import jinja2.filters as jf
from jinja2 import pass_environment, pass_eval_context
from jinja2.environment import Environment
from jinja2.nodes import EvalContext
from markupsafe import escape

from notifier.templating.limits import (
    MAX_STEPS,
    charge,
    check_count,
    check_estimate,
    check_printf,
    checked_size,
    size_of,
)

_MAX_JSON_INDENT = 8


def bounded(func: Callable[..., Any]) -> Callable[..., Any]:
    # functools.wraps copies `jinja_pass_arg`, so pass_context & co. keep working.
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        charge()
        return checked_size(func(*args, **kwargs))

    return wrapper


def _center(value: str, width: int = 80) -> str:
    check_count(width, "center() width")
    return jf.do_center(value, width)


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    unit = len(width) if isinstance(width, str) else width
    check_estimate(len(text) + (text.count("\n") + 1) * unit, "indent()")
    return jf.do_indent(s, width, first, blank)


@pass_environment
def _wordwrap(
    environment: Environment,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    separator = environment.newline_sequence if wrapstring is None else str(wrapstring)
    # Each character could end a line: a crude bound, exact enough to stop a long separator.
    check_estimate(len(str(s)) * max(1, len(separator)), "wordwrap()")
    return jf.do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    text, old_text = str(s), str(old)
    new_len = len(escape(new)) if eval_ctx.autoescape else len(str(new))
    hits = text.count(old_text) if old_text else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    check_estimate(len(text) + hits * max(0, new_len - len(old_text)), "replace()")
    return jf.do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _join(
    eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    items = list(value)
    check_estimate(size_of(items) + len(str(d)) * len(items), "join()")
    return jf.sync_do_join(eval_ctx, items, d, attribute)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    check_printf(str(value))
    return jf.do_format(value, *args, **kwargs)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Any:
    check_count(linecount, "batch() size", MAX_STEPS)
    return jf.do_batch(value, linecount, fill_with)


def _slice(value: Collection[Any], slices: int, fill_with: Any = None) -> Any:
    check_count(slices, "slice() count", MAX_STEPS)
    return jf.sync_do_slice(value, slices, fill_with)


@pass_eval_context
def _tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Any:
    check_count(indent, "tojson() indent", _MAX_JSON_INDENT)
    return jf.do_tojson(eval_ctx, value, indent)


_PRECHECKED: dict[str, Callable[..., Any]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _format,
    "batch": _batch,
    "slice": _slice,
    "tojson": _tojson,
}


def bounded_filters(
    builtin: dict[str, Callable[..., Any]], extra: dict[str, Callable[..., Any]]
) -> dict[str, Callable[..., Any]]:
    """The filter table of a sandboxed environment: every filter bounded."""
    table = {**builtin, **_PRECHECKED, **extra}
    return {name: bounded(func) for name, func in table.items()}
