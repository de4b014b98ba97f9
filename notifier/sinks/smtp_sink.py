"""A local SMTP server that records what it receives and fails on request.

Used by the demo, the tests and the benchmarks. It runs aiosmtpd's `Controller`, which
serves from its own thread and event loop, so it works the same under sync and async code:

    with SmtpSink() as sink:
        sink.script(["451 4.3.0 try later", None, "550 5.1.1 no such user"])
        ...  # send to sink.host:sink.port
        assert len(sink.messages) == 2

Faults are consumed per message, in this order: a per-recipient rule (refuses RCPT), a
pending `drop_connection_after`, then the next scripted reply (None = accept).

Like a provider's relay it can enforce a sending rate (`limit(14)`: beyond 14 messages a
second, DATA is answered `454 4.7.0 Throttling failure: Maximum sending rate exceeded`, as
Amazon SES does, or another 4xx line given as `reply`), and be switched off and on
(`switch_off()`: connections are refused, as from a relay that is down; `switch_on()`:
back on the same port).

Standalone, for benchmarks: `python -m notifier.sinks.smtp_sink --port 2525`.
"""

from __future__ import annotations

import argparse
import email.message
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from functools import cached_property
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller

from notifier.sinks.rate import RateGate, Seconds

__all__ = ["THROTTLED", "ReceivedEmail", "SmtpSink", "free_port"]

ACCEPT = "250 2.0.0 OK: queued"
# Amazon SES's answer beyond the account's sending rate.
THROTTLED = "454 4.7.0 Throttling failure: Maximum sending rate exceeded"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (Controller cannot bind port 0: it connects to
    the port it was given to check that the server is up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class ReceivedEmail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    connection: int = field(compare=False)  # which connection (1, 2, ...) delivered it

    @cached_property
    def message(self) -> email.message.EmailMessage:
        """The raw bytes parsed with the modern policy (parsed once, on first use)."""
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed


class SmtpSink:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, record: bool = True):
        self.host = host
        self.port = port or free_port(host)
        # record=False keeps only counts: a benchmark run should not hold every message.
        self.record = record
        self.messages: list[ReceivedEmail] = []
        self.received = 0
        self.connections = 0
        self.throttled = 0  # DATA commands answered with the rate limit's reply
        self._lock = threading.Lock()
        self._gate: RateGate | None = None
        self._throttle_reply = THROTTLED
        self._replies: deque[str | None] = deque()
        self._recipient_rules: dict[str, str] = {}
        self._drop_after: int | None = None
        self._controller: Controller | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            # A fixed name: the default calls socket.getfqdn(), slow on some hosts.
            server_hostname="sink.localhost",
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def switch_off(self) -> None:
        """Stop listening: new connections are refused and open ones are dropped."""
        self.stop()

    def switch_on(self) -> None:
        """Listen again, on the same port."""
        self.start()

    @property
    def is_on(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------

    def script(self, replies: Iterable[str | None]) -> None:
        """Queue one DATA reply per coming message: a "4xx/5xx ..." line, or None to accept."""
        with self._lock:
            self._replies.extend(replies)

    def drop_connection_after(self, n: int) -> None:
        """Accept n more messages, then close the connection that brings the next one."""
        with self._lock:
            self._drop_after = n

    def limit(
        self,
        rate: float | None,
        *,
        burst: int = 1,
        reply: str = THROTTLED,
        clock: Seconds = time.monotonic,
    ) -> None:
        """Accept at most `rate` messages a second (`burst` at once); answer the others'
        DATA with `reply` (a 4xx line: 454 as SES, 421 to also close the connection).
        None lifts the limit. `clock`: seconds, for a test on a virtual clock."""
        if reply[:1] != "4":
            raise ValueError(f"a rate limit answers with a 4xx reply, not {reply!r}")
        with self._lock:
            self._gate = None if rate is None else RateGate(rate, burst, clock=clock)
            self._throttle_reply = reply

    def reject_recipient(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        """Always answer RCPT TO:<address> with `reply`."""
        with self._lock:
            self._recipient_rules[address.lower()] = reply

    def reset(self) -> None:
        """Forget messages, counts and faults (between tests sharing one sink)."""
        with self._lock:
            self.messages.clear()
            self.received = 0
            self.connections = 0
            self.throttled = 0
            self._gate = None
            self._replies.clear()
            self._recipient_rules.clear()
            self._drop_after = None

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Poll until `count` messages arrived (for callers in another process or thread)."""
        deadline = time.monotonic() + timeout
        while self.received < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # -- called by the handler, in the server thread -----------------------------------------

    def _on_connection(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def _rcpt_reply(self, address: str) -> str | None:
        with self._lock:
            return self._recipient_rules.get(address.lower())

    def _data_fault(self) -> str | None:
        """The fault for the next message: "drop", a scripted reply, or None to accept."""
        with self._lock:
            if self._drop_after is not None:
                if self._drop_after <= 0:
                    self._drop_after = None
                    return "drop"
                self._drop_after -= 1
            if self._replies:
                return self._replies.popleft()
            if self._gate is not None and not self._gate.take():
                self.throttled += 1
                return self._throttle_reply
            return None

    def _on_message(self, mail_from: str, rcpt_tos: list[str], raw: bytes, connection: int) -> None:
        with self._lock:
            self.received += 1
            if self.record:
                self.messages.append(ReceivedEmail(mail_from, tuple(rcpt_tos), raw, connection))


class _Handler:
    """aiosmtpd hooks (looked up by name: handle_EHLO, handle_RCPT, handle_DATA)."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # Connections are counted at EHLO: the Controller's own readiness probe connects
        # without speaking SMTP, and it must not count.
        session.host_name = hostname
        session.sink_connection = self.sink._on_connection()
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.sink._rcpt_reply(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        fault = self.sink._data_fault()
        if fault == "drop":
            server.transport.close()
            return "421 4.4.2 connection dropped by the sink"
        if fault is not None:
            if fault.startswith("421"):
                # 421 means "closing the transmission channel" (RFC 5321 3.8): do so, as a
                # real relay would, once the reply is out.
                server.loop.call_soon(server.transport.close)
            return fault
        raw = envelope.original_content or envelope.content
        connection = getattr(session, "sink_connection", 0)
        self.sink._on_message(envelope.mail_from, list(envelope.rcpt_tos), raw, connection)
        return ACCEPT

    async def handle_exception(self, error: Exception) -> str:
        # Writing to a connection we dropped on purpose fails; that is expected, not news.
        return "421 4.3.0 sink error"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a recording SMTP sink.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--record", action="store_true", help="keep messages (memory grows)")
    parser.add_argument("--rate", type=float, help="messages a second; beyond: 454 throttled")
    args = parser.parse_args(argv)
    sink = SmtpSink(args.host, args.port, record=args.record)
    if args.rate:
        sink.limit(args.rate)
    with sink:
        print(f"smtp sink listening on {sink.host}:{sink.port}", flush=True)
        last = -1
        try:
            while True:
                time.sleep(1.0)
                if sink.received != last:
                    last = sink.received
                    print(f"received={last} connections={sink.connections}", flush=True)
        except KeyboardInterrupt:
            pass
    print(f"received={sink.received} connections={sink.connections}", flush=True)


if __name__ == "__main__":
    main()
