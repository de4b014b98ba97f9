"""How many SMS segments a text costs.

GSM-7 (3GPP TS 23.038): 160 septets in a single message, 153 per segment once concatenated
(the rest of each segment carries the concatenation header). Characters of the extension
table cost two septets (an escape, then the character). One character outside both tables
makes the whole message UCS-2: 70 UTF-16 code units, then 67 per segment; a character
outside the Basic Multilingual Plane (most emoji) is two units.

Phones do not split an escape pair or a surrogate pair across two segments, so segments are
counted by filling them character by character, not by dividing the total.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_SEGMENT = 160, 153
UCS2_SINGLE, UCS2_SEGMENT = 70, 67


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int
    chars_forcing_ucs2: list[str] = field(default_factory=list)


def _gsm_cost(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _ucs2_cost(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _segments(costs: list[int], single: int, per_segment: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    segments, used = 1, 0
    for cost in costs:
        if used + cost > per_segment:
            segments, used = segments + 1, 0
        used += cost
    return segments


def _even_segments(units: int, single: int, per_segment: int) -> int:
    """Segments when every character costs one unit (no pair to keep together)."""
    if units <= single:
        return 1 if units else 0
    return -(-units // per_segment)


_GSM7 = GSM7_BASIC | GSM7_EXTENSION


def sms_segments(text: str) -> SmsLength:
    # Every message of a fan-out is counted: the per-character walk runs only when an
    # escape or surrogate pair can fall on a segment boundary.
    chars = set(text)
    if chars <= _GSM7:
        if chars.isdisjoint(GSM7_EXTENSION):
            return SmsLength(
                "GSM-7", len(text), _even_segments(len(text), GSM7_SINGLE, GSM7_SEGMENT)
            )
        costs = [_gsm_cost(c) for c in text]
        return SmsLength("GSM-7", sum(costs), _segments(costs, GSM7_SINGLE, GSM7_SEGMENT))
    offending = [c for c in dict.fromkeys(text) if c not in _GSM7]
    if all(ord(c) <= 0xFFFF for c in chars):
        units = len(text)
        return SmsLength(
            "UCS-2", units, _even_segments(units, UCS2_SINGLE, UCS2_SEGMENT), offending
        )
    costs = [_ucs2_cost(c) for c in text]
    return SmsLength("UCS-2", sum(costs), _segments(costs, UCS2_SINGLE, UCS2_SEGMENT), offending)
