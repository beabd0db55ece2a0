"""`POST /fhir` for an adapter running in the server's own process, without the HTTP layer.

The DPI adapter inside `oncolink serve` commits every group of HL7 v2 messages as one transaction
Bundle. Through httpx's ASGI transport each one paid for request and response objects, the middleware,
FastAPI's dependency solving, a thread hop and the response serialised and parsed again: 12–19 % of the
server's CPU per message (bench/RESULTS.md, issue 6). This entry runs what that route runs, in the same
order and with the same answers, so an adapter cannot tell the two apart except by speed:

- the body limits: the Bundle is serialised once and read back as a request body would be (size, depth),
  which also gives the server its own copy — the adapter resends a refused group's plans one by one;
- the bearer token verified and the caller's access bound (`security.context`) for the repository's
  guards and write listeners, with the interaction `batch`;
- the Bundle processor with the route's `Prefer` default (`return=minimal`);
- every failure as its status and OperationOutcome, an unexpected one as a 500 quoting a request id;
- the AuditEvent of a refused request, or of one whose writes did not record it (`record_request`).

The adapter reaches it through `app.state.fhir_transactions` (ADR 0019); a remote adapter
(`oncolink mllp`) keeps the HTTP route.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI

from ..audit.middleware import record_request
from ..bundle import BundleProcessor
from ..errors import FhirError, operation_outcome
from ..http import BodyLimits, Prefer, parse_json
from ..outcomes import internal_error
from ..security.context import Caller, bind
from ..services import Services
from .auth import verified_access
from .deps import public_base

log = logging.getLogger("oncolink.errors")

PATH = "/fhir"


class InProcessTransactions:
    """Called from a worker thread (it blocks on the database), once per transaction."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def __call__(self, bundle: dict[str, Any], *, authorization: str | None, prefer: str | None, base: str
                 ) -> tuple[int, dict[str, Any]]:
        """The status and JSON body `POST {base}` would answer; `base` is the caller's idea of the FHIR
        base, replaced by the configured public one as the route does (`deps.fhir_base`)."""
        services: Services = self.app.state.services
        request_id = uuid.uuid4().hex
        caller: Caller | None = None
        status = 500
        try:
            access = verified_access(services, authorization)
            caller = Caller(access, None, request_id, "batch")
            bind(caller)
            body = parse_json(orjson.dumps(bundle), BodyLimits.of(services.settings))
            processor = BundleProcessor(services, public_base(services.settings, base),
                                        Prefer.parse(prefer, default_return="minimal"))
            response = processor.process(body)
            status = 200
            return status, response
        except FhirError as exc:
            status = exc.status
            return status, exc.outcome()
        except Exception:
            log.exception("unhandled error, request id %s, in-process POST %s", request_id, PATH)
            return status, operation_outcome([internal_error(request_id)])
        finally:
            record_request(services, caller, status, method="POST", path=PATH, address=None,
                           request_id=request_id)
            bind(None)


def install(app: FastAPI) -> None:
    app.state.fhir_transactions = InProcessTransactions(app)
