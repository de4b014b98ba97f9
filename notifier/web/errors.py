"""Console errors as pages: someone who follows a stale link or posts an expired form sees
what went wrong and a way back, not the API's JSON.

The API's error handlers (`api.errors`) ask `page_for` first: it answers for paths under
/console and returns None elsewhere.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from notifier.web.common import render
from notifier.web.session import COOKIE, decode

PREFIX = "/console"

_TITLES = {
    403: "Not allowed",
    404: "Not found",
    409: "Not possible now",
    413: "Too large",
    422: "Not a valid address",
    429: "Busy",
    503: "Try again shortly",
}


def page_for(request: Request, status: int, message: str) -> HTMLResponse | None:
    path = request.url.path
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return None
    # The cookie alone (signed; no database read, which may be what failed) is enough to
    # show the navigation; the page itself shows nothing of the account.
    session = decode(request.app.state.notifier, request.cookies.get(COOKIE))
    return render(
        request,
        "error.html",
        session,
        status=status,
        title=_TITLES.get(status, "Something went wrong"),
        message=message,
    )
