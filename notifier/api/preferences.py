"""The customer's side: one-click unsubscribe (RFC 8058) and the preference page.

    GET  /u/{token}               a page asking to confirm (never unsubscribes on GET)
    POST /u/{token}               unsubscribes: the List-Unsubscribe-Post one-click target,
                                  only with RFC 8058's body `List-Unsubscribe=One-Click`
                                  (a link checker's empty POST changes nothing)
    GET  /u/{token}/preferences   channels per category (incidents, orders)
    POST /u/{token}/preferences   saves them (refused from another site's page: Origin)

No API key and no cookie: the signed token is the credential. A forged or altered token
gets 403 and changes nothing. Pages are rendered with autoescaping from
notifier/api/templates/ (these are ours, not the sandboxed customer message templates).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from notifier.api.deps import AppDep
from notifier.domain.customers import CATEGORIES
from notifier.domain.messages import ChannelName
from notifier.errors import NotFound
from notifier.runtime.app import App
from notifier.runtime.guard import same_origin
from notifier.services import unsubscribe as service
from notifier.services.unsubscribe import InvalidToken

router = APIRouter(prefix="/u", tags=["unsubscribe"])
_pages = Environment(
    loader=PackageLoader("notifier.api", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
CATEGORY_LABELS = {"incidents": "service outage news", "orders": "order updates"}
CHANNEL_LABELS = {"email": "email", "sms": "text message", "whatsapp": "WhatsApp"}
Token = Annotated[str, Path(min_length=10, max_length=1024, pattern=r"^[A-Za-z0-9_.-]+$")]
HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}},
    403: {"content": {"text/html": {}}, "description": "Not a valid link"},
    404: {"content": {"text/html": {}}, "description": "No such customer any more"},
}


class OneClick(BaseModel):
    """RFC 8058's body, `List-Unsubscribe=One-Click`; a browser's confirm button sends it too."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    list_unsubscribe: Annotated[str | None, Field(alias="List-Unsubscribe", max_length=32)] = None


class PreferencesForm(BaseModel):
    """Checked boxes arrive as `<category>_<channel>=on`; unchecked ones do not arrive."""

    model_config = ConfigDict(extra="ignore")
    incidents_email: bool = False
    incidents_sms: bool = False
    orders_email: bool = False
    orders_sms: bool = False
    incidents_whatsapp: bool = False
    orders_whatsapp: bool = False


def _page(app: App, *, status: int = 200, **values: object) -> HTMLResponse:
    context: dict[str, object] = {
        "company": app.settings.company.name,
        "base": app.settings.api.public_base_url or "",
        "view": "invalid",
        "channels": [c.value for c in ChannelName],
        "categories": list(CATEGORIES),
        "channel_labels": CHANNEL_LABELS,
        "category_labels": CATEGORY_LABELS,
        "saved": False,
        **values,
    }
    return HTMLResponse(_pages.get_template("preferences.html").render(context), status_code=status)


def _secret(app: App) -> str:
    secret = app.settings.api.unsubscribe_secret
    if secret is None:  # no link was ever sent, so none can be valid
        raise InvalidToken("unsubscribe links are not enabled")
    return secret.get_secret_value()


def _about(app: App, view: str, token: str, claims: service.Claims) -> HTMLResponse:
    return _page(
        app,
        view=view,
        token=token,
        category_label=CATEGORY_LABELS[claims.category],
        channel_label=CHANNEL_LABELS[claims.channel.value],
    )


@router.get("/{token}", response_class=HTMLResponse, responses=HTML)
async def confirm(app: AppDep, token: Token) -> HTMLResponse:
    try:
        claims = service.read_token(_secret(app), token)
    except InvalidToken:
        return _page(app, status=403)
    return _about(app, "confirm", token, claims)


@router.post("/{token}", response_class=HTMLResponse, responses=HTML)
async def one_click(app: AppDep, token: Token, form: Annotated[OneClick, Form()]) -> HTMLResponse:
    """Unsubscribe from the token's category and channel, at once."""
    if form.list_unsubscribe != "One-Click":
        try:
            claims = service.read_token(_secret(app), token)
        except InvalidToken:
            return _page(app, status=403)
        # Not RFC 8058's request: ask, as the GET does, rather than act.
        page = _about(app, "confirm", token, claims)
        page.status_code = 400
        return page
    try:
        claims = await service.unsubscribe(app.engine, _secret(app), token, app.clock.now())
    except InvalidToken:
        return _page(app, status=403)
    except NotFound:
        return _page(app, status=404)
    return _about(app, "done", token, claims)


@router.get("/{token}/preferences", response_class=HTMLResponse, responses=HTML)
async def show_preferences(app: AppDep, token: Token) -> HTMLResponse:
    try:
        _, choices = await service.preferences(app.engine, _secret(app), token)
    except InvalidToken:
        return _page(app, status=403)
    except NotFound:
        return _page(app, status=404)
    return _page(app, view="preferences", token=token, choices=choices)


@router.post("/{token}/preferences", response_class=HTMLResponse, responses=HTML)
async def save_preferences(
    request: Request, app: AppDep, token: Token, form: Annotated[PreferencesForm, Form()]
) -> HTMLResponse:
    if not same_origin(request):
        raise HTTPException(403, "a form from another site may not change preferences")
    checked = form.model_dump()
    wanted = {
        category: {c for c in ChannelName if checked[f"{category}_{c.value}"]}
        for category in CATEGORIES
    }
    try:
        choices = await service.save_preferences(
            app.engine, _secret(app), token, wanted, app.clock.now()
        )
    except InvalidToken:
        return _page(app, status=403)
    except NotFound:
        return _page(app, status=404)
    return _page(app, view="preferences", token=token, choices=choices, saved=True)
