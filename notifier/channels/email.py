"""Email over SMTP, through a small pool of reused connections.

SMTP carries one message at a time per connection and aiosmtplib does no pipelining, so
parallelism means several connections: up to `pool_size`, opened on first need and kept
for the next messages (a connection per message would cost a TCP and EHLO/STARTTLS/AUTH
round trip each time, and providers throttle connection rates).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from aiosmtplib import (
    SMTP,
    SMTPConnectError,
    SMTPException,
    SMTPHeloError,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPStatus,
    SMTPTimeoutError,
)

from notifier.channels.base import UNSUPPORTED, Channel
from notifier.channels.email_bytes import build_email
from notifier.clock import Clock, SystemClock
from notifier.config import EmailSettings
from notifier.domain.customers import ContactField
from notifier.domain.messages import ChannelName, DeliveryResult, OutgoingMessage
from notifier.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

if TYPE_CHECKING:
    from notifier.config import Settings

__all__ = ["SMTP_REPLIES", "EmailChannel", "EmailPayload", "message_id_for"]

logger = logging.getLogger(__name__)

# SMTP reply codes, RFC 5321 4.2.2 and 4.2.3 (530/534/535 and 454: RFC 4954; 556: RFC 7504).
# 4yz: the server may accept later; 5yz: it never will. A code not listed here is judged by
# its first digit. The server's text (often with an RFC 3463 code such as 5.1.1) goes into
# the reason.
SMTP_REPLIES: dict[int, tuple[type[DeliveryError], str]] = {
    421: (TransientDeliveryError, "service not available, closing the connection"),
    450: (TransientDeliveryError, "mailbox unavailable (busy, or greylisted)"),
    451: (TransientDeliveryError, "local error in processing"),
    452: (TransientDeliveryError, "insufficient system storage"),
    454: (TransientDeliveryError, "TLS or authentication temporarily unavailable"),
    455: (TransientDeliveryError, "server unable to accommodate parameters"),
    500: (PermanentDeliveryError, "syntax error, command unrecognised"),
    501: (PermanentDeliveryError, "syntax error in parameters"),
    502: (PermanentDeliveryError, "command not implemented"),
    503: (PermanentDeliveryError, "bad sequence of commands"),
    504: (PermanentDeliveryError, "command parameter not implemented"),
    530: (PermanentDeliveryError, "authentication required"),
    534: (PermanentDeliveryError, "authentication mechanism too weak"),
    535: (PermanentDeliveryError, "authentication credentials invalid"),
    550: (PermanentDeliveryError, "mailbox unavailable (no such user, or refused by policy)"),
    551: (PermanentDeliveryError, "user not local"),
    552: (PermanentDeliveryError, "exceeded storage allocation"),
    553: (PermanentDeliveryError, "mailbox name not allowed"),
    554: (PermanentDeliveryError, "transaction failed"),
    556: (PermanentDeliveryError, "domain does not accept mail"),
}
# After these replies the server closes the connection: do not put it back in the pool.
_CLOSING_REPLIES = frozenset({421})

# A pooled connection idle for longer is checked with NOOP before use: servers drop idle
# clients (RFC 5321 4.5.3.2.7 suggests 5 minutes, many use less), and a message must not
# fail only because the pool kept a dead connection between two incidents.
_IDLE_CHECK_AFTER = 30.0
_QUIT_TIMEOUT = 5.0  # closing must not hang on a server that stopped answering


def message_id_for(key: str, domain: str) -> str:
    """The same Message-ID for every attempt of one outbox message (dedup by receivers)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True, slots=True)
class EmailPayload:
    sender: str
    recipient: str
    data: bytes
    message_id: str


