"""/healthz (is the database there?) and /metrics (Prometheus), without an API key.

Metrics come from the database, so every worker's work shows, whichever process is
scraped; a scrape's figures are reused for `CACHE_SECONDS`:

    notifier_messages{channel,status}          outbox messages, by channel and status
    notifier_outbox_depth                      messages waiting to be sent (pending,
                                               sending, deferred)
    notifier_send_latency_seconds{quantile}    planned -> sent, over the latest 10,000 sent
    notifier_scheduler_lag_seconds{queue}      how overdue the oldest due message
                                               (queue="outbox") or schedule is (0: none)
    notifier_sent_by_provider{channel,provider}  messages each relay or SMS account carried
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from notifier.api.deps import AppDep
from notifier.domain.messages import DeliveryStatus
from notifier.runtime.app import App
from notifier.services import health

router = APIRouter(tags=["operations"])
CACHE_SECONDS = 5.0
QUANTILES = (0.5, 0.95, 0.99)
_WAITING = {DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED}


@router.get("/healthz", responses={503: {"description": "The database is unreachable"}})
async def healthz(app: AppDep) -> JSONResponse:
    """200 when the database answers, 503 when it does not."""
    problem = await health.database_problem(app.engine)
    if problem is not None:
        return JSONResponse({"status": "unavailable", "database": problem}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@dataclass(frozen=True, slots=True)
class Snapshot:
    messages: dict[tuple[str, str], int]
    latencies: dict[float, float]  # quantile -> seconds
    lag: dict[str, float]  # queue -> seconds
    by_provider: dict[tuple[str, str], int]  # (channel, provider) -> messages it carried


async def take_snapshot(app: App) -> Snapshot:
    now = app.clock.now()
    figures = await health.queue_figures(app.engine, now)
    messages, latencies = figures.messages, figures.latencies
    oldest_message, oldest_schedule = figures.oldest_message, figures.oldest_schedule
    quantiles: dict[float, float] = {}
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        quantiles = {q: cuts[round(q * 100) - 1] for q in QUANTILES}
    elif latencies:
        quantiles = dict.fromkeys(QUANTILES, latencies[0])
    lag = {
        queue: max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        for queue, oldest in (("outbox", oldest_message), ("schedules", oldest_schedule))
    }
    return Snapshot(messages, quantiles, lag, figures.by_provider)


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self._snapshot
        messages = GaugeMetricFamily(
            "notifier_messages",
            "Outbox messages by channel and status",
            labels=["channel", "status"],
        )
        for (channel, status), count in sorted(s.messages.items()):
            messages.add_metric([channel, status], count)
        yield messages
        depth = sum(n for (_, status), n in s.messages.items() if status in _WAITING)
        yield GaugeMetricFamily("notifier_outbox_depth", "Messages waiting to be sent", value=depth)
        latency = GaugeMetricFamily(
            "notifier_send_latency_seconds",
            "Seconds from planned to sent, over the latest sent messages",
            labels=["quantile"],
        )
        for quantile, seconds in s.latencies.items():
            latency.add_metric([str(quantile)], seconds)
        yield latency
        lag = GaugeMetricFamily(
            "notifier_scheduler_lag_seconds",
            "How overdue the oldest due outbox message or schedule is",
            labels=["queue"],
        )
        for queue, seconds in s.lag.items():
            lag.add_metric([queue], seconds)
        yield lag
        carried = GaugeMetricFamily(
            "notifier_sent_by_provider",
            "Messages each configured provider (relay, SMS account) carried",
            labels=["channel", "provider"],
        )
        for (channel, provider), count in sorted(s.by_provider.items()):
            carried.add_metric([channel, provider], count)
        yield carried


@dataclass
class _Cache:
    at: float = -1e9
    snapshot: Snapshot | None = None


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(app: AppDep, request: Request) -> Response:
    """Prometheus text format."""
    state = request.app.state
    if not hasattr(state, "metrics_cache"):
        state.metrics_cache = _Cache()
    cache: _Cache = state.metrics_cache
    if cache.snapshot is None or time.monotonic() - cache.at > CACHE_SECONDS:
        cache.snapshot, cache.at = await take_snapshot(app), time.monotonic()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(cache.snapshot))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
