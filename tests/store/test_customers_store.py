"""The customer store contract, on SQLite and PostgreSQL (fixture `engine`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.domain.customers import Customer
from notifier.domain.messages import ChannelName
from notifier.errors import NotFound
from notifier.store.customers import (
    CHUNK,
    UpsertCounts,
    affected_page,
    clear_opt_out,
    count_affected,
    get_customer,
    search_customers,
    set_opt_out,
    stream_affected,
    upsert_customers,
)
from notifier.store.tables import customer_services, customers, opt_outs

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
SMS, EMAIL = ChannelName.SMS, ChannelName.EMAIL


def make(ident: str, *services: str, opt_outs: frozenset[str] = frozenset(), **kw: str) -> Customer:
    fields = {
        "name": f"Customer {ident}",
        "email": f"{ident}@example.com",
        "phone": "+12015550123",
        "locale": "en",
        "timezone": "America/New_York",
    } | kw
    return Customer(id=ident, services=frozenset(services), opt_outs=opt_outs, **fields)


async def count_rows(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_reimport_updates_instead_of_duplicating(engine: AsyncEngine) -> None:
    first = [make("c1", "radio"), make("c2", "radio", "web"), make("c3", "billing")]
    async with engine.begin() as conn:
        assert await upsert_customers(conn, first, NOW) == UpsertCounts(created=3)
    async with engine.begin() as conn:
        assert await upsert_customers(conn, first, LATER) == UpsertCounts(unchanged=3)

    second = [make("c1", "radio"), make("c2", "radio", "web", name="Renamed"), make("c3", "web")]
    async with engine.begin() as conn:
        assert await upsert_customers(conn, second, LATER) == UpsertCounts(updated=2, unchanged=1)
        assert await get_customer(conn, "c2") == second[1]
        assert (await get_customer(conn, "c3")).services == {"web"}  # replaced, not merged
        times = (
            await conn.execute(
                select(customers.c.id, customers.c.created_at, customers.c.updated_at).order_by(
                    customers.c.id
                )
            )
        ).all()
    assert [tuple(t) for t in times] == [("c1", NOW, NOW), ("c2", NOW, LATER), ("c3", NOW, LATER)]
    assert await count_rows(engine, customers) == 3
    assert await count_rows(engine, customer_services) == 4


async def test_upsert_more_than_one_chunk(engine: AsyncEngine) -> None:
    many = [make(f"c{i:05d}", "radio", "web" if i % 2 else "tv") for i in range(CHUNK * 2 + 7)]
    async with engine.begin() as conn:
        assert await upsert_customers(conn, many, NOW) == UpsertCounts(created=len(many))
    async with engine.begin() as conn:
        counts = await upsert_customers(conn, [*many[:-1], make(many[-1].id, "tv")], LATER)
        assert counts == UpsertCounts(updated=1, unchanged=len(many) - 1)
        assert await count_affected(conn, ["radio"]) == len(many) - 1
        assert await count_affected(conn, ["tv", "web"]) == len(many)


async def test_same_id_twice_in_one_call_is_refused(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="same customer id twice"):
            await upsert_customers(conn, [make("c1"), make("c1")], NOW)


async def test_an_import_lifts_only_its_own_opt_outs(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await upsert_customers(conn, [make("c1", "radio", opt_outs=frozenset({"sms"}))], NOW)
        assert (await get_customer(conn, "c1")).opt_outs == {"sms"}
        await set_opt_out(conn, "c1", EMAIL, "unsubscribe link", NOW)

        # The file no longer lists sms: the import-made opt-out goes, the customer's stays.
        assert await upsert_customers(conn, [make("c1", "radio")], LATER) == UpsertCounts(updated=1)
        assert (await get_customer(conn, "c1")).opt_outs == {"email"}

        # A row that says nothing about opt-outs changes none.
        await upsert_customers(conn, [make("c1", "radio", opt_outs=frozenset({"sms"}))], NOW)
        counts = await upsert_customers(conn, [make("c1", "radio")], LATER, sync_opt_outs=False)
        assert counts == UpsertCounts(unchanged=1)

        # A STOP after the import makes the sms opt-out the customer's own.
        await set_opt_out(conn, "c1", SMS, "STOP keyword", LATER)
        await upsert_customers(conn, [make("c1", "radio")], LATER)
        customer = await get_customer(conn, "c1")
    assert customer.opt_outs == {"sms", "email"}
    assert customer.can_receive(SMS, "phone") == (False, "opted out of sms")
    assert await count_rows(engine, opt_outs) == 2


async def test_set_and_clear_opt_out(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await upsert_customers(conn, [make("c1", "radio")], NOW)
        await set_opt_out(conn, "c1", SMS, "STOP keyword", NOW)
        await set_opt_out(conn, "c1", SMS, "STOP keyword", LATER)  # twice is fine
        await set_opt_out(conn, "c1", EMAIL, "unsubscribe link", NOW, category="maintenance")
        assert (await get_customer(conn, "c1")).opt_outs == {"sms"}
        assert (await get_customer(conn, "c1", category="maintenance")).opt_outs == {"sms", "email"}

        assert await clear_opt_out(conn, "c1", SMS) is True
        assert await clear_opt_out(conn, "c1", SMS) is False
        assert (await get_customer(conn, "c1")).can_receive(SMS, "phone") == (True, None)
        with pytest.raises(NotFound, match="customer 'nobody' does not exist"):
            await set_opt_out(conn, "nobody", SMS, "STOP keyword", NOW)
        with pytest.raises(NotFound):
            await clear_opt_out(conn, "nobody", SMS)


async def test_get_customer_that_does_not_exist(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        with pytest.raises(NotFound, match="customer 'x' does not exist"):
            await get_customer(conn, "x")


async def test_search(engine: AsyncEngine) -> None:
    people = [
        make("acme-1", name="Alice Martin", email="alice@example.com", phone="+12015550123"),
        make("acme-2", name="Bob Stone", email="bob@Example.fr", phone="+33612345678"),
        make("zeta_3", name="Carla 100% Gomez", email=None, phone=None),
    ]
    async with engine.begin() as conn:
        await upsert_customers(conn, people, NOW)

        async def ids(query: str, limit: int = 50) -> list[str]:
            return [c.id for c in await search_customers(conn, query, limit)]

        assert await ids("ALICE") == ["acme-1"]
        assert await ids("example.fr") == ["acme-2"]
        assert await ids("acme") == ["acme-1", "acme-2"]
        assert await ids("+1 201 555") == ["acme-1"]
        assert await ids("(612) 34-56") == ["acme-2"]
        assert await ids("100%") == ["zeta_3"]
        assert await ids("%") == ["zeta_3"]  # a literal %, not a wildcard
        assert await ids("a_3") == ["zeta_3"]
        assert await ids("nobody") == []
        assert await ids("", limit=2) == ["acme-1", "acme-2"]
        found = await search_customers(conn, "bob")
    assert found == [people[1]]


# Ten affected customers over overlapping services, two that are not, and ids whose order
# differs from the order of insertion.
AUDIENCE = [
    make("c07", "radio", "web"),
    make("c01", "radio"),
    make("c02", "web", "billing"),
    make("c03", "radio", "web", "tv", opt_outs=frozenset({"sms"})),
    make("c04", "billing"),
    make("c05", "tv"),
    make("c06", "radio", "tv", phone=None),
    make("c08", "web"),
    make("c09", "radio", "web"),
    make("c10", "tv", opt_outs=frozenset({"email", "sms"})),
    make("c11", "radio"),
    make("c12", "billing", "other"),
]


@pytest.mark.parametrize("batch_size", [1, 3, 4, 9, 1000])
async def test_stream_affected_pages(engine: AsyncEngine, batch_size: int) -> None:
    async with engine.begin() as conn:
        await upsert_customers(conn, AUDIENCE, NOW)
    async with engine.connect() as conn:
        pages = [page async for page in stream_affected(conn, ["radio", "web", "tv"], batch_size)]
        total = await count_affected(conn, ["tv", "radio", "web", "tv"])
    streamed = [c for page in pages for c in page]
    expected = sorted(
        (c for c in AUDIENCE if c.services & {"radio", "web", "tv"}), key=lambda c: c.id
    )
    assert [c.id for c in streamed] == [c.id for c in expected]  # each once, by id
    assert streamed == expected  # with all their services and their opt-outs
    assert total == len(expected) == 10
    assert [len(p) for p in pages[:-1]] == [batch_size] * (len(pages) - 1)
    assert 1 <= len(pages[-1]) <= batch_size
    by_id = {c.id: c for c in streamed}
    assert by_id["c03"].can_receive(SMS, "phone") == (False, "opted out of sms")
    assert by_id["c06"].can_receive(SMS, "phone") == (False, "no phone number")
    assert by_id["c10"].opt_outs == {"email", "sms"}


async def test_stream_affected_single_service_and_category(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await upsert_customers(conn, AUDIENCE, NOW)
        await set_opt_out(conn, "c05", SMS, "unsubscribe link", NOW, category="maintenance")
    async with engine.connect() as conn:
        plain = [c async for page in stream_affected(conn, ["tv"], 2) for c in page]
        scoped = [
            c
            async for page in stream_affected(conn, ["tv"], 2, category="maintenance")
            for c in page
        ]
        assert [page async for page in stream_affected(conn, [])] == []
        assert [page async for page in stream_affected(conn, ["nothing"])] == []
        assert await count_affected(conn, []) == 0
    assert [c.id for c in plain] == ["c03", "c05", "c06", "c10"]
    assert {c.id: c.opt_outs for c in plain}["c05"] == frozenset()
    assert {c.id: c.opt_outs for c in scoped}["c05"] == {"sms"}


async def test_affected_page_one_transaction_at_a_time(engine: AsyncEngine) -> None:
    """The fan-out reads each page in its own transaction, resuming after the last id."""
    async with engine.begin() as conn:
        await upsert_customers(conn, AUDIENCE, NOW)
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        async with engine.begin() as conn:
            page = await affected_page(conn, ["web", "radio"], after, 3)
        pages.append([c.id for c in page])
        if len(page) < 3:
            break
        after = page[-1].id
    assert pages == [["c01", "c02", "c03"], ["c06", "c07", "c08"], ["c09", "c11"]]
    async with engine.connect() as conn:
        assert await affected_page(conn, [], None, 3) == []
        with pytest.raises(ValueError, match="at least 1"):
            await affected_page(conn, ["web"], None, 0)


async def test_page_query_uses_the_service_index(engine: AsyncEngine) -> None:
    """The keyset page must be an index range scan per service, not a table scan."""
    from notifier.store.customers import _page_ids

    query = _page_ids(["radio", "web"], "c03", 3)
    async with engine.begin() as conn:
        await upsert_customers(conn, AUDIENCE, NOW)
        sql = str(query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            # A few rows make a sequential scan the cheapest; forbidding it shows whether
            # the index can serve this query shape at all (at scale it is chosen anyway).
            await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            await conn.exec_driver_sql("ANALYZE customer_services")
            plan = "\n".join(r[0] for r in await conn.exec_driver_sql(f"EXPLAIN {sql}"))
        else:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            plan = "\n".join(r[-1] for r in rows)
    assert plan.count("ix_customer_services_service_customer") == 2, plan
    assert "SCAN customer_services\n" not in plan + "\n", plan
