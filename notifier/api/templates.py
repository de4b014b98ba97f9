"""/api/templates: the templates in force, their sources, and previews on sample data."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, StringConstraints

from notifier.api.deps import AppDep, Reader, TemplateEditor
from notifier.api.errors import field_error
from notifier.api.types import Body, Message
from notifier.domain.messages import ChannelName, RenderedMessage
from notifier.errors import NotFound, TemplateError
from notifier.templating import sample_context
from notifier.templating.body_length import segments_of
from notifier.templating.compiled import compile_template
from notifier.templating.layout import MAX_SOURCE_CHARS, TemplateKey
from notifier.templating.pool import PREVIEWS

router = APIRouter(prefix="/api/templates", tags=["templates"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Message}}

MessageName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,128}$")]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4}){0,2}$")]
MessagePath = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,128}$")]
LocalePath = Annotated[str, Path(pattern=r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4}){0,2}$")]


class TemplateSummary(BaseModel):
    message: str
    locales: dict[str, list[str]]  # channel -> locales


class TemplateList(BaseModel):
    templates: list[TemplateSummary]


class TemplateSource(BaseModel):
    message: str
    channel: ChannelName
    locale: str
    source: str


class Preview(BaseModel):
    subject: str | None
    text: str
    html: str | None
    sms_segments: int | None
    sms_encoding: str | None


class DraftPreview(Body):
    """A template source to try on sample data before saving it."""

    message: MessageName = "incident_updated"  # which stage of an incident to sample
    channel: ChannelName
    locale: Locale = "en"
    source: Annotated[str, Field(max_length=MAX_SOURCE_CHARS)]
    sample: Literal["full", "sparse"] = "full"


def _preview(rendered: RenderedMessage) -> Preview:
    length = segments_of(rendered)
    return Preview(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        sms_segments=length.segments if length else None,
        sms_encoding=length.encoding if length else None,
    )


@router.get("")
async def list_templates(app: AppDep, key: Reader) -> TemplateList:
    catalog = app.templates.current
    return TemplateList(
        templates=[
            TemplateSummary(
                message=message,
                locales={c.value: catalog.locales(message, c) for c in ChannelName},
            )
            for message in catalog.messages()
        ]
    )


def _source(app: AppDep, message: str, channel: ChannelName, locale: str) -> str:
    try:
        return app.templates.current.source(message, channel, locale)
    except TemplateError:
        raise NotFound(f"no template {message}/{channel.value}.{locale}.j2") from None


@router.get("/{message}/{channel}/{locale}", responses=NOT_FOUND)
async def show(
    app: AppDep, key: Reader, message: MessagePath, channel: ChannelName, locale: LocalePath
) -> TemplateSource:
    source = _source(app, message, channel, locale)
    return TemplateSource(message=message, channel=channel, locale=locale, source=source)


@router.get("/{message}/{channel}/{locale}/preview", responses=NOT_FOUND)
async def preview(
    app: AppDep,
    key: Reader,
    message: MessagePath,
    channel: ChannelName,
    locale: LocalePath,
    sample: Literal["full", "sparse"] = "full",
) -> Preview:
    """The template rendered for a sample customer of a sample outage."""
    source = _source(app, message, channel, locale)

    def render() -> Preview:
        template = compile_template(TemplateKey(message, channel, locale), source)
        context = sample_context(locale, message=message, sparse=sample == "sparse")
        return _preview(template.render(context))

    return await PREVIEWS.run(f"key:{key.id}", render)


@router.post("/preview", responses={422: {"model": Message}})
async def preview_draft(app: AppDep, key: TemplateEditor, body: DraftPreview) -> Preview:
    """Render a draft source (not saved) on sample data; errors name the line. At most a
    few at once per key (429 beyond), in the render pool, never on the event loop."""

    def render() -> Preview:
        template = compile_template(
            TemplateKey(body.message, body.channel, body.locale), body.source
        )
        context = sample_context(body.locale, message=body.message, sparse=body.sample == "sparse")
        return _preview(template.render(context))

    try:
        return await PREVIEWS.run(f"key:{key.id}", render)
    except TemplateError as exc:
        raise field_error("source", str(exc)) from None