class EmailChannel(Channel):
    name: ClassVar[ChannelName] = ChannelName.EMAIL
    label: ClassVar[str] = "email"
    address_field: ClassVar[ContactField] = "email"
    has_subject: ClassVar[bool] = True
    has_html: ClassVar[bool] = True
    # An email waits in the mailbox: quiet hours hold it only when a rule asks.
    intrusive: ClassVar[bool] = False
    list_unsubscribe: ClassVar[bool] = True
    permanent_codes: ClassVar[frozenset[str]] = frozenset(
        str(code) for code, (kind, _) in SMTP_REPLIES.items() if kind is PermanentDeliveryError
    )

    def __init__(self, settings: EmailSettings, *, clock: Clock | None = None) -> None:
        super().__init__()
        if settings.use_tls and settings.start_tls:
            raise ConfigError(
                "email: use_tls (TLS from the start, port 465) and start_tls (upgrade, port "
                "587) exclude each other: choose one"
            )
        self.settings = settings
        self._clock = clock or SystemClock()
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._idle: list[tuple[SMTP, float]] = []  # (connection, monotonic time of last use)
        self.connections_opened = 0
        # Fail at construction, not on every message, if the sender settings cannot be
        # written into an email (bad from_address, from_name or message_id_domain).
        try:
            build_email(
                from_address=settings.from_address,
                from_name=settings.from_name,
                to=settings.from_address,
                subject="",
                text="",
                html=None,
                message_id=message_id_for("check", settings.message_id_domain),
                date=datetime.now(UTC),
            )
        except ValueError as exc:
            raise ConfigError(f"email: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel:
        return cls(settings.email)

    @property
    def concurrency(self) -> int:
        """How many messages this channel sends at once (one per pooled connection)."""
        return self.settings.pool_size

    # -- steps -----------------------------------------------------------------------------

    def build_payload(self, message: OutgoingMessage) -> EmailPayload:
        message_id = message_id_for(message.key, self.settings.message_id_domain)
        try:
            data = build_email(
                from_address=self.settings.from_address,
                from_name=self.settings.from_name,
                to=message.to,
                subject=message.subject or "",
                text=message.text,
                html=message.html,
                message_id=message_id,
                date=self._clock.now(),
                headers=message.headers,
            )
        except ValueError as exc:  # bad address, header name, or text (lone surrogates)
            raise PermanentDeliveryError(
                f"cannot build the email: {exc}", code=UNSUPPORTED
            ) from exc
        return EmailPayload(self.settings.from_address, message.to, data, message_id)

    async def transport(self, payload: EmailPayload) -> str:
        async with self._slots:
            connection = await self._checkout()
            reusable = False
            try:
                reply = await _mail_transaction(
                    connection, payload.sender, payload.recipient, payload.data
                )
                reusable = True
                return reply
            except SMTPRecipientsRefused:
                reusable = True  # a refused recipient says nothing against the connection
                raise
            except SMTPResponseException as exc:
                reusable = exc.code not in _CLOSING_REPLIES
                raise
            finally:
                # Anything else (disconnect, timeout, cancellation mid-transaction) leaves
                # the connection in an unknown state: discard it, reconnect next time.
                self._checkin(connection, reusable)

    def classify_error(self, exc: Exception) -> DeliveryError | None:
        # SMTPRecipientsRefused is not an SMTPResponseException: it must come first.
        if isinstance(exc, SMTPRecipientsRefused):
            if not exc.recipients:
                return TransientDeliveryError("all recipients refused, without a reply code")
            refused = exc.recipients[0]
            return _from_reply(refused.code, refused.message)
        if isinstance(exc, SMTPResponseException):  # includes connect, HELO, AUTH replies
            return _from_reply(exc.code, exc.message)
        if isinstance(exc, SMTPServerDisconnected | SMTPConnectError | SMTPTimeoutError | OSError):
            return TransientDeliveryError(
                f"SMTP connection failed: {type(exc).__name__}: {exc}", code="connection"
            )
        if isinstance(exc, SMTPException):
            # What remains is the client refusing to go on: no STARTTLS when start_tls insists,
            # no AUTH when a username is set (SMTPNotSupported, or plain SMTPException).
            return PermanentDeliveryError(
                f"SMTP server cannot do what the email settings ask ({exc}): check use_tls, "
                "start_tls and username",
                code=UNSUPPORTED,
            )
        if isinstance(exc, ValueError):  # aiosmtplib refuses an address unsafe on the wire
            return PermanentDeliveryError(f"invalid address: {exc}", code="invalid_address")
        return None

    def parse_result(self, payload: EmailPayload, response: str) -> DeliveryResult:
        return DeliveryResult(provider_id=payload.message_id, detail=response)

    async def close_transport(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(connection) for connection, _ in idle))

    # -- the pool --------------------------------------------------------------------------

    async def _checkout(self) -> SMTP:
        while self._idle:
            connection, last_used = self._idle.pop()  # most recent first: likeliest alive
            if not connection.is_connected:
                continue
            if time.monotonic() - last_used > _IDLE_CHECK_AFTER:
                try:
                    await connection.noop()
                except (SMTPException, OSError):
                    connection.close()
                    continue
            return connection
        return await self._connect()

    def _checkin(self, connection: SMTP, reusable: bool) -> None:
        if reusable and connection.is_connected and not self._closed:
            self._idle.append((connection, time.monotonic()))
            return
        if not reusable:
            logger.info("discarding SMTP connection", extra={"action": "smtp_connection_discarded"})
        connection.close()

    async def _connect(self) -> SMTP:
        settings = self.settings
        password = settings.password.get_secret_value() if settings.password else None
        connection = SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=password if settings.username else None,
            use_tls=settings.use_tls,
            # True insists on STARTTLS; False never tries. None (opportunistic) would stay
            # in plaintext without a word when the server does not offer it.
            start_tls=settings.start_tls,
            timeout=settings.timeout,
            # Not getfqdn(): slow, and it leaks the host name; same domain as Message-IDs.
            local_hostname=settings.message_id_domain,
        )
        try:
            await connection.connect()
        except BaseException:
            connection.close()  # e.g. TCP up but STARTTLS or AUTH failed: do not leak it
            raise
        self.connections_opened += 1
        return connection


