"""Reading a customer's record for the faces: the customer, their opt-outs, their replies
and their contacts with support; recording such a contact.

Thin over the store on purpose: the faces (API, console, CLI) come here rather than to
the store, so that what they may ask of the database is listed in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import Customer
from notifier.errors import NotFound
from notifier.store import customers as customer_store
from notifier.store.contacts import contacts_of, insert_contact
from notifier.store.customers import get_customer, search_customers
from notifier.store.inbound import inbound_of
from notifier.store.preferences import opt_out_choices


async def customer(engine: AsyncEngine, customer_id: str) -> Customer:
    """The customer, or NotFound."""
    async with engine.connect() as conn:
        return await get_customer(conn, customer_id)


async def exists(engine: AsyncEngine, customer_id: str) -> bool:
    try:
        await customer(engine, customer_id)
    except NotFound:
        return False
    return True


async def with_opt_outs(
    engine: AsyncEngine, customer_id: str
) -> tuple[Customer, set[tuple[str, str]]]:
    """The customer and every (channel, category) they declined ("*": all), read together."""
    async with engine.connect() as conn:
        found = await get_customer(conn, customer_id)
        return found, await opt_out_choices(conn, customer_id)


async def opt_outs(engine: AsyncEngine, customer_id: str) -> set[tuple[str, str]]:
    """Every (channel, category) the customer declined; NotFound for an unknown id."""
    async with engine.connect() as conn:
        return await opt_out_choices(conn, customer_id)


async def search(engine: AsyncEngine, text: str, limit: int) -> list[Customer]:
    """Customers whose id, name, email or phone contains `text`, by id; blank lists."""
    async with engine.connect() as conn:
        return await search_customers(conn, text, limit)


async def known_services(engine: AsyncEngine, limit: int = 500) -> list[str]:
    """The services customers depend on, in order (what an incident may affect)."""
    async with engine.connect() as conn:
        return await customer_store.known_services(conn, limit)


async def replies_and_contacts(
    engine: AsyncEngine, customer_id: str
) -> tuple[list[Any], list[Any]]:
    """The customer's inbound replies and their contacts with support, oldest first."""
    async with engine.connect() as conn:
        return await inbound_of(conn, customer_id), await contacts_of(conn, customer_id)


async def record_contact(
    engine: AsyncEngine,
    *,
    customer_id: str,
    channel: str,
    at: datetime,
    subject: str | None,
    source: str,
    now: datetime,
) -> dict[str, Any]:
    """Note that a customer contacted support; NotFound for an unknown customer."""
    async with engine.begin() as conn:
        await get_customer(conn, customer_id)
        return await insert_contact(
            conn,
            customer_id=customer_id,
            channel=channel,
            at=at,
            subject=subject,
            source=source,
            now=now,
        )
