"""Editing message templates: save (a new version, live only if the whole set lints clean),
restore an earlier version, diffs, previews for a real customer or a sample.

The database holds the live set once anything was saved or imported; the first save seeds it
with the folder's set (version 1 of each file, author "templates/"), so that the database
always holds a complete set and every worker uses the same one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.channels.registry import channel_class
from notifier.domain.messages import RenderedMessage
from notifier.errors import InputError, TemplateError
from notifier.services.running import Running
from notifier.services.template_catalog import DbCatalog
from notifier.store import template_versions as store
from notifier.store.customers import get_customer, search_customers
from notifier.store.db import reads
from notifier.store.template_versions import TemplateVersion
from notifier.templating import sample_context, sms_segments
from notifier.templating.compiled import CompiledTemplate, compile_template
from notifier.templating.layout import MAX_SOURCE_CHARS, TemplateKey, parse_key, read_sources
from notifier.templating.limits import LINT_SECONDS
from notifier.templating.lint import LintIssue, lint_sources, render_error
from notifier.templating.pool import PREVIEWS

SEED_AUTHOR = "templates/"


@dataclass
class SaveResult:
    version: TemplateVersion | None  # None: the source was the live one already
    live: bool
    issues: list[LintIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[LintIssue]:
        return [i for i in self.issues if i.severity == "error"]


def key_of(path: str) -> TemplateKey:
    try:
        return parse_key(path)
    except TemplateError as exc:
        raise InputError(f"path: {exc}") from None


async def _live_or_seed(conn: AsyncConnection, app: Running, now: datetime) -> dict[str, str]:
    live = await store.live_sources(conn)
    if not live:
        files = read_sources(app.settings.paths.templates)
        await store.seed(conn, files, author=SEED_AUTHOR, now=now)
        live = await store.live_sources(conn)
    return live


async def live_set(app: Running) -> dict[str, str]:
    """The sources in force: the database's live set, or the folder's until there is one."""
    async with app.engine.connect() as conn:
        live = await store.live_sources(conn)
    return live or read_sources(app.settings.paths.templates)


_LINTED: dict[str, list[LintIssue]] = {}  # the last few sets linted, by digest


async def lint_set(
    sources: Mapping[str, str], default_locale: str, *, caller: str = "server"
) -> list[LintIssue]:
    """Lint of a whole set (about a second for the shipped one: in the render pool, so the
    worker sharing this event loop keeps sending), remembered for the same set."""
    digest = hashlib.sha256(
        json.dumps([default_locale, sorted(sources.items())]).encode()
    ).hexdigest()
    if digest not in _LINTED:
        copy = dict(sources)
        issues = await PREVIEWS.run(
            caller, lambda: lint_sources(copy, default_locale), what="the lint of the templates"
        )
        if len(_LINTED) >= 8:
            _LINTED.pop(next(iter(_LINTED)))
        _LINTED[digest] = issues
    return list(_LINTED[digest])


REAL_CUSTOMERS = 5  # customers a new version is tried on before it may go live


async def real_customer_issues(
    app: Running, path: str, source: str, *, caller: str = "server"
) -> list[LintIssue]:
    """`source` rendered for a handful of real customers (the sample outage, their own
    data), each within lint's time: data the samples do not have (a long name, an id of
    another form) can make a template fail or crawl for everyone at send time."""
    key = key_of(path)
    try:
        template = compile_template(key, source)
    except TemplateError:
        return []  # lint says why, at its line
    async with reads(app.engine) as conn:
        customers = [c.as_context() for c in await search_customers(conn, "", REAL_CUSTOMERS)]
    # In the render pool: up to a few renders of half a second each, while this event loop
    # may be the worker's too.
    return await PREVIEWS.run(
        caller,
        partial(_render_for, template, customers),
        what="trying the template on real customers",
    )


def _render_for(template: CompiledTemplate, customers: list[dict[str, Any]]) -> list[LintIssue]:
    key = template.key
    for customer in customers:
        context = sample_context(key.locale, message=key.message)
        context["customer"] = customer
        try:
            template.render(context, seconds=LINT_SECONDS)
        except TemplateError as exc:
            return [render_error(exc, key.path, f" (for customer {customer['id']!r})")]
    return []


async def save(
    app: Running, path: str, source: str, *, author: str, now: datetime, caller: str = "server"
) -> SaveResult:
    """A new version of `path`. It goes live only if the would-be set has no lint error
    and it renders for a few real customers in time; otherwise it is kept as a draft and
    the errors (at their lines) say why."""
    key_of(path)
    if len(source) > MAX_SOURCE_CHARS:
        raise InputError(f"source: longer than {MAX_SOURCE_CHARS} characters")
    source = source.replace("\r\n", "\n")
    # Before the write transaction: on SQLite it would hold every other writer meanwhile.
    for_customers = await real_customer_issues(app, path, source, caller=caller)
    async with app.engine.begin() as conn:
        live = await _live_or_seed(conn, app, now)
        would_be = {**live, path: source}
        issues = await lint_set(would_be, app.settings.default_locale, caller=caller)
        if not any(i.severity == "error" for i in issues):
            issues += for_customers
        errors = [i for i in issues if i.severity == "error"]
        if not errors and live.get(path) == source:
            return SaveResult(None, True, issues)
        version = await store.add_version(
            conn, path=path, source=source, author=author, now=now, live=not errors
        )
    if version.is_live and isinstance(app.templates, DbCatalog):
        await app.templates.refresh(force=True)  # this process at once; the others poll
    return SaveResult(version, version.is_live, issues)


async def restore(
    app: Running, path: str, version: int, *, author: str, now: datetime, caller: str = "server"
) -> SaveResult:
    """Version `version` again, as a new version (history is never rewritten)."""
    async with app.engine.connect() as conn:
        old = await store.get_version(conn, path, version)
    return await save(app, path, old.source, author=author, now=now, caller=caller)


async def history(engine: AsyncEngine, path: str) -> list[TemplateVersion]:
    async with engine.connect() as conn:
        return await store.history(conn, path)


def diff(before: str | None, after: str, *, path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{path} ({old})",
        tofile=f"{path} ({new})",
    )
    return "".join(lines)


def diffs(versions: list[TemplateVersion]) -> dict[int, str]:
    """Each version's diff against the one before it (newest first in, by version out)."""
    ordered = sorted(versions, key=lambda v: v.version)
    out: dict[int, str] = {}
    previous: TemplateVersion | None = None
    for v in ordered:
        out[v.version] = diff(
            previous.source if previous else None,
            v.source,
            path=v.path,
            old=f"v{previous.version}" if previous else "empty",
            new=f"v{v.version}",
        )
        previous = v
    return out


