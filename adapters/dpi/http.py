"""`POST /hl7v2`: one ER7 message in the body, its ACK in the answer (HL7 v2 over HTTP).

The HTTP status says whether the exchange worked (200 with the ACK, whatever its code); the ACK says
what became of the message, exactly as over MLLP. The router finds the running adapter through a
getter so that it can be mounted before the adapter starts (in the app's lifespan).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .check import Checker, report_dict
from .er7 import CHARSETS
from .service import DpiService

ER7_TYPES = ("x-application/hl7-v2+er7", "application/hl7-v2", "text/plain")
DEFAULT_MAX_BYTES = 1 << 20

log = logging.getLogger(__name__)


def _service_from_app(request: Request) -> DpiService | None:
    return getattr(request.app.state, "dpi", None)


def _plain(status: int, text: str) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def _too_large(limit: int, what: str) -> Response:
    log.warning("HL7 v2 over HTTP: %s exceeds %d bytes (ONCOLINK_MLLP_MAX_MESSAGE_BYTES), refused", what, limit)
    return _plain(413, f"{what} exceeds {limit} bytes (ONCOLINK_MLLP_MAX_MESSAGE_BYTES)")


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit`: a declared Content-Length over it is
    refused unread, a chunked body is read only until it passes it, so a sender cannot make the
    adapter buffer more than one message's worth. (The server's `fhir_server.http.read_body` does the
    same for FHIR bodies; adapters never import the server, so this is their own.)"""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def build_router(get_service: Callable[[Request], DpiService | None] = _service_from_app) -> APIRouter:
    router = APIRouter(tags=["HL7 v2"])

    @router.post("/hl7v2")
    async def receive_hl7v2(request: Request) -> Response:
        service = get_service(request)
        if service is None:
            return _plain(503, "the HL7 v2 adapter is not running")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in ER7_TYPES:
            return _plain(415, f"send the message as {ER7_TYPES[0]} or text/plain, not {media or 'nothing'}")
        limit = service.settings.mllp_max_message_bytes or DEFAULT_MAX_BYTES
        body = await read_bounded(request, limit)
        if body is None:
            return _too_large(limit, "the message")
        if not body.strip():
            return _plain(400, "the body must hold one ER7 message")
        client = request.client
        peer = f"{client.host}:{client.port}" if client else "http"
        outcome = await service.process(body, transport="http", peer=peer)
        charset = _ack_charset(outcome.ack)
        return Response(outcome.ack, status_code=200, media_type=f"{ER7_TYPES[0]}; charset={charset}")

    @router.post("/hl7v2/$check")
    async def check_hl7v2(request: Request, profiles: bool = True) -> Response:
        """Dry run of `POST /hl7v2`: the JSON report of `oncolink hl7 check`; nothing journaled or written."""
        service = get_service(request)
        if service is None:
            return _plain(503, "the HL7 v2 adapter is not running")
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in ER7_TYPES:
            return _plain(415, f"send the messages as {ER7_TYPES[0]} or text/plain, not {media or 'nothing'}")
        limit = service.settings.mllp_max_message_bytes or DEFAULT_MAX_BYTES
        body = await read_bounded(request, limit)
        if body is None:
            return _too_large(limit, "the body")
        if not body.strip():
            return _plain(400, "the body must hold at least one ER7 message")
        processor = service.processor
        checker = Checker(processor.client, processor.mappings, default_charset=service.settings.hl7_default_charset,
                          profiles=profiles)
        reports = await checker.check_bytes(body, "http")
        return JSONResponse(report_dict(reports))

    return router


def _ack_charset(ack: bytes) -> str:
    """The Content-Type charset of an ACK we wrote (we encode it as its MSH-18 says)."""
    first = ack.split(b"\r", 1)[0].decode("ascii", "replace")
    fields = first.split(first[3]) if len(first) > 3 else []
    label = fields[17] if len(fields) > 17 else ""
    codec = CHARSETS.get(label.upper(), "utf-8")
    return {"iso-8859-1": "ISO-8859-1", "iso-8859-15": "ISO-8859-15"}.get(codec, codec.upper())


router = build_router()
