"""Bodies too large, a missing Content-Type, framing and caching headers, sessions that end
at sign-out, Secure cookies, and the limits on incident input on every way in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from notifier.cli.main import main as cli_main
from notifier.domain.messages import ChannelName
from notifier.services import incidents
from notifier.services.unsubscribe import make_token
from tests.api.conftest import BASE, SECRET, ApiEnv, api_environment

_CSRF = re.compile(r'"X-CSRF-Token": "([^"]+)"')
INCIDENT = {"title": "Down", "severity": "major", "affects": ["satellite-radio"]}


@asynccontextmanager
async def _console(env: ApiEnv, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in to the console with a key of `role`, and its CSRF token."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(env.api), base_url=BASE) as c:
        signed = await c.post("/console/login", data={"key": await env.key(role)})
        assert signed.status_code == 303, signed.text
        page = await c.get("/console/incidents")
        found = _CSRF.search(page.text)
        assert found, page.text[:300]
        yield c, found.group(1)


# -- bodies ---------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_by_its_content_length(sqlite_env: ApiEnv) -> None:
    limit = sqlite_env.app.settings.api.max_body_bytes
    async with await sqlite_env.client("ops") as c:
        body = b'{"title": "' + b"x" * limit + b'"}'
        response = await c.post(
            "/api/incidents", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    detail = response.json()["detail"]
    assert "request body too large" in detail and f"{limit:,} bytes" in detail


async def test_a_streamed_body_is_refused_before_it_is_read_whole(sqlite_env: ApiEnv) -> None:
    limit = sqlite_env.app.settings.api.max_body_bytes
    chunk = b"x" * 65_536
    chunks = 4 * limit // len(chunk)
    sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(chunks):
            sent += 1
            yield chunk

    async with await sqlite_env.client("ops") as c:
        response = await c.post(
            "/api/incidents", content=stream(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413, response.text
    assert "request body too large" in response.json()["detail"]
    assert sent < chunks  # the rest was never asked for


async def test_the_customer_import_has_its_larger_limit(sqlite_env: ApiEnv) -> None:
    settings = sqlite_env.app.settings.api
    assert settings.max_import_bytes > settings.max_body_bytes
    rows = [{"id": f"c{i}", "name": "x" * 200, "services": ["tv"]} for i in range(6000)]
    async with await sqlite_env.client("support") as c:
        response = await c.post("/api/customers/import", json={"customers": rows})
    assert response.status_code == 200, response.text[:300]


async def test_a_console_form_over_the_limit_is_refused_with_a_page(sqlite_env: ApiEnv) -> None:
    async with _console(sqlite_env, "ops") as (client, csrf):
        form = {"csrf": csrf, "title": "x", "message": "m" * 2_000_000}
        response = await client.post("/console/incidents/new", data=form)
    assert response.status_code == 413
    assert "request body too large" in response.text


async def test_a_body_without_content_type_is_told_so(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("ops") as c:
        for path in ("/api/incidents", "/api/customers", "/api/contacts"):
            response = await c.post(path, content=b'{"title": "x"}')
            assert response.status_code == 415, (path, response.text)
            assert "Content-Type" in response.json()["detail"]


# -- headers --------------------------------------------------------------------------


async def test_every_kind_of_page_refuses_framing_and_caching(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    token = make_token(SECRET, "c-en", "incidents", ChannelName.EMAIL)
    viewer = await sqlite_env.client("viewer")
    async with _console(sqlite_env, "viewer") as (client, _), viewer as api:
        answers = {
            "console page": await client.get("/console/incidents"),
            "console customer": await client.get("/console/customers/c-en"),
            "console login": await client.get("/console/login"),
            "api": await api.get("/api/customers/c-en"),
            "unsubscribe page": await api.get(f"/u/{token}"),
            "preferences page": await api.get(f"/u/{token}/preferences"),
            "error": await api.get("/api/nothing-here"),
        }
    for name, response in answers.items():
        assert response.headers["x-frame-options"] == "DENY", name
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], name
        assert response.headers["referrer-policy"] == "same-origin", name
        assert response.headers["cache-control"] == "no-store", name


# -- sessions -------------------------------------------------------------------------


async def test_a_cookie_saved_before_sign_out_no_longer_works(sqlite_env: ApiEnv) -> None:
    async with _console(sqlite_env, "ops") as (client, csrf):
        saved = dict(client.cookies)
        out = await client.post("/console/logout", data={"csrf": csrf})
        assert out.status_code == 303
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sqlite_env.api), base_url=BASE, cookies=saved
    ) as replay:
        page = await replay.get("/console/incidents")
        assert page.status_code == 303 and page.headers["location"] == "/console/login"
        declared = await replay.post(
            "/console/incidents/new",
            data={"csrf": csrf, "title": "x", "affects": "satellite-radio", "action": "confirm"},
        )
    assert declared.status_code == 303 and declared.headers["location"] == "/console/login"
    assert await incidents.list_all(sqlite_env.app.engine) == []


async def test_the_session_cookie_is_secure_when_the_public_address_is_https(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'secure.db'}"
    async with api_environment(url, public_base_url="https://notify.example.com") as env:
        # Behind a proxy that ends TLS, the request itself arrives over plain HTTP.
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(env.api), base_url="http://127.0.0.1"
        )
        async with client:
            signed = await client.post("/console/login", data={"key": await env.key("ops")})
        assert "secure" in signed.headers["set-cookie"].lower()
    async with api_environment(url, public_base_url="http://127.0.0.1:8000") as env:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(env.api), base_url="http://127.0.0.1"
        )
        async with client:
            signed = await client.post("/console/login", data={"key": await env.key("ops")})
        assert "secure" not in signed.headers["set-cookie"].lower()


# -- incident input, the same on every way in -----------------------------------------


async def test_an_eta_beyond_2200_is_refused_by_api_console_and_service(
    sqlite_env: ApiEnv,
) -> None:
    async with await sqlite_env.client("ops") as c:
        api = await c.post("/api/incidents", json={**INCIDENT, "eta": "9999-12-31T00:00:00Z"})
    assert api.status_code == 422 and "eta" in api.text
    async with _console(sqlite_env, "ops") as (client, csrf):
        form = {"csrf": csrf, "title": "Down", "affects": "satellite-radio"}
        for action in ("preview", "confirm"):
            page = await client.post(
                "/console/incidents/new", data={**form, "eta": "9999-12-31T00:00", "action": action}
            )
            assert page.status_code == 422, page.text[:300]
            assert "between 1970 and 2200" in page.text
    assert await incidents.list_all(sqlite_env.app.engine) == []


async def test_twenty_thousand_services_are_refused_clearly_in_the_console(
    sqlite_env: ApiEnv,
) -> None:
    services = " ".join(f"svc-{i}" for i in range(20_000))
    async with _console(sqlite_env, "ops") as (client, csrf):
        page = await client.post(
            "/console/incidents/new",
            data={"csrf": csrf, "title": "Down", "affects": services, "action": "preview"},
        )
    assert page.status_code == 422
    assert "at most 100 services (got 20000)" in page.text
    assert "database" not in page.text.lower()


_MANY = [part for i in range(101) for part in ("--affects", f"s{i}")]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--affects", "radio", "--eta", "9999-12-31T00:00:00+00:00"], "between 1970 and 2200"),
        (_MANY, "at most 100 services (got 101)"),
    ],
    ids=["eta", "services"],
)
def test_the_cli_refuses_the_same_incident_input(
    extra: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = Path(__file__).parents[2]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
        f'[paths]\nrules = "{root / "rules"}"\ntemplates = "{root / "templates"}"\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit):
        cli_main(["--config", str(config), "db", "upgrade"])
    args = ["incident", "declare", "--title", "x", "--severity", "major", *extra]
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        cli_main(["--config", str(config), *args])
    err = capsys.readouterr().err.strip()
    assert caught.value.code == 2, err
    assert message in err and "\n" not in err


# -- the customer's pages -------------------------------------------------------------


async def test_one_click_unsubscribe_needs_the_rfc_8058_body(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    token = make_token(SECRET, "c-en", "incidents", ChannelName.EMAIL)
    async with await sqlite_env.client(None) as c:
        for body in (b"", b"List-Unsubscribe=Yes", b"other=One-Click"):
            response = await c.post(
                f"/u/{token}",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 400, body
            assert "Stop receiving" in response.text  # asked, not done
        page = await c.get(f"/u/{token}/preferences")
        assert 'aria-label="service outage news by email" checked' in page.text
        done = await c.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "no longer receive" in done.text


async def test_the_preference_form_refuses_another_sites_page(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    token = make_token(SECRET, "c-en", "incidents", ChannelName.EMAIL)
    path = f"/u/{token}/preferences"
    async with await sqlite_env.client(None) as c:
        forged = await c.post(
            path, data={"orders_sms": "on"}, headers={"Origin": "http://127.0.0.1:9999"}
        )
        assert forged.status_code == 403
        page = await c.get(path)
        assert 'aria-label="service outage news by email" checked' in page.text
        own = await c.post(
            path, data={"incidents_email": "on"}, headers={"Origin": "https://notify.example.com"}
        )
        assert own.status_code == 200 and "Saved" in own.text


async def test_docs_load_nothing_from_outside(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client(None) as c:
        page = await c.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        assert "cdn" not in page.text.lower()
        for url in urls:
            asset = await c.get(url)
            assert asset.status_code == 200 and len(asset.content) > 100, url
        assert (await c.get("/openapi.json")).status_code == 200
        assert (await c.get("/redoc")).status_code == 404


# -- a service nobody has -------------------------------------------------------------


async def test_a_misspelt_service_is_warned_about_before_declaring(sqlite_env: ApiEnv) -> None:
    await sqlite_env.load_customers()
    typo = {**INCIDENT, "affects": ["satelite-radio"]}
    async with await sqlite_env.client("ops") as c:
        forecast = (await c.post("/api/incidents?dry_run=true", json=typo)).json()
        right = (await c.post("/api/incidents?dry_run=true", json=INCIDENT)).json()
    assert forecast["affected"] == 0
    assert "no customer depends on 'satelite-radio': is it misspelt?" in forecast["warnings"]
    assert right["warnings"] == [] and right["affected"] > 0
    async with _console(sqlite_env, "ops") as (client, csrf):
        form = {"csrf": csrf, "title": "Down", "affects": "satelite-radio", "action": "preview"}
        page = await client.post("/console/incidents/new", data=form)
    assert page.status_code == 200
    assert "is it misspelt?" in page.text and "declaring tells no customer" in page.text
    assert "Confirm and declare" not in page.text
    assert "Declare although no customer is told" in page.text


# -- small things a user meets first --------------------------------------------------


def _cli(tmp_path: Path) -> Path:
    root = Path(__file__).parents[2]
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cli.db"}"\n'
        f'[paths]\nrules = "{root / "rules"}"\ntemplates = "{root / "templates"}"\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit):
        cli_main(["--config", str(config), "db", "upgrade"])
    return config


def test_the_readmes_first_console_key_can_be_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _cli(tmp_path)
    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    assert 'apikeys create --role ops --name "Ann (ops)"' in readme
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        cli_main(
            ["--config", str(config), "apikeys", "create", "--role", "ops", "--name", "Ann (ops)"]
        )
    out = capsys.readouterr()
    assert caught.value.code in (0, None), out.err
    assert "ntf_" in out.out


async def test_a_customer_id_with_a_slash_is_refused_by_the_api(sqlite_env: ApiEnv) -> None:
    async with await sqlite_env.client("support") as c:
        created = await c.post("/api/customers", json={"id": "acme/42", "name": "Ann"})
        assert created.status_code == 422
        (error,) = created.json()["detail"]
        assert error["loc"] == ["body", "id"] and "'/'" in error["msg"]
        imported = await c.post(
            "/api/customers/import", json={"customers": [{"id": "a/b", "name": "B"}]}
        )
        assert imported.status_code == 200 and imported.json()["errors"], imported.text
        assert (await c.get("/api/customers", params={"q": "a"})).json()["customers"] == []


def test_a_customer_id_with_a_slash_is_refused_by_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _cli(tmp_path)
    csv = tmp_path / "c.csv"
    csv.write_text(
        "id,name,email,phone,locale,timezone,services\n"
        "acme/42,Ann,ann@example.com,,en,UTC,tv\n"
        "acme-43,Ben,ben@example.com,,en,UTC,tv\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        cli_main(["--config", str(config), "customers", "import", str(csv)])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert caught.value.code == 2
    assert ":2: " in out and "must not contain '/'" in out
