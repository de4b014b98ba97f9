"""/api/customers: create, update, import, show, search, timeline."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from notifier.api.deps import AppDep, CustomerEditor, Reader
from notifier.api.types import Body, CustomerId, Line, Message, ShortLine
from notifier.domain.messages import ChannelName
from notifier.runtime.app import App
from notifier.services import customer_records
from notifier.services.customers import ImportReport, import_rows
from notifier.services.timeline import customer_timeline

router = APIRouter(prefix="/api/customers", tags=["customers"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message}}
MAX_IMPORT = 10_000


class CustomerCreate(Body):
    id: ShortLine
    name: Annotated[Line, Field(min_length=1, max_length=256)]
    email: Line | None = None
    phone: Annotated[Line, Field(max_length=64)] | None = None
    locale: Annotated[Line, Field(max_length=35)] | None = None
    timezone: Annotated[Line, Field(max_length=64)] | None = None
    services: Annotated[list[ShortLine], Field(default_factory=list, max_length=100)]
    opt_out: Annotated[
        list[ChannelName] | None,
        Field(description="Channels the customer declined. Absent: left as they are."),
    ] = None


class CustomerUpdate(Body):
    """Only the fields given change; null clears email or phone."""

    name: Annotated[Line, Field(min_length=1, max_length=256)] | None = None
    email: Line | None = None
    phone: Annotated[Line, Field(max_length=64)] | None = None
    locale: Annotated[Line, Field(max_length=35)] | None = None
    timezone: Annotated[Line, Field(max_length=64)] | None = None
    services: Annotated[list[ShortLine], Field(max_length=100)] | None = None
    opt_out: list[ChannelName] | None = None


class CustomerImport(Body):
    customers: Annotated[list[CustomerCreate], Field(max_length=MAX_IMPORT)]


class OptOut(BaseModel):
    channel: str
    category: str  # "*": every category


class CustomerPublic(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    locale: str
    timezone: str
    services: list[str]
    opt_outs: list[OptOut]


class CustomerList(BaseModel):
    customers: list[CustomerPublic]


class RowError(BaseModel):
    row: int  # 1-based position in `customers`
    reason: str


class ImportReportPublic(BaseModel):
    created: int
    updated: int
    unchanged: int
    errors: list[RowError]


class Timeline(BaseModel):
    customer: dict[str, Any]
    entries: list[dict[str, Any]]
    replies: list[dict[str, Any]]
    contacts: list[dict[str, Any]]


# Which field a problem of customer_from_record is about, by the words before any quoted
# value ("invalid phone number '+1 555': too short").
_PROBLEM_FIELDS = (
    ("phone", "phone"),
    ("email", "email"),
    ("locale", "locale"),
    ("timezone", "timezone"),
    ("service", "services"),
    ("opt_out", "opt_out"),
    ("name", "name"),
    ("id", "id"),
)


def _row_problems(reason: str) -> RequestValidationError:
    errors = []
    for problem in reason.split("; "):
        words = problem.split("'")[0]
        field = next(
            (f for word, f in _PROBLEM_FIELDS if re.search(rf"\b{word}\b", words)), "customer"
        )
        errors.append({"type": "value_error", "loc": ("body", field), "msg": problem})
    return RequestValidationError(errors)


async def _import(app: App, rows: list[tuple[int, dict[str, Any]]]) -> ImportReport:
    """One transaction for the whole request (at most MAX_IMPORT rows): a request that fails
    midway, the database going away, answers 503 and leaves nothing written, rather than
    the batches before the failure."""
    settings = app.settings
    return await import_rows(
        app.engine,
        rows,
        default_region=settings.sms.default_region,
        default_locale=settings.default_locale,
        default_timezone=settings.default_timezone,
        now=app.clock.now(),
        batch_size=max(len(rows), 1),
    )


async def _public(app: App, customer_id: str) -> CustomerPublic:
    customer, choices = await customer_records.with_opt_outs(app.engine, customer_id)
    return CustomerPublic(
        **customer.as_context(),
        services=sorted(customer.services),
        opt_outs=[OptOut(channel=ch, category=cat) for ch, cat in sorted(choices)],
    )


async def _write_one(app: App, record: dict[str, Any]) -> None:
    report = await _import(app, [(1, record)])
    if report.errors:
        raise _row_problems(report.errors[0].reason)


@router.post("", status_code=201, responses={409: {"model": Message}})
async def create(app: AppDep, key: CustomerEditor, body: CustomerCreate) -> CustomerPublic:
    """Create a customer; 409 if the id is taken (update it with PATCH)."""
    if await customer_records.exists(app.engine, body.id):
        raise HTTPException(409, f"customer {body.id!r} already exists")
    await _write_one(app, body.model_dump(exclude_none=True))
    return await _public(app, body.id)


@router.patch("/{customer_id}", responses=NOT_FOUND)
async def update(
    app: AppDep, key: CustomerEditor, customer_id: CustomerId, body: CustomerUpdate
) -> CustomerPublic:
    """Change some fields of a customer."""
    current = await _public(app, customer_id)
    record: dict[str, Any] = current.model_dump(exclude={"opt_outs"})
    record.update(body.model_dump(exclude_unset=True))
    if record.get("name") is None:
        record["name"] = current.name
    await _write_one(app, record)
    return await _public(app, customer_id)


@router.post("/import")
async def import_customers(
    app: AppDep, key: CustomerEditor, body: CustomerImport
) -> ImportReportPublic:
    """Create or update many customers; bad rows are reported, good ones kept."""
    rows = [(n, c.model_dump(exclude_unset=True)) for n, c in enumerate(body.customers, 1)]
    report = await _import(app, rows)
    return ImportReportPublic(
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=[RowError(row=e.line, reason=e.reason) for e in report.errors],
    )


@router.get("")
async def search(
    app: AppDep,
    key: Reader,
    q: Annotated[str, Query(max_length=128, description="Part of id, name, email or phone.")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CustomerList:
    found = await customer_records.search(app.engine, q.replace("\x00", ""), limit)
    return CustomerList(customers=[await _public(app, c.id) for c in found])


@router.get("/{customer_id}", responses=NOT_FOUND)
async def show(app: AppDep, key: Reader, customer_id: CustomerId) -> CustomerPublic:
    """One customer, with services and opt-outs."""
    return await _public(app, customer_id)


def _row(row: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


@router.get("/{customer_id}/timeline", responses=NOT_FOUND)
async def timeline(app: AppDep, key: Reader, customer_id: CustomerId) -> Timeline:
    """What we told the customer and what became of it; their replies and contacts."""
    data = await customer_timeline(app.engine, customer_id)
    replies, contacts = await customer_records.replies_and_contacts(app.engine, customer_id)
    data["replies"] = [_row(r, "id", "received_at", "kind", "body", "from_number") for r in replies]
    data["contacts"] = [_row(c, "id", "at", "channel", "subject", "source") for c in contacts]
    return Timeline.model_validate(data)
