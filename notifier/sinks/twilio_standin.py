"""A local stand-in for Twilio's Messages API, for the demo, the tests and the benchmarks.

It speaks `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio: form fields To,
From, Body, StatusCallback (To and From are E.164 numbers for SMS, `whatsapp:+E164` for
WhatsApp, and both must be of the same channel); HTTP Basic auth with the account sid and
auth token; 201 with the message resource as JSON; errors as
`{"code", "message", "more_info", "status"}`.

Run it in the caller's event loop (`async with TwilioStandin() as s:`) or in a thread of
its own for sync code (`with TwilioStandin() as s:`); either way `s.base_url` is the address
to give to `SmsSettings.api_base_url`.

Faults: `script([429, None, 500])` answers the next requests so (None = normal); `fail_number`
always refuses a number; `delay` seconds hold every answer (timeouts, `max_in_flight`);
`hold()` holds them until `release()`.

Limits, as an account has them: `limit(30)` answers requests beyond 30 a second with HTTP 429
(error 20429) and a Retry-After; `queue(1, depth=36000)` models the sender's queue (it
drains at 1 message a second) and refuses messages beyond `depth` waiting with error 21611.
`switch_off()` answers every request 503 (error 20503), as an API that is down; then
`switch_on()`.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Self

from aiohttp import web

from notifier.sinks.rate import RateGate, Seconds, SenderQueue

__all__ = ["ERRORS", "ReceivedSms", "TwilioStandin", "count_segments"]

DEFAULT_SID = "AC00000000000000000000000000000000"
DEFAULT_TOKEN = "change-me"
API_VERSION = "2010-04-01"
_ADDRESS = re.compile(r"(?P<channel>whatsapp:)?\+[1-9]\d{1,14}")
# Longest body per message: SMS are split in segments up to 1600 characters; a WhatsApp
# message is one body of up to 4096.
_MAX_BODY = {"": 1600, "whatsapp:": 4096}

# Twilio error codes the stand-in can answer with: (HTTP status, message).
# Reference: https://www.twilio.com/docs/api/errors/<code>
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "The 'To' number {to} is not a valid phone number."),
    21408: (400, "Permission to send an SMS has not been enabled for the region of {to}."),
    21602: (400, "Message body is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number {to} is not a valid mobile number"),
    21611: (400, "This 'From' number has exceeded the maximum number of queued messages"),
    21603: (400, "A 'From' or 'MessagingServiceSid' parameter is required."),
    21617: (400, "The concatenated message body exceeds the {limit} character limit."),
    21624: (400, "Invalid validity period value."),
    21910: (400, "Invalid From and To pair. From and To should be of the same channel."),
    30001: (400, "Queue overflow"),
}
# GSM 03.38: the basic set costs one septet, the extension set two; anything else makes the
# whole message UCS-2. Only used to fill num_segments the way Twilio would.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
# What a scripted bare HTTP status answers with.
_STATUS_CODES: dict[int, int] = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


@dataclass(frozen=True)
class ReceivedSms:
    """A message as the stand-in took it (SMS or WhatsApp: see `channel`)."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    validity_period: int | None = None  # seconds Twilio would keep it queued
    messaging_service_sid: str | None = None

    @property
    def channel(self) -> str:
        """"whatsapp" for `whatsapp:` addresses, else "sms"."""
        return "whatsapp" if self.to.startswith("whatsapp:") else "sms"


