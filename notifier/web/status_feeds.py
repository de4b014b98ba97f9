"""Atom and RSS feeds of the status page's incidents and planned maintenance: one entry
per incident or maintenance, its updates in the entry's content (newest first), so a
reader sees an entry change as it unfolds.

Built with ElementTree, which escapes every text: titles and messages are people's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import escape

from notifier.runtime.status_cache import StatusCacheDep
from notifier.services.status_page import PublicIncident, PublicMaintenance, StatusSnapshot
from notifier.web.status_api import INCIDENT_STATUS
from notifier.web.status_published import publish

router = APIRouter(prefix="/status", include_in_schema=False)
ATOM = "http://www.w3.org/2005/Atom"
ENTRIES = 50


@dataclass(frozen=True, slots=True)
class Entry:
    link: str
    title: str
    published: datetime
    updated: datetime
    html: str


def _entries(snap: StatusSnapshot, base: str) -> list[Entry]:
    entries = [
        Entry(
            f"{base}/status/incidents/{p.incident.id}",
            p.incident.title,
            p.incident.declared_at,
            p.incident.updated_at,
            _summary_html(p),
        )
        for p in snap.by_id.values()
    ]
    entries += [
        Entry(
            f"{base}/status#maintenance-{m.maintenance.id}",
            m.maintenance.title,
            m.maintenance.created_at,
            m.maintenance.updated_at,
            _maintenance_html(m),
        )
        for m in snap.maintenances
    ]
    return sorted(entries, key=lambda e: e.updated, reverse=True)[:ENTRIES]


def _maintenance_html(pm: PublicMaintenance) -> str:
    m = pm.maintenance
    window = (
        f"<p>{escape(m.starts_at.isoformat())} to {escape(m.ends_at.isoformat())}: "
        f"{escape(', '.join(m.affects))}</p>"
    )
    items = [
        f"<p><strong>{escape(u.status.value)}</strong> "
        f"({escape(u.created_at.isoformat())}): {escape(u.message or '')}</p>"
        for u in reversed(pm.updates)
    ]
    return window + "".join(items)


def _summary_html(p: PublicIncident) -> str:
    """The updates as a small HTML list (escaped here, then escaped again as XML text)."""
    items = []
    for u in reversed(p.updates):
        words = u.message or (f"Cause: {u.cause}" if u.cause else "")
        items.append(
            f"<p><strong>{escape(INCIDENT_STATUS[u.status])}</strong> "
            f"({escape(u.created_at.isoformat())}): {escape(words)}</p>"
        )
    return "".join(items)


def atom(snap: StatusSnapshot, base: str) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base}/status"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = f"{snap.company} status"
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = snap.updated_at.isoformat()
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{base}/status", rel="alternate")
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{base}/status/feed.atom", rel="self")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = snap.company
    for e in _entries(snap, base):
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = e.link
        ET.SubElement(entry, f"{{{ATOM}}}title").text = e.title
        ET.SubElement(entry, f"{{{ATOM}}}published").text = e.published.isoformat()
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = e.updated.isoformat()
        ET.SubElement(entry, f"{{{ATOM}}}link", href=e.link, rel="alternate")
        ET.SubElement(entry, f"{{{ATOM}}}content", type="html").text = e.html
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def rss(snap: StatusSnapshot, base: str) -> bytes:
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = f"{snap.company} status"
    ET.SubElement(channel, "link").text = f"{base}/status"
    ET.SubElement(channel, "description").text = f"Incidents of {snap.company}"
    ET.SubElement(channel, "lastBuildDate").text = format_datetime(snap.updated_at)
    for e in _entries(snap, base):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = e.title
        ET.SubElement(item, "link").text = e.link
        # The guid changes with each update, so readers show the entry again.
        guid = ET.SubElement(item, "guid", isPermaLink="false")
        guid.text = f"{e.link}@{e.updated.isoformat()}"
        ET.SubElement(item, "pubDate").text = format_datetime(e.updated)
        ET.SubElement(item, "description").text = e.html
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


ATOM_FEED = publish(
    "/status/feed.atom",
    "application/atom+xml",
    lambda snap, reader: atom(snap, reader.base).decode(),
    varies="base",
)
RSS_FEED = publish(
    "/status/feed.rss",
    "application/rss+xml",
    lambda snap, reader: rss(snap, reader.base).decode(),
    varies="base",
)


@router.get("/feed.atom")
async def atom_feed(request: Request, cache: StatusCacheDep) -> Response:
    return ATOM_FEED.respond(request, await cache.current())


@router.get("/feed.rss")
async def rss_feed(request: Request, cache: StatusCacheDep) -> Response:
    return RSS_FEED.respond(request, await cache.current())
