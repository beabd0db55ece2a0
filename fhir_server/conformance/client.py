"""The HTTP side of a conformance run: one httpx client bound to the server's base URL.

Every check needs the same things from a response — its status, its JSON body, a few headers — and a
failure reason must say what was asked and what came back, so requests go through one place.
"""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


class CheckFailed(Exception):
    """A claimed feature did not behave as FHIR R4 says; the message is the reason shown to the user."""


class ServerClient:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/", headers=headers, timeout=timeout,
                                  transport=transport, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, url: str, *, json: Any = None, headers: dict[str, str] | None = None,
                params: dict[str, str] | list[tuple[str, str]] | None = None,
                content_type: str = FHIR_JSON) -> httpx.Response:
        """`url` is relative to the base (`Patient/1`) or absolute (a paging link the server gave)."""
        sent = dict(headers or {})
        if json is not None:
            sent.setdefault("Content-Type", content_type)
        target = url if url.startswith(("http://", "https://")) else url.lstrip("/")
        try:
            return self._http.request(method, target, json=json, headers=sent, params=params)
        except httpx.HTTPError as exc:
            raise CheckFailed(f"{method} {url}: no answer from the server ({exc})") from exc

    def expect(self, method: str, url: str, statuses: tuple[int, ...], **kwargs: Any) -> httpx.Response:
        """The request, failing the check with the status and the server's diagnostics when unexpected."""
        response = self.request(method, url, **kwargs)
        if response.status_code not in statuses:
            wanted = " or ".join(str(s) for s in statuses)
            raise CheckFailed(f"{method} {url} answered {response.status_code}, expected {wanted}"
                              f"{diagnostics(response)}")
        return response


def body(response: httpx.Response) -> dict[str, Any]:
    """The JSON resource of a response; a non-JSON body fails the check."""
    try:
        parsed = response.json()
    except ValueError as exc:
        raise CheckFailed(f"{response.request.method} {response.request.url} answered a body that is not JSON "
                          f"({response.headers.get('content-type', 'no content type')})") from exc
    if not isinstance(parsed, dict):
        raise CheckFailed(f"{response.request.method} {response.request.url} answered JSON that is not a resource")
    return parsed


def diagnostics(response: httpx.Response) -> str:
    """': <diagnostics>' from an OperationOutcome body, else ''."""
    try:
        parsed = response.json()
    except ValueError:
        return ""
    if not isinstance(parsed, dict) or parsed.get("resourceType") != "OperationOutcome":
        return ""
    texts = [str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code"))
             for i in parsed.get("issue") or []]
    return f" ({'; '.join(texts)[:300]})" if texts else ""


def ensure(condition: bool, reason: str) -> None:
    if not condition:
        raise CheckFailed(reason)
