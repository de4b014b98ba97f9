"""What one render may cost: steps, time, the size of values, the size of output.

Jinja's sandbox keeps templates away from Python internals but lets them spend any amount of
CPU and memory (`'a' * 10**9`, nested loops, a macro that calls itself twice). Templates are
written by support staff and rendered on the hot path of a fan-out, so every render runs under
a budget:

- steps: each loop iteration, call (macro, method, `range`, ...) and filter counts one;
- time: a backstop for whatever the step count misses, in CPU time of the rendering thread
  (a render waiting for a CPU on a busy machine is not the template's cost: counted in wall
  time, lint's tighter budget refused trivial templates under load);
- values: no string or list a template builds may exceed MAX_VALUE_SIZE (checked after each
  operation, or before it where one operation alone could exhaust memory);
- output: each rendered part (subject, text, html, SMS) is capped while it streams.

Limits are generous for a notification and tiny for an attack.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar, Token
from typing import Any, SupportsIndex

from notifier.errors import TemplateError

MAX_STEPS = 10_000
MAX_SECONDS = 2.0
# Lint and saving a template want renders well under MAX_SECONDS: a worker busy with a
# fan-out renders slower than an idle editor, and a render that nears the limit at send time
# fails for every customer.
LINT_SECONDS = MAX_SECONDS / 4
MAX_VALUE_SIZE = 65_536
MAX_REPEAT = 10_000
MAX_OUTPUT_CHARS = 65_536
MAX_WIDTH = 1_000
MAX_INT_BITS = 4_096
# Beyond this depth a nested value is counted by its length only: the guard itself must not
# recurse without end.
_MAX_DEPTH = 16


class RenderTooSlow(TemplateError):
    """A render ran out of time (not of steps or size): it may pass with other data."""


class _Budget:
    __slots__ = ("deadline", "seconds", "steps_left")

    def __init__(self, seconds: float) -> None:
        self.steps_left = MAX_STEPS
        self.seconds = seconds
        self.deadline = time.thread_time() + seconds


# A contextvar rather than an attribute of the environment: environments are shared by every
# render, and renders may run in several threads or tasks at once.
_budget: ContextVar[_Budget | None] = ContextVar("notifier_render_budget", default=None)


def start_render(seconds: float = MAX_SECONDS) -> Token[_Budget | None]:
    return _budget.set(_Budget(seconds))


def end_render(token: Token[_Budget | None]) -> None:
    _budget.reset(token)


def charge(steps: int = 1) -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget.steps_left -= steps
    if budget.steps_left < 0:
        raise TemplateError(
            f"too much work: more than {MAX_STEPS} loop iterations, calls and filters"
        )
    if time.thread_time() > budget.deadline:
        raise RenderTooSlow(f"too slow: rendering took more than {budget.seconds:g} seconds")


def size_of(value: Any, depth: int = 0) -> int:
    """Characters in strings plus items in containers, counted through nesting.

    Stops counting once past MAX_VALUE_SIZE, so the check costs at most that much.
    """
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        # A big number prints as many digits; a bit is about a third of a digit.
        return 1 + value.bit_length() // 4
    if isinstance(value, list | tuple | set | frozenset | dict):
        total = len(value)
        if depth >= _MAX_DEPTH:
            return total
        items: Iterable[Any] = value.items() if isinstance(value, dict) else value
        for item in items:
            total += size_of(item, depth + 1)
            if total > MAX_VALUE_SIZE:
                break
        return total
    return 1


def checked_size(value: Any) -> Any:
    if type(value) is str:
        if len(value) > MAX_VALUE_SIZE:
            raise TemplateError(f"value too large: over {MAX_VALUE_SIZE} characters")
    elif size_of(value) > MAX_VALUE_SIZE:
        raise TemplateError(f"value too large: over {MAX_VALUE_SIZE} characters or items")
    return value


def check_estimate(estimate: int, what: str) -> None:
    if estimate > MAX_VALUE_SIZE:
        raise TemplateError(f"{what} would be too large: over {MAX_VALUE_SIZE} characters or items")


def check_count(count: Any, what: str, limit: int = MAX_WIDTH) -> None:
    if isinstance(count, int) and count > limit:
        raise TemplateError(f"{what} of {count} is over the limit of {limit}")


def bounded_range(*args: SupportsIndex) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_STEPS:
        raise TemplateError(f"range() of {len(numbers)} numbers is over the limit of {MAX_STEPS}")
    return numbers


def counted_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    """The iterable of every `{% for %}`: each iteration costs one step."""
    for item in iterable:
        charge()
        yield item


class BoundedBuffer(list[str]):
    """Output buffer of a macro, `{% set %}` block, `{% filter %}` or call block.

    These collect their whole output before returning it, so without a cap a loop inside a
    macro could fill memory long before the streamed output cap sees anything.
    """

    __slots__ = ("_size",)

    def __init__(self) -> None:
        super().__init__()
        self._size = 0

    def _grow(self, size: int) -> None:
        self._size += size
        if self._size > MAX_VALUE_SIZE:
            raise TemplateError(f"block output too large: over {MAX_VALUE_SIZE} characters")

    def append(self, item: str, /) -> None:
        self._grow(len(item))
        super().append(item)

    def extend(self, items: Iterable[str], /) -> None:
        chunk = tuple(items)
        self._grow(sum(len(item) for item in chunk))
        super().extend(chunk)


def check_repeat(left: Any, right: Any) -> None:
    """Refuse `seq * n` with a huge result before Python allocates it."""
    for seq, count in ((left, right), (right, left)):
        if (
            isinstance(count, int)
            and isinstance(seq, str | list | tuple)
            and size_of(seq) * count > MAX_REPEAT
        ):
            raise TemplateError(f"repetition too large: over {MAX_REPEAT} characters or items")
    if isinstance(left, int) and isinstance(right, int):
        check_int_bits(left.bit_length() + right.bit_length())


def check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        check_int_bits(base.bit_length() * exponent)


def check_int_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise TemplateError(f"number too large: over {MAX_INT_BITS} bits")


# A printf conversion: %[(key)][flags][width][.precision][length]type
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_printf(fmt: str) -> None:
    """Refuse `'%999999999s' % x`: one conversion could allocate gigabytes."""
    for match in _PRINTF.finditer(fmt):
        for number in match.groups():
            if number == "*":
                raise TemplateError("printf width or precision '*' is not allowed in templates")
            if number is not None and (len(number) > 6 or int(number) > MAX_WIDTH):
                raise TemplateError(f"printf width or precision {number} is over {MAX_WIDTH}")
