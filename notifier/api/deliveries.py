"""/api/deliveries: outbox rows, what became of them, and their status callbacks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from notifier.api.deps import AppDep, OutboxOperator, Reader
from notifier.api.types import MAX_INT, Message
from notifier.domain.messages import ChannelName, DeliveryStatus
from notifier.services import deliveries as service
from notifier.services import outbox_retry

router = APIRouter(prefix="/api/deliveries", tags=["deliveries"])


class DeliveryPublic(BaseModel):
    id: int
    customer_id: str
    channel: str
    recipient: str | None
    status: str
    reason: str | None
    rule: str
    template: str
    subject_type: str
    subject_id: str
    attempts: int
    provider_id: str | None
    provider: str | None  # which configured relay or SMS account carried it
    error_code: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


class StatusEvent(BaseModel):
    status: str
    error_code: str | None
    at: datetime


class DeliveryDetail(DeliveryPublic):
    subject: str | None
    body_text: str | None
    body_html: str | None
    events: list[StatusEvent]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]
    next_before_id: int | None  # pass as before_id for the next (older) page


def _public(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


@router.get("")
async def list_deliveries(
    app: AppDep,
    key: Reader,
    customer_id: Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00-\x1f]*$")] = None,
    incident_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    status: DeliveryStatus | None = None,
    channel: ChannelName | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryList:
    """Messages, newest first, without their bodies."""
    rows = await service.list_deliveries(
        app.engine,
        customer_id=customer_id,
        incident_id=incident_id,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        before_id=before_id,
        limit=limit,
    )
    items = [DeliveryPublic.model_validate(_public(r)) for r in rows]
    return DeliveryList(
        deliveries=items, next_before_id=items[-1].id if len(items) == limit else None
    )


class RetryRequest(BaseModel):
    """Which failed messages to send again; every field narrows the selection."""

    model_config = ConfigDict(extra="forbid")

    incident_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    channel: ChannelName | None = None
    reason: str | None = Field(
        default=None, min_length=1, max_length=outbox_retry.MAX_REASON, pattern=r"^[^\x00-\x1f]*$"
    )
    dry_run: bool = False


class RetryAnswer(BaseModel):
    matched: int
    retried: int


@router.post("/retry")
async def retry_failed(app: AppDep, key: OutboxOperator, body: RetryRequest) -> RetryAnswer:
    """Send failed messages again (the same rows and idempotency keys: a message already
    sent is never sent again). With `dry_run`, only count them."""
    selection = outbox_retry.make_filter(
        incident_id=body.incident_id,
        channel=body.channel.value if body.channel else None,
        reason=body.reason,
    )
    result = await outbox_retry.retry(
        app.engine, selection, now=app.clock.now(), dry_run=body.dry_run
    )
    return RetryAnswer(matched=result.matched, retried=result.retried)


@router.get("/{delivery_id}", responses={404: {"model": Message}})
async def show(
    app: AppDep, key: Reader, delivery_id: Annotated[int, Path(ge=1, le=2**62)]
) -> DeliveryDetail:
    """One message with its bodies and every status callback about it."""
    row, events = await service.delivery(app.engine, delivery_id)
    return DeliveryDetail.model_validate({**_public(row), "events": [_public(e) for e in events]})