@dataclass
class Preview:
    subject: str | None = None
    text: str = ""
    html: str | None = None
    sms_segments: int | None = None
    sms_encoding: str | None = None
    ucs2_chars: list[str] = field(default_factory=list)
    label: str = ""  # the channel, as the console names it
    max_chars: int | None = None  # the channel's body limit, for a text without segments
    error: LintIssue | None = None
    issues: list[LintIssue] = field(default_factory=list)


def _preview(rendered: RenderedMessage) -> Preview:
    kind = channel_class(rendered.channel)
    preview = Preview(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        label=kind.label,
        max_chars=kind.max_chars,
    )
    if kind.segmented:
        length = sms_segments(rendered.text)
        preview.sms_segments, preview.sms_encoding = length.segments, length.encoding
        preview.ucs2_chars = list(length.chars_forcing_ucs2)
    return preview


async def preview(
    app: Running,
    path: str,
    source: str,
    *,
    customer_id: str | None = None,
    sample: Literal["full", "sparse"] = "full",
    caller: str = "server",
) -> Preview:
    """`source` rendered on the sample outage, for a real customer (their name, contact
    data, locale and time zone) or the sample one; lint issues of this file alongside.
    Lint and rendering run in the render pool, at most a few at once per `caller`."""
    key = key_of(path)
    if len(source) > MAX_SOURCE_CHARS:
        raise InputError(f"source: longer than {MAX_SOURCE_CHARS} characters")
    customer: dict[str, Any] | None = None
    if customer_id:
        async with app.engine.connect() as conn:
            customer = (await get_customer(conn, customer_id)).as_context()

    def lint_and_render() -> Preview:
        issues = [i for i in lint_sources({path: source}) if i.file == path and i.line is not None]
        context = sample_context(key.locale, message=key.message, sparse=sample == "sparse")
        if customer is not None:
            context["customer"] = customer
        try:
            result = _preview(compile_template(key, source).render(context))
        except TemplateError as exc:
            line = getattr(exc, "line", None)
            reason = getattr(exc, "reason", str(exc))
            result = Preview(error=LintIssue(path, line, "error", reason))
        result.issues = issues
        return result

    return await PREVIEWS.run(caller, lint_and_render)


@dataclass
class ImportResult:
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    issues: list[LintIssue] = field(default_factory=list)

    @property
    def errors(self) -> list[LintIssue]:
        return [i for i in self.issues if i.severity == "error"]


async def import_sources(
    app: Running, sources: Mapping[str, str], *, author: str, now: datetime
) -> ImportResult:
    """Every file that differs from the live one becomes a new live version, all or none:
    nothing is imported if the would-be set fails lint. Templates only in the database stay."""
    async with app.engine.begin() as conn:
        live = await store.live_sources(conn)
        would_be = {**live, **sources}
        result = ImportResult(issues=await lint_set(would_be, app.settings.default_locale))
        if result.errors:
            return result
        for path in sorted(sources):
            if live.get(path) == sources[path]:
                result.unchanged += 1
                continue
            await store.add_version(
                conn, path=path, source=sources[path], author=author, now=now, live=True
            )
            result.changed.append(path)
    if result.changed and isinstance(app.templates, DbCatalog):
        await app.templates.refresh(force=True)
    return result
