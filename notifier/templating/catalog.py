"""The set of templates in force, and how a message finds its template.

`render` runs once per customer per channel during a fan-out, so all the work that does not
depend on the customer happens at load: every file is compiled once, and the locale
fallback (`fr_CA` -> `fr` -> default) is resolved once per (message, channel, locale).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.errors import TemplateError
from notifier.templating.compiled import CompiledTemplate, compile_template
from notifier.templating.layout import TemplateKey, locale_chain, parse_key, read_sources

log = logging.getLogger(__name__)

# Locales come from customer rows; a flood of odd values must not grow the cache forever.
_MAX_RESOLUTIONS = 4096
_CHANNELS = frozenset(channel.value for channel in ChannelName)


def compile_sources(
    sources: Mapping[str, str],
) -> tuple[dict[TemplateKey, CompiledTemplate], list[TemplateError]]:
    """Compile every file; return the good ones and one error per broken file."""
    compiled: dict[TemplateKey, CompiledTemplate] = {}
    errors: list[TemplateError] = []
    for name in sorted(sources):
        try:
            key = parse_key(name)
            compiled[key] = compile_template(key, sources[name])
        except TemplateError as exc:
            errors.append(exc)
    return compiled, errors


class TemplateCatalog:
    def __init__(
        self, templates: Mapping[TemplateKey, CompiledTemplate], default_locale: str = "en"
    ) -> None:
        self._templates = dict(templates)
        self._default_locale = default_locale
        self._resolved: dict[tuple[str, str, str], CompiledTemplate | None] = {}

    @classmethod
    def from_directory(cls, path: Path, default_locale: str = "en") -> TemplateCatalog:
        return cls.from_sources(read_sources(path), default_locale)

    @classmethod
    def from_sources(
        cls, sources: Mapping[str, str], default_locale: str = "en"
    ) -> TemplateCatalog:
        compiled, errors = compile_sources(sources)
        if errors:
            raise errors[0]
        return cls(compiled, default_locale)

    def render(
        self, message: str, channel: ChannelName, locale: str, context: Mapping[str, Any]
    ) -> RenderedMessage:
        return self.resolve(message, channel, locale).render(context)

    def resolve(self, message: str, channel: ChannelName, locale: str) -> CompiledTemplate:
        """The template a customer with `locale` gets (their language, else the default)."""
        cache_key = (message, str(channel), locale)
        try:
            template = self._resolved[cache_key]
        except KeyError:
            template = self._lookup(message, channel, locale)
            if len(self._resolved) < _MAX_RESOLUTIONS:
                self._resolved[cache_key] = template
        if template is None:
            raise TemplateError(f"no {channel} template for message {message!r}")
        return template

    def _lookup(self, message: str, channel: str, locale: str) -> CompiledTemplate | None:
        if channel not in _CHANNELS:
            return None
        for candidate in locale_chain(locale, self._default_locale):
            template = self._templates.get(TemplateKey(message, ChannelName(channel), candidate))
            if template is not None:
                return template
        return None

    def has(self, message: str, channel: ChannelName) -> bool:
        return any(k.message == message and k.channel == channel for k in self._templates)

    def messages(self) -> list[str]:
        return sorted({key.message for key in self._templates})

    def all_locales(self) -> list[str]:
        """Every locale some template is written in: the ones operators may write for."""
        return sorted({key.locale for key in self._templates})

    def locales(self, message: str, channel: ChannelName) -> list[str]:
        return sorted(
            k.locale for k in self._templates if k.message == message and k.channel == channel
        )

    def source(self, message: str, channel: ChannelName, locale: str) -> str:
        template = None
        if channel in _CHANNELS:
            template = self._templates.get(TemplateKey(message, ChannelName(channel), locale))
        if template is None:
            raise TemplateError(f"no template {message}/{channel}.{locale}.j2")
        return template.source


class LiveCatalog:
    """The catalog in force for a template directory; a broken edit never replaces it."""

    def __init__(self, path: Path, default_locale: str = "en") -> None:
        self._path = path
        self._default_locale = default_locale
        self._current = TemplateCatalog.from_directory(path, default_locale)

    @property
    def current(self) -> TemplateCatalog:
        return self._current

    def reload(self) -> list[str]:
        """Load the directory again; on any error keep the catalog in force."""
        try:
            compiled, errors = compile_sources(read_sources(self._path))
        except TemplateError as exc:  # the directory itself, or a file that cannot be read
            compiled, errors = {}, [exc]
        if errors:
            log.warning(
                "templates not reloaded: %d broken file(s)",
                len(errors),
                extra={"action": "templates_reload_failed", "errors": [str(e) for e in errors]},
            )
            return [str(error) for error in errors]
        # One assignment: renders in flight keep the catalog they started with.
        self._current = TemplateCatalog(compiled, self._default_locale)
        log.info(
            "templates reloaded: %d file(s)", len(compiled), extra={"action": "templates_reloaded"}
        )
        return []
