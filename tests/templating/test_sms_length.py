"""SMS segment counting at every boundary that costs money."""

from __future__ import annotations

import random

import pytest

from notifier.channels.registry import channel_class
from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.templating.body_length import segments_of
from notifier.templating.sms_length import GSM7_BASIC, GSM7_EXTENSION, SmsLength, sms_segments


def test_the_gsm7_tables_have_the_standard_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes, minus the escape to the extension table
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("", 0, 0),
        ("a", 1, 1),
        ("a" * 160, 160, 1),
        ("a" * 161, 161, 2),
        ("a" * 153 * 2, 306, 2),
        ("a" * (153 * 2 + 1), 307, 3),
        ("a" * 153 * 3, 459, 3),
        ("é" * 160, 160, 1),  # é, è, à, ù, É are in the basic table
        ("\n" * 160, 160, 1),
    ],
)
def test_gsm7_boundaries(text: str, units: int, segments: int) -> None:
    assert sms_segments(text) == SmsLength("GSM-7", units, segments, [])


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("€" * 80, 160, 1),  # each extension character costs two septets
        ("a" * 159 + "€", 161, 2),
        ("a" * 158 + "[", 160, 1),
        # An escape pair never straddles two segments: 152 + 2 does not fit in 153.
        ("a" * 152 + "€" + "a" * 7, 161, 2),
        ("a" * 152 + "{" + "a" * 152, 306, 3),
        ("a" * 151 + "}" + "a" * 153, 306, 2),
        ("^{}\\[~]|€\f", 20, 1),
    ],
)
def test_gsm7_extension_characters(text: str, units: int, segments: int) -> None:
    assert sms_segments(text) == SmsLength("GSM-7", units, segments, [])


@pytest.mark.parametrize(
    ("text", "units", "segments"),
    [
        ("ê" * 70, 70, 1),
        ("ê" * 71, 71, 2),
        ("ê" * 67 * 2, 134, 2),
        ("ê" * (67 * 2 + 1), 135, 3),
        ("😀" * 35, 70, 1),  # outside the BMP: two UTF-16 units
        ("😀" * 35 + "a", 71, 2),
        # A surrogate pair never straddles two segments: 66 + 2 does not fit in 67.
        ("a" * 66 + "😀" + "a" * 3, 71, 2),
        ("a" * 66 + "😀" + "a" * 66, 134, 3),
        ("€" * 69 + "ê", 70, 1),  # in UCS-2 the euro sign is one unit like any other
    ],
)
def test_ucs2_boundaries(text: str, units: int, segments: int) -> None:
    result = sms_segments(text)
    assert (result.encoding, result.units, result.segments) == ("UCS-2", units, segments)


def test_the_characters_forcing_ucs2_are_named_once_in_order() -> None:
    text = "Réparation prévue à 19h. Fenêtre : « bientôt », ça arrive’"
    result = sms_segments(text)
    assert result.chars_forcing_ucs2 == ["ê", "«", "ô", "»", "ç", "’"]
    assert result.encoding == "UCS-2"
    assert result.units == len(text)


def _walked(text: str) -> tuple[str, int, int]:
    """Encoding, units and segments by filling segments character by character."""
    gsm = all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)
    if gsm:
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
        single, per = 160, 153
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
        single, per = 70, 67
    total = sum(costs)
    if total <= single:
        return ("GSM-7" if gsm else "UCS-2", total, 1 if total else 0)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per:
            segments, used = segments + 1, 0
        used += cost
    return ("GSM-7" if gsm else "UCS-2", total, segments)


def test_shortcuts_agree_with_the_character_walk() -> None:
    rng = random.Random(20261201)
    alphabets = ["abc XYZ.,", "abc{}[]€", "abcé日本", "ab😀c", "ab€日😀"]
    for _ in range(3000):
        letters = rng.choice(alphabets)
        text = "".join(rng.choice(letters) for _ in range(rng.randrange(0, 420)))
        got = sms_segments(text)
        assert (got.encoding, got.units, got.segments) == _walked(text), text


@pytest.mark.parametrize("name", list(ChannelName))
def test_only_channels_paid_in_segments_are_measured_in_them(name: ChannelName) -> None:
    """The API's template preview shows segments for SMS and for nothing else (a WhatsApp
    message is one body, whatever its length)."""
    length = segments_of(RenderedMessage(channel=name, text="Réparation prévue à 14h."))
    if channel_class(name).segmented:
        assert length is not None and (length.segments, length.encoding) == (1, "GSM-7")
    else:
        assert length is None
