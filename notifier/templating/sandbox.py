"""The sandboxed Jinja environments every template runs in.

On top of Jinja's ImmutableSandboxedEnvironment (no private attributes, no mutation of
lists and dicts) this adds the bounds of `limits`:

- the code generator counts each `{% for %}` iteration, caps buffered output (macros,
  `{% set %}` blocks) and checks the size of every `~` concatenation;
- `+ * ** %` are intercepted: a repetition, a power or a printf width that would be huge is
  refused before Python computes it;
- strings and numbers expose only methods that cannot blow up (no `format`, `ljust`,
  `zfill`, `replace`, `join`, `to_bytes`...; templates have filters for those);
- every call and filter counts one step and has its result size checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from notifier.errors import TemplateError
from notifier.templating.filters import DATE_FILTERS
from notifier.templating.limits import (
    BoundedBuffer,
    bounded_range,
    charge,
    check_power,
    check_printf,
    check_repeat,
    checked_size,
    counted_iter,
)
from notifier.templating.safe_filters import bounded_filters

_STR_ATTRS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
        "isascii", "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle",
        "isupper", "lower", "lstrip", "partition", "removeprefix", "removesuffix", "rfind",
        "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith",
        "strip", "swapcase", "title", "upper",
    }
)  # fmt: skip
_MARKUP_ATTRS = _STR_ATTRS | {"striptags", "unescape"}
_INT_ATTRS = frozenset(
    {"real", "imag", "numerator", "denominator", "bit_length", "bit_count", "conjugate"}
)
_FLOAT_ATTRS = frozenset({"real", "imag", "is_integer", "conjugate", "as_integer_ratio"})
# glibc strftime takes field widths (`%999999999Y`); the date filters do it properly anyway.
_REFUSED_EVERYWHERE = frozenset({"format", "format_map", "strftime"})


class _BoundedCodeGenerator(CodeGenerator):
    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Jinja forbids custom node types, so the wrapper is a call of an environment method.
        counted = nodes.EnvironmentAttribute("counted_iter", lineno=node.iter.lineno)
        node.iter = nodes.Call(counted, [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_size(")
        super().visit_Concat(node, frame)
        self.write(")")

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")


def _refuse_none(value: Any) -> Any:
    # Without this a missing workaround would reach a customer as the word "None".
    if value is None:
        raise TemplateError("prints None: guard optional values with {% if ... %}")
    return value


class NotifierSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    counted_iter = staticmethod(counted_iter)
    checked_size = staticmethod(checked_size)
    new_buffer = BoundedBuffer

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _REFUSED_EVERYWHERE or not super().is_safe_attribute(obj, attr, value):
            return False
        if isinstance(obj, Markup):
            return attr in _MARKUP_ATTRS
        if isinstance(obj, str):
            return attr in _STR_ATTRS
        if isinstance(obj, int):
            return attr in _INT_ATTRS
        if isinstance(obj, float):
            return attr in _FLOAT_ATTRS
        return True

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Jinja would hand out a sandboxed str.format; it still honours `{:>999999999}`.
        # Returning None sends the attribute to is_safe_attribute, which refuses it.
        return None

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            check_repeat(left, right)
        elif operator_ == "**":
            check_power(left, right)
        elif operator_ == "%" and isinstance(left, str):
            check_printf(left)
        return checked_size(self.binop_table[operator_](left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        charge()
        return checked_size(super().call(context, obj, *args, **kwargs))


_DEFAULT_GLOBALS_KEPT = ("dict", "cycler", "joiner", "namespace")


def make_environment(*, autoescape: bool) -> NotifierSandbox:
    env = NotifierSandbox(
        autoescape=autoescape,
        undefined=StrictUndefined,
        finalize=_refuse_none,
        trim_blocks=True,
        lstrip_blocks=True,
        cache_size=0,
        auto_reload=False,
    )
    # lipsum(n) is gone: its size argument is unbounded and notifications have no use for it.
    env.globals = {name: env.globals[name] for name in _DEFAULT_GLOBALS_KEPT}
    env.globals["range"] = bounded_range
    env.filters = bounded_filters(dict(FILTERS), DATE_FILTERS)
    return env


TEXT_ENV = make_environment(autoescape=False)
HTML_ENV = make_environment(autoescape=True)
