"""`Patient/{id}/$enroll`: the checks of an inclusion, then the episode and its sequence 1.

Refusals are OperationOutcomes naming the parameter at fault: 400 for a missing or malformed input,
404 for an unknown patient, 409 for a patient already in an active episode, 422 for the pathway's rules
(consent, eligibility of the drug, hospital at home). The same prescription enrolled twice answers the
episode the first call opened, so a client may retry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ..errors import Conflict, NotFound, Unprocessable
from ..operations.parameters import Inputs, where
from .eligibility import judge, medication_code
from .plans import CS, Team, episode_end, identifier, new_episode
from .transitions import Pathway, Transition

TASK_CS = f"{CS}/oncolink-task-type"
OPEN_TASK = "requested,received,accepted,ready,in-progress,on-hold"
ENCOUNTER_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
EPISODE_CATEGORY = f"{CS}/oncolink-careplan-category|episode"


def _refuse(message: str, parameter: str, code: str = "business-rule") -> Unprocessable:
    return Unprocessable(message, code=code, expression=(where(parameter),))


def _existing(pathway: Pathway, conn: Connection, reference: str, parameter: str) -> dict[str, Any]:
    res_type, res_id = reference.split("/", 1)
    found = pathway.repo.current(conn, res_type, res_id)
    if found is None or found.deleted or found.content is None:
        raise _refuse(f"{reference} (paramètre '{parameter}') n'existe pas sur ce serveur", parameter, "not-found")
    return found.content


def medication_of(pathway: Pathway, conn: Connection, request: dict[str, Any]) -> dict[str, Any] | None:
    reference = str((request.get("medicationReference") or {}).get("reference") or "")
    if reference.startswith("#"):
        return next((c for c in request.get("contained") or [] if c.get("id") == reference[1:]), None)
    if reference.startswith("Medication/"):
        found = pathway.repo.current(conn, "Medication", reference.split("/", 1)[1])
        return found.content if found and not found.deleted else None
    return None


def _check_consent(pathway: Pathway, conn: Connection, inputs: Inputs, patient: str) -> tuple[str | None,
                                                                                                 dict[str, Any]]:
    """(reference of a stored Consent or None when given inline, the Consent)."""
    inline = inputs.resource("consent")
    reference = None if inline else inputs.reference("consent", ("Consent",))
    if inline is None and reference is None:
        raise _refuse("Le consentement du patient est requis pour l'inclusion (paramètre 'consent' : une ressource "
                      "Consent active)", "consent", "required")
    consent = inline if inline is not None else _existing(pathway, conn, str(reference), "consent")
    if consent.get("resourceType") != "Consent":
        raise _refuse("Le paramètre 'consent' doit être une ressource Consent", "consent", "structure")
    if consent.get("status") != "active":
        raise _refuse(f"Le consentement n'est pas actif (statut « {consent.get('status')} »)", "consent")
    if str((consent.get("patient") or {}).get("reference")) != patient:
        raise _refuse(f"Le consentement ne concerne pas {patient}", "consent")
    if (consent.get("provision") or {}).get("type") == "deny":
        raise _refuse("Le patient a refusé sa participation (Consent.provision.type = deny)", "consent")
    return reference, consent


def _hospital_at_home(pathway: Pathway, conn: Connection, patient: str) -> bool:
    classes = set(pathway.rules.eligibility["hospital_at_home_encounter_classes"])
    for _, encounter_id in pathway.repo.find(conn, "Encounter", f"subject={patient}&status=in-progress"):
        encounter = pathway.repo.read(conn, "Encounter", encounter_id).content or {}
        klass = encounter.get("class") or {}
        if klass.get("system") == ENCOUNTER_ACT and klass.get("code") in classes:
            return True
    return False


def active_episode(pathway: Pathway, conn: Connection, patient: str) -> dict[str, Any] | None:
    found = pathway.repo.find(conn, "CarePlan", f"subject={patient}&category={EPISODE_CATEGORY}&status=active")
    return pathway.repo.read(conn, "CarePlan", found[0][1]).content if found else None


def close_inclusion_tasks(pathway: Pathway, conn: Connection, patient: str, episode_id: str) -> list[str]:
    """The nurse's open "inclusion à proposer" Tasks of the patient are done once the patient is enrolled."""
    written = []
    for _, task_id in pathway.repo.find(conn, "Task", f"patient={patient}&code={TASK_CS}|inclusion-proposal"
                                                      f"&status={OPEN_TASK}"):
        task = dict(pathway.repo.read(conn, "Task", task_id).content or {})
        task["status"] = "completed"
        task["output"] = [{"type": {"text": "Épisode Onco'Link ouvert"},
                           "valueReference": {"reference": f"CarePlan/{episode_id}"}}]
        pathway.repo.update(conn, "Task", task_id, task)
        written.append(f"Task/{task_id}")
    return written


