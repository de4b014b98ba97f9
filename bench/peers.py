"""The benchmark's peers, each in a process of its own: the project's SMTP sink and its
Twilio stand-in, noting when they accept each message.

    with Peer.start("smtp") as smtp:
        ...                                    # send to 127.0.0.1:smtp.port
        stats = smtp.stats(since=t0)           # counts, duplicates, first/last, p50/p95

    with Peer.start("smtp", record=True) as smtp:
        ...
        for at, recipient, text in smtp.accepted(since=t0):   # text: Subject / SMS body
            ...

A peer in its own process keeps its CPU out of the measured process, as a real provider's
would be. A message is identified by its Message-ID (email) or by recipient and body
(SMS): the same one accepted twice is counted as a duplicate.

Faults, for the reliability suite, are told to the peer process through its pipe:

    smtp.set_faults(SmtpFaults(temporary=0.15, drop_every=150, stall=0.02, stall_seconds=3))
    twilio.set_faults(TwilioFaults(burst_every=120, burst_length=12, stall=0.02, ...))
    ...
    for event in smtp.events():                # every answer: time, recipient, outcome
        ...

Random faults are drawn from `seed`, per SMTP DATA command or per Twilio request (so a
retry draws again).

Limits and outages, as providers have them:

    smtp.limit(14)                             # beyond 14 messages/s: 454 throttled
    twilio.limit(30); twilio.queue(30, 300)    # 429 beyond 30 requests/s; 21611 beyond 300 queued
    smtp.switch(False) ... smtp.switch(True)   # refuses connections (Twilio: 503), then back
    Peer.start("smtp", port=smtp.port)         # a killed peer back on its old port
"""

from __future__ import annotations

import array
import asyncio
import email.parser
import email.policy
import hashlib
import multiprocessing
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from notifier.sinks.smtp_sink import SmtpSink, _Handler, free_port
from notifier.sinks.twilio_standin import TwilioStandin

Kind = Literal["smtp", "twilio"]
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.default)


@dataclass(frozen=True)
class PeerStats:
    accepted: int
    distinct: int  # 0 when duplicates are not tracked
    duplicates: int
    first: float | None  # seconds after `since`
    last: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class SmtpFaults:
    """Faults of the SMTP peer. Per DATA command: every `drop_every`-th closes the connection
    without an answer; otherwise a `temporary` share is answered 421 or 451 (half each),
    and a `stall` share is held `stall_seconds` before it is accepted (a client that gave up
    and hung up meanwhile cancels it: aiosmtpd stops the transaction). `reject` refuses
    these recipients at RCPT TO with the reply given."""

    seed: int = 0
    temporary: float = 0.0
    drop_every: int = 0
    stall: float = 0.0
    stall_seconds: float = 0.0
    reject: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TwilioFaults:
    """Faults of the Twilio stand-in. Per request: the last `burst_length` of every
    `burst_every` requests are answered with an HTTP error, bursts taking `burst_statuses`
    in turn (a 429 carries `Retry-After: retry_after`); otherwise a `stall` share is held
    `stall_seconds` and then answered as usual (the message is created even when the client
    gave up: Twilio does the same). `fail_numbers` are always refused with their error code
    (21211 invalid number, 21610 unsubscribed, ...)."""

    seed: int = 0
    burst_every: int = 0
    burst_length: int = 0
    burst_statuses: tuple[int, ...] = (429, 500, 503)
    retry_after: str | None = "1"
    stall: float = 0.0
    stall_seconds: float = 0.0
    fail_numbers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class PeerEvent:
    """One answer of a peer: wall-clock time, the recipient, and what it answered ("250"
    or "201" accepted, "421", "451", "550", "drop", "429", "503", "stall-201", ...)."""

    at: float
    recipient: str
    outcome: str


