"""Check templates before they go live, as precisely as a support person needs.

Per file: the name follows the layout; it parses (syntax errors at their line); an email
has its three blocks, and no script or event handler in its html; it uses only the names
the engine provides; it renders with sample values of the types and shapes real data has,
full and with every optional field empty (a missing attribute or an unguarded optional
value at its line), each well within the time a render may take at send time; a text fits
its channel (an SMS in two segments, with a warning naming the characters that make it
UCS-2; a WhatsApp message in 4096 characters). Across files: each message and channel has a
template in the default locale, or customers whose language has none get nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jinja2
from jinja2 import meta, nodes

from notifier.channels.registry import channel_class
from notifier.errors import TemplateError
from notifier.templating.active_html import active_content
from notifier.templating.compiled import CompiledTemplate, compile_template
from notifier.templating.context import PROVIDED_NAMES, sample_context
from notifier.templating.errors import TemplateFileError, TemplateTooSlow
from notifier.templating.layout import (
    SUFFIX,
    TemplateKey,
    parse_key,
    read_source,
    relative_name,
    template_files,
)
from notifier.templating.limits import LINT_SECONDS, MAX_SECONDS
from notifier.templating.sandbox import TEXT_ENV
from notifier.templating.sms_length import sms_segments

MAX_SMS_SEGMENTS = 2
WELL_UNDER = (
    f"a render must take well under the {MAX_SECONDS:g} s allowed at send time "
    f"(at most {LINT_SECONDS:g} s here)"
)
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class LintIssue:
    file: str
    line: int | None
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.severity}: {self.message}"


def render_error(exc: TemplateError, file: str, suffix: str = "") -> LintIssue:
    if isinstance(exc, TemplateTooSlow):
        suffix = f"{suffix}; {WELL_UNDER}"
    if isinstance(exc, TemplateFileError):
        return LintIssue(exc.file, exc.line, "error", exc.reason + suffix)
    return LintIssue(file, None, "error", str(exc) + suffix)


def lint_directory(path: Path, default_locale: str = "en") -> list[LintIssue]:
    issues: list[LintIssue] = []
    sources: dict[str, str] = {}
    try:
        files = template_files(path)
    except TemplateError as exc:
        return [render_error(exc, str(path))]
    for file in files:
        name = relative_name(path, file)
        if not name.endswith(SUFFIX):
            issues.append(LintIssue(name, None, "warning", "not a template (.j2): ignored"))
            continue
        try:
            sources[name] = read_source(path, file)
        except TemplateError as exc:
            issues.append(render_error(exc, name))
    return issues + lint_sources(sources, default_locale)


def lint_sources(sources: Mapping[str, str], default_locale: str = "en") -> list[LintIssue]:
    issues: list[LintIssue] = []
    keys: list[TemplateKey] = []
    for name in sorted(sources):
        try:
            key = parse_key(name)
        except TemplateError as exc:
            issues.append(render_error(exc, name))
            continue
        keys.append(key)
        issues.extend(_lint_file(key, sources[name]))
    issues.extend(_missing_defaults(keys, default_locale))
    return issues


def _lint_file(key: TemplateKey, source: str) -> list[LintIssue]:
    try:
        ast = TEXT_ENV.parse(source, name=key.path)
    except jinja2.TemplateSyntaxError as exc:
        return [LintIssue(key.path, exc.lineno, "error", f"syntax error: {exc.message}")]
    unknown = _unknown_names(key, ast)
    unknown += [
        LintIssue(key.path, line, "error", f"{what} is not allowed in an email's html")
        for line, what in active_content(ast)
    ]
    try:
        template = compile_template(key, source)
    except TemplateError as exc:
        return [*unknown, render_error(exc, key.path)]
    if unknown:  # rendering would only repeat these as undefined errors
        return unknown
    return _render_samples(template)


def _unknown_names(key: TemplateKey, ast: nodes.Template) -> list[LintIssue]:
    # Blocks look up top-level macros and `{% set %}` names in the context, so meta counts
    # them as undeclared: anything the template itself defines is known.
    defined = {n.name for n in ast.find_all(nodes.Macro)}
    defined |= {n.name for n in ast.find_all(nodes.Name) if n.ctx == "store"}
    names = meta.find_undeclared_variables(ast) - PROVIDED_NAMES - set(TEXT_ENV.globals) - defined
    provided = ", ".join(sorted(PROVIDED_NAMES))
    return [
        LintIssue(
            key.path,
            _first_use(ast, name),
            "error",
            f"unknown name {name!r} (provided: {provided})",
        )
        for name in sorted(names)
    ]


def _first_use(ast: nodes.Template, name: str) -> int | None:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines, default=None)


def _render_samples(template: CompiledTemplate) -> list[LintIssue]:
    key = template.key
    issues: list[LintIssue] = []
    for sparse in (False, True):
        context = sample_context(key.locale, message=key.message, sparse=sparse)
        try:
            rendered = template.render(context, seconds=LINT_SECONDS)
        except TemplateError as exc:
            # After a failure with full values, the sparse run would only say it again.
            suffix = " (in the sample with optional fields empty)" if sparse else ""
            return [*issues, render_error(exc, key.path, suffix)]
        if not sparse:
            issues.extend(_length_issues(template, rendered.text))
    return issues


def _length_issues(template: CompiledTemplate, text: str) -> Iterator[LintIssue]:
    kind = channel_class(template.key.channel)
    if kind.segmented:
        yield from _sms_issues(template, text)
        return
    path = template.key.path
    if kind.max_chars is not None and len(text) > kind.max_chars:
        yield LintIssue(
            path,
            None,
            "error",
            f"the sample {kind.label} message is {len(text)} characters; {kind.label} takes "
            f"at most {kind.max_chars} in one message (no segments)",
        )
    if not kind.has_subject and not text.strip():
        yield LintIssue(path, None, "error", f"the sample {kind.label} message is empty")


def _sms_issues(template: CompiledTemplate, text: str) -> Iterator[LintIssue]:
    path = template.key.path
    length = sms_segments(text)
    if length.segments > MAX_SMS_SEGMENTS:
        yield LintIssue(
            path,
            None,
            "error",
            f"the sample SMS takes {length.segments} segments ({length.units} {length.encoding}"
            f" units); keep it to {MAX_SMS_SEGMENTS}",
        )
    if length.segments == 0:
        yield LintIssue(path, None, "error", "the sample SMS is empty")
    if length.chars_forcing_ucs2:
        # The template's own text can be fixed here; the data's can only be expected.
        mine = [c for c in length.chars_forcing_ucs2 if c in template.source]
        theirs = [c for c in length.chars_forcing_ucs2 if c not in template.source]
        origin = "; ".join(
            part
            for part in (
                f"{_quoted(mine)} in the template text" if mine else "",
                f"{_quoted(theirs)} from the sample values (real data may do the same)"
                if theirs
                else "",
            )
            if part
        )
        yield LintIssue(
            path,
            None,
            "warning",
            f"the sample SMS is UCS-2, 70 characters a segment instead of 160, because of {origin}",
        )


def _quoted(chars: list[str]) -> str:
    return " ".join(repr(c) for c in chars)


def _missing_defaults(keys: list[TemplateKey], default_locale: str) -> Iterator[LintIssue]:
    present = {(k.message, k.channel, k.locale) for k in keys}
    for message, channel in sorted({(k.message, k.channel) for k in keys}):
        if (message, channel, default_locale) not in present:
            path = f"{message}/{channel.value}.{default_locale}{SUFFIX}"
            yield LintIssue(
                path,
                None,
                "warning",
                f"missing: customers whose locale has no {channel.value} template for "
                f"{message} get none",
            )
