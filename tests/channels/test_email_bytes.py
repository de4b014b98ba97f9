"""email_bytes: what we write must read back exactly through the stdlib's modern parser."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from notifier.channels.email_bytes import build_email, header_safe

DATE = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
BASE_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]


def build(**overrides: Any) -> bytes:
    arguments: dict[str, Any] = {
        "from_address": "alerts@example.com",
        "from_name": "Réseau",
        "to": "client@example.org",
        "subject": "Panne",
        "text": "Bonjour\n",
        "html": "<p>Bonjour</p>\n",
        "message_id": "<abc123@test.notifier.local>",
        "date": DATE,
    }
    arguments.update(overrides)
    return build_email(**arguments)


def parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def assert_wire_format(raw: bytes) -> EmailMessage:
    """CRLF only, no line over 998 octets, no defects when parsed; returns the parse."""
    assert raw.endswith(b"\r\n")
    lines = raw.split(b"\r\n")
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert max(len(line) for line in lines) <= 998
    message = parse(raw)
    assert not message.defects
    assert all(not part.defects for part in message.walk())
    return message


def test_round_trip_with_accents_and_emoji() -> None:
    text = "Bonjour Amélie,\n\nUne panne touche votre quartier. Désolé ! 🙏\n"
    html = "<p>Bonjour Amélie,</p><p>Une panne touche votre quartier ⚡</p>"
    raw = build(
        from_name="Équipe Réseau ⚡ Lyon",
        subject="Panne réseau à Lyon — rétablissement prévu à 14h 🔧",
        text=text,
        html=html,
    )
    assert_wire_format(raw)
    message = parse(raw)
    assert message["Subject"] == "Panne réseau à Lyon — rétablissement prévu à 14h 🔧"
    sender = message["From"].addresses[0]
    assert sender.display_name == "Équipe Réseau ⚡ Lyon"
    assert sender.addr_spec == "alerts@example.com"
    assert message["To"] == "client@example.org"
    assert message["Message-ID"] == "<abc123@test.notifier.local>"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"].datetime == DATE
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert body_of(message, "plain") == text
    assert body_of(message, "html") == html


def test_text_only_when_html_is_none() -> None:
    raw = build(html=None, text="Seulement du texte, été.")
    assert_wire_format(raw)
    message = parse(raw)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert body_of(message, "plain").rstrip("\n") == "Seulement du texte, été."


def test_long_display_names_with_spaces_survive_cpythons_parser() -> None:
    name = "Service Client Électricité de Lyon Métropole — Astreinte 24h/24 ⚡ Équipe Réseau"
    raw = build(from_name=name)
    assert raw.count(b"=?utf-8?q?") > 1  # long enough to need several encoded-words
    assert_wire_format(raw)
    display_name = parse(raw)["From"].addresses[0].display_name
    assert " ".join(display_name.split()) == name


@pytest.mark.parametrize("field", ["subject", "from_name"])
@pytest.mark.parametrize(
    "attack",
    [
        "Hi\r\nBcc: evil@x",
        "Hi\nBcc: evil@x",
        "Hi\rBcc: evil@x",
        "Hi\r\n\r\nbody injected",
        "Hi\u2028Bcc: evil@x",
        "Hé\r\nBcc: evil@x",
    ],
)
def test_header_injection_adds_no_header(field: str, attack: str) -> None:
    raw = build(**{field: attack})
    assert_wire_format(raw)
    message = parse(raw)
    assert list(message.keys()) == BASE_HEADERS
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert body_of(message, "plain") == "Bonjour\n"
    if field == "subject":
        assert message["Subject"] == header_safe(attack)
    else:
        assert message["From"].addresses[0].addr_spec == "alerts@example.com"


def test_extra_headers_pass_and_cannot_inject() -> None:
    raw = build(
        headers={
            "List-Unsubscribe": "<https://notify.example.com/u/T0KEN>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Incident": "Coupure à Lyon\r\nBcc: evil@x",
        }
    )
    assert_wire_format(raw)
    message = parse(raw)
    assert message["List-Unsubscribe"] == "<https://notify.example.com/u/T0KEN>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Incident"] == "Coupure à Lyon Bcc: evil@x"
    assert "Bcc" not in message


@pytest.mark.parametrize("name", ["Bcc", "subject", "Content-Type", "Bad Name", "X:Y", "", "Ré"])
def test_reserved_or_invalid_extra_header_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="header name"):
        build(headers={name: "x"})


@pytest.mark.parametrize(
    "address", ["", "no-at-sign", "a@b c", "<a@b>", "a@b\r\nBcc: x@y", "amélie@exemple.fr"]
)
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="address"):
        build(to=address)


def test_long_subjects_fold_within_78() -> None:
    ascii_subject = " ".join(["outage"] * 60)
    french = "Coupure d'électricité prévue à Villeurbanne " * 8
    for subject in (ascii_subject, french):
        raw = build(subject=subject)
        assert_wire_format(raw)
        header_block = raw.split(b"\r\n\r\n", 1)[0]
        assert max(len(line) for line in header_block.split(b"\r\n")) <= 78
        assert parse(raw)["Subject"] == header_safe(subject)


def test_unbreakable_ascii_subject_still_fits() -> None:
    subject = "x" * 3000
    raw = build(subject=subject)
    assert_wire_format(raw)
    assert parse(raw)["Subject"] == subject


def test_ascii_that_looks_like_an_encoded_word_is_kept_literally() -> None:
    subject = "=?utf-8?q?not_an_encoded_word?= really"
    assert parse(build(subject=subject))["Subject"] == subject


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Bonjour, la panne est réparée.\n", "quoted-printable"),
        ("Ηλεκτρική διακοπή στην περιοχή σας\n", "base64"),
        ("停电通知：您所在的地区正在停电。\n", "base64"),
    ],
)
def test_body_encoding_is_chosen_by_cost(text: str, encoding: str) -> None:
    raw = build(text=text, html=None)
    message = parse(raw)
    assert message["Content-Transfer-Encoding"] == encoding
    assert body_of(message, "plain") == text


def test_long_lines_and_odd_line_endings_in_bodies() -> None:
    text = "a" * 5000 + "\r\nmixed\rline\nendings\n" + "é" * 2000 + "\n.\n..lead dots\n"
    raw = build(text=text, html="<p>" + "b" * 4000 + "</p>")
    assert_wire_format(raw)
    message = parse(raw)
    assert body_of(message, "plain") == text.replace("\r\n", "\n").replace("\r", "\n")
    assert body_of(message, "html") == "<p>" + "b" * 4000 + "</p>"


@pytest.mark.parametrize("html", [None, "<p>x</p>"])
@pytest.mark.parametrize(
    "text", ["", "\n", "a", "a\n", "a\n\n\n", "\n\nb", "ΑΒΓ\n\n", "ΑΒΓ", "é\r\n\r\n"]
)
def test_line_breaks_at_the_edges_of_bodies_are_kept(text: str, html: str | None) -> None:
    message = assert_wire_format(build(text=text, html=html))
    expected = text.replace("\r\n", "\n")
    got = body_of(message, "plain")
    if html is None and not expected.endswith("\n"):
        got = got.removesuffix("\n")  # SMTP needs a final line break; we add one
    assert got == expected


def test_message_id_and_date_forms() -> None:
    paris = timezone(timedelta(hours=1))
    message = parse(build(message_id="x1@d.example", date=datetime(2026, 1, 2, 3, 4, tzinfo=paris)))
    assert message["Message-ID"] == "<x1@d.example>"
    assert message["Date"].datetime == datetime(2026, 1, 2, 3, 4, tzinfo=paris)
    naive = parse(build(date=datetime(2026, 1, 2, 3, 4)))
    assert naive["Date"].datetime == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="Message-ID"):
        build(message_id="<no at sign>")


def test_same_input_same_bytes() -> None:
    assert build() == build()


# Characters chosen to hit every path: plain ASCII, specials, quotes and backslashes,
# "=?", controls and every kind of line break, Latin accents, Greek, CJK, combining marks,
# astral emoji (4 UTF-8 bytes), zero-width joiner sequences, and long runs without spaces.
_ALPHABET = (
    "abcXYZ019 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    "\t\r\n\x00\x07\x0b\x0c\x1b\x7f\x85\u2028\u2029"
    "éèêàçœÉÀÇ ñüß"
    "Ωαβ"
    "停电通知"
    "e\u0301"
    "😀🔧⚡👩\u200d👩\u200d👧"
    "\ufeff\u00a0\u3000"
)


def _random_text(rng: random.Random, lengths: tuple[int, ...]) -> str:
    length = rng.choice(lengths)
    text = "".join(rng.choice(_ALPHABET) for _ in range(length))
    if rng.random() < 0.1:
        text += "=?utf-8?q?" + "z" * rng.randint(0, length)  # and an unbreakable run
    return text


# Header values stay short here because CPython's header parser is slow on long ones
# (they have tests of their own above); bodies go long.
_HEADER_LENGTHS = (0, 1, 5, 20, 60, 120)
_BODY_LENGTHS = (0, 1, 20, 200, 1200, 5000)


def test_property_random_unicode_round_trips() -> None:
    rng = random.Random(20260301)
    for _ in range(400):
        subject, name, extra = (_random_text(rng, _HEADER_LENGTHS) for _ in range(3))
        text, html = (_random_text(rng, _BODY_LENGTHS) for _ in range(2))
        raw = build(
            subject=subject,
            from_name=name,
            text=text,
            html=html if rng.random() < 0.7 else None,
            headers={"X-Random": extra},
        )
        context = f"subject={subject!r} name={name!r}"
        message = assert_wire_format(raw)
        assert message["Subject"] == header_safe(subject), context
        assert message["X-Random"] == header_safe(extra), context
        sender = message["From"].addresses[0]
        assert sender.addr_spec == "alerts@example.com", context
        # CPython's address parser puts a space between adjacent encoded-words in a phrase
        # (RFC 2047 6.2 says to drop that white space), so compare without white space.
        assert "".join(sender.display_name.split()) == "".join(header_safe(name).split())
        expected = text.replace("\r\n", "\n").replace("\r", "\n")
        got = body_of(message, "plain")
        if message.get_content_type() == "text/plain" and not expected.endswith("\n"):
            got = got.removesuffix("\n")  # SMTP needs a final line break; we add one
        assert got == expected, context
        assert set(message.keys()) <= {*BASE_HEADERS, "X-Random", "Content-Transfer-Encoding"}


def test_one_instant_in_two_zones_keeps_each_zone() -> None:
    """The Date line is cached per second: an equal instant in another zone is its own."""
    paris = timezone(timedelta(hours=1))
    utc = datetime(2026, 1, 2, 2, 4, tzinfo=UTC)
    for when, zone in [(utc, "+0000"), (utc.astimezone(paris), "+0100"), (utc, "+0000")]:
        data = build(date=when)
        assert f"Date: Fri, 02 Jan 2026 {when:%H}:04:00 {zone}\r\n".encode() in data
