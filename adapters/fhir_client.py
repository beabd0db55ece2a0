"""The adapters' only door into the server: a FHIR REST client over httpx.

The caller decides where the server is: a base URL (a remote server, `oncolink mllp`) or an ASGI app
in the same process (`oncolink serve`, tests) through httpx's ASGI transport. Either way the adapter
goes through the server's public API, so it gets the same validation, transactions and audit as any
other client. Nothing here knows about `fhir_server`.

In the same process, transactions (the DPI adapter's whole traffic) skip the HTTP layer when the app
offers an in-process entry for them: a callable at `app.state.fhir_transactions` taking the Bundle, the
`Authorization` and `Prefer` values and the base, and answering the status and JSON body `POST [base]`
would (ADR 0019). Everything else goes through the ASGI transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

import httpx
import orjson

FHIR_JSON = "application/fhir+json"
IN_PROCESS_BASE = "http://oncolink.internal/fhir"

# (bundle, authorization=, prefer=, base=) → (status, JSON body); see the module docstring.
TransactionEntry = Callable[..., tuple[int, dict[str, Any]]]


class FhirResponseError(Exception):
    """The server answered with an error status; `outcome` is its OperationOutcome (or None)."""

    def __init__(self, status: int, outcome: dict[str, Any] | None, text: str = "") -> None:
        self.status = status
        self.outcome = outcome
        self.diagnostics = _diagnostics(outcome) or text[:500]
        super().__init__(f"HTTP {status}: {self.diagnostics}")

    @property
    def issues(self) -> list[dict[str, Any]]:
        return list((self.outcome or {}).get("issue") or [])


class FhirUnavailable(Exception):
    """The server could not be reached or did not answer in time."""


def _diagnostics(outcome: dict[str, Any] | None) -> str:
    if not outcome:
        return ""
    return "; ".join(str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code"))
                     for i in outcome.get("issue") or [])


class FhirClient:
    """Async FHIR client. Use `FhirClient.for_url(...)` or `FhirClient.for_app(...)`, then
    `async with client:` (or `await client.aclose()`)."""

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 60.0, headers: dict[str, str] | None = None,
                 lifespan: AbstractAsyncContextManager[Any] | None = None, auth: httpx.Auth | None = None,
                 transactions: TransactionEntry | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url + "/", transport=transport, timeout=timeout,
                                       headers={"Accept": FHIR_JSON, **(headers or {})}, auth=auth)
        self._auth = auth
        self._transactions = transactions
        self._lifespan = lifespan
        self._lifespan_entered = False

    @classmethod
    def for_url(cls, base_url: str, *, timeout: float = 60.0, headers: dict[str, str] | None = None,
                auth: httpx.Auth | None = None) -> FhirClient:
        return cls(base_url, timeout=timeout, headers=headers, auth=auth)

    @classmethod
    def for_app(cls, app: Any, *, base_url: str = IN_PROCESS_BASE, run_lifespan: bool = False,
                timeout: float = 60.0, headers: dict[str, str] | None = None, auth: httpx.Auth | None = None,
                direct: bool = True) -> FhirClient:
        """A client calling an ASGI app in this process. `run_lifespan` starts and stops the app's
        lifespan with the client (for an app nobody else is serving, e.g. in `oncolink hl7 replay`);
        `direct=False` sends transactions through HTTP too (tests comparing the two doors)."""
        lifespan = None
        if run_lifespan:
            router = getattr(app, "router", None)
            context = getattr(router, "lifespan_context", None)
            if context is None:
                raise TypeError("run_lifespan needs a Starlette/FastAPI app")
            lifespan = context(app)
        return cls(base_url, transport=httpx.ASGITransport(app=app), timeout=timeout, headers=headers,
                   lifespan=lifespan, auth=auth,
                   transactions=getattr(getattr(app, "state", None), "fhir_transactions", None) if direct else None)

    async def __aenter__(self) -> FhirClient:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def open(self) -> None:
        if self._lifespan is not None and not self._lifespan_entered:
            await self._lifespan.__aenter__()
            self._lifespan_entered = True

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._lifespan is not None and self._lifespan_entered:
            self._lifespan_entered = False
            await self._lifespan.__aexit__(None, None, None)

    # -- interactions --------------------------------------------------------------------------

    async def _request(self, method: str, url: str, body: Any = None, params: dict[str, str] | None = None,
                       headers: dict[str, str] | None = None) -> httpx.Response:
        content = orjson.dumps(body) if body is not None else None
        send_headers = {"Content-Type": FHIR_JSON, **(headers or {})} if content is not None else headers
        try:
            return await self._http.request(method, url, content=content, params=params, headers=send_headers)
        except httpx.TimeoutException as exc:
            raise FhirUnavailable(f"{method} {self.base_url}/{url}: no answer in time") from exc
        except httpx.TransportError as exc:
            raise FhirUnavailable(f"{method} {self.base_url}/{url}: {exc}") from exc

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            outcome = None
            with contextlib.suppress(ValueError):
                parsed = orjson.loads(response.content)
                if isinstance(parsed, dict) and parsed.get("resourceType") == "OperationOutcome":
                    outcome = parsed
            raise FhirResponseError(response.status_code, outcome, response.text)
        return orjson.loads(response.content) if response.content else {}

    async def transaction(self, bundle: dict[str, Any], *, prefer: str | None = None) -> dict[str, Any]:
        """POST a transaction Bundle; returns the transaction-response Bundle (HTTP 200 = committed)."""
        if self._transactions is None:
            headers = {"Prefer": prefer} if prefer else None
            return self._json(await self._request("POST", "", bundle, headers=headers))
        status, body = await self._in_process(self._transactions, bundle, prefer)
        if status >= 400:
            outcome = body if body.get("resourceType") == "OperationOutcome" else None
            raise FhirResponseError(status, outcome, orjson.dumps(body).decode())
        return body

    async def _in_process(self, entry: TransactionEntry, bundle: dict[str, Any], prefer: str | None
                          ) -> tuple[int, dict[str, Any]]:
        """Call `entry` in a worker thread (it blocks on the database) with the credential the HTTP
        request would carry; a 401 goes back to the credential once, as httpx would (a renewed token)."""
        request = httpx.Request("POST", self.base_url, headers=self._http.headers)
        flow = self._auth.async_auth_flow(request) if self._auth is not None else None
        try:
            if flow is not None:
                request = await flow.__anext__()
            while True:
                status, body = await asyncio.to_thread(
                    entry, bundle, authorization=request.headers.get("authorization"), prefer=prefer,
                    base=self.base_url)
                if status != 401 or flow is None:
                    return status, body
                try:
                    request = await flow.asend(httpx.Response(401, request=request))
                except StopAsyncIteration:
                    return status, body
        finally:
            if flow is not None:
                await flow.aclose()

    async def validate(self, res_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST [type]/$validate (the resource, or a Parameters with resource/profile/mode); the
        OperationOutcome it answers."""
        return self._json(await self._request("POST", f"{res_type}/$validate", body))

    async def create(self, res_type: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(await self._request("POST", res_type, body))

    async def operation(self, path: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """POST a Parameters to an operation, e.g. `Patient/123/$enroll`; answers its output."""
        return self._json(await self._request("POST", path, parameters))

    async def read(self, res_type: str, res_id: str) -> dict[str, Any]:
        return self._json(await self._request("GET", f"{res_type}/{res_id}"))

    async def search(self, res_type: str, params: dict[str, str]) -> dict[str, Any]:
        """One page of a type-level search (the searchset Bundle)."""
        return self._json(await self._request("GET", res_type, params=params))

    async def search_all(self, res_type: str, params: dict[str, str], *, limit: int = 10_000
                         ) -> AsyncIterator[dict[str, Any]]:
        """Every matching resource, following `next` links."""
        page = await self.search(res_type, params)
        seen = 0
        while True:
            for entry in page.get("entry") or []:
                if entry.get("search", {}).get("mode", "match") == "match" and "resource" in entry:
                    seen += 1
                    if seen > limit:
                        return
                    yield entry["resource"]
            following = next((link["url"] for link in page.get("link") or [] if link.get("relation") == "next"),
                             None)
            if not following:
                return
            page = self._json(await self._request("GET", self._relative(following)))

    def _relative(self, url: str) -> str:
        """Paging links are absolute and may carry the server's public base; keep our own base."""
        marker = "/fhir/"
        if url.startswith(self.base_url + "/"):
            return url[len(self.base_url) + 1:]
        index = url.find(marker)
        return url[index + len(marker):] if index >= 0 else url

    async def metadata(self) -> dict[str, Any]:
        return self._json(await self._request("GET", "metadata"))

    async def update(self, res_type: str, res_id: str, resource: dict[str, Any], *,
                     if_match: str | None = None) -> dict[str, Any]:
        """PUT a resource; with `if_match` (an ETag such as `W/"3"`) the server answers 412 when someone
        else wrote it first, which makes the update a claim (added for the MSSanté adapter)."""
        headers = {"If-Match": if_match, "Prefer": "return=representation"} if if_match else \
            {"Prefer": "return=representation"}
        return self._json(await self._request("PUT", f"{res_type}/{res_id}", resource, headers=headers))
