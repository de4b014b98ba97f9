"""`--message-fr "..."`: the operator's free text in other locales, on the command line.

A command that takes `--message` (or `--workaround`, `--cause`) also takes the same option
with a locale after a dash, once per locale: `--message-fr`, `--workaround-pt_BR`. The
plain option is the default locale's text; customers in a locale given here read that
text instead, others the default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from notifier.errors import InputError

_OPTION = re.compile(
    r"^--(message|workaround|cause)-([A-Za-z]{2,3}(?:[_-][A-Za-z]{2,4})?)(?:=(.*))?$", re.S
)
HELP = (
    "The free text in other locales: --message-fr TEXT, --workaround-fr TEXT (any locale, "
    "once each); customers of that locale read it, others the default text."
)


def locale_texts(args: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, str]]:
    """{field: {locale: text}} from the command's extra arguments; anything else is refused
    with one line, as an unknown option would be."""
    found: dict[str, dict[str, str]] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        match = _OPTION.match(arg)
        if match is None or match.group(1) not in fields:
            allowed = ", ".join(f"--{f}-LOCALE" for f in fields)
            raise InputError(f"{arg}: no such option (other locales: {allowed})")
        field, locale, inline = match.groups()
        if inline is None:
            if not rest:
                raise InputError(f"{arg}: give the text")
            inline = rest.pop(0)
        tag = locale.replace("-", "_")
        if tag in found.get(field, {}):
            raise InputError(f"{arg}: given twice")
        found.setdefault(field, {})[tag] = inline
    return found
