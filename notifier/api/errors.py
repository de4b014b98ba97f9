"""Our errors as HTTP answers: 422 naming the field, 404, 409, 503 without a traceback;
as pages for the console (`page`), as JSON for everything else."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from notifier.errors import InputError, InvalidTransition, NotFound
from notifier.services.database import unavailable
from notifier.services.unsubscribe import InvalidToken
from notifier.templating.pool import RenderBusy

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


# A page for a request a person made in a browser (the console), or None: then JSON.
ErrorPage = Callable[[Request, int, str], Response | None]


def install_error_handlers(api: FastAPI, page: ErrorPage | None = None) -> None:
    def as_page(
        request: Request, status: int, message: str, headers: Mapping[str, str] | None
    ) -> Response | None:
        html = page(request, status, message) if page is not None else None
        if html is not None:
            html.headers.update(headers or {})
        return html

    def answer(
        request: Request,
        status: int,
        detail: object,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return as_page(request, status, message, headers) or JSONResponse(
            {"detail": detail}, status_code=status, headers=headers
        )

    async def on_input(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InputError)
        return answer(request, 422, input_error_detail(exc), str(exc))

    async def on_not_found(request: Request, exc: Exception) -> Response:
        return answer(request, 404, str(exc), str(exc))

    async def on_conflict(request: Request, exc: Exception) -> Response:
        return answer(request, 409, str(exc), str(exc))

    async def on_busy(request: Request, exc: Exception) -> Response:
        return answer(request, 429, str(exc), str(exc), {"Retry-After": "2"})

    async def on_bad_token(request: Request, exc: Exception) -> Response:
        return answer(request, 403, "this link is not valid", "this link is not valid")

    async def on_database(request: Request, exc: Exception) -> Response:
        if not unavailable(exc):
            raise exc  # a bug (constraint, bad SQL): a 500 with its traceback in the log
        log.warning(
            "database unavailable: %s",
            type(exc).__name__,
            extra={"action": "database_unavailable"},
        )
        return answer(request, 503, UNAVAILABLE, UNAVAILABLE, {"Retry-After": "5"})

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # Without the rejected input: it may be a secret pasted in the wrong field.
        errors = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in exc.errors()]
        message = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
            for e in errors
        )
        return answer(request, 422, jsonable_encoder(errors), message)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code >= 400:
            message = (
                f"there is no page at {request.url.path}"
                if exc.status_code == 404 and exc.detail == "Not Found"
                else str(exc.detail)
            )
            html = as_page(request, exc.status_code, message, exc.headers)
            if html is not None:
                return html
        return await http_exception_handler(request, exc)  # redirects too (sign in first)

    api.add_exception_handler(InputError, on_input)
    api.add_exception_handler(NotFound, on_not_found)
    api.add_exception_handler(InvalidTransition, on_conflict)
    api.add_exception_handler(InvalidToken, on_bad_token)
    api.add_exception_handler(RenderBusy, on_busy)
    api.add_exception_handler(RequestValidationError, on_validation)
    api.add_exception_handler(StarletteHTTPException, on_http)
    for outage in (DBAPIError, OSError, TimeoutError):
        api.add_exception_handler(outage, on_database)
