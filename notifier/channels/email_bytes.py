"""RFC 5322 / MIME message bytes, built directly.

`email.message.EmailMessage` takes about 3 ms per message (policy machinery, header
registry, generator); joining bytes ourselves takes tens of microseconds, which matters when
an outage notifies a whole city. What we write:

- CRLF line endings; every line <= 998 octets; headers folded at 78 when possible.
- Header values never contain CR or LF: every line break in a value (str.splitlines()
  boundaries, so also NEL, U+2028...) becomes a space before anything else happens, so a
  value cannot start a new header ("Hi\\r\\nBcc: x" stays inside the Subject).
- Non-ASCII (or otherwise unsafe) subjects, display names and extra header values become
  RFC 2047 encoded-words in Q encoding, limited to the characters RFC 2047 5(3) allows in a
  phrase, so one encoder is safe everywhere; a character's bytes never straddle two words.
- UTF-8 bodies in quoted-printable, or base64 when QP would bloat (mostly non-Latin text).
- multipart/alternative with text/plain first, then text/html (last = preferred).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import MappingProxyType

__all__ = ["build_email", "header_safe"]

_SOFT_LIMIT = 78  # RFC 5322 2.1.1: SHOULD
_HARD_LIMIT = 998  # RFC 5322 2.1.1: MUST
_WORD_PAYLOAD = 75 - len("=?utf-8?q??=")  # RFC 2047 2: an encoded-word is at most 75 chars

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

# Headers we write ourselves; an extra header may not repeat them. Cc/Bcc: a channel sends
# to exactly one recipient, so such a header would only leak or mislead.
_RESERVED = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)

_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")  # RFC 5322 3.6.8 ftext, bounded
_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable, no spaces, no < >
_PRINTABLE_ASCII = re.compile(r"[ -~]*")
_ATEXT_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*")  # needs no quoting

# Q encoding per byte: RFC 2047 5(3) lets only these stand for themselves in a phrase.
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = [chr(b) if b in _Q_SAFE else f"={b:02X}" for b in range(256)]
_Q_BYTE[0x20] = "_"

# Bytes 0-127: deleting them leaves the non-ASCII bytes, counted at C speed.
_ASCII_BYTES = bytes(range(128))


def header_safe(value: str) -> str:
    """A header value with every line break turned into a space, trimmed."""
    return " ".join(value.splitlines()).strip()


def build_email(
    *,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    headers: Mapping[str, str] = _NO_HEADERS,
) -> bytes:
    """The complete message, ready for `SMTP.sendmail`.

    Raises ValueError for an address, Message-ID or extra header name we cannot write
    safely, or text that is not valid Unicode (lone surrogates).
    """
    message_id = _message_id(message_id)
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)  # naive datetimes are taken as UTC, as everywhere
    out = [
        _fold("From", _mailbox(from_name, _address(from_address))),
        _fold("To", [_address(to)]),
        _unstructured("Subject", subject),
        _date_line(date.replace(microsecond=0), date.utcoffset()),
        b"Message-ID: " + message_id.encode("ascii"),
        b"MIME-Version: 1.0",
    ]
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _RESERVED:
            raise ValueError(f"extra header name {name!r} is not allowed")
        out.append(_unstructured(name, value))

    text_headers, text_body = _part("plain", text)
    if html is None:
        message = b"\r\n".join(out) + b"\r\n" + text_headers + b"\r\n" + text_body
        # SMTP needs a final CRLF; a body that ends with one keeps just that one.
        return message if message.endswith(b"\r\n") else message + b"\r\n"
    digest = hashlib.sha1(message_id.encode("ascii"), usedforsecurity=False).hexdigest()
    # "=_" never occurs in QP or base64 output, so the boundary cannot collide with a body;
    # derived from the Message-ID so a retry sends the same bytes. 24 hex: the line fits 78.
    boundary = "=_" + digest[:24]
    out.append(f'Content-Type: multipart/alternative; boundary="{boundary}"'.encode("ascii"))
    html_headers, html_body = _part("html", html)
    # The CRLF before each "--boundary" belongs to the delimiter (RFC 2046 5.1.1), not to
    # the body: a body's own final line break is kept by adding one more.
    delimiter = b"\r\n--" + boundary.encode("ascii")
    return b"".join(
        [
            b"\r\n".join(out),
            b"\r\n",  # end of the last header line
            delimiter,  # its leading CRLF is the blank line after the headers
            b"\r\n" + text_headers + b"\r\n" + text_body,
            delimiter,
            b"\r\n" + html_headers + b"\r\n" + html_body,
            delimiter + b"--\r\n",
        ]
    )


@functools.lru_cache(maxsize=8)
def _date_line(second: datetime, offset: timedelta | None) -> bytes:
    """A fan-out sends hundreds of messages a second, all with the same Date: formatting it
    (email.utils, via a time tuple) cost a fortieth of the CPU of an email sent. `offset`
    is part of the key because aware datetimes of one instant compare equal whatever
    their zone, and the line shows the zone."""
    return b"Date: " + format_datetime(second).encode("ascii")


# -- bodies ------------------------------------------------------------------------------


def _part(subtype: str, body: str) -> tuple[bytes, bytes]:
    """The part's header lines (each ending in CRLF) and its encoded body, CRLF endings.

    The encoded body ends with CRLF exactly when the text ends with a line break.
    """
    data = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    non_ascii = len(data.translate(None, _ASCII_BYTES))
    # QP costs 3 octets per non-ASCII byte, base64 4 per 3 bytes overall: QP wins while
    # fewer than about 1 byte in 6 needs escaping (French, German: yes; Greek, CJK: no).
    if non_ascii * 6 > len(data):
        encoding = b"base64"
        # encodebytes wraps at 76 and always ends with a newline: line layout, not content.
        encoded = base64.encodebytes(data).removesuffix(b"\n")
    else:
        encoding = b"quoted-printable"
        encoded = binascii.b2a_qp(data, quotetabs=False, istext=True)  # wraps at 76
    headers = (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: " + encoding + b"\r\n"
    )
    return headers, encoded.replace(b"\n", b"\r\n")


# -- headers -----------------------------------------------------------------------------


def _address(value: str) -> str:
    # 254: the longest path RFC 5321 4.5.3.1.3 allows, minus its angle brackets.
    if len(value) > 254 or not (value.isascii() and _ADDRESS.fullmatch(value)):
        raise ValueError(f"{value!r} is not an email address we can send to")
    return value


def _message_id(value: str) -> str:
    if not value.startswith("<"):
        value = f"<{value}>"
    if not _MESSAGE_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid Message-ID")
    return value


def _mailbox(name: str, address: str) -> list[str]:
    """Tokens of `display name <address>` (RFC 5322 3.4)."""
    name = header_safe(name)
    if not name:
        return [address]
    angle = f"<{address}>"
    plain = "=?" not in name and len(name) < 900  # 900: the line stays under 998
    if plain and _ATEXT_PHRASE.fullmatch(name):
        return [*name.split(" "), angle]
    if plain and _PRINTABLE_ASCII.fullmatch(name):
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{quoted}"', angle]
    return [*_encoded_words(name, len("From: ")), angle]


def _unstructured(name: str, value: str) -> bytes:
    value = header_safe(value)
    # "=?" could be read back as an encoded-word, so such values are encoded themselves.
    if "=?" not in value and _PRINTABLE_ASCII.fullmatch(value):
        folded = _fold(name, value.split(" ") if value else [])
        if all(len(line) <= _HARD_LIMIT for line in folded.split(b"\r\n")):
            return folded
    return _fold(name, _encoded_words(value, len(name) + 2))


def _fold(name: str, tokens: list[str]) -> bytes:
    """`Name: tokens joined by spaces`, folded before a token when a line would pass 78.

    Folding inserts CRLF before an existing space (RFC 5322 3.2.2), so unfolding gives the
    value back exactly. An empty token (two spaces in a row) is never a fold point: that
    could leave a line of white space only.
    """
    lines: list[str] = []
    line = f"{name}:"
    has_token = False  # never fold right after "Name:"
    for token in tokens:
        if has_token and token and len(line) + 1 + len(token) > _SOFT_LIMIT:
            lines.append(line)
            line = ""
        line = f"{line} {token}"
        has_token = True
    lines.append(line)
    return "\r\n".join(lines).encode("ascii")


def _encoded_words(value: str, first_line_used: int) -> list[str]:
    """RFC 2047 Q-encoded words, each whole characters; the first fits after the name.

    A word ends just after a space when one is at hand: RFC 2047 6.2 decoders drop the
    white space between words anyway, but CPython's address parser puts a space there,
    and breaking after a real space keeps display names intact for it too.
    """
    words: list[str] = []
    budget = max(_SOFT_LIMIT - first_line_used - 13, 12)  # 12 = "=?utf-8?q?" + "?="
    budget = min(budget, _WORD_PAYLOAD)
    current: list[str] = []
    size = 0
    last_space = -1  # index in `current` of the last encoded space
    for char in value:
        piece = "".join([_Q_BYTE[b] for b in char.encode("utf-8")])
        while current and size + len(piece) > budget:
            cut = last_space + 1 if last_space >= 0 else len(current)
            words.append("=?utf-8?q?" + "".join(current[:cut]) + "?=")
            current = current[cut:]
            size = sum(len(p) for p in current)
            last_space = -1
            budget = _WORD_PAYLOAD  # later words start a line of their own: " =?...?="
        current.append(piece)
        size += len(piece)
        if char == " ":
            last_space = len(current) - 1
    if current:
        words.append("=?utf-8?q?" + "".join(current) + "?=")
    return words
