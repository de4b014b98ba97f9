"""Schemathesis against our OpenAPI document: valid and invalid requests to every
operation, a bounded number each; no answer may be a server error."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import hypothesis.strategies as st
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from notifier.api import create_app
from notifier.config import Settings
from notifier.runtime.app import App
from notifier.services.apikeys import create_key
from notifier.services.customers import import_customers
from tests.api.conftest import SECRET
from tests.harness import CUSTOMERS_CSV, ROOT
from tests.waiting import wait_until

MAX_EXAMPLES = 20


class _Server:
    """The API on uvicorn in a thread of its own: schemathesis calls it with `requests`."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        self.tmp_path = tmp_path
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.key = ""
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        settings = Settings(
            database={"url": f"sqlite+aiosqlite:///{self.tmp_path / 'fuzz.db'}"},
            paths={"rules": ROOT / "rules", "templates": ROOT / "templates"},
            api={"public_base_url": self.url, "unsubscribe_secret": SECRET},
        )
        app = await App.open(settings)
        try:
            path = self.tmp_path / "customers.csv"
            path.write_text(CUSTOMERS_CSV, encoding="utf-8")
            await import_customers(
                app.engine,
                path,
                default_region="US",
                default_locale="en",
                default_timezone="UTC",
                now=app.clock.now(),
            )
            _, self.key = await create_key(
                app.engine, name="fuzz", role="admin", now=app.clock.now()
            )
            config = uvicorn.Config(
                create_app(app, run_worker=False),
                host="127.0.0.1",
                port=self.port,
                access_log=False,
                log_config=None,
                lifespan="on",
            )
            self._server = uvicorn.Server(config)
            serving = asyncio.create_task(self._server.serve())
            await serving
        finally:
            await app.close()

    def __enter__(self) -> _Server:
        self._thread.start()

        def started_or_gone() -> bool:
            return not self._thread.is_alive() or (
                self._server is not None and self._server.started
            )

        wait_until(started_or_gone, what="uvicorn to start in its thread")
        assert self._thread.is_alive(), "the server's thread ended during startup"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.should_exit = True
        self._thread.join(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with _Server(tmp_path_factory.mktemp("fuzz"), port) as running:
        yield running


def _operations() -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_dict(_openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    # Revoking may hit the fuzzing key itself: last, so that it cannot hide anything.
    return sorted(operations, key=lambda op: "revoke" in op.label)


def _openapi() -> dict[str, object]:
    settings = Settings(paths={"rules": ROOT / "rules", "templates": ROOT / "templates"})
    api = create_app(_NoApp(settings), run_worker=False)  # type: ignore[arg-type]
    return api.openapi()


class _NoApp:
    """Enough of an App to build the OpenAPI document: routes never run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


OPERATIONS = _operations()


@pytest.mark.slow
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_server_errors(server: _Server, operation: schemathesis.APIOperation) -> None:
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # an operation with nothing to make invalid
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))

    # Nothing to vary but the key: a few calls say all there is to say.
    fixed = not operation.body and len(list(operation.iter_parameters())) <= 1

    @settings(
        max_examples=3 if fixed else MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case: schemathesis.Case) -> None:
        headers = {"Authorization": f"Bearer {server.key}"}
        response = case.call(base_url=server.url, headers=headers, timeout=10)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{response.text[:500]}\n{case.as_curl_command()}"
        )

    check()