class _Events:
    """The answers a faulty peer gave (kept only while faults are set)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[PeerEvent] = []
        self.enabled = False

    def add(self, recipient: str, outcome: str) -> None:
        if self.enabled:
            with self.lock:
                self.items.append(PeerEvent(time.time(), recipient, outcome))

    def copy(self) -> list[PeerEvent]:
        with self.lock:
            return list(self.items)

    def clear(self) -> None:
        with self.lock:
            self.items = []


@dataclass(frozen=True)
class Accepted:
    """One message the peer accepted: wall-clock time, recipient(s), and what tells the
    message apart (an email's decoded Subject, an SMS's body)."""

    at: float
    recipient: str
    text: str


class _Log:
    """Arrival times and identities, shared by the server thread and the control loop.
    With `record`, also each accepted message's recipient and subject or body."""

    def __init__(self, track: bool, record: bool = False) -> None:
        self.lock = threading.Lock()
        self.times = array.array("d")
        self.track = track
        self.record = record
        self.kept: list[Accepted] = []
        self.seen: set[bytes] = set()
        self.duplicates = 0

    def note(self, identity: bytes, recipient: str = "", text: str = "") -> None:
        now = time.time()
        with self.lock:
            self.times.append(now)
            if self.record:
                self.kept.append(Accepted(now, recipient, text))
            if self.track:
                digest = hashlib.blake2b(identity, digest_size=12).digest()
                if digest in self.seen:
                    self.duplicates += 1
                else:
                    self.seen.add(digest)

    def reset(self) -> None:
        with self.lock:
            self.times = array.array("d")
            self.kept = []
            self.seen = set()
            self.duplicates = 0

    def accepted(self, since: float) -> list[Accepted]:
        with self.lock:
            return [item for item in self.kept if item.at >= since]

    def stats(self, since: float) -> PeerStats:
        with self.lock:
            times = sorted(self.times)
            distinct = len(self.seen)
            duplicates = self.duplicates
        if not times:
            return PeerStats(0, distinct, duplicates, None, None, None, None)

        def at(q: float) -> float:
            return times[min(len(times) - 1, int(q * len(times)))] - since

        return PeerStats(
            len(times), distinct, duplicates, times[0] - since, times[-1] - since, at(0.5), at(0.95)
        )


class _TimedSink(SmtpSink):
    def __init__(self, port: int, log: _Log) -> None:
        super().__init__("127.0.0.1", port, record=False)
        self._log = log
        self.faults = SmtpFaults()
        self.events = _Events()
        self._rng = random.Random(0)
        self._data_commands = 0
        self._open = 0
        self._open_lock = threading.Lock()

    def start(self) -> None:
        super().start()
        assert self._controller is not None
        # The controller builds a server per connection from its handler: ours adds faults.
        self._controller.handler = _FaultyHandler(self)
        build: Callable[[], Any] = self._controller.factory

        def counted() -> Any:
            server = build()
            made, lost = server.connection_made, server.connection_lost

            def connection_made(transport: Any) -> None:
                with self._open_lock:
                    self._open += 1
                made(transport)

            def connection_lost(error: Exception | None) -> None:
                try:
                    lost(error)
                finally:
                    with self._open_lock:
                        self._open -= 1

            server.connection_made, server.connection_lost = connection_made, connection_lost
            return server

        self._controller.factory = counted  # type: ignore[method-assign]

    def open_connections(self) -> int:
        """Connections not yet closed: a message sent on one may still be on its way in."""
        with self._open_lock:
            return self._open

    def set_faults(self, faults: SmtpFaults) -> None:
        self.reset()
        for address, reply in faults.reject:
            self.reject_recipient(address, reply)
        self.faults, self._rng, self._data_commands = faults, random.Random(faults.seed), 0
        self.events.clear()
        self.events.enabled = True

    def next_fault(self) -> str | None:
        """For the coming DATA: "drop", "stall", a reply line, or None (accept)."""
        faults = self.faults
        self._data_commands += 1
        if faults.drop_every and self._data_commands % faults.drop_every == 0:
            return "drop"
        draw = self._rng.random()
        if draw < faults.temporary / 2:
            return "421 4.7.0 too busy, closing the connection"
        if draw < faults.temporary:
            return "451 4.3.0 local error, try again later"
        if draw < faults.temporary + faults.stall:
            return "stall"
        return None

    def _on_message(self, mail_from: str, rcpt_tos: list[str], raw: bytes, connection: int) -> None:
        super()._on_message(mail_from, rcpt_tos, raw, connection)
        end = raw.find(b"\r\n\r\n")
        found = _MESSAGE_ID.search(raw, 0, end)
        subject = ""
        if self._log.record:
            headers = _HEADERS.parsebytes(raw[: end if end >= 0 else len(raw)])
            subject = str(headers.get("Subject", ""))
        self._log.note(found.group(1) if found else raw, ",".join(rcpt_tos), subject)


