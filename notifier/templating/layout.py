"""Where templates live: `templates/<message>/<channel>.<locale>.j2`.

    templates/incident_declared/email.en.j2
    templates/incident_declared/sms.fr_CA.j2
    templates/incident_declared/whatsapp.fr.j2

Other code (the catalog, lint, the database-backed store) names a template by this relative
path, always with `/` separators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from notifier.domain.messages import ChannelName
from notifier.templating.errors import TemplateFileError

SUFFIX = ".j2"
MAX_SOURCE_CHARS = 65_536
# Every channel name is a valid file name part; a name that is not a channel is refused.
_CHANNELS = "|".join(re.escape(channel.value) for channel in ChannelName)
_KEY = re.compile(
    rf"(?P<message>[a-z0-9_]+)/(?P<channel>{_CHANNELS})"
    r"\.(?P<locale>[a-z]{2,3}(?:_[A-Za-z0-9]{2,4}){0,2})\.j2"
)


@dataclass(frozen=True, slots=True, order=True)
class TemplateKey:
    message: str
    channel: ChannelName
    locale: str

    @property
    def path(self) -> str:
        return f"{self.message}/{self.channel.value}.{self.locale}{SUFFIX}"


def parse_key(relative_path: str) -> TemplateKey:
    match = _KEY.fullmatch(relative_path)
    if match is None:
        raise TemplateFileError(
            relative_path,
            None,
            "name does not follow <message>/<channel>.<locale>.j2 "
            f"(message [a-z0-9_]+, channel {' or '.join(c.value for c in ChannelName)}, "
            "locale like en, fr, fr_CA)",
        )
    return TemplateKey(match["message"], ChannelName(match["channel"]), match["locale"])


def normalize_locale(tag: str) -> str:
    """`fr-ca`, `fr_CA`, `FR_ca` and `fr_CA.UTF-8` all name the file suffix `fr_CA`."""
    bare = tag.strip().split(".")[0].split("@")[0]
    parts = [part for part in bare.replace("-", "_").split("_") if part]
    if not parts:
        return ""
    subtags = [part.upper() if len(part) == 2 or part.isdigit() else part.title() for part in parts]
    return "_".join([parts[0].lower(), *subtags[1:]])


def locale_chain(tag: str, default_locale: str) -> tuple[str, ...]:
    """`fr_CA` -> (`fr_CA`, `fr`, default): the most specific template wins."""
    chain: list[str] = []
    locale = normalize_locale(tag) if tag else ""
    while locale:
        chain.append(locale)
        locale = locale.rpartition("_")[0]
    if default_locale not in chain:
        chain.append(default_locale)
    return tuple(chain)


def template_files(directory: Path) -> list[Path]:
    """Every file under `directory` except hidden ones (editor swap files, .git)."""
    if not directory.is_dir():
        raise TemplateFileError(str(directory), None, "not a directory")
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def relative_name(directory: Path, path: Path) -> str:
    return path.relative_to(directory).as_posix()


def read_source(directory: Path, path: Path) -> str:
    name = relative_name(directory, path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateFileError(name, None, f"cannot read: {exc}") from exc
    check_source_size(name, source)
    return source


def check_source_size(name: str, source: str) -> None:
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateFileError(name, None, f"longer than {MAX_SOURCE_CHARS} characters")


def read_sources(directory: Path) -> dict[str, str]:
    """The `.j2` files of a template directory by relative path; other files are ignored."""
    return {
        relative_name(directory, path): read_source(directory, path)
        for path in template_files(directory)
        if path.name.endswith(SUFFIX)
    }
