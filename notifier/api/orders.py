"""/api/orders: record an order event (what the shop's sources report), show, list.

The same service as the CLI, files and watchers: a repeat that says nothing new is
accepted (200, `ignored: true`) and written nowhere; a new event answers 201.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from notifier.api.deps import AppDep, OrderWriter, Reader
from notifier.api.errors import field_error
from notifier.api.types import Body, Line, LongText, Message, ShortLine
from notifier.domain.orders import OrderStatus
from notifier.errors import InputError
from notifier.services import orders as service

router = APIRouter(prefix="/api/orders", tags=["orders"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message}}

OrderId = Annotated[ShortLine, Path(description="The shop's own order id.")]


class OrderEventCreate(Body):
    """One reported change. The first event of an order creates it and names its customer;
    fields left out keep what the order has."""

    status: OrderStatus
    customer_id: ShortLine | None = None
    promised_date: Annotated[date | None, Field(description="YYYY-MM-DD")] = None
    carrier: Annotated[Line, Field(max_length=64)] | None = None
    tracking: ShortLine | None = None
    note: LongText | None = None


class OrderPublic(BaseModel):
    id: str
    customer_id: str
    status: OrderStatus
    promised_date: date | None
    promised_by: datetime | None  # the end of the promised day for the customer, UTC
    carrier: str | None
    tracking: str | None
    is_open: bool
    created_at: datetime
    updated_at: datetime


class OrderEventPublic(OrderPublic):
    event_id: int | None  # null when ignored
    ignored: bool  # the change said nothing new: nothing was written


class HistoryPublic(BaseModel):
    id: int
    status: OrderStatus
    promised_date: date | None
    carrier: str | None
    tracking: str | None
    note: str | None
    source: str
    occurred_at: datetime
    event_id: int


class OrderDetail(OrderPublic):
    history: list[HistoryPublic]


class OrderList(BaseModel):
    orders: list[OrderPublic]


@router.post(
    "/{order_id}/events",
    status_code=201,
    responses={
        200: {"model": OrderEventPublic, "description": "A repeat: ignored, nothing written"},
        404: {"model": Message, "description": "Unknown customer"},
        409: {"model": Message, "description": "Illegal transition"},
    },
)
async def record_event(
    app: AppDep, key: OrderWriter, order_id: OrderId, body: OrderEventCreate, response: Response
) -> OrderEventPublic:
    """Record what happened to an order; its customer is told, per the rules."""
    try:
        result = await service.record_order_event(
            app.engine, order_id, now=app.clock.now(), source="api", **body.model_dump()
        )
    except InputError as exc:
        if str(exc).startswith("order_id: "):
            raise field_error("order_id", str(exc).removeprefix("order_id: "), "path") from None
        raise
    if result.ignored:
        response.status_code = 200
    return OrderEventPublic.model_validate(result.as_json())


@router.get("/{order_id}", responses=NOT_FOUND)
async def show(app: AppDep, key: Reader, order_id: OrderId) -> OrderDetail:
    """An order with every reported change, oldest first."""
    view = await service.get_order(app.engine, order_id)
    return OrderDetail.model_validate(view.as_json())


@router.get("")
async def list_orders(
    app: AppDep,
    key: Reader,
    customer_id: Annotated[
        ShortLine | None, Query(description="One customer's orders only.")
    ] = None,
    open_only: Annotated[bool, Query(alias="open", description="Open orders only.")] = False,
) -> OrderList:
    """Orders, optionally of one customer, optionally only the open ones."""
    found = await service.list_orders(app.engine, customer_id=customer_id, open_only=open_only)
    return OrderList(orders=[OrderPublic.model_validate(o.as_json()) for o in found])