class TwilioStandin:
    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_SID,
        auth_token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        retry_after: str | None = "1",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.retry_after = retry_after  # the Retry-After header of a 429 (None: no header)
        self.delay = 0.0
        # Cleared by `hold()`: answers wait until `release()` (set from any thread).
        self._not_held = threading.Event()
        self._not_held.set()
        self.messages: list[ReceivedSms] = []
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()  # faults may be set from the test's thread
        self.throttled = 0  # requests answered 429 by the rate limit
        self.queue_full = 0  # messages refused with 21611
        self.down = False  # switched off: every request is answered 503
        self._gate: RateGate | None = None
        self._queue: SenderQueue | None = None
        self._script: deque[int | None] = deque()
        self._failing_numbers: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- faults ----------------------------------------------------------------------------

    def script(self, statuses: Iterable[int | None]) -> None:
        with self._lock:
            self._script.extend(statuses)

    def fail_number(self, number: str, code: int = 21610) -> None:
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code}; known: {sorted(ERRORS)}")
        with self._lock:
            self._failing_numbers[number] = code

    def limit(
        self, rate: float | None, *, burst: int = 1, clock: Seconds = time.monotonic
    ) -> None:
        """At most `rate` requests a second (`burst` at once); others get 429 with
        Retry-After. None lifts the limit. `clock`: seconds, for a test's virtual clock."""
        with self._lock:
            self._gate = None if rate is None else RateGate(rate, burst, clock=clock)

    def queue(
        self, drain_rate: float | None, *, depth: int = 1, clock: Seconds = time.monotonic
    ) -> None:
        """A sender queue draining `drain_rate` messages a second, at most `depth` waiting:
        beyond it, 21611. None removes it."""
        with self._lock:
            self._queue = (
                None if drain_rate is None else SenderQueue(drain_rate, depth, clock=clock)
            )

    def hold(self) -> None:
        """Hold every answer until `release()`: a provider that has stopped answering, for
        as long as the caller decides (unlike `delay`, fixed when a request arrives)."""
        self._not_held.clear()

    def release(self) -> None:
        self._not_held.set()

    def switch_off(self) -> None:
        self.down = True

    def switch_on(self) -> None:
        self.down = False

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self._gate = self._queue = None
            self.down = False
            self.throttled = self.queue_full = 0
            self._script.clear()
            self._failing_numbers.clear()
            self.requests = self.max_in_flight = 0
            self.delay = 0.0
        self._not_held.set()

    # -- in the caller's loop --------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create_message)
        # shutdown_timeout: delayed answers are cut short by `_stopping`, nothing to wait for.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._stopping = asyncio.Event()
        return self.base_url

    async def stop(self) -> None:
        if self._runner is None:
            return
        assert self._stopping is not None
        self._stopping.set()
        self._not_held.set()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- in a thread of its own, for sync callers --------------------------------------------

    def start_in_thread(self) -> str:
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[str] = concurrent.futures.Future()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                started.set_result(loop.run_until_complete(self.start()))
            except Exception as exc:  # report a bind error to the caller, not to the thread
                started.set_exception(exc)
                return
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="twilio-standin", daemon=True)
        self._thread.start()
        return started.result(timeout=30)

    def stop_thread(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = self._loop = None

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_thread()

    # -- the API ---------------------------------------------------------------------------

    async def _create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Read the whole request first, as Twilio does: a client that gives up during
            # the delay then costs nothing but an unread answer.
            form = await request.post()
            if self.delay > 0:
                assert self._stopping is not None
                with contextlib.suppress(TimeoutError):  # stop() cuts delays short
                    await asyncio.wait_for(self._stopping.wait(), self.delay)
            if not self._not_held.is_set():
                await asyncio.get_running_loop().run_in_executor(None, self._not_held.wait)
            return self._answer(request, {key: str(value) for key, value in form.items()})
        finally:
            self.in_flight -= 1

    def _answer(self, request: web.Request, form: dict[str, str]) -> web.Response:
        if not self._authorized(request):
            return _error(20003, headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if request.match_info["sid"] != self.account_sid:
            return _error(20404)
        if self.down:
            return _error(20503)
        with self._lock:
            scripted = self._script.popleft() if self._script else None
            failing = self._failing_numbers.get(form.get("To", ""))
            gate = self._gate
        if scripted is not None:
            retry = (
                {"Retry-After": self.retry_after} if scripted == 429 and self.retry_after else {}
            )
            return _error(_STATUS_CODES.get(scripted, 20500), status=scripted, headers=retry)
        if gate is not None and not gate.take():
            self.throttled += 1
            # Whole seconds, rounded up: Retry-After takes no fractions (RFC 9110 10.2.3).
            wait = str(max(1, -int(-gate.wait() // 1)))
            return _error(20429, status=429, headers={"Retry-After": wait})
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        to_address, from_address = _ADDRESS.fullmatch(to), _ADDRESS.fullmatch(from_)
        if to_address is None:
            return _error(21211, to=to)
        prefix = to_address["channel"] or ""
        # A Messaging Service sends from its own pool: no From then.
        service = form.get("MessagingServiceSid") or None
        if not from_ and service is None:
            return _error(21603)
        if from_ and (from_address is None or (from_address["channel"] or "") != prefix):
            return _error(21910)
        if failing is not None:
            return _error(failing, to=to)
        if not body:
            return _error(21602)
        if len(body) > _MAX_BODY[prefix]:
            return _error(21617, limit=_MAX_BODY[prefix])
        validity = form.get("ValidityPeriod")
        if validity is not None and not (validity.isdigit() and 1 <= int(validity) <= 36_000):
            return _error(21624)
        with self._lock:
            sender_queue = self._queue
        if sender_queue is not None and not sender_queue.admit():
            self.queue_full += 1
            return _error(21611)
        sid = "SM" + secrets.token_hex(16)
        callback = form.get("StatusCallback") or None
        self.messages.append(
            ReceivedSms(
                sid,
                self.account_sid,
                to,
                from_,
                body,
                callback,
                validity_period=None if validity is None else int(validity),
                messaging_service_sid=service,
            )
        )
        return web.json_response(self._resource(sid, to, from_, body), status=201)

    def _authorized(self, request: web.Request) -> bool:
        # Parsed by hand: aiohttp.BasicAuth is deprecated since aiohttp 3.14.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            credentials = base64.b64decode(token, validate=True)
        except ValueError:
            return False
        expected = f"{self.account_sid}:{self.auth_token}".encode()
        return scheme.lower() == "basic" and secrets.compare_digest(credentials, expected)

    def _resource(self, sid: str, to: str, from_: str, body: str) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            # Twilio sends these as strings; a WhatsApp message is never split.
            "num_segments": "1" if to.startswith("whatsapp:") else str(count_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }


def count_segments(body: str) -> int:
    """SMS segments for `body`: 160 GSM-7 septets in one, 153 per part when split;
    70 UCS-2 units in one, 67 per part (an emoji is 2 units)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body):
        units = len(body) + sum(char in _GSM_EXTENDED for char in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else -(-units // part)


def _error(
    code: int,
    *,
    to: str = "",
    limit: int = 1600,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    default_status, template = ERRORS[code]
    status = status or default_status
    payload = {
        "code": code,
        "message": template.format(to=to, limit=limit),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(payload, status=status, headers=headers)
