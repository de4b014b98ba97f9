"""Our errors as HTTP answers: 422 naming the field, 404, 409, 503 without a traceback."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.services.unsubscribe import InvalidToken
from notifier.store.db import unavailable

log = logging.getLogger(__name__)

# Service errors start with the field they are about: "eta: ... is in the past".
_FIELD = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.+)$", re.DOTALL)
UNAVAILABLE = "the database is unavailable; try again shortly"


def input_error_detail(exc: InputError, where: str = "body") -> list[dict[str, object]]:
    """FastAPI's shape for a 422: the field in `loc`, the reason in `msg`."""
    text = str(exc)
    match = _FIELD.match(text)
    loc: list[str] = [where, match[1]] if match else [where]
    return [{"type": "value_error", "loc": loc, "msg": match[2] if match else text}]


def field_error(field: str, message: str, where: str = "body") -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, field), "msg": message, "input": None}]
    )


async def _input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    return JSONResponse({"detail": input_error_detail(exc)}, status_code=422)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)


async def _bad_token(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "this link is not valid"}, status_code=403)


async def _database(request: Request, exc: Exception) -> JSONResponse:
    if not unavailable(exc):
        raise exc  # a bug (constraint, bad SQL): a 500 with its traceback in the log
    log.warning(
        "database unavailable: %s", type(exc).__name__, extra={"action": "database_unavailable"}
    )
    return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"})


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Without the rejected input: it may be a secret pasted in the wrong field.
    errors = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(InputError, _input)
    api.add_exception_handler(NotFound, _not_found)
    api.add_exception_handler(InvalidTransition, _conflict)
    api.add_exception_handler(InvalidToken, _bad_token)
    api.add_exception_handler(RequestValidationError, _validation)
    for outage in (DBAPIError, OSError, TimeoutError):
        api.add_exception_handler(outage, _database)
