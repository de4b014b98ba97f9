"""The names a template can use, and sample values for lint and previews.

The engine passes plain dicts; datetimes are aware UTC datetimes:

    customer  id, name, email, phone, locale, timezone
    incident  id, title, severity (minor|major|critical), status, affects (service keys),
              eta, workaround, cause, message (the latest public message), declared_at,
              updated_at, resolved_at, next_update_by (when the next update was promised),
              is_open; eta, workaround, cause, message, resolved_at and next_update_by
              may be None. message, workaround and cause are in the customer's locale when
              the operator wrote one for it, else in the default locale: text_locale says
              which ({"message": "fr", "workaround": "en", "cause": None}); translations
              holds them all ({field: {locale: text}}, the default locale apart)
    update    the latest update: id, status, message, eta, workaround, cause, created_at,
              text_locale, translations (as for incident; None before any update)
    event     id, kind ("incident.declared", ...), from_status, to_status, occurred_at,
              payload (dict, from JSON: times are ISO strings):
                incident.declared   update_id, eta
                incident.updated    update_id, eta, previous_eta, eta_changed, eta_slipped,
                                    workaround_changed
                incident.eta_near, incident.eta_passed, incident.update_overdue
                                    deadline (when it came due), schedule_id
                followup            rule (its name), n (1 for the first time), due_at
                order.<status>      promised_date and previous_promised_date (ISO dates:
                                    the order's promise after and before the event; equal
                                    when it kept its date; previous is None for a new
                                    order), carrier, tracking (the order's), note (the
                                    event's)
              from_status and to_status are None for deadlines and follow-ups, and
              from_status for the first event of an order
    company   name, support_url
    messages  the `digest` template only: the messages it carries, most important first
              (outages, the most severe first): subject (None for SMS), text, html, about
              ("incident" | "order")
    now       datetime
    told      for operations alerts only (else None): what the same event's customer
              messages became, {"now" | "held" | "not_sent": {channel: count}}; "held" is
              quiet hours or the grouping window, "not_sent" opted out, no address, failed
    order     id, status (placed|confirmed|shipped|out_for_delivery|delivered|delayed|
              exception|cancelled|returned), promised_date (date), promised_by (when the
              promised day ends in the customer's zone), carrier, tracking, customer_id,
              is_open (not delivered, cancelled or returned); promised_date, promised_by,
              carrier and tracking may be None
              For a message about an order, `incident` and `update` are None.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from notifier.domain.incidents import FREE_TEXT
from notifier.domain.orders import OrderStatus, promised_by

PROVIDED_NAMES: frozenset[str] = frozenset(
    {"customer", "incident", "update", "event", "company", "now", "order", "messages", "told"}
)

_DIGEST_SAMPLE = [
    {
        "subject": "Order XM-88412 is delayed",
        "text": "Your order XM-88412 will arrive on 4 March instead of 2 March.",
        "html": "<p>Your order XM-88412 will arrive on 4 March instead of 2 March.</p>",
        "about": "order",
    },
    {
        "subject": "Order XM-88413 is delayed",
        "text": "Your order XM-88413 will arrive on 5 March instead of 2 March.",
        "html": "<p>Your order XM-88413 will arrive on 5 March instead of 2 March.</p>",
        "about": "order",
    },
]

_TOLD_SAMPLE = {
    "now": {"email": 1180, "sms": 412},
    "held": {"email": 0, "sms": 655},
    "not_sent": {"email": 3, "sms": 121},
}

_DECLARED = datetime(2026, 2, 28, 21, 40, tzinfo=UTC)
_UPDATED = datetime(2026, 2, 28, 23, 50, tzinfo=UTC)
_FIRST_ETA = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ETA = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
_RESOLVED = datetime(2026, 3, 1, 17, 10, tzinfo=UTC)
_NEXT_UPDATE = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
_EVERY = timedelta(hours=4)  # the shipped still-working follow-up
# An order whose delivery slipped from 4 to 6 March; the sample event is on the 3rd, or the
# 7th for "late" (the promise broken).
_FIRST_PROMISE = date(2026, 3, 4)
_PROMISE = date(2026, 3, 6)
_ORDER_EVENT = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
_ORDER_LATE = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)

_TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "customer": ("Jordan Lee", "jordan.lee@example.com", "+12025550143", "America/New_York"),
        "title": "No XM satellite signal in the Northeast",
        "workaround": "Listen to your channels in the XM app.",
        "cause": "A storm cut power to our ground uplink station in New Jersey.",
        "message": "We found the fault: a storm cut power to our uplink station. Engineers are "
        "moving the signal to the backup station.",
        "tip": "Radio still silent? Park outside for 2 minutes.",
        "first_message": "Your radio is not broken: the fault is on our side.",
        "carrier": "UPS",
        "note": "The parcel was damaged in transit; we are sending a new one.",
    },
    "fr": {
        "customer": ("Camille Martin", "camille.martin@example.fr", "+33639980012", "Europe/Paris"),
        "title": "Plus de signal XM dans le nord-est",
        "workaround": "Écoutez vos chaînes sur l'appli XM.",
        "cause": "Une tempête a coupé le courant de notre station d'émission au sol.",
        "message": "Nous avons trouvé la panne : une tempête a coupé le courant de notre station "
        "d'émission. Nos techniciens basculent le signal sur la station de secours.",
        "tip": "Radio muette ? Garez-vous dehors 2 minutes.",
        "first_message": "Votre radio n'est pas en panne : le problème vient de chez nous.",
        "carrier": "Colissimo",
        "note": "Le colis a été abîmé pendant le transport ; nous en envoyons un autre.",
    },
}


def _iso(value: datetime | None) -> str | None:
    # Event payloads are stored as JSON: their times arrive as ISO strings.
    return value.isoformat() if value is not None else None


def sample_context(
    locale: str = "en", *, message: str | None = None, sparse: bool = False
) -> dict[str, Any]:
    """Realistic values for one customer of the XM outage, in the language of `locale`.

    `message` picks the stage of the incident: a name ending in `_declared` gets a new
    incident with no update yet, `_resolved` a resolved one, anything else an open incident
    whose ETA has just slipped, with an event payload that also holds the keys of deadline
    and follow-up events (any of them may wake a message about an open incident).
    `sparse=True` empties every optional field (ETA, workaround, cause, messages, previous
    ETA, next update promise), as in the first minutes of an incident: lint renders both so
    that a missing `{% if %}` guard shows up.

    A name starting with `order_` gets an order event instead (`order_delayed`:
    "order.delayed"), with no incident; `sparse` then empties the promise, carrier,
    tracking and note.
    """
    texts = _TEXTS.get(locale.replace("-", "_").split("_")[0], _TEXTS["en"])
    if message is not None and message.startswith("order_"):
        return _order_context(texts, locale, message.removeprefix("order_"), sparse=sparse)
    stage = (message or "").rpartition("_")[2]
    if stage not in ("declared", "resolved"):
        stage = "updated"
    declared, resolved = stage == "declared", stage == "resolved"
    full = not sparse
    eta = (_FIRST_ETA if declared else _ETA) if full else None
    at = {"declared": _DECLARED, "updated": _UPDATED, "resolved": _RESOLVED}[stage]
    status = {"declared": "declared", "updated": "identified", "resolved": "resolved"}[stage]
    said = texts[{"declared": "first_message", "resolved": "tip"}.get(stage, "message")]
    said = said if full else None
    incident = {
        "id": 317,
        "title": texts["title"],
        "severity": "major",
        "status": status,
        "affects": ["satellite-radio", "home-receivers"],  # service keys, not display text
        "eta": eta,
        "workaround": texts["workaround"] if full else None,
        "cause": texts["cause"] if full and not declared else None,
        "message": said,
        "declared_at": _DECLARED,
        "updated_at": at,
        "resolved_at": _RESOLVED if resolved else None,
        "next_update_by": _NEXT_UPDATE if full and not resolved else None,
        "is_open": not resolved,
    }
    incident |= _free_text_locales(incident, locale)
    update = {
        "id": 2,
        "status": status,
        "message": said,
        "eta": None if resolved else eta,
        "workaround": None if resolved else incident["workaround"],
        "cause": incident["cause"] if resolved else None,
        "created_at": at,
    }
    update |= _free_text_locales(update, locale)
    # The keys services.incidents puts in each event's payload.
    payload: dict[str, Any] = {"update_id": 2}
    if declared:
        payload["eta"] = _iso(eta)
    elif not resolved:
        payload |= {
            "eta": _iso(eta),
            "previous_eta": _iso(_FIRST_ETA) if full else None,
            "eta_changed": full,
            "eta_slipped": full,
            "workaround_changed": False,
        }
        # An open incident's message may also be sent on a deadline (engine.deadlines) or as
        # a follow-up (engine.followups): their keys too, so templates and rules may read
        # them. They are never None in a real payload, so not in the sparse sample either.
        payload |= {
            "deadline": _iso(_ETA),
            "schedule_id": 41,
            "rule": "still-working",
            "n": 1,
            "due_at": _iso(_DECLARED + _EVERY),
        }
        # Rule conditions are checked against this sample whatever event they listen to
        # (engine.conditions), so it carries the keys of order events too.
        payload |= _order_payload(texts, full=full)
    return {
        "customer": _customer(texts, locale),
        "incident": incident,
        "update": None if declared else update,
        "event": {
            "id": 88,
            "kind": f"incident.{stage}",
            "from_status": None if declared else "investigating",
            "to_status": status,
            "occurred_at": at,
            "payload": payload,
        },
        "company": {"name": "XM Radio", "support_url": "https://help.example.com/xm"},
        "now": at,
        # Only the `digest` template gets these: the messages it carries together.
        "messages": _DIGEST_SAMPLE,
        "order": _order(texts, "delayed", full=True),
        "told": None if sparse else _TOLD_SAMPLE,
    }


def _free_text_locales(subject: dict[str, Any], locale: str) -> dict[str, Any]:
    """The sample's free text is written in the customer's language (engine.localized)."""
    return {
        "translations": {},
        "text_locale": {f: locale if subject[f] else None for f in FREE_TEXT},
    }


def _customer(texts: dict[str, Any], locale: str) -> dict[str, Any]:
    name, email, phone, timezone = texts["customer"]
    return {
        "id": "1042",  # customer ids are strings (external ids), as in Customer.as_context()
        "name": name,
        "email": email,
        "phone": phone,
        "locale": locale,
        "timezone": timezone,
    }


def _order(texts: dict[str, Any], status: str, *, full: bool) -> dict[str, Any]:
    """The `order` variable: the shape of domain.orders.Order.as_context()."""
    promised = _PROMISE if full else None
    return {
        "id": "XM-88412",
        "status": status,
        "promised_date": promised,
        "promised_by": promised_by(promised, texts["customer"][3]),
        "carrier": texts["carrier"] if full else None,
        "tracking": "1Z999AA10123456784" if full else None,
        "customer_id": "1042",
        "is_open": status not in ("delivered", "cancelled", "returned"),
    }


def _order_payload(texts: dict[str, Any], *, full: bool) -> dict[str, Any]:
    """The keys services.orders puts in every `order.<status>` event."""
    return {
        "promised_date": _PROMISE.isoformat() if full else None,
        "previous_promised_date": _FIRST_PROMISE.isoformat() if full else None,
        "carrier": texts["carrier"] if full else None,
        "tracking": "1Z999AA10123456784" if full else None,
        "note": texts["note"] if full else None,
    }


def _order_context(
    texts: dict[str, Any], locale: str, stage: str, *, sparse: bool
) -> dict[str, Any]:
    """A message about an order: `stage` is a status (the event `order.<status>`) or a
    watchdog event (at_risk, late), which carries the deadline that came due instead."""
    known = {s.value for s in OrderStatus}
    status = stage if stage in known else "shipped"
    order = _order(texts, status, full=not sparse)
    at = _ORDER_LATE if stage == "late" else _ORDER_EVENT
    if stage in known:
        payload = _order_payload(texts, full=not sparse)
        before = None if stage == "placed" else "confirmed" if stage == "shipped" else "shipped"
    else:
        payload = {"deadline": _iso(order["promised_by"] or at), "schedule_id": 57}
        before = None
    return {
        "customer": _customer(texts, locale),
        "incident": None,
        "update": None,
        "event": {
            "id": 91,
            "kind": f"order.{stage}",
            "from_status": before,
            "to_status": status if stage in known else None,
            "occurred_at": at,
            "payload": payload,
        },
        "company": {"name": "XM Radio", "support_url": "https://help.example.com/xm"},
        "now": at,
        "messages": _DIGEST_SAMPLE,
        "order": order,
        "told": None,
    }
