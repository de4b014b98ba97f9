"""What SMS and WhatsApp share: Twilio's Messages API, through the official client in its
async mode.

Two things the client does not do for us: it ignores its `timeout` (twilio-python #925), so
every call runs under `asyncio.timeout`; and it cannot be pointed at another host, so its
HTTP client is subclassed to rewrite the API prefix (`twilio_http`, for the local stand-in
and for tests).

A subclass says how its addresses look on the wire (`wire_prefix`: "" for SMS,
"whatsapp:" for WhatsApp) and builds its `TwilioAccount` from its settings block.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar

from twilio.base import values
from twilio.base.exceptions import TwilioException

from notifier.channels.base import UNSUPPORTED, Channel
from notifier.domain.customers import ContactField
from notifier.domain.messages import STATUS_CALLBACK, DeliveryResult, OutgoingMessage
from notifier.errors import (
    DeliveryError,
    PermanentDeliveryError,
    ProviderThrottled,
    ProviderUnavailable,
    RecipientOptedOut,
    TransientDeliveryError,
)

if TYPE_CHECKING:
    from notifier.channels.twilio_http import RedirectingHttpClient

__all__ = ["TWILIO_ERRORS", "TwilioAccount", "TwilioMessagesChannel", "TwilioPayload"]

TWILIO_API = "https://api.twilio.com"
STATUS_PATH = "/webhooks/twilio/status"

# Twilio error codes met when creating a message: https://www.twilio.com/docs/api/errors/<code>
# Codes not listed are judged by HTTP status: 429 and 5xx transient, other 4xx permanent.
TWILIO_ERRORS: dict[int, tuple[type[DeliveryError], str]] = {
    20003: (PermanentDeliveryError, "authentication failed: check account_sid and auth_token"),
    20404: (PermanentDeliveryError, "resource not found: check account_sid"),
    20429: (ProviderThrottled, "too many requests: slowing down"),
    20503: (ProviderUnavailable, "Twilio is unavailable"),
    21211: (PermanentDeliveryError, "invalid 'To' phone number"),
    21408: (PermanentDeliveryError, "sending to this region is not enabled for the account"),
    21610: (RecipientOptedOut, "recipient opted out (replied STOP)"),
    21614: (PermanentDeliveryError, "'To' number is not a mobile number"),
    21611: (ProviderThrottled, "the sender's queue at Twilio is full: slowing down"),
    21617: (PermanentDeliveryError, "body exceeds 1600 characters"),
    # Reported by status callback, not at creation; listed so that its words are the same.
    30001: (ProviderThrottled, "queue overflow at Twilio: slowing down"),
}


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    """Where and as whom a Twilio channel sends."""

    account_sid: str
    auth_token: str
    from_number: str  # E.164, without the channel's wire prefix
    api_base_url: str
    concurrency: int
    timeout: float
    # More sending numbers: messages take turns among from_number and these.
    more_from_numbers: tuple[str, ...] = ()
    # A Messaging Service sends from its own pool instead of from_number.
    messaging_service_sid: str | None = None


@dataclass(frozen=True, slots=True)
class TwilioPayload:
    to: str
    from_: str | None  # None: the Messaging Service picks from its pool
    body: str
    status_callback: str | None
    messaging_service_sid: str | None = None
    validity_period: int | None = None  # seconds Twilio may keep it queued (1..36000)


@dataclass(slots=True)
class _ResponseNote:
    retry_after: float | None = None


# The exception twilio raises carries no response headers, so the HTTP client notes
# Retry-After here. A ContextVar, because a nested await runs in the caller's context: each
# concurrent send (its own task) sees only its own note.
response_note: ContextVar[_ResponseNote | None] = ContextVar("response_note", default=None)


class TwilioMessagesChannel(Channel):
    """A text channel sent through Twilio's Messages API (abstract: SMS, WhatsApp)."""

    address_field: ClassVar[ContactField] = "phone"
    status_callback_path: ClassVar[str | None] = STATUS_PATH
    permanent_codes: ClassVar[frozenset[str]] = frozenset(
        str(code)
        for code, (kind, _) in TWILIO_ERRORS.items()
        if not issubclass(kind, TransientDeliveryError)
    )
    # How this channel's addresses look in To and From ("whatsapp:+1555..."); the outbox
    # keeps the bare E.164 number.
    wire_prefix: ClassVar[str] = ""

    def __init__(self, account: TwilioAccount) -> None:
        super().__init__()
        self.account = account
        self._slots = asyncio.Semaphore(account.concurrency)
        self._http: RedirectingHttpClient | None = None
        self._client: Any = None
        # Several sending numbers take turns; the account's capacity counts them all.
        self._senders = itertools.cycle([account.from_number, *account.more_from_numbers])

    @property
    def concurrency(self) -> int:
        return self.account.concurrency

    @classmethod
    def wire_address(cls, number: str) -> str:
        """`number` as To/From for this channel (kept as is when already prefixed)."""
        prefix = cls.wire_prefix
        return number if number.startswith(prefix) else f"{prefix}{number}"

    async def open_transport(self) -> None:
        from twilio.rest import Client

        from notifier.channels.twilio_http import RedirectingHttpClient

        account = self.account
        self._http = RedirectingHttpClient(account.api_base_url, account.concurrency)
        self._client = Client(
            username=account.account_sid,
            password=account.auth_token,
            account_sid=account.account_sid,
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

    def build_payload(self, message: OutgoingMessage) -> TwilioPayload:
        # Text only: anything else would be dropped silently, so refuse it.
        unsupported = [key for key in message.headers if key != STATUS_CALLBACK]
        if message.subject is not None or message.html is not None or unsupported:
            parts = (["subject"] if message.subject is not None else []) + (
                ["html"] if message.html is not None else []
            )
            parts += [f"header {key!r}" for key in unsupported]
            raise PermanentDeliveryError(
                f"{self.label} cannot carry {', '.join(parts)}", code=UNSUPPORTED
            )
        service = self.account.messaging_service_sid
        return TwilioPayload(
            to=self.wire_address(message.to),
            from_=None if service is not None else self.wire_address(next(self._senders)),
            body=message.text,
            status_callback=message.headers.get(STATUS_CALLBACK),
            messaging_service_sid=service,
            validity_period=message.valid_for,
        )

    async def transport(self, payload: TwilioPayload) -> Any:
        note = _ResponseNote()
        token = response_note.set(note)
        try:
            async with self._slots:
                # The client ignores its own timeout. After this one fires we cannot know
                # whether Twilio created the message: a retry may send it twice.
                async with asyncio.timeout(self.account.timeout):
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
            response_note.reset(token)

    def classify_error(self, exc: Exception) -> DeliveryError | None:
        # Loaded with the transport, which raised these.
        from aiohttp import ClientConnectorError, ClientError

        if isinstance(exc, TimeoutError):
            return TransientDeliveryError(
                f"no answer from Twilio within {self.account.timeout} s (the message may or "
                "may not have been created)",
                code="timeout",
            )
        if isinstance(exc, ClientConnectorError | ConnectionRefusedError):
            # Refused before any request went out: Twilio (or the way to it) is down.
            return ProviderUnavailable(f"cannot reach Twilio: {exc}", code="connection")
        if isinstance(exc, ClientError | OSError):
            # Refused connections are clean; a connection lost after the request went out
            # carries the same doubt as a timeout. Either way, later may work.
            return TransientDeliveryError(f"cannot reach Twilio: {type(exc).__name__}: {exc}")
        if isinstance(exc, TwilioException):
            return _from_twilio(exc, None)
        return None

    def parse_result(self, payload: TwilioPayload, response: Any) -> DeliveryResult:
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
    if status == 429:
        kind = ProviderThrottled
    elif status == 503:
        kind = ProviderUnavailable
    elif kind is None and status is not None and status >= 500:
        kind = TransientDeliveryError
    elif kind is None:
        # Another 4xx, or an error raised by the client itself before any request.
        kind = PermanentDeliveryError
    reason = f"Twilio HTTP {status} error {code}: {text or exc}"
    if meaning:
        reason = f"{reason} ({meaning})"
    if issubclass(kind, TransientDeliveryError):
        return kind(reason, code=label, retry_after=retry_after)
    return kind(reason, code=label)


def retry_after(value: str | None) -> float | None:
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
