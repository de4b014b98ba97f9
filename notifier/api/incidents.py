"""/api/incidents: declare (or forecast), update, resolve, list, show, report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StringConstraints

from notifier.api.deps import AppDep, Ops, Reader
from notifier.api.types import Body, IncidentId, Line, LongText, Message, ShortLine, When
from notifier.domain.incidents import Incident, IncidentStatus, Severity
from notifier.errors import InputError
from notifier.services import incidents as service
from notifier.services.dry_run import declare_dry_run
from notifier.services.incident_input import MAX_AFFECTS
from notifier.services.report import incident_report

router = APIRouter(prefix="/api/incidents", tags=["incidents"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message}}
CONFLICT: dict[int | str, dict[str, Any]] = {404: {"model": Message}, 409: {"model": Message}}


# The operator's free text: one string in the default locale, or {locale: text} with the
# default locale's among them ({"en": "Down", "fr": "En panne"}); customers read their
# locale's text, or the default's.
LocaleTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z]{2,4})?$")]
LocaleTexts = Annotated[dict[LocaleTag, LongText], Field(min_length=1, max_length=20)]
FreeText = LongText | LocaleTexts


class IncidentCreate(Body):
    title: Annotated[Line, Field(min_length=1)]
    severity: Severity
    affects: Annotated[list[ShortLine], Field(min_length=1, max_length=MAX_AFFECTS)]
    eta: When | None = None
    workaround: FreeText | None = None
    message: FreeText | None = None
    next_update_by: When | None = None


class IncidentUpdateCreate(Body):
    message: Annotated[LongText, Field(min_length=1)] | LocaleTexts
    status: IncidentStatus | None = None
    eta: When | None = None
    workaround: FreeText | None = None
    next_update_by: When | None = None


class IncidentResolve(Body):
    cause: Annotated[LongText, Field(min_length=1)] | LocaleTexts
    message: FreeText | None = None


def _by_locale(fields: dict[str, Any], default_locale: str) -> dict[str, Any]:
    """The service's arguments: each {locale: text} field split into its default-locale
    text and `translations` ({field: {locale: text}})."""
    translations: dict[str, dict[str, str]] = {}
    default = default_locale.replace("-", "_")
    for name, value in list(fields.items()):
        if not isinstance(value, dict):
            continue
        texts = {tag.replace("-", "_"): text for tag, text in value.items()}
        if default not in texts:
            raise InputError(f"{name}: give the text in {default} (the default locale) too")
        fields[name] = texts.pop(default)
        translations[name] = texts
    return {**fields, "translations": translations}


class IncidentPublic(BaseModel):
    id: int
    title: str
    severity: Severity
    status: IncidentStatus
    affects: list[str]
    eta: datetime | None
    workaround: str | None
    cause: str | None
    message: str | None
    declared_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    next_update_by: datetime | None
    is_open: bool
    # The free text in other locales: {field: {locale: text}}.
    translations: dict[str, dict[str, str]] = {}

    @classmethod
    def of(cls, incident: Incident) -> IncidentPublic:
        return cls.model_validate(incident.as_context())


class UpdatePublic(BaseModel):
    id: int
    status: IncidentStatus
    message: str | None
    eta: datetime | None
    workaround: str | None
    cause: str | None
    created_at: datetime
    translations: dict[str, dict[str, str]] = {}


class IncidentDetail(IncidentPublic):
    updates: list[UpdatePublic]


class IncidentList(BaseModel):
    incidents: list[IncidentPublic]


class PriorityTiming(BaseModel):
    priority: int
    messages: int
    units: int
    done_by: datetime | None


class ChannelTiming(BaseModel):
    """When the last customer will have heard on this channel, at its capacity."""

    messages: int
    units: int
    unit: str
    rate: float | None
    ahead: int
    done_by: datetime | None
    start: datetime
    by_priority: list[PriorityTiming]
    summary: str
    warnings: list[str]


class ChannelForecast(BaseModel):
    send: int
    suppressed: int
    suppressed_by_reason: dict[str, int]
    timing: ChannelTiming | None = None


class DryRunPublic(BaseModel):
    """What declaring would do: nothing was stored or sent."""

    dry_run: bool = True
    warnings: list[str]  # a service no customer depends on (a typo?), nobody affected
    affected: int
    rules: list[str]
    channels: dict[str, ChannelForecast]
    operations: int


@router.post(
    "",
    status_code=201,
    response_model=IncidentPublic | DryRunPublic,
    responses={200: {"model": DryRunPublic, "description": "dry_run=true: the forecast"}},
)
async def declare(
    app: AppDep,
    key: Ops,
    body: IncidentCreate,
    response: Response,
    dry_run: Annotated[bool, Query(description="Count, do not declare.")] = False,
) -> IncidentPublic | DryRunPublic:
    """Declare an outage: every affected customer is told, per the rules."""
    fields = _by_locale(body.model_dump(), app.settings.default_locale)
    if dry_run:
        response.status_code = 200
        forecast = await declare_dry_run(app, now=app.clock.now(), **fields)
        return DryRunPublic.model_validate(forecast.as_json())
    return IncidentPublic.of(await service.declare(app.engine, now=app.clock.now(), **fields))


@router.get("")
async def list_incidents(
    app: AppDep,
    key: Reader,
    open_only: Annotated[bool, Query(alias="open", description="Unresolved only.")] = False,
) -> IncidentList:
    """Recent incidents, newest first."""
    found = await service.list_all(app.engine, open_only=open_only)
    return IncidentList(incidents=[IncidentPublic.of(i) for i in found])


@router.get("/{incident_id}", responses=NOT_FOUND)
async def show(app: AppDep, key: Reader, incident_id: IncidentId) -> IncidentDetail:
    """An incident with every public update."""
    view = await service.show(app.engine, incident_id)
    return IncidentDetail.model_validate(
        {**view.incident.as_context(), "updates": [u.as_context() for u in view.updates]}
    )


@router.post("/{incident_id}/updates", responses=CONFLICT)
async def post_update(
    app: AppDep, key: Ops, incident_id: IncidentId, body: IncidentUpdateCreate
) -> IncidentPublic:
    """Post an update: a new status, ETA or workaround; customers are told per the rules."""
    fields = _by_locale(body.model_dump(), app.settings.default_locale)
    incident = await service.update(app.engine, incident_id, now=app.clock.now(), **fields)
    return IncidentPublic.of(incident)


@router.post("/{incident_id}/resolve", responses=CONFLICT)
async def resolve(
    app: AppDep, key: Ops, incident_id: IncidentId, body: IncidentResolve
) -> IncidentPublic:
    """Resolve: customers are told it is fixed, why it broke and what to do now."""
    fields = _by_locale(body.model_dump(), app.settings.default_locale)
    incident = await service.resolve(app.engine, incident_id, now=app.clock.now(), **fields)
    return IncidentPublic.of(incident)


class ChannelReport(BaseModel):
    planned: int
    sent: int
    delivered: int
    failed: int
    suppressed: int
    waiting: int
    by_status: dict[str, int]
    suppressed_by_reason: dict[str, int]
    failed_by_reason: dict[str, int]


class FirstMessage(BaseModel):
    customers_told: int
    p50_seconds: float | None
    p95_seconds: float | None
    p100_seconds: float | None


class ContactsReport(BaseModel):
    window_end: datetime
    customers_who_contacted: int
    told_before_they_called: int
    told_before_percent: float | None


class IncidentSummary(BaseModel):
    id: int
    title: str
    severity: Severity
    status: IncidentStatus
    declared_at: datetime
    resolved_at: datetime | None


class ReportPublic(BaseModel):
    incident: IncidentSummary
    affected: int
    channels: dict[str, ChannelReport]
    first_message: FirstMessage
    contacts: ContactsReport


@router.get("/{incident_id}/report", responses=NOT_FOUND)
async def report(app: AppDep, key: Reader, incident_id: IncidentId) -> ReportPublic:
    """Affected, planned, sent, delivered, failed and suppressed per channel; time to the
    first message; and how many who contacted us had already been told."""
    data = await incident_report(app.engine, incident_id, now=app.clock.now())
    return ReportPublic.model_validate(data)
