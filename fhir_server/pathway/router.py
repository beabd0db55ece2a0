"""The pathway's FHIR operations: `Patient/{id}/$enroll`, `CarePlan/{id}/$next-sequence` and
`CarePlan/{id}/$renew` (on the episode). Each runs in one write transaction and answers a Parameters with
the episode and its current sequence."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..api.deps import FHIR_ROUTE, BodyDep, LimitsDep, ServicesDep
from ..errors import Conflict, NotFound
from ..http import fhir_response, read_resource_body
from ..operations.parameters import Inputs
from ..resources import now_ms
from .enrolment import answer, enroll
from .plans import is_episode, step_of
from .transitions import engine, explicit_target

router = APIRouter(prefix="/fhir", dependencies=FHIR_ROUTE)

BASE = "https://oncolink.example.org/fhir/OperationDefinition"
# name → canonical of its OperationDefinition (listed in the CapabilityStatement).
OPERATIONS = {"Patient": [("enroll", f"{BASE}/oncolink-enroll")],
              "CarePlan": [("next-sequence", f"{BASE}/oncolink-next-sequence"), ("renew", f"{BASE}/oncolink-renew")]}


@router.post("/Patient/{patient_id}/$enroll")
def enroll_patient(patient_id: str, request: Request, svc: ServicesDep, raw: BodyDep, limits: LimitsDep) -> Response:
    inputs = Inputs(read_resource_body(request, raw, limits), "$enroll")
    pathway = engine(svc)
    with svc.db.write() as conn:
        done = enroll(pathway, conn, patient_id, inputs, now_ms())
    return fhir_response(answer(done), 200, request=request)


def _move(operation: str, episode_id: str, request: Request, svc: ServicesDep, raw: bytes, limits: LimitsDep
          ) -> Response:
    inputs = Inputs(read_resource_body(request, raw, limits) if raw.strip() else {"resourceType": "Parameters"},
                    f"${operation}")
    pathway, now = engine(svc), now_ms()
    with svc.db.write() as conn:
        # The episode's row lock first: whoever writes its sequences holds it (pathway.known).
        stored = pathway.repo.current(conn, "CarePlan", episode_id, lock=True)
        episode = stored.content if stored and not stored.deleted else None
        if episode is None or not is_episode(episode):
            raise NotFound(f"CarePlan/{episode_id} n'est pas un épisode Onco'Link")
        if episode.get("status") != "active":
            raise Conflict(f"L'épisode CarePlan/{episode_id} n'est pas actif (statut « {episode.get('status')} »)")
        current = pathway.current_sequence(conn, episode_id)
        if current is None:
            raise Conflict(f"L'épisode CarePlan/{episode_id} n'a pas de séquence en cours")
        target = explicit_target(operation, episode, step_of(current))
        done = pathway.advance(conn, episode, current, inputs.day("date", pathway.today(now)), now, target)
        pathway.record(conn, done.written, now, f"Transition de séquence (${operation})")
    return fhir_response(answer(done), 200, request=request)


@router.post("/CarePlan/{episode_id}/$next-sequence")
def next_sequence(episode_id: str, request: Request, svc: ServicesDep, raw: BodyDep, limits: LimitsDep) -> Response:
    return _move("next-sequence", episode_id, request, svc, raw, limits)


@router.post("/CarePlan/{episode_id}/$renew")
def renew(episode_id: str, request: Request, svc: ServicesDep, raw: BodyDep, limits: LimitsDep) -> Response:
    return _move("renew", episode_id, request, svc, raw, limits)
