"""Lint's samples have the types and shapes of what the fan-out really renders with.

A template may branch on a type (`customer.id is string`) or call a method one type has and
another lacks; a sample with an integer where real data has a string lets such a template
pass lint and then fail, or crawl, for every real customer. So real contexts are built as
the planner builds them (the subject as it is, the event, the customer) for every stage of
an incident and for order events, and compared key by key with the sample of that stage.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.engine.context import base_context, load_subject
from notifier.services import incidents
from notifier.services.orders import record_order_event
from notifier.store import events as event_store
from notifier.store.customers import get_customer
from notifier.templating.context import sample_context
from tests.harness import harness


def _differences(real: Any, sample: Any, path: str) -> list[str]:
    """Where the sample's type differs from the real one (None on either side: optional)."""
    if real is None or sample is None:
        return []
    if isinstance(real, dict):
        if not isinstance(sample, dict):
            return [f"{path}: real dict, sample {type(sample).__name__}"]
        out = [f"{path}.{key}: missing in the sample" for key in real if key not in sample]
        for key in real:
            if key in sample:
                out += _differences(real[key], sample[key], f"{path}.{key}")
        return out
    if isinstance(real, list):
        if not isinstance(sample, list):
            return [f"{path}: real list, sample {type(sample).__name__}"]
        if real and sample:
            return _differences(real[0], sample[0], f"{path}[0]")
        return []
    # Exact types: bool is an int, a datetime a date, and templates can tell them apart.
    if type(real) is not type(sample):
        return [f"{path}: real {type(real).__name__}, sample {type(sample).__name__}"]
    return []


async def _contexts(tmp_path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(sample message name, real context) for each event of an incident and an order."""
    async with harness(f"sqlite+aiosqlite:///{tmp_path / 'shapes.db'}") as h:
        await h.load_customers(tmp_path)
        now = h.clock.now()
        engine = h.app.engine
        incident = await incidents.declare(
            engine,
            title="Satellite radio signal outage",
            severity="major",
            affects=["satellite-radio"],
            eta=now + timedelta(hours=3),
            workaround="Use the app.",
            message="We are on it.",
            next_update_by=now + timedelta(hours=1),
            now=now,
        )
        await incidents.update(
            engine,
            incident.id,
            now=now + timedelta(hours=1),
            status="identified",
            eta=now + timedelta(hours=6),
            message="Found it.",
        )
        await incidents.resolve(
            engine, incident.id, now=now + timedelta(hours=5), cause="A storm.", message="Back."
        )
        await record_order_event(
            engine,
            "XM-1",
            status="placed",
            customer_id="c-en",
            promised_date=date(2026, 3, 6),
            now=now,
        )
        await record_order_event(
            engine,
            "XM-1",
            status="delayed",
            promised_date=date(2026, 3, 8),
            carrier="UPS",
            tracking="1Z999",
            note="Weather.",
            now=now + timedelta(days=1),
        )
        out: list[tuple[str, dict[str, Any]]] = []
        async with engine.connect() as conn:
            customer = (await get_customer(conn, "c-en")).as_context()
            events = await event_store.events_for_subject(conn, "incident", str(incident.id))
            events += await event_store.events_for_subject(conn, "order", "XM-1")
            for event in events:
                update_id = event.payload.get("update_id")
                subject = await load_subject(
                    conn,
                    event.subject_type,
                    event.subject_id,
                    update_id=int(update_id) if update_id is not None else None,
                )
                context = base_context(subject, event.as_context(), h.app.settings, h.clock)
                context["customer"] = customer
                kind = event.kind.replace(".", "_")
                out.append((kind, context))
        return out


async def test_every_stage_sample_has_the_real_types(tmp_path: Path) -> None:
    contexts = await _contexts(tmp_path)
    assert {kind for kind, _ in contexts} >= {
        "incident_declared",
        "incident_updated",
        "incident_resolved",
        "order_placed",
        "order_delayed",
    }
    differences: list[str] = []
    for kind, real in contexts:
        for sparse in (False, True):
            sample = sample_context("en", message=kind, sparse=sparse)
            for name in ("customer", "incident", "update", "event", "order", "company", "now"):
                differences += _differences(real[name], sample[name], f"{kind}: {name}")
    assert not differences, "\n".join(sorted(set(differences)))


def test_real_ids_are_strings_where_the_sample_says_so() -> None:
    """The class of the defect in one line: every id of an external system is a string."""
    sample = sample_context("en", message="order_delayed")
    assert isinstance(sample["customer"]["id"], str)
    assert isinstance(sample["order"]["id"], str)
    assert isinstance(sample["order"]["customer_id"], str)
    assert isinstance(sample["now"], datetime)
