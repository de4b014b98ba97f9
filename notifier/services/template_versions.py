"""Editing message templates: save (a new version, live only if the whole set lints clean),
restore an earlier version, diffs, previews for a real customer or a sample.

The database holds the live set once anything was saved or imported; the first save seeds it
with the folder's set (version 1 of each file, author "templates/"), so that the database
always holds a complete set and every worker uses the same one.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from notifier.channels.registry import channel_class
from notifier.domain.messages import RenderedMessage
from notifier.errors import InputError, TemplateError
from notifier.services.running import Running
from notifier.services.template_catalog import DbCatalog
from notifier.store import template_versions as store
from notifier.store.customers import get_customer
from notifier.store.template_versions import TemplateVersion
from notifier.templating import sample_context, sms_segments
from notifier.templating.compiled import compile_template
from notifier.templating.layout import MAX_SOURCE_CHARS, TemplateKey, parse_key, read_sources
from notifier.templating.lint import LintIssue, lint_sources

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


async def lint_set(sources: Mapping[str, str], default_locale: str) -> list[LintIssue]:
    """Lint of a whole set (about a second for the shipped one: in a thread, so the worker
    sharing this event loop keeps sending), remembered for the same set."""
    digest = hashlib.sha256(
        json.dumps([default_locale, sorted(sources.items())]).encode()
    ).hexdigest()
    if digest not in _LINTED:
        issues = await asyncio.to_thread(lint_sources, dict(sources), default_locale)
        if len(_LINTED) >= 8:
            _LINTED.pop(next(iter(_LINTED)))
        _LINTED[digest] = issues
    return list(_LINTED[digest])


async def save(app: Running, path: str, source: str, *, author: str, now: datetime) -> SaveResult:
    """A new version of `path`. It goes live only if the would-be set has no lint error;
    otherwise it is kept as a draft and the errors (at their lines) say why."""
    key_of(path)
    if len(source) > MAX_SOURCE_CHARS:
        raise InputError(f"source: longer than {MAX_SOURCE_CHARS} characters")
    source = source.replace("\r\n", "\n")
    async with app.engine.begin() as conn:
        live = await _live_or_seed(conn, app, now)
        would_be = {**live, path: source}
        issues = await lint_set(would_be, app.settings.default_locale)
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
    app: Running, path: str, version: int, *, author: str, now: datetime
) -> SaveResult:
    """Version `version` again, as a new version (history is never rewritten)."""
    async with app.engine.connect() as conn:
        old = await store.get_version(conn, path, version)
    return await save(app, path, old.source, author=author, now=now)


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
) -> Preview:
    """`source` rendered on the sample outage, for a real customer (their name, contact
    data, locale and time zone) or the sample one; lint issues of this file alongside."""
    key = key_of(path)
    issues = [i for i in lint_sources({path: source}) if i.file == path and i.line is not None]
    locale = key.locale
    context: dict[str, Any]
    customer: dict[str, Any] | None = None
    if customer_id:
        async with app.engine.connect() as conn:
            customer = (await get_customer(conn, customer_id)).as_context()
    context = sample_context(locale, message=key.message, sparse=sample == "sparse")
    if customer is not None:
        context["customer"] = customer
    try:
        result = _preview(compile_template(key, source).render(context))
    except TemplateError as exc:
        line = getattr(exc, "line", None)
        result = Preview(error=LintIssue(path, line, "error", getattr(exc, "reason", str(exc))))
    result.issues = issues
    return result


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
