"""The benchmark's peers, each in a process of its own: the project's SMTP sink and its
Twilio stand-in, noting when they accept each message.

    with Peer.start("smtp") as smtp:
        ...                                    # send to 127.0.0.1:smtp.port
        stats = smtp.stats(since=t0)           # counts, duplicates, first/last, p50/p95

A peer in its own process keeps its CPU out of the measured process, as a real provider's
would be. A message is identified by its Message-ID (email) or by recipient and body
(SMS): the same one accepted twice is counted as a duplicate.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import multiprocessing
import re
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web

from notifier.sinks.smtp_sink import SmtpSink, free_port
from notifier.sinks.twilio_standin import TwilioStandin

Kind = Literal["smtp", "twilio"]
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class PeerStats:
    accepted: int
    distinct: int  # 0 when duplicates are not tracked
    duplicates: int
    first: float | None  # seconds after `since`
    last: float | None
    p50: float | None
    p95: float | None


class _Log:
    """Arrival times and identities, shared by the server thread and the control loop."""

    def __init__(self, track: bool) -> None:
        self.lock = threading.Lock()
        self.times = array.array("d")
        self.track = track
        self.seen: set[bytes] = set()
        self.duplicates = 0

    def note(self, identity: bytes) -> None:
        now = time.time()
        with self.lock:
            self.times.append(now)
            if self.track:
                digest = hashlib.blake2b(identity, digest_size=12).digest()
                if digest in self.seen:
                    self.duplicates += 1
                else:
                    self.seen.add(digest)

    def reset(self) -> None:
        with self.lock:
            self.times = array.array("d")
            self.seen = set()
            self.duplicates = 0

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

    def _on_message(self, mail_from: str, rcpt_tos: list[str], raw: bytes, connection: int) -> None:
        super()._on_message(mail_from, rcpt_tos, raw, connection)
        found = _MESSAGE_ID.search(raw, 0, raw.find(b"\r\n\r\n"))
        self._log.note(found.group(1) if found else raw)


class _TimedStandin(TwilioStandin):
    def __init__(self, port: int, log: _Log) -> None:
        super().__init__(port=port)
        self._log = log

    def _answer(self, request: web.Request, form: dict[str, str]) -> web.Response:
        response = super()._answer(request, form)
        self.messages.clear()  # the stand-in keeps every message; a long run must not
        if response.status == 201:
            self._log.note(f"{form.get('To')}\n{form.get('Body')}".encode())
        return response


def _serve(kind: Kind, port: int, track: bool, control: Connection) -> None:
    """The peer process: serve, and answer the control pipe until told to stop."""
    log = _Log(track)
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
    def start(cls, kind: Kind, *, track_duplicates: bool = True) -> Peer:
        port = free_port()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(kind, port, track_duplicates, theirs), name=f"peer-{kind}"
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