async def _mail_transaction(connection: SMTP, sender: str, recipient: str, data: bytes) -> str:
    """MAIL FROM, RCPT TO, DATA: what `SMTP.sendmail` does for one recipient, without its
    per-call work that a fan-out pays thousands of times for nothing (parsing both
    addresses twice with email.utils, and a regex over the whole message to count its
    size). Our addresses were checked when the bytes were built (email_bytes refuses any
    that could not stand on an SMTP command line), and the bytes already end lines in
    CRLF, so their length is the SIZE (RFC 1870). Errors are sendmail's: a refused sender
    raises SMTPSenderRefused, a refused recipient SMTPRecipientsRefused, a refused message
    SMTPDataError; after any of them the envelope is reset (RSET), as sendmail does.
    """
    if connection.is_ehlo_or_helo_needed:  # a fresh connection without STARTTLS or AUTH
        try:
            await connection.ehlo()
        except SMTPHeloError:
            if not connection.is_connected:
                raise
            await connection.helo()  # not an ESMTP server
    options = b""
    if connection.supports_extension("size"):
        options = b" SIZE=" + str(len(data)).encode("ascii")
    try:
        reply = await connection.execute_command(
            b"MAIL", b"FROM:<" + sender.encode("ascii") + b">" + options
        )
        if reply.code != SMTPStatus.completed:
            raise SMTPSenderRefused(reply.code, reply.message, sender)
        reply = await connection.execute_command(
            b"RCPT", b"TO:<" + recipient.encode("ascii") + b">"
        )
        if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            raise SMTPRecipientsRefused(
                [SMTPRecipientRefused(reply.code, reply.message, recipient)]
            )
        reply = await connection.data(data)
    except (SMTPResponseException, SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, SMTPResponseException):
            await connection.rset()
        raise
    return reply.message


def _from_reply(code: int, text: str) -> DeliveryError:
    kind, meaning = SMTP_REPLIES.get(code, (None, None))
    if kind is None:
        kind = PermanentDeliveryError if 500 <= code < 600 else TransientDeliveryError
    reason = f"{code} {text}".strip()
    if meaning:
        reason = f"{reason} ({meaning})"
    return kind(reason, code=str(code))


async def _quit(connection: SMTP) -> None:
    """Say QUIT politely; a connection that cannot is just closed."""
    try:
        if connection.is_connected:
            await connection.quit(timeout=_QUIT_TIMEOUT)
    except (SMTPException, OSError):
        pass
    finally:
        connection.close()
