"""/api/contacts: a helpdesk tells us a customer contacted support."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from fastapi import APIRouter
from pydantic import BaseModel

from notifier.api.deps import AppDep, Helpdesk
from notifier.api.types import Body, Line, Message, ShortLine, When
from notifier.services import customer_records

router = APIRouter(prefix="/api/contacts", tags=["contacts"])


class ContactChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    SMS = "sms"
    SOCIAL = "social"
    OTHER = "other"


class ContactCreate(Body):
    customer_id: ShortLine
    channel: ContactChannel
    at: When
    subject: Line | None = None
    source: ShortLine | None = None  # the helpdesk; default: the API key's name


class ContactPublic(BaseModel):
    id: int
    customer_id: str
    channel: ContactChannel
    at: datetime
    subject: str | None
    source: str
    created_at: datetime


@router.post("", status_code=201, responses={404: {"model": Message}})
async def create(app: AppDep, key: Helpdesk, body: ContactCreate) -> ContactPublic:
    """Record that a customer contacted support (for the report's "told before they
    called"); 404 if the customer is unknown."""
    row = await customer_records.record_contact(
        app.engine,
        customer_id=body.customer_id,
        channel=body.channel.value,
        at=body.at,
        subject=body.subject,
        source=body.source or key.name,
        now=app.clock.now(),
    )
    return ContactPublic.model_validate(row)
