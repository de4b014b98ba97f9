"""One template file, compiled once and rendered many times.

Which kind a file is follows from its channel's class: a channel with a subject and an
HTML part (email) has a block file, any other a plain text file. A channel name without a
class is refused (UnknownChannel), never compiled as some other channel.

A block (email) file holds three blocks: `subject` and `text` render without
autoescaping, `html` with it. The same source is compiled in both environments and each
part is taken from the one that suits it. Code outside the blocks (macros, `{% set %}`)
runs before them, so a macro written once at the top can be used in all three; text
outside the blocks is dropped.

A text file (SMS, WhatsApp) is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import Template, nodes

from notifier.channels.registry import channel_class
from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.errors import TemplateError
from notifier.templating.errors import TemplateFileError, TemplateTooSlow
from notifier.templating.layout import TemplateKey, check_source_size
from notifier.templating.limits import (
    MAX_OUTPUT_CHARS,
    MAX_SECONDS,
    RenderTooSlow,
    end_render,
    start_render,
)
from notifier.templating.sandbox import HTML_ENV, TEXT_ENV, NotifierSandbox

EMAIL_BLOCKS = ("subject", "text", "html")
# Everything a mail header must not carry: CR, LF and the other control characters.
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# CLDR puts no-break spaces in dates ("6:00\u202fPM", "13 h 00"): right in an email, but
# in an SMS one of them switches the whole text to UCS-2 and halves its length.
_SMS_SPACES = str.maketrans({"\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " "})


_OTHER_FILES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def _parse(env: NotifierSandbox, key: TemplateKey, source: str) -> Template:
    try:
        ast = env.parse(source)
        for node in ast.find_all(_OTHER_FILES):
            # There is no loader: each template file stands alone, in files or in the database.
            raise TemplateFileError(
                key.path, node.lineno, "extends, include and import are not supported"
            )
        return env.from_string(ast)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFileError(key.path, exc.lineno, exc.message or str(exc)) from None
    except TemplateFileError:
        raise
    except Exception as exc:
        raise TemplateFileError(key.path, None, _reason(exc)) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TemplateError | jinja2.TemplateError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "too deep: a macro or recursive loop calls itself too many times"
    return f"{type(exc).__name__}: {exc}"


def _template_line(exc: BaseException) -> int | None:
    # Jinja maps lines this way in its own traceback rewriting, which we bypass by calling
    # the render functions directly; the innermost template frame is the one to blame.
    line = None
    tb = exc.__traceback__
    while tb is not None:
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


class _OutputTooLong(TemplateError):
    def __init__(self, line: int | None) -> None:
        super().__init__(f"output too long: over {MAX_OUTPUT_CHARS} characters")
        self.line = line


def _suspended_line(chunks: Iterator[str]) -> int | None:
    """The template line a render generator stopped at (through `yield from` blocks)."""
    line = None
    generator: Any = chunks
    while getattr(generator, "gi_frame", None) is not None:
        template = generator.gi_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(generator.gi_frame.f_lineno)
        generator = generator.gi_yieldfrom
    return line


def _drain(chunks: Iterator[str]) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise _OutputTooLong(_suspended_line(chunks))
        parts.append(chunk)
    return "".join(parts)


def _skip_block(context: Any) -> Iterator[str]:
    return iter(())


def _render_blocks(
    template: Template, context: Mapping[str, Any], names: tuple[str, ...]
) -> list[str]:
    ctx = template.new_context(dict(context))
    blocks = ctx.blocks
    ctx.blocks = {name: [_skip_block] for name in blocks}
    _drain(template.root_render_func(ctx))
    ctx.blocks = blocks
    return [_drain(template.blocks[name](ctx)) for name in names]


def _strip_blank_lines(text: str) -> str:
    lines = text.rstrip().split("\n")
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:])


def one_line(text: str) -> str:
    return " ".join(_HEADER_BREAKS.sub(" ", text).split())


class CompiledTemplate:
    """Base of the two kinds; `render` turns every failure into a TemplateFileError."""

    def __init__(self, key: TemplateKey, source: str) -> None:
        check_source_size(key.path, source)
        self.key = key
        self.source = source

    @property
    def channel(self) -> ChannelName:
        return self.key.channel

    def render(
        self, context: Mapping[str, Any], *, seconds: float = MAX_SECONDS
    ) -> RenderedMessage:
        """Render within the budget of limits.py, `seconds` long at most."""
        token = start_render(seconds)
        try:
            return self._render(context)
        except _OutputTooLong as exc:
            raise TemplateFileError(self.key.path, exc.line, str(exc)) from None
        except RenderTooSlow as exc:
            raise TemplateTooSlow(self.key.path, _template_line(exc), str(exc)) from exc
        except Exception as exc:
            raise TemplateFileError(self.key.path, _template_line(exc), _reason(exc)) from exc
        finally:
            end_render(token)

    def _render(self, context: Mapping[str, Any]) -> RenderedMessage:
        raise NotImplementedError


class EmailTemplate(CompiledTemplate):
    """Subject, text and HTML blocks (a channel with `has_subject` and `has_html`)."""

    def __init__(self, key: TemplateKey, source: str) -> None:
        super().__init__(key, source)
        self._text = _parse(TEXT_ENV, key, source)
        missing = [name for name in EMAIL_BLOCKS if name not in self._text.blocks]
        if missing:
            wanted = ", ".join(f"{{% block {name} %}}" for name in missing)
            raise TemplateFileError(key.path, None, f"an {key.channel} template needs {wanted}")
        self._html = _parse(HTML_ENV, key, source)

    def _render(self, context: Mapping[str, Any]) -> RenderedMessage:
        subject, text = _render_blocks(self._text, context, ("subject", "text"))
        (html,) = _render_blocks(self._html, context, ("html",))
        return RenderedMessage(
            channel=self.key.channel,
            subject=one_line(subject),
            text=_strip_blank_lines(text),
            html=_strip_blank_lines(html),
        )


class TextTemplate(CompiledTemplate):
    """One plain text (SMS, WhatsApp): the whole file is the message."""

    def __init__(self, key: TemplateKey, source: str) -> None:
        super().__init__(key, source)
        self._template = _parse(TEXT_ENV, key, source)
        self._spaces = _SMS_SPACES if channel_class(key.channel).segmented else None

    def _render(self, context: Mapping[str, Any]) -> RenderedMessage:
        template = self._template
        text = _drain(template.root_render_func(template.new_context(dict(context))))
        if self._spaces is not None:
            text = text.translate(self._spaces)
        return RenderedMessage(channel=self.key.channel, text=text.strip())


def compile_template(key: TemplateKey, source: str) -> CompiledTemplate:
    kind = channel_class(key.channel)
    if kind.has_subject and kind.has_html:
        return EmailTemplate(key, source)
    if kind.has_subject or kind.has_html:
        # No channel is like this yet: a template kind for it must be written, not guessed.
        raise TemplateFileError(
            key.path, None, f"no template kind for the {key.channel} channel's parts"
        )
    return TextTemplate(key, source)
