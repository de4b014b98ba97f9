"""/webhooks/twilio/...: delivery status callbacks and inbound SMS and WhatsApp messages,
signed by Twilio.

Every request must carry a valid `X-Twilio-Signature`: an HMAC of the exact URL Twilio
called and the form fields, under the account's auth token (twilio's RequestValidator).
The URL is `api.public_base_url` + the path, as Twilio sees this server (behind a proxy
the request's own URL would differ). A bad or missing signature is refused with 403
before anything is read or changed. WhatsApp may use a Twilio account of its own: a
signature under either account's token is accepted.
"""

from __future__ import annotations

from typing import Annotated
from xml.sax.saxutils import escape

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from twilio.request_validator import RequestValidator

from notifier.api.deps import AppDep
from notifier.api.errors import field_error
from notifier.config import Settings
from notifier.errors import InputError
from notifier.services.deliveries import status_callback as record_status
from notifier.services.inbound import receive_sms

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])
_SID = r"^[A-Za-z0-9]{2,64}$"


def public_url(request: Request, base: str | None) -> str:
    """The URL Twilio called: the configured public base, else the request's own."""
    if base is None:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base}{request.url.path}{query}"


async def twilio_signed(request: Request, app: AppDep) -> None:
    """403 unless the request is signed by Twilio for this account."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    signature = request.headers.get("X-Twilio-Signature", "")
    url = public_url(request, app.settings.api.public_base_url)
    if not signature or not any(
        RequestValidator(token).validate(url, params, signature)
        for token in _auth_tokens(app.settings)
    ):
        raise HTTPException(403, "missing or invalid X-Twilio-Signature")


def _auth_tokens(settings: Settings) -> list[str]:
    tokens = [settings.sms.auth_token.get_secret_value()]
    whatsapp = settings.whatsapp.auth_token
    if settings.whatsapp.enabled and whatsapp is not None:
        tokens.append(whatsapp.get_secret_value())
    return tokens


Signed = Depends(twilio_signed)


class _TwilioForm(BaseModel):
    # Twilio sends many more fields (AccountSid, ApiVersion, SmsSid...): ignored.
    model_config = ConfigDict(extra="ignore")


class StatusCallback(_TwilioForm):
    MessageSid: Annotated[str, Field(pattern=_SID)]
    MessageStatus: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    ErrorCode: Annotated[str | None, Field(pattern=r"^[0-9]{1,10}$")] = None


class InboundSms(_TwilioForm):
    MessageSid: Annotated[str, Field(pattern=_SID)]
    # A phone number (SMS) or a channel address such as whatsapp:+15551234567.
    From: Annotated[str, Field(pattern=r"^(?:[a-z]{1,16}:)?\+?[A-Za-z0-9]{1,31}$")]
    Body: Annotated[str, Field(max_length=4096, pattern=r"^[^\x00]*$")] = ""  # WhatsApp: 4096


@router.post("/status", status_code=204, dependencies=[Signed])
async def status_callback(app: AppDep, form: Annotated[StatusCallback, Form()]) -> Response:
    """Twilio's message status callback: delivered or failed (with its error code)."""
    await record_status(
        app.engine,
        provider_id=form.MessageSid,
        status=form.MessageStatus,
        error_code=form.ErrorCode,
        now=app.clock.now(),
    )
    return Response(status_code=204)


def twiml(message: str | None) -> Response:
    body = f"<Message>{escape(message)}</Message>" if message else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
    return Response(xml, media_type="text/xml")


@router.post(
    "/inbound",
    dependencies=[Signed],
    response_class=Response,
    responses={200: {"content": {"text/xml": {}}, "description": "TwiML"}},
)
async def inbound(app: AppDep, form: Annotated[InboundSms, Form()]) -> Response:
    """An SMS or WhatsApp message from a customer: STOP/START/HELP keywords, or a reply for
    support. 422 naming From when no channel takes replies from that address."""
    try:
        result = await receive_sms(
            app.engine,
            app.settings,
            from_number=form.From,
            body=form.Body,
            provider_sid=form.MessageSid,
            now=app.clock.now(),
        )
    except InputError as exc:
        raise field_error("From", str(exc)) from None
    return twiml(result.reply)