def enroll(pathway: Pathway, conn: Connection, patient_id: str, inputs: Inputs, now: datetime) -> Transition:
    patient = f"Patient/{patient_id}"
    stored = pathway.repo.current(conn, "Patient", patient_id)
    if stored is None or stored.deleted:
        raise NotFound(f"Patient/{patient_id} n'existe pas")
    request_ref = str(inputs.reference("medicationRequest", ("MedicationRequest",), required=True))
    hospital = str(inputs.reference("hospitalTeam", ("Organization",), required=True))
    pharmacy = str(inputs.reference("pharmacy", ("Organization",), required=True))
    gp = inputs.reference("gp", ("Practitioner", "PractitionerRole"))
    idec = inputs.reference("hospitalMember", ("Practitioner", "PractitionerRole"))
    telemonitoring = inputs.boolean("telemonitoring", False)
    start = inputs.day("start", pathway.today(now))

    key = f"{patient_id}/{request_ref.split('/', 1)[1]}"
    current = active_episode(pathway, conn, patient)
    if current is not None:
        if identifier("episode", key) in (current.get("identifier") or []):
            return Transition(current, pathway.current_sequence(conn, current["id"]))
        raise Conflict(f"{patient} est déjà inclus dans l'épisode actif CarePlan/{current['id']}")

    request = _existing(pathway, conn, request_ref, "medicationRequest")
    if str((request.get("subject") or {}).get("reference")) != patient:
        raise _refuse(f"La prescription {request_ref} ne concerne pas {patient}", "medicationRequest")
    if request.get("status") != "active":
        raise _refuse(f"La prescription {request_ref} n'est pas active (statut « {request.get('status')} »)",
                      "medicationRequest")
    consent_ref, consent = _check_consent(pathway, conn, inputs, patient)
    for parameter, reference in (("hospitalTeam", hospital), ("pharmacy", pharmacy), ("gp", gp),
                                 ("hospitalMember", idec)):
        if reference:
            _existing(pathway, conn, reference, parameter)
    condition = inputs.reference("condition", ("Condition",)) or next(
        (str(r["reference"]) for r in request.get("reasonReference") or []
         if str(r.get("reference", "")).startswith("Condition/")), None)
    if condition is None:
        raise Unprocessable("Le cancer traité est requis : paramètre 'condition' (Reference(Condition)) ou "
                            "MedicationRequest.reasonReference", code="required", expression=(where("condition"),))
    _existing(pathway, conn, condition, "condition")

    medication = medication_of(pathway, conn, request)
    verdict = judge(request, medication, pathway.rules)
    if not verdict.eligible:
        raise _refuse(f"Prescription non éligible au parcours Onco'Link : {verdict.reason}", "medicationRequest")
    if inputs.boolean("hospitalAtHome", False) or _hospital_at_home(pathway, conn, patient):
        raise _refuse("Le patient est hospitalisé à domicile (HAD), exclu du parcours Onco'Link", "hospitalAtHome")

    if consent_ref is None:
        consent_ref = "Consent/" + pathway.repo.create(conn, "Consent", consent).stored.res_id
    drug = (medication_code(request, medication) or {}).get("text") or next(
        (c.get("display") for c in (medication_code(request, medication) or {}).get("coding") or []
         if c.get("display")), None)
    body = new_episode(patient=patient, request=request_ref, condition=condition,
                       team=Team(hospital, pharmacy, gp, idec), parcours=verdict.parcours,
                       seq3_allowed=verdict.sequence3_allowed, telemonitoring=telemonitoring, start=start,
                       end=episode_end(pathway.rules, start), drug=drug)
    done = pathway.open(conn, body, Team(hospital, pharmacy, gp, idec), now)
    done.written += close_inclusion_tasks(pathway, conn, patient, done.episode["id"])
    version = pathway.repo.read(conn, "MedicationRequest", request_ref.split("/", 1)[1]).version_id
    pathway.record(conn, done.written, now, "Inclusion dans le parcours Onco'Link",
                   source=f"{request_ref}/_history/{version}")
    return done


def answer(done: Transition) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": "episode", "resource": done.episode}]
    if done.sequence is not None:
        parameters.append({"name": "sequence", "resource": done.sequence})
    return {"resourceType": "Parameters", "parameter": parameters}

