"""The operator's free text in the customer's language.

An incident's message, workaround and cause are written in the default locale and, when
the operator gives them, in others (`translations`). Each customer reads the text of their
locale (fr_CA, then fr), else the default locale's; `text_locale` tells templates which
they got for each field (None when there is no text), e.g. to say "(in English)".
"""

from __future__ import annotations

from typing import Any

from notifier.domain.incidents import FREE_TEXT
from notifier.templating.layout import locale_chain


def localized(context: dict[str, Any], locale: str, default_locale: str) -> dict[str, Any]:
    """`context` with `incident` and `update` speaking `locale` where they can."""
    changed: dict[str, Any] = {}
    for name in ("incident", "update"):
        subject = context.get(name)
        if not subject:
            continue
        translations = subject.get("translations") or {}
        view = dict(subject)
        chosen: dict[str, str | None] = {}
        for field in FREE_TEXT:
            chosen[field] = default_locale if view.get(field) else None
            texts = translations.get(field) or {}
            for candidate in locale_chain(locale, default_locale):
                if candidate == default_locale:
                    break
                if texts.get(candidate):
                    view[field], chosen[field] = texts[candidate], candidate
                    break
        view["text_locale"] = chosen
        changed[name] = view
    return {**context, **changed} if changed else context
