"""Which database errors mean "wait for the database" (an outage) and which are bugs."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from notifier.store.db import unavailable


def _as_sqlalchemy_raises(driver_error: Exception) -> DBAPIError:
    """The error SQLAlchemy raises when asyncpg refuses a new connection with
    `driver_error` (its asyncpg dialect translates it, then wraps it)."""
    translated = AsyncAdapt_asyncpg_dbapi.Error(driver_error.args[0], driver_error)
    translated.__cause__ = driver_error
    return DBAPIError.instance(None, None, translated, AsyncAdapt_asyncpg_dbapi.Error)


def test_a_server_shutting_down_or_starting_is_an_outage() -> None:
    for error in (
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    ):
        wrapped = _as_sqlalchemy_raises(error)
        assert type(wrapped) is DBAPIError  # not an OperationalError: the SQLSTATE decides
        assert unavailable(wrapped), error


def test_a_wrong_statement_is_not_an_outage() -> None:
    for error in (
        asyncpg.exceptions.UniqueViolationError("duplicate key value"),
        asyncpg.exceptions.UndefinedTableError('relation "nope" does not exist'),
    ):
        assert not unavailable(_as_sqlalchemy_raises(error)), error


def test_refused_and_timed_out_connections_are_an_outage() -> None:
    assert unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert unavailable(TimeoutError())
    assert not unavailable(ValueError("a bug"))