class _FaultyHandler(_Handler):
    sink: _TimedSink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = await super().handle_RCPT(server, session, envelope, address, options)
        if not reply.startswith("250"):
            self.sink.events.add(address, reply[:3])
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        sink = self.sink
        if not sink.events.enabled:  # no faults set: the plain sink (benchmarks)
            return await super().handle_DATA(server, session, envelope)
        recipient = ",".join(envelope.rcpt_tos)
        fault = sink.next_fault()
        if fault == "drop":
            sink.events.add(recipient, "drop")
            server.transport.close()
            return "421 4.4.2 connection dropped by the sink"
        if fault == "stall":
            sink.events.add(recipient, "stall")
            # Cancelled if the client hangs up meanwhile (aiosmtpd cancels the handler).
            await asyncio.sleep(sink.faults.stall_seconds)
        elif fault is not None:
            sink.events.add(recipient, fault[:3])
            return fault
        reply = await super().handle_DATA(server, session, envelope)
        sink.events.add(recipient, ("stall-" if fault else "") + reply[:3])
        return reply


class _TimedStandin(TwilioStandin):
    def __init__(self, port: int, log: _Log) -> None:
        super().__init__(port=port)
        self._log = log
        self.faults = TwilioFaults()
        self.events = _Events()
        self._rng = random.Random(0)
        self._answering = 0  # requests between arrival and answer (stalled ones included)

    def set_faults(self, faults: TwilioFaults) -> None:
        self.reset()
        for number, code in faults.fail_numbers:
            self.fail_number(number, code)
        self.retry_after = faults.retry_after
        self.faults, self._rng = faults, random.Random(faults.seed)
        self.events.clear()
        self.events.enabled = True

    async def _create_message(self, request: web.Request) -> web.Response:
        self._answering += 1
        try:
            return await self._create_message_counted(request)
        finally:
            self._answering -= 1

    async def _create_message_counted(self, request: web.Request) -> web.Response:
        if not self.events.enabled:
            return await super()._create_message(request)
        n = self.requests
        self.requests += 1
        form = {key: str(value) for key, value in (await request.post()).items()}
        to = form.get("To", "")
        faults = self.faults
        every = faults.burst_every
        if every and n % every >= every - faults.burst_length:
            statuses = faults.burst_statuses
            # No await between scripting the status and answering: no other request can
            # take it.
            self.script([statuses[(n // every) % len(statuses)]])
            response = self._answer(request, form)
            self.events.add(to, str(response.status))
            return response
        stalled = self._rng.random() < faults.stall
        if stalled:
            self.events.add(to, "stall")
            await asyncio.sleep(faults.stall_seconds)
        response = self._answer(request, form)
        self.events.add(to, ("stall-" if stalled else "") + str(response.status))
        return response

    def open_connections(self) -> int:
        """Connections not yet closed, and requests not yet answered: a stalled request
        still creates its message after its client hung up, as Twilio does."""
        server = self._runner.server if self._runner else None
        return (len(server.connections) if server else 0) + self._answering

    def _answer(self, request: web.Request, form: dict[str, str]) -> web.Response:
        response = super()._answer(request, form)
        self.messages.clear()  # the stand-in keeps every message; a long run must not
        if response.status == 201:
            to, body = form.get("To", ""), form.get("Body", "")
            self._log.note(f"{to}\n{body}".encode(), to, body)
        return response


def _serve(kind: Kind, port: int, track: bool, record: bool, control: Connection) -> None:
    """The peer process: serve, and answer the control pipe until told to stop."""
    log = _Log(track, record)
    server: Any
    if kind == "smtp":
        server = _TimedSink(port, log)
        server.start()
    else:
        server = _TimedStandin(port, log)
        server.start_in_thread()
    control.send("ready")
    try:
        while True:
            command, argument = control.recv()
            if command == "stats":
                control.send(log.stats(argument))
            elif command == "reset":
                log.reset()
                control.send("ok")
            elif command == "accepted":
                control.send(log.accepted(argument))
            elif command == "faults":
                server.set_faults(argument)
                log.reset()
                control.send("ok")
            elif command == "events":
                control.send(server.events.copy())
            elif command == "limit":
                # A second's worth at once, as providers' buckets allow (SES, Twilio).
                server.limit(argument, burst=max(1, int(argument or 1)))
                control.send("ok")
            elif command == "queue":
                server.queue(argument[0], depth=argument[1])
                control.send("ok")
            elif command == "switch":
                if argument:
                    server.switch_on()
                else:
                    server.switch_off()
                control.send("ok")
            elif command == "throttled":
                control.send(server.throttled)
            elif command == "open":
                control.send(server.open_connections())
            elif command == "stop":
                break
    finally:
        if kind == "smtp":
            server.stop()
        else:
            server.stop_thread()


class Peer:
    """A peer process and its control pipe."""

    def __init__(
        self,
        kind: Kind,
        process: multiprocessing.process.BaseProcess,
        port: int,
        control: Connection,
    ) -> None:
        self.kind = kind
        self.port = port
        self._process = process
        self._control = control

    @classmethod
    def start(
        cls, kind: Kind, *, track_duplicates: bool = True, port: int = 0, record: bool = False
    ) -> Peer:
        """`record`: keep each accepted message's time, recipient and subject or body (for
        `accepted`); a long run's memory, so only where a benchmark asks for it."""
        port = port or free_port()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(kind, port, track_duplicates, record, theirs),
            name=f"peer-{kind}",
        )
        process.start()
        if not ours.poll(60) or ours.recv() != "ready":
            process.kill()
            raise RuntimeError(f"the {kind} peer did not start")
        return cls(kind, process, port, ours)

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self, since: float = 0.0) -> PeerStats:
        self._control.send(("stats", since))
        result: PeerStats = self._control.recv()
        return result

    def reset(self) -> None:
        self._control.send(("reset", None))
        self._control.recv()

    def accepted(self, since: float = 0.0) -> list[Accepted]:
        """The messages accepted from `since` (time.time()) on, when started with `record`:
        when the peer accepted each, its recipient, and its Subject (email) or body (SMS)."""
        result: list[Accepted] = self._ask("accepted", since)
        return result

    def set_faults(self, faults: SmtpFaults | TwilioFaults) -> None:
        """Forget counts and faults, then answer with these faults (and note every answer,
        for `events`)."""
        expected = SmtpFaults if self.kind == "smtp" else TwilioFaults
        if not isinstance(faults, expected):
            raise TypeError(f"a {self.kind} peer takes {expected.__name__}")
        self._control.send(("faults", faults))
        self._control.recv()

    def _ask(self, command: str, argument: object) -> Any:
        self._control.send((command, argument))
        return self._control.recv()

    def limit(self, rate: float | None) -> None:
        """Enforce a rate (SMTP: 454 beyond it; Twilio: 429 with Retry-After); None lifts it."""
        self._ask("limit", rate)

    def queue(self, drain_rate: float | None, depth: int = 1) -> None:
        """Twilio only: a sender queue draining `drain_rate`/s; beyond `depth` waiting, 21611."""
        if self.kind != "twilio":
            raise TypeError("only the twilio peer has a sender queue")
        self._ask("queue", (drain_rate, depth))

    def switch(self, on: bool) -> None:
        """Off: the SMTP peer refuses connections, the Twilio peer answers 503. On: back."""
        self._ask("switch", on)

    def throttled(self) -> int:
        """How many requests the rate limit turned away."""
        result: int = self._ask("throttled", None)
        return result

    def events(self) -> list[PeerEvent]:
        """Every answer since `set_faults`, in order."""
        self._control.send(("events", None))
        result: list[PeerEvent] = self._control.recv()
        return result

    def open_connections(self) -> int:
        """Client connections the peer has not seen closed. Once every sender has stopped,
        0 means everything sent to the peer has been counted: its figures are final."""
        self._control.send(("open", None))
        result: int = self._control.recv()
        return result

    def wait_for(self, count: int, *, stall: float = 30.0) -> PeerStats:
        """Poll until `count` messages arrived, or none came for `stall` seconds."""
        last, last_change = -1, time.monotonic()
        while True:
            stats = self.stats()
            if stats.accepted >= count:
                return stats
            if stats.accepted != last:
                last, last_change = stats.accepted, time.monotonic()
            elif time.monotonic() - last_change > stall:
                return stats
            time.sleep(0.05)

    def kill(self) -> None:
        """Kill the peer's process at once (SIGKILL): a provider that dies mid-sentence."""
        self._process.kill()
        self._process.join(10)

    def stop(self) -> None:
        if self._process.is_alive():
            self._control.send(("stop", None))
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def wait_for_both(peers: list[tuple[Peer, int]], *, stall: float = 30.0) -> None:
    """Wait until each peer has its count (in a thread: the pipes are blocking)."""
    await asyncio.gather(
        *(asyncio.to_thread(peer.wait_for, count, stall=stall) for peer, count in peers)
    )
