"""/status over HTTP: no key, banner and services from what is open, incidents with their
updates, ETA and workaround, day bars, a page per incident, English and French, ETag and
Cache-Control, and no database query per request."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event

from tests.api.conftest import ApiEnv
from tests.statuspage.conftest import until


async def _declare(env: ApiEnv, **fields: object) -> dict[str, object]:
    body = {"title": "Satellite radio signal outage", "severity": "critical"} | fields
    body.setdefault("affects", ["satellite-radio"])
    async with await env.client("ops") as ops:
        response = await ops.post("/api/incidents", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


async def test_the_page_needs_no_key_and_follows_an_incident(status_env: ApiEnv) -> None:
    env = status_env
    async with await env.client(None) as public:
        page = await public.get("/status")
        assert page.status_code == 200
        assert "All systems operational" in page.text
        assert page.text.count('data-status="operational"') == 3
        # 90 day bars per service, each with a text for screen readers.
        assert page.text.count('class="bar st-') == 3 * 90

        eta = (env.clock.now() + timedelta(hours=18)).isoformat()
        await _declare(env, eta=eta, workaround="Stream online", message="We are on it.")
        page = await until(
            lambda: public.get("/status"), lambda r: "Major outage" in r.text, "the banner"
        )
        assert 'id="banner" class="banner ind-critical"' in page.text
        radio = page.text.split('data-service="satellite-radio"')[1].split("</li>\n")[0]
        assert 'data-status="major_outage"' in radio
        assert 'data-status="operational"' in page.text.split('data-service="streaming"')[1]
        assert "Satellite radio signal outage" in page.text
        assert "We are on it." in page.text and "Stream online" in page.text
        assert "Expected back" in page.text and '<time datetime="' in page.text
        bars = re.findall(r'class="bar (st-[a-z_]+)"', radio)
        assert len(bars) == 90 and bars[-1] == "st-major_outage" and bars[0] == "st-operational"

        async with await env.client("ops") as ops:
            await ops.post("/api/incidents/1/resolve", json={"cause": "A bad update"})
        page = await until(
            lambda: public.get("/status"),
            lambda r: "All systems operational" in r.text,
            "the banner after the resolution",
        )
        assert "Past incidents" in page.text and "/status/incidents/1" in page.text
        one = await public.get("/status/incidents/1")
        assert one.status_code == 200
        assert "A bad update" in one.text and "We are on it." in one.text
        assert (await public.get("/status/incidents/99")).status_code == 404


async def test_french_from_accept_language_or_lang(status_env: ApiEnv) -> None:
    await _declare(status_env, severity="minor", message="Lent")
    async with await status_env.client(None) as public:
        page = await until(
            lambda: public.get("/status", headers={"Accept-Language": "de-DE, fr;q=0.9, en;q=0.5"}),
            lambda r: "Certains services sont ralentis" in r.text,
            "the French banner",
        )
        assert '<html lang="fr">' in page.text and "Performances dégradées" in page.text
        english = await public.get(
            "/status", headers={"Accept-Language": "fr"}, params={"lang": "en"}
        )
        assert "Some services are degraded" in english.text
        assert (await public.get("/status", headers={"Accept-Language": "es"})).text.count(
            '<html lang="en">'
        ) == 1


async def test_the_operators_text_in_the_readers_language(status_env: ApiEnv) -> None:
    """Every free text the page shows (an update's message, the workaround, the cause) in
    French where the operator gave it, else in English marked as such; the English page
    shows the English text. On the page while it is open, and on its own page after."""
    made = await _declare(
        status_env,
        message={"en": "Our satellites are down.", "fr": "Nos satellites sont en panne."},
        workaround={"en": "Listen online.", "fr": "Écoutez en ligne."},
    )
    async with await status_env.client("ops") as ops:
        later = await ops.post(
            f"/api/incidents/{made['id']}/updates", json={"message": "Parts are on their way."}
        )
        assert later.status_code == 200, later.text
    french_texts = ["Nos satellites sont en panne.", "Écoutez en ligne."]
    english_texts = ["Our satellites are down.", "Listen online."]
    async with await status_env.client(None) as public:
        for path in ("/status", f"/status/incidents/{made['id']}"):
            await _speaks_each(public, path, french_texts, english_texts, "Parts are on")
        async with await status_env.client("ops") as ops:
            resolved = await ops.post(
                f"/api/incidents/{made['id']}/resolve",
                json={"cause": {"en": "A failed antenna.", "fr": "Une antenne en panne."}},
            )
            assert resolved.status_code == 200, resolved.text
        await _speaks_each(
            public,
            f"/status/incidents/{made['id']}",
            [*french_texts, "Une antenne en panne."],
            [*english_texts, "A failed antenna."],
            "Parts are on",
        )


async def _speaks_each(
    public: httpx.AsyncClient, path: str, french: list[str], english: list[str], untranslated: str
) -> None:
    page = await until(
        lambda: public.get(path, headers={"Accept-Language": "fr"}),
        lambda r: french[-1] in r.text,
        f"{path} in French",
    )
    for text in french:
        assert text in page.text, (path, text)
    for text in english:
        assert text not in page.text, (path, text)
    # No French for this update: the English text, marked as English.
    assert f'<span lang="en">{untranslated}' in page.text, path
    page = await public.get(path, headers={"Accept-Language": "en"})
    for text in english:
        assert text in page.text, (path, text)
    for text in french:
        assert text not in page.text, (path, text)
    assert f'lang="en">{untranslated}' not in page.text and untranslated in page.text


async def test_etag_and_cache_control(status_env: ApiEnv) -> None:
    async with await status_env.client(None) as public:
        first = await public.get("/status")
        etag = first.headers["etag"]
        assert "max-age=" in first.headers["cache-control"]
        assert "Accept-Language" in first.headers["vary"]
        again = await public.get("/status", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        french = await public.get("/status", headers={"Accept-Language": "fr"})
        assert french.headers["etag"] != etag
        await _declare(status_env)
        changed = await until(
            lambda: public.get("/status", headers={"If-None-Match": etag}),
            lambda r: r.status_code == 200,
            "a new ETag after a change",
        )
        assert changed.headers["etag"] != etag


async def test_no_database_query_per_request(status_env: ApiEnv) -> None:
    env = status_env
    env.api.state.status_cache.interval = 3600  # only the first request may read
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    async with await env.client(None) as public:
        await public.get("/status")
        event.listen(env.app.engine.sync_engine, "before_cursor_execute", record)
        try:
            for path in ("/status", "/status?lang=fr", "/status/incidents/5") * 30:
                assert (await public.get(path)).status_code in (200, 404)
        finally:
            event.remove(env.app.engine.sync_engine, "before_cursor_execute", record)
    assert statements == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/status?lang=" + "x" * 20, "lang"),
        ("/status/incidents/abc", "incident_id"),
        ("/status/incidents/0", "incident_id"),
    ],
)
async def test_bad_input_is_422_naming_it(status_env: ApiEnv, path: str, field: str) -> None:
    async with await status_env.client(None) as public:
        response = await public.get(path)
    assert response.status_code == 422 and field in response.text
