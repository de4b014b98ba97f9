"""Why a fan-out happens: the key prefix, event and subject its messages belong to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Occasion:
    """Why a fan-out happens: an event's messages, or one firing of a follow-up."""

    key_prefix: str  # "e42" for event 42, "s7" for schedule 7
    event_id: int | None
    subject_type: str
    subject_id: str
    # An event's news replaces every older message still waiting; a follow-up replaces only
    # its own rule's earlier ones.
    is_followup: bool = False
