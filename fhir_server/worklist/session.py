"""Who is at the worklist: the same bearer tokens as the API, from a header or the session cookie.

A browser cannot attach an `Authorization` header to plain links and forms, so the login form takes the
token once, checks it, and keeps it in an HttpOnly, SameSite=Strict cookie scoped to `/worklist` (never
readable by scripts, never sent by other sites). Every page verifies it again, as the API does; an
expired or missing token leads back to the login form, other callers get a 403: the worklist shows the
establishment's patients, so only its team may open it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from starlette.exceptions import HTTPException

from ..api.auth import authenticate, require_establishment
from ..errors import Unauthorized
from ..security.policy import Access

COOKIE = "oncolink_worklist"
LOGIN = "/worklist/login"


def next_target(target: str) -> str:
    """Where to go after logging in: only a worklist path, a login link must never send the user to
    another site."""
    return target if target.startswith("/worklist") and not target.startswith("//") else "/worklist"


def login_redirect(request: Request) -> HTTPException:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(303, "Connexion requise", headers={"Location": f"{LOGIN}?{urlencode({'next': here})}"})


async def worklist_caller(request: Request) -> Access:
    token = request.cookies.get(COOKIE)
    authorization = request.headers.get("authorization") or (f"Bearer {token}" if token else None)
    if authorization is None:
        raise login_redirect(request)
    try:
        access = await authenticate(request, authorization)
    except Unauthorized:
        raise login_redirect(request) from None
    require_establishment(access, "consulter la file active")
    return access


async def check_login(request: Request, token: str) -> Access:
    """The access of a token typed in the login form (Unauthorized/Forbidden when it is no good)."""
    access = await authenticate(request, f"Bearer {token.strip()}")
    require_establishment(access, "consulter la file active")
    return access
