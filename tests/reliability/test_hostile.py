"""Hostile input, from the corpus in `corpus/`: each case gets a clear error, never a server
error, and leaves the database exactly as it was (row counts of every table).

    corpus/http.json    requests to the HTTP API (malformed, oversized, wrong types, ...)
    corpus/rules/       rule files, each with one kind of error, for the rule loader
    corpus/csv/         customer files with broken encodings and shapes, for the import
    corpus/email_html/  script and event handlers for an email's html block, for lint
    TEMPLATES below     Jinja sandbox escapes and templates that would never end

Run: .venv/bin/pytest tests/reliability/test_hostile.py -q -s   (prints the case count)
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from notifier.cli.main import main as cli_main
from notifier.domain.messages import ChannelName
from notifier.engine import RuleSet, RuleSetError
from notifier.errors import NotifierError, TemplateError
from notifier.services.customers import import_customers
from notifier.store.db import create_engine
from notifier.store.tables import metadata
from notifier.templating import TemplateCatalog, lint_sources, sample_context
from tests.api.conftest import ApiEnv, api_environment

CORPUS = Path(__file__).parent / "corpus"
HTTP_CASES: list[dict[str, Any]] = json.loads((CORPUS / "http.json").read_text("utf-8"))
RULE_FILES = sorted((CORPUS / "rules").glob("*.toml"))
CSV_FILES = sorted((CORPUS / "csv").glob("*.csv"))
EMAIL_HTML = sorted((CORPUS / "email_html").glob("*.html"))

TEMPLATES = {
    "loop_forever": "{% for i in range(10**12) %}x{% endfor %}",
    "nested_loops": "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}"
    "{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "globals_via_cycler": "{{ cycler.__init__.__globals__.os.system('true') }}",
    "subclasses": "{{ ().__class__.__base__.__subclasses__() }}",
    "attr_dunder": "{{ customer|attr('__class__') }}",
    "config_leak": "{{ self.__dict__ }}",
    "memory_bomb": "{{ 'x' * 10**10 }}",
    "undefined_variable": "{{ secret_settings.auth_token }}",
    "syntax_error": "{% if %}",
}


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        repeat = re.fullmatch(r"\$REPEAT\((.),(\d+)\)", value)
        if repeat:
            return repeat.group(1) * int(repeat.group(2))
        services = re.fullmatch(r"\$SERVICES\((\d+)\)", value)
        if services:
            return [f"svc-{i}" for i in range(int(services.group(1)))]
        return value
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in metadata.sorted_tables
        }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiEnv]:
    path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    async with api_environment(f"sqlite+aiosqlite:///{path}") as environment:
        await environment.load_customers()
        async with await environment.client("admin") as c:
            open_one = await c.post(
                "/api/incidents", json={"title": "Open", "severity": "major", "affects": ["radio"]}
            )
            done = await c.post(
                "/api/incidents", json={"title": "Done", "severity": "minor", "affects": ["radio"]}
            )
            await c.post(f"/api/incidents/{done.json()['id']}/resolve", json={"cause": "fixed"})
        environment.keys["open"] = str(open_one.json()["id"])
        environment.keys["resolved"] = str(done.json()["id"])
        yield environment


def test_the_corpus_has_at_least_50_cases() -> None:
    total = len(HTTP_CASES) + len(RULE_FILES) + len(CSV_FILES) + len(TEMPLATES) + len(CLI_CASES)
    total += len(EMAIL_HTML)
    print(
        f"\n[hostile] corpus: {len(HTTP_CASES)} HTTP, {len(RULE_FILES)} rule files, "
        f"{len(CSV_FILES)} CSV files, {len(TEMPLATES)} templates, {len(EMAIL_HTML)} email "
        f"html, {len(CLI_CASES)} CLI: {total}"
    )
    assert total >= 50


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", HTTP_CASES, ids=[c["name"] for c in HTTP_CASES])
async def test_http_case(hostile_env: ApiEnv, case: dict[str, Any]) -> None:
    path = case["path"].replace("$INCIDENT", hostile_env.keys["open"])
    path = path.replace("$RESOLVED", hostile_env.keys["resolved"])
    headers: dict[str, str] = {}
    content: bytes | None = None
    if "raw" in case:
        raw = case["raw"]
        nest = re.fullmatch(r"\$NEST\((\d+)\)", raw)
        if nest:
            raw = '{"title":' * int(nest.group(1)) + "1" + "}" * int(nest.group(1))
        content = raw.encode()
    elif "raw_hex" in case:
        content = bytes.fromhex(case["raw_hex"].replace(" ", ""))
    else:
        content = json.dumps(_expand(case["json"])).encode()
    content_type = case.get("content_type", "application/json")
    if content_type is not None:  # null in the corpus: no Content-Type header at all
        headers["Content-Type"] = content_type
    async with await hostile_env.client("admin") as c:
        before = await row_counts(hostile_env.app.engine)
        response = await c.request(case["method"], path, content=content, headers=headers)
        after = await row_counts(hostile_env.app.engine)
    expected = case["status"] if isinstance(case["status"], list) else [case["status"]]
    assert response.status_code < 500, response.text[:500]
    assert response.status_code in expected, (response.status_code, response.text[:500])
    assert after == before
    body = response.json()
    assert "detail" in body, body
    if "field" in case:
        fields = [str(part) for e in body["detail"] for part in e.get("loc", [])]
        assert case["field"] in fields, body
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.stem for p in RULE_FILES])
def test_rule_file_case(path: Path, tmp_path: Path) -> None:
    (tmp_path / path.name).write_bytes(path.read_bytes())
    with pytest.raises(RuleSetError) as caught:
        RuleSet.load(tmp_path)
    errors = caught.value.errors if hasattr(caught.value, "errors") else [str(caught.value)]
    assert errors, path
    for error in errors:
        line = str(error)
        assert "\n" not in line and path.name in line, line


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_case(name: str) -> None:
    catalog = None
    try:
        catalog = TemplateCatalog.from_sources({f"{name}/sms.en.j2": TEMPLATES[name]})
    except TemplateError as exc:  # refused at load: also a clear error
        assert name in str(exc)
        return
    with pytest.raises(TemplateError) as caught:
        catalog.render(name, ChannelName.SMS, "en", sample_context("en"))
    # Ended with our error (a step, size or time limit of the sandbox), not a hang or a crash.
    assert str(caught.value).startswith(f"{name}/sms.en.j2")


@pytest.mark.parametrize("path", EMAIL_HTML, ids=[p.stem for p in EMAIL_HTML])
def test_email_html_case(path: Path) -> None:
    html = path.read_text("utf-8")
    source = (
        "{% block subject %}Hello{% endblock %}\n{% block text %}Hello{% endblock %}\n"
        "{% block html %}\n" + html + "{% endblock %}\n"
    )
    issues = lint_sources({"incident_declared/email.en.j2": source})
    errors = [i for i in issues if i.severity == "error"]
    assert errors, path.name
    assert all("not allowed in an email's html" in i.message and i.line for i in errors), errors


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("path", CSV_FILES, ids=[p.stem for p in CSV_FILES])
async def test_csv_case(hostile_env: ApiEnv, path: Path) -> None:
    engine = hostile_env.app.engine
    before = await row_counts(engine)
    try:
        report = await import_customers(
            engine,
            path,
            default_region="US",
            default_locale="en",
            default_timezone="UTC",
            now=hostile_env.app.clock.now(),
        )
    except NotifierError as exc:
        assert "\n" not in str(exc).strip(), exc
    else:
        assert report.errors, path
        assert report.created == report.updated == 0
    assert await row_counts(engine) == before


CLI_CASES = {
    "declare: unknown severity": [
        "incident",
        "declare",
        "--title",
        "x",
        "--severity",
        "apocalyptic",
        "--affects",
        "radio",
    ],
    "declare: bad eta": [
        "incident",
        "declare",
        "--title",
        "x",
        "--severity",
        "major",
        "--affects",
        "radio",
        "--eta",
        "whenever",
    ],
    "declare: CR/LF in title": [
        "incident",
        "declare",
        "--title",
        "a\r\nBcc: x@example.com",
        "--severity",
        "major",
        "--affects",
        "radio",
    ],
    "update: unknown incident": ["incident", "update", "987654", "--message", "m"],
    "resolve: id not a number": ["incident", "resolve", "abc", "--cause", "c"],
    "import: file that does not exist": ["customers", "import", "/nonexistent/file.csv"],
    "timeline: unknown customer": ["timeline", "nobody-here"],
}


async def _counts_of(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        return await row_counts(engine)
    finally:
        await engine.dispose()


# Found by this suite: the API refuses CR/LF in a title (422), `incident declare` stores it.
CLI_KNOWN_GAPS: set[str] = set()  # cases the CLI still gets wrong (strict xfail)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=pytest.mark.xfail(
                strict=True, reason="known gap: the CLI accepts CR/LF in an incident title"
            ),
        )
        if n in CLI_KNOWN_GAPS
        else n
        for n in sorted(CLI_CASES)
    ],
)
def test_cli_case(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.db"
    url = f"sqlite+aiosqlite:///{db}"
    config = tmp_path / "config.toml"
    root = CORPUS.parents[2]
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        f'[paths]\nrules = "{root / "rules"}"\ntemplates = "{root / "templates"}"\n',
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as upgraded:
        cli_main(["--config", str(config), "db", "upgrade"])
    assert upgraded.value.code == 0
    before = asyncio.run(_counts_of(url))
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        cli_main(["--config", str(config), *CLI_CASES[name]])
    err = capsys.readouterr().err.strip()
    assert caught.value.code == 2, err
    assert err and "\n" not in err and "Traceback" not in err, err
    assert asyncio.run(_counts_of(url)) == before
