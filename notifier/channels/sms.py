"""SMS through Twilio's Messages API, with the official client in its async mode.

Two things the client does not do for us: it ignores its `timeout` (twilio-python #925), so
every call runs under `asyncio.timeout`; and it cannot be pointed at another host, so its
HTTP client is subclassed to rewrite the API prefix (for the local stand-in and for tests).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

from aiohttp import ClientError, ClientSession, TCPConnector
from twilio.base import values
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from notifier.channels.base import UNSUPPORTED, Channel
from notifier.config import SmsSettings
from notifier.domain.messages import (
    STATUS_CALLBACK,
    ChannelName,
    DeliveryResult,
    OutgoingMessage,
)
from notifier.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientOptedOut,
    TransientDeliveryError,
)

__all__ = ["TWILIO_ERRORS", "SmsChannel", "SmsPayload"]

TWILIO_API = "https://api.twilio.com"
_FORM = "application/x-www-form-urlencoded"

# Twilio error codes met when creating a message: https://www.twilio.com/docs/api/errors/<code>
# Codes not listed are judged by HTTP status: 429 and 5xx transient, other 4xx permanent.
TWILIO_ERRORS: dict[int, tuple[type[DeliveryError], str]] = {
    20003: (PermanentDeliveryError, "authentication failed: check sms account_sid and auth_token"),
    20404: (PermanentDeliveryError, "resource not found: check sms account_sid"),
    20429: (TransientDeliveryError, "too many requests"),
    21211: (PermanentDeliveryError, "invalid 'To' phone number"),
    21408: (PermanentDeliveryError, "sending to this region is not enabled for the account"),
    21610: (RecipientOptedOut, "recipient opted out (replied STOP)"),
    21614: (PermanentDeliveryError, "'To' number is not a mobile number"),
    21617: (PermanentDeliveryError, "body exceeds 1600 characters"),
}


@dataclass(slots=True)
class _ResponseNote:
    retry_after: float | None = None


# The exception twilio raises carries no response headers, so the HTTP client notes
# Retry-After here. A ContextVar, because a nested await runs in the caller's context: each
# concurrent send (its own task) sees only its own note.
_response_note: ContextVar[_ResponseNote | None] = ContextVar("_response_note", default=None)


class _RedirectingHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Twilio's async HTTP client, sending to `base_url` instead of api.twilio.com.

    It also hands aiohttp the form already encoded: given a dict, aiohttp builds a FormData,
    which makes a multipart writer (and a uuid4 boundary) before finding out the form is
    urlencoded; that was about a tenth of notifier's CPU per SMS. The bytes are the same
    (`urlencode(..., doseq=True)`, as aiohttp does) and twilio has set the Content-Type.
    """

    def __init__(self, base_url: str, connection_limit: int) -> None:
        super().__init__(pool_connections=False)
        # Our own session: its connection limit follows `concurrency` (aiohttp's default is
        # 100), and it is created here, inside the running loop.
        self.session = ClientSession(connector=TCPConnector(limit=connection_limit))
        self.base_url = base_url.rstrip("/")
        self._authorization: tuple[tuple[str, str], str] | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's signature; unused by it
        allow_redirects: bool = False,
    ) -> Any:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        if auth is not None:
            # The parent would build an aiohttp.BasicAuth, deprecated since aiohttp 3.14:
            # send the same header ourselves.
            headers = {**(headers or {}), "Authorization": self._basic(auth)}
        body: object = data
        if isinstance(data, dict) and (headers or {}).get("Content-Type") == _FORM:
            body = urlencode(data, doseq=True).encode("ascii")
        response = await super().request(
            method,
            url,
            params=params,
            data=body,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        note = _response_note.get()
        if note is not None and response.status_code == 429:
            note.retry_after = _retry_after(response.headers.get("Retry-After"))
        return response

    def _basic(self, auth: tuple[str, str]) -> str:
        """The Authorization header for `auth`, encoded once per account."""
        if self._authorization is None or self._authorization[0] != auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self._authorization = (auth, f"Basic {token}")
        return self._authorization[1]


@dataclass(frozen=True, slots=True)
class SmsPayload:
    to: str
    from_: str | None  # None: the Messaging Service picks from its pool
    body: str
    status_callback: str | None
    messaging_service_sid: str | None = None
    validity_period: int | None = None  # seconds Twilio may keep it queued (1..36000)


class SmsChannel(Channel):
    name: ClassVar[ChannelName] = ChannelName.SMS

    def __init__(self, settings: SmsSettings) -> None:
        super().__init__()
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._http: _RedirectingHttpClient | None = None
        self._client: Any = None
        # Several sending numbers take turns; the account's capacity counts them all.
        self._senders = itertools.cycle([settings.from_number, *settings.more_from_numbers])

    @property
    def concurrency(self) -> int:
        """How many requests this channel has in flight at once."""
        return self.settings.concurrency

    async def open_transport(self) -> None:
        settings = self.settings
        self._http = _RedirectingHttpClient(settings.api_base_url, settings.concurrency)
        self._client = Client(
            username=settings.account_sid,
            password=settings.auth_token.get_secret_value(),
            account_sid=settings.account_sid,
            http_client=self._http,
            # Settings come from notifier's config only. Without a mapping the client reads
            # TWILIO_EDGE/TWILIO_REGION from os.environ (an empty dict means os.environ too),
            # which would change the host and defeat the api_base_url rewrite.
            environment={"NOTIFIER": "settings come from notifier config"},
        )

    async def close_transport(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def build_payload(self, message: OutgoingMessage) -> SmsPayload:
        # SMS carries text only: anything else would be dropped silently, so refuse it.
        unsupported = [key for key in message.headers if key != STATUS_CALLBACK]
        if message.subject is not None or message.html is not None or unsupported:
            parts = (["subject"] if message.subject is not None else []) + (
                ["html"] if message.html is not None else []
            )
            parts += [f"header {key!r}" for key in unsupported]
            raise PermanentDeliveryError(f"SMS cannot carry {', '.join(parts)}", code=UNSUPPORTED)
        service = self.settings.messaging_service_sid
        return SmsPayload(
            to=message.to,
            from_=None if service is not None else next(self._senders),
            body=message.text,
            status_callback=message.headers.get(STATUS_CALLBACK),
            messaging_service_sid=service,
            validity_period=message.valid_for,
        )

    async def transport(self, payload: SmsPayload) -> Any:
        note = _ResponseNote()
        token = _response_note.set(note)
        try:
            async with self._slots:
                # The client ignores its own timeout. After this one fires we cannot know
                # whether Twilio created the message: a retry may send it twice.
                async with asyncio.timeout(self.settings.timeout):
                    return await self._client.messages.create_async(
                        to=payload.to,
                        from_=payload.from_ if payload.from_ is not None else values.unset,
                        messaging_service_sid=payload.messaging_service_sid or values.unset,
                        body=payload.body,
                        status_callback=payload.status_callback,
                        validity_period=(
                            payload.validity_period
                            if payload.validity_period is not None
                            else values.unset
                        ),
                    )
        except TwilioException as exc:
            raise _from_twilio(exc, note.retry_after) from exc
        finally:
            _response_note.reset(token)

    def classify_error(self, exc: Exception) -> DeliveryError | None:
        if isinstance(exc, TimeoutError):
            return TransientDeliveryError(
                f"no answer from Twilio within {self.settings.timeout} s (the message may or "
                "may not have been created)",
                code="timeout",
            )
        if isinstance(exc, ClientError | OSError):
            # Refused connections are clean; a connection lost after the request went out
            # carries the same doubt as a timeout. Either way, later may work.
            return TransientDeliveryError(f"cannot reach Twilio: {type(exc).__name__}: {exc}")
        if isinstance(exc, TwilioException):
            return _from_twilio(exc, None)
        return None

    def parse_result(self, payload: SmsPayload, response: Any) -> DeliveryResult:
        return DeliveryResult(provider_id=str(response.sid), detail=str(response.status))


def _from_twilio(exc: TwilioException, retry_after: float | None) -> DeliveryError:
    status: int | None = getattr(exc, "status", None)
    code: int | None = getattr(exc, "code", None)
    # TwilioRestException has `msg`; TwilioServiceException (RFC 9457) has title and detail.
    text = getattr(exc, "msg", None) or " - ".join(
        part for part in (getattr(exc, "title", None), getattr(exc, "detail", None)) if part
    )
    label = str(code or status or "twilio")
    kind, meaning = TWILIO_ERRORS.get(code or 0, (None, None))
    if status == 429 or code == 20429 or (status is not None and status >= 500):
        kind = TransientDeliveryError
    elif kind is None:
        # Another 4xx, or an error raised by the client itself before any request.
        kind = PermanentDeliveryError
    reason = f"Twilio HTTP {status} error {code}: {text or exc}"
    if meaning:
        reason = f"{reason} ({meaning})"
    if kind is TransientDeliveryError:
        return kind(reason, code=label, retry_after=retry_after)
    return kind(reason, code=label)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
