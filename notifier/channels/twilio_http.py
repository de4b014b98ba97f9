"""Twilio's async HTTP client, pointed at another host and sending its form pre-encoded.

Imported when a Twilio channel opens its transport, not before: aiohttp and twilio's HTTP
stack are a good part of a CLI command's start-up, and most commands send nothing.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession, TCPConnector
from twilio.http.async_http_client import AsyncTwilioHttpClient

from notifier.channels.twilio_messages import TWILIO_API, response_note, retry_after

_FORM = "application/x-www-form-urlencoded"


class RedirectingHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Twilio's async HTTP client, sending to `base_url` instead of api.twilio.com.

    It also hands aiohttp the form already encoded: given a dict, aiohttp builds a FormData,
    which makes a multipart writer (and a uuid4 boundary) before finding out the form is
    urlencoded; that was about a tenth of notifier's CPU per SMS. The bytes are the same
    (`urlencode(..., doseq=True)`, as aiohttp does) and twilio has set the Content-Type.
    """

    def __init__(self, base_url: str, connection_limit: int) -> None:
        super().__init__(pool_connections=False)
        # Our own session: its connection limit follows `concurrency` (aiohttp's default is
        # 100), and it is created here, inside the running loop.
        self.session = ClientSession(connector=TCPConnector(limit=connection_limit))
        self.base_url = base_url.rstrip("/")
        self._authorization: tuple[tuple[str, str], str] | None = None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's signature; unused by it
        allow_redirects: bool = False,
    ) -> Any:
        if url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        if auth is not None:
            # The parent would build an aiohttp.BasicAuth, deprecated since aiohttp 3.14:
            # send the same header ourselves.
            headers = {**(headers or {}), "Authorization": self._basic(auth)}
        body: object = data
        if isinstance(data, dict) and (headers or {}).get("Content-Type") == _FORM:
            body = urlencode(data, doseq=True).encode("ascii")
        response = await super().request(
            method,
            url,
            params=params,
            data=body,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        note = response_note.get()
        if note is not None and response.status_code == 429:
            note.retry_after = retry_after(response.headers.get("Retry-After"))
        return response

    def _basic(self, auth: tuple[str, str]) -> str:
        """The Authorization header for `auth`, encoded once per account."""
        if self._authorization is None or self._authorization[0] != auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self._authorization = (auth, f"Basic {token}")
        return self._authorization[1]
