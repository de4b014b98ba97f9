"""Events: the immutable record of a state change that rules react to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    subject_type: str  # "incident" or "order"
    subject_id: str
    kind: str  # "incident.declared", "order.delayed", ...
    from_status: str | None
    to_status: str | None
    payload: dict[str, Any]
    occurred_at: datetime

    def as_context(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "payload": self.payload,
            "occurred_at": self.occurred_at,
        }
