"""Opt-outs as customers manage them: by SMS keyword, unsubscribe link, preference page.

Writing a single opt-out lives in store.customers (`set_opt_out`, `clear_opt_out`); this
module reads and changes a customer's choices as a whole.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from notifier.domain.messages import ChannelName
from notifier.errors import NotFound
from notifier.store.tables import customers, opt_outs


async def ids_by_phone(conn: AsyncConnection, phone: str) -> list[str]:
    """Customers with this E.164 number, by id (a family may share one)."""
    query = select(customers.c.id).where(customers.c.phone == phone).order_by(customers.c.id)
    return list((await conn.execute(query)).scalars())


async def opt_out_choices(conn: AsyncConnection, customer_id: str) -> set[tuple[str, str]]:
    """Every (channel, category) the customer declined; category "*" means all."""
    found = await conn.scalar(select(customers.c.id).where(customers.c.id == customer_id))
    if found is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    query = select(opt_outs.c.channel, opt_outs.c.category).where(
        opt_outs.c.customer_id == customer_id
    )
    return {(channel, category) for channel, category in (await conn.execute(query)).all()}


async def clear_channel_opt_outs(
    conn: AsyncConnection, customer_id: str, channel: ChannelName
) -> int:
    """Lift every opt-out of `channel`, whatever its category (an SMS START)."""
    channel = ChannelName(channel)
    result = await conn.execute(
        delete(opt_outs).where(
            opt_outs.c.customer_id == customer_id, opt_outs.c.channel == channel.value
        )
    )
    return max(result.rowcount, 0)
