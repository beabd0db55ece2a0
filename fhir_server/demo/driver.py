"""Fill a running server with the demo hospital through the paths real systems use.

- the DPI: ADT^A04 and RDE^O11 / OMP^O09 over MLLP to the server's listener, each ACK checked;
- the coordinating nurse (IDEC): the directory of community professionals, the cancer treated and
  `Patient/$enroll` with the patient's consent over FHIR REST; the handling of old alerts through the
  worklist's own form; an MSSanté message to the community side when an interaction is detected;
- the patient app: weekly QuestionnaireResponses, which the server triages into alerts;
- time: renewal prescriptions sent near the end of each sequence move the episodes on, as a DPI does;
- the server's MSSanté worker: the demo waits for it to settle the messages the pathway produced.

Every write is keyed on a business identifier (IPP, placer order numbers, the answers' identifiers,
conditional creates), so running the demo twice with the same seed adds nothing.
"""

from __future__ import annotations

import asyncio
import random
import time as monotonic
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from adapters.dpi.mllp import MllpSender
from adapters.fhir_client import FhirClient, FhirResponseError, FhirUnavailable
from adapters.mssante.directory import MSS_EXTENSION

from ..pathway.plans import identifier, identifier_query, parcours_of
from ..pathway.transitions import MESSAGE_CATEGORY_CS, MESSAGE_PROFILE, TRIGGER_CS
from ..telemonitoring.alerts import ALERT_TYPE_CS
from .data import DemoData, Person, Pharmacy
from .hl7 import Order, admission, prescription
from .hospital import DemoPatient
from .questionnaire import Scale

IDNST = "urn:oid:1.2.250.1.71.4.2.2"
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
MAILBOX_TYPE = "https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL"
FLAG_DETAIL = "http://hl7.org/fhir/StructureDefinition/flag-detail"
COORDINATION = f"{MESSAGE_CATEGORY_CS}|coordination"
# How long the first prescription and each renewal are written for (the DPI's TQ1 end).
FIRST_ORDER_DAYS = 28
RENEWAL_DAYS = 90
CHUNK = 40


class DemoError(Exception):
    """The demo cannot go on; the message is one sentence saying what to do."""


@dataclass
class Report:
    patients: int = 0
    already: int = 0  # sent by an earlier run with the same seed
    hl7_messages: int = 0
    acks: Counter[str] = field(default_factory=Counter)
    medication_requests: int = 0
    episodes: int = 0
    parcours_b: int = 0
    transitions: int = 0
    stopped: int = 0
    questionnaires: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    handled: int = 0
    interactions: int = 0
    triggers: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    pending_messages: int = 0
    team: str = ""
    problems: list[str] = field(default_factory=list)


class Hl7Link:
    """One persistent MLLP connection to the listener; every ACK is read and anything but AA is reported."""

    def __init__(self, host: str, port: int, report: Report, timeout: float) -> None:
        self.host, self.port, self.report, self.timeout = host, port, report, timeout
        self.sender: MllpSender | None = None

    async def open(self) -> None:
        try:
            self.sender = await MllpSender.connect(self.host, self.port, timeout=self.timeout)
        except (OSError, TimeoutError) as exc:
            raise DemoError(f"the MLLP listener at {self.host}:{self.port} is unreachable ({exc}); start the server "
                            "with `make run` or give its port with --mllp-port") from exc

    async def close(self) -> None:
        if self.sender is not None:
            await self.sender.close()

    async def send(self, payload: bytes, what: str) -> bool:
        """True when the message was accepted (AA)."""
        control_id = payload.split(b"\r", 1)[0].split(b"|")[9].decode()
        for attempt in (1, 2):
            if self.sender is None:
                await self.open()
            assert self.sender is not None
            try:
                ack = await self.sender.send(payload, self.timeout)
                break
            except TimeoutError as exc:  # before OSError, of which it is a subclass
                raise DemoError(f"no ACK for {control_id} within {self.timeout:.0f} s from {self.host}:{self.port}; "
                                "check the server's log") from exc
            except (OSError, asyncio.IncompleteReadError):
                # The listener closed an idle connection: reconnect once and resend (processing is idempotent).
                self.sender = None
                if attempt == 2:
                    raise DemoError(f"the MLLP listener at {self.host}:{self.port} closed the connection while "
                                    f"{control_id} was sent; check the server's log") from None
        self.report.hl7_messages += 1
        segments = [s.split("|") for s in ack.decode("utf-8", errors="replace").split("\r") if s]
        msa = next((s for s in segments if s[0] == "MSA"), None)
        code = msa[1] if msa and len(msa) > 1 else "??"
        self.report.acks[code] += 1
        if code != "AA":
            # ERR-2 where, ERR-8 what (v2.5); MSA-3 when the listener gave no ERR.
            details = [f"{s[2]}: {s[8]}" if len(s) > 8 else "|".join(s[1:]) for s in segments if s[0] == "ERR"]
            text = "; ".join(details) or (msa[3] if msa and len(msa) > 3 else "")
            self.report.problems.append(f"{what} {control_id}: ACK {code} {text}".strip())
            return False
        return True


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "-")


def _mailbox(address: str, kind: str) -> dict[str, Any]:
    """An MSSanté address with the directory's mailbox metadata (type PER or ORG), as the Annuaire Santé
    publishes it; the adapter accepts such addresses whatever their domain."""
    return {"system": "email", "value": address, "use": "work", "extension": [{"url": MSS_EXTENSION, "extension": [
        {"url": "type", "valueCodeableConcept": {"coding": [{"system": MAILBOX_TYPE, "code": kind}]}},
        {"url": "listeRouge", "valueBoolean": False}]}]}


def _entry(resource: dict[str, Any], if_none_exist: str) -> dict[str, Any]:
    return {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"],
                                              "ifNoneExist": if_none_exist}}


def _located(response: dict[str, Any]) -> list[tuple[str, bool]]:
    """(id, created) of each entry of a transaction-response."""
    out = []
    for entry in response.get("entry") or []:
        answer = entry.get("response") or {}
        location = str(answer.get("location") or "")
        out.append((location.split("/")[1] if "/" in location else str((entry.get("resource") or {}).get("id")),
                    str(answer.get("status", "")).startswith("201")))
    return out


def _transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


class Driver:
    def __init__(self, data: DemoData, scale: Scale, outcomes: list[str], fhir: FhirClient, web: httpx.AsyncClient,
                 hl7: Hl7Link, report: Report, *, today: date, zone: ZoneInfo) -> None:
        self.data, self.scale, self.outcomes = data, scale, outcomes
        self.fhir, self.web, self.hl7, self.report = fhir, web, hl7, report
        self.today, self.zone = today, zone
        self.hospital_ref = ""
        self.pharmacies: dict[str, str] = {}  # IDNST → reference
        self.gps: dict[str, str] = {}  # RPPS → reference
        self.episodes: list[str] = []  # references of the demo patients' episodes

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(day, time(hour, minute), self.zone)

    # -- the directory of the hospital and of the community professionals ---------------------

    async def directory(self) -> None:
        hospital, domain = self.data.hospital, self.data.hospital.mailbox_domain
        entries = [_entry({"resourceType": "Organization", "identifier": [{"system": IDNST, "value": hospital.idnst}],
                           "name": hospital.name, "telecom": [{"system": "phone", "value": hospital.phone,
                                                               "use": "work"}],
                           "address": [{"city": hospital.city, "country": "FRA"}]},
                          f"identifier={IDNST}|{hospital.idnst}")]
        for pharmacy in self.data.pharmacies:
            entries.append(_entry(self._pharmacy(pharmacy, domain), f"identifier={IDNST}|{pharmacy.idnst}"))
        for gp in self.data.gps:
            entries.append(_entry(self._gp(gp, domain), f"identifier={IDNPS}|{gp.rpps}"))
        ids = [i for i, _ in _located(await self.fhir.transaction(_transaction(entries)))]
        self.hospital_ref = f"Organization/{ids[0]}"
        self.report.team = self.hospital_ref
        count = len(self.data.pharmacies)
        self.pharmacies = {p.idnst: f"Organization/{i}" for p, i in zip(self.data.pharmacies, ids[1:1 + count],
                                                                         strict=True)}
        self.gps = {g.rpps: f"Practitioner/{i}" for g, i in zip(self.data.gps, ids[1 + count:], strict=True)}

    @staticmethod
    def _pharmacy(pharmacy: Pharmacy, domain: str) -> dict[str, Any]:
        return {"resourceType": "Organization", "identifier": [{"system": IDNST, "value": pharmacy.idnst}],
                "name": pharmacy.name, "type": [{"text": "Pharmacie d'officine"}],
                "telecom": [_mailbox(f"{pharmacy.mailbox}@{domain}", "ORG")],
                "address": [{"city": pharmacy.city, "country": "FRA"}]}

    @staticmethod
    def _gp(gp: Person, domain: str) -> dict[str, Any]:
        return {"resourceType": "Practitioner", "identifier": [{"system": IDNPS, "value": gp.rpps}],
                "name": [{"family": gp.family, "given": [gp.given], "prefix": ["Dr"]}],
                "telecom": [_mailbox(f"{_ascii(gp.given)}.{_ascii(gp.family)}@{domain}", "PER")]}

    # -- one patient's story ---------------------------------------------------------------------

    async def patient(self, p: DemoPatient) -> None:
        """Registration, first prescription, enrolment, renewals, weekly answers, and the stop if any. Answers
        come after the renewals so that their triage finds the episode as it is today; the stop comes last,
        since answers sent after it would find no episode to alert."""
        hospital = self.data.hospital
        control = f"DEMO-{p.ipp}"
        orders = [Order(f"{p.ipp}-{n:02d}", f"PR-{p.ipp}-01", drug, p.enrolled_on,
                        p.enrolled_on + timedelta(days=FIRST_ORDER_DAYS - 1)) for n, drug in enumerate(p.drugs, 1)]
        # A patient sent by an earlier run is not sent again: the DPI adapter takes a resent NW as the order's
        # current state, which would make an order discontinued since active again.
        request = await self._first_order(p, orders[0])
        if request is None:
            if not await self.hl7.send(admission(p, hospital, self.at(p.enrolled_on - timedelta(days=2), 9,
                                                                      p.rank % 60), f"{control}-ADT"), "ADT^A04"):
                return
            if not await self.hl7.send(prescription(p, hospital, self.at(p.enrolled_on - timedelta(days=1), 11),
                                                    f"{control}-RX1", orders, omp=p.omp), "prescription"):
                return
            self.report.medication_requests += len(orders)
            request = await self._first_order(p, orders[0])
            if request is None:
                raise DemoError(f"the server acknowledged the prescription of {p.ipp} (AA) but has no "
                                f"MedicationRequest {orders[0].placer}; check `oncolink hl7 log`")
        else:
            self.report.already += 1
        self.report.patients += 1
        patient_ref = str(request["subject"]["reference"])
        episode, sequence = await self._enroll(p, patient_ref, request["id"])
        if episode is None:
            return
        await self._interactions(p, patient_ref, episode)
        current = await self._renewals(p, episode, sequence, orders[0])
        await self._questionnaires(p, patient_ref)
        if p.stopped_on is not None:
            stop = Order(current.placer, current.group, current.drug, current.start, current.end, "DC",
                         "TOX^Toxicité : arrêt du traitement")
            if await self.hl7.send(prescription(p, hospital, self.at(p.stopped_on, 16), f"{control}-STOP",
                                                [stop], omp=p.omp), "discontinuation"):
                self.report.stopped += 1

    async def _renewals(self, p: DemoPatient, episode: dict[str, Any], sequence: dict[str, Any] | None,
                        current: Order) -> Order:
        """Renewal prescriptions a few days before each sequence ends, up to the demo's day (or the stop), each
        followed by the discontinuation of the order it replaces; answers the order in force at the end."""
        hospital, control = self.data.hospital, f"DEMO-{p.ipp}"
        last_day = p.stopped_on or self.today
        for n, lead in enumerate(p.renewal_leads, 2):
            if sequence is None:
                break
            day = date.fromisoformat(str(sequence["period"]["end"])[:10]) - timedelta(days=lead)
            if day > last_day:
                break
            renewal = Order(f"{p.ipp}-R{n:02d}", f"PR-{p.ipp}-{n:02d}", p.regimen.drug, day,
                            day + timedelta(days=RENEWAL_DAYS - 1))
            if not await self.hl7.send(prescription(p, hospital, self.at(day, 10), f"{control}-RX{n}", [renewal],
                                                    omp=p.omp), "renewal"):
                break
            self.report.medication_requests += 1
            stop = Order(current.placer, current.group, current.drug, current.start, current.end, "DC",
                         "RENOUV^Prescription renouvelée")
            await self.hl7.send(prescription(p, hospital, self.at(day, 10, 5), f"{control}-DC{n}", [stop], omp=p.omp),
                                "discontinuation")
            current = renewal
            following = await self._current_sequence(episode["id"])
            if following is None or following.get("period") == sequence.get("period"):
                break  # the engine did not move on (e.g. the server's tick had already): nothing more to renew
            sequence = following
        return current

    async def _first_order(self, p: DemoPatient, order: Order) -> dict[str, Any] | None:
        """The patient's first anticancer MedicationRequest, found as the DPI adapter keys them: the Patient on
        the IPP's assigning authority (its OID), the order on its placer number."""
        found = (await self.fhir.search("Patient", {
            "identifier": f"urn:oid:{self.data.hospital.authority_oid}|{p.ipp}"})).get("entry") or []
        if not found:
            return None
        requests = (await self.fhir.search("MedicationRequest", {
            "subject": f"Patient/{found[0]['resource']['id']}", "identifier": order.placer})).get("entry") or []
        return dict(requests[0]["resource"]) if requests else None

    async def _current_sequence(self, episode_id: str) -> dict[str, Any] | None:
        found = (await self.fhir.search("CarePlan", {"part-of": f"CarePlan/{episode_id}", "status": "active"})
                 ).get("entry") or []
        return found[0]["resource"] if found else None

    async def _enroll(self, p: DemoPatient, patient_ref: str, request_id: str
                      ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        # An episode this prescription opened in an earlier run (perhaps ended since) is kept as it is:
        # `$enroll` answers an active one itself, but refuses once the episode's prescription has stopped.
        key = f"{patient_ref.split('/', 1)[1]}/{request_id}"
        name, value = identifier_query("episode", key).split("=", 1)
        earlier = (await self.fhir.search("CarePlan", {name: value})).get("entry") or []
        if earlier:
            episode = earlier[0]["resource"]
            self.episodes.append(f"CarePlan/{episode['id']}")
            self.report.episodes += 1
            self.report.parcours_b += parcours_of(episode) == "B"
            return episode, await self._current_sequence(episode["id"])
        condition = {"resourceType": "Condition", "subject": {"reference": patient_ref},
                     "clinicalStatus": {"coding": [{
                         "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                     "code": {"coding": [{"system": ICD10, "code": p.regimen.cancer_code,
                                          "display": p.regimen.cancer_display}], "text": p.regimen.cancer_display}}
        [(condition_id, _)] = _located(await self.fhir.transaction(_transaction([_entry(
            condition, f"subject={patient_ref}&code={ICD10}|{p.regimen.cancer_code}")])))
        consent = {"resourceType": "Consent", "status": "active",
                   "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                         "code": "treatment"}]},
                   "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                   "patient": {"reference": patient_ref}, "dateTime": p.enrolled_on.isoformat(),
                   "organization": [{"reference": self.hospital_ref}],
                   "policyRule": {"text": "Consentement au parcours Onco'Link et à la télésurveillance"}}
        parameters = {"resourceType": "Parameters", "parameter": [
            {"name": "medicationRequest", "valueReference": {"reference": f"MedicationRequest/{request_id}"}},
            {"name": "hospitalTeam", "valueReference": {"reference": self.hospital_ref}},
            {"name": "pharmacy", "valueReference": {"reference": self.pharmacies[p.pharmacy.idnst]}},
            {"name": "gp", "valueReference": {"reference": self.gps[p.gp.rpps]}},
            {"name": "condition", "valueReference": {"reference": f"Condition/{condition_id}"}},
            {"name": "telemonitoring", "valueBoolean": True},
            {"name": "start", "valueDate": p.enrolled_on.isoformat()},
            {"name": "consent", "resource": consent}]}
        try:
            answer = await self.fhir.operation(f"{patient_ref}/$enroll", parameters)
        except FhirResponseError as exc:
            self.report.problems.append(f"$enroll of {patient_ref} (IPP {p.ipp}): HTTP {exc.status} {exc.diagnostics}")
            return None, None
        out = {x["name"]: x.get("resource") for x in answer.get("parameter") or []}
        episode = out.get("episode") or {}
        self.episodes.append(f"CarePlan/{episode['id']}")
        self.report.episodes += 1
        self.report.parcours_b += parcours_of(episode) == "B"
        return episode, out.get("sequence")

    async def _questionnaires(self, p: DemoPatient, patient_ref: str) -> None:
        if not p.weeks:
            return
        system = self.data.hospital.response_system
        entries = []
        for week in p.weeks:
            ident = {"system": system, "value": f"{p.ipp}-{week.authored:%Y%m%d}"}
            body = self.scale.response(patient_ref, week.authored.isoformat(), week.answers, ident)
            entries.append(_entry(body, f"identifier={system}|{ident['value']}"))
        located = _located(await self.fhir.transaction(_transaction(entries)))
        self.report.questionnaires += sum(created for _, created in located)
        flags = [f async for f in self.fhir.search_all("Flag", {"subject": patient_ref, "_count": "200"})]
        for flag in flags:
            colour = next((e["valueCoding"]["code"] for e in flag.get("extension") or []
                           if "valueCoding" in e and e["url"].endswith("alert-colour")), "orange")
            self.report.alerts[colour] += 1
        responses = {f"QuestionnaireResponse/{qr_id}": week for (qr_id, _), week in zip(located, p.weeks, strict=True)}
        rng = random.Random(p.handling_seed)
        horizon = self.today - timedelta(days=self.data.timeline.handled_after_days)
        for flag in flags:
            source = next((e["valueReference"]["reference"] for e in flag.get("extension") or []
                           if e.get("url") == FLAG_DETAIL), "")
            week = responses.get(source)
            if flag.get("status") == "active" and week is not None and week.authored.date() < horizon:
                await self._handle(flag, patient_ref, rng)

    async def _handle(self, flag: dict[str, Any], patient_ref: str, rng: random.Random) -> None:
        """The nurse handles the alert in the worklist: the same form post as the page's button."""
        tasks = (await self.fhir.search("Task", {"focus": f"Flag/{flag['id']}", "status": "requested"})
                 ).get("entry") or []
        for entry in tasks:
            task = entry["resource"]
            response = await self.web.post(f"/worklist/task/{task['id']}/handle", data={
                "outcome": rng.choice(self.outcomes), "note": "Patient rappelé par l'infirmière de coordination.",
                "patient": patient_ref.split("/", 1)[1], "team": self.hospital_ref,
                "version": str(task["meta"]["versionId"])})
            # Handled: back to the patient's page; a refused token would be sent to the login page instead.
            if response.status_code == 303 and "traite=" in response.headers.get("location", ""):
                self.report.handled += 1
            else:
                self.report.problems.append(f"handling Task/{task['id']} in the worklist: HTTP {response.status_code}")

    async def _interactions(self, p: DemoPatient, patient_ref: str, episode: dict[str, Any]) -> None:
        """A detected interaction (the proton-pump inhibitor) is passed on to the pharmacist and the GP, once per
        rule and co-prescribed drug: a renewal pairs the new prescription with the same drug again."""
        issues = (await self.fhir.search("DetectedIssue", {"patient": patient_ref})).get("entry") or []
        for entry in issues:
            issue = entry["resource"]
            # The server's identifier is rule/anticancer request/other request.
            value = next((str(i.get("value", "")) for i in issue.get("identifier") or []), "")
            rule, _, rest = value.partition("/")
            other = rest.partition("/")[2] or issue["id"]
            key = f"{episode['id']}/interaction/{rule}/{other}"
            created = _located(await self.fhir.transaction(_transaction([_entry(
                self._interaction_trigger(p, patient_ref, episode, issue, key), identifier_query("trigger", key))])))
            self.report.interactions += sum(c for _, c in created)

    def _interaction_trigger(self, p: DemoPatient, patient_ref: str, episode: dict[str, Any], issue: dict[str, Any],
                             key: str) -> dict[str, Any]:
        label = (issue.get("code") or {}).get("text") or "Interaction médicamenteuse"
        return {
            "resourceType": "Communication", "meta": {"profile": [MESSAGE_PROFILE]},
            "identifier": [identifier("trigger", key)], "status": "preparation",
            "category": [{"coding": [{"system": MESSAGE_CATEGORY_CS, "code": "coordination"}]}],
            "subject": {"reference": patient_ref},
            "about": [{"reference": f"CarePlan/{episode['id']}"}],
            "recipient": [{"reference": self.pharmacies[p.pharmacy.idnst]}, {"reference": self.gps[p.gp.rpps]}],
            "topic": {"coding": [{"system": TRIGGER_CS, "code": "alert"}]},
            "reasonCode": [{"coding": [{"system": ALERT_TYPE_CS, "code": "interaction"}]}],
            "payload": [{"contentString": f"Interaction détectée : {label}. {issue.get('detail', '')}".strip()}]}

    # -- after the stories -----------------------------------------------------------------------

    async def count(self, res_type: str, params: dict[str, str]) -> int:
        return int((await self.fhir.search(res_type, {**params, "_summary": "count"})).get("total") or 0)

    async def _each(self, res_type: str, name: str, refs: list[str], params: dict[str, str]
                    ) -> list[dict[str, Any]]:
        """Resources whose `name` is one of `refs`, a few dozen references per search (URLs stay short)."""
        found = []
        for start in range(0, len(refs), CHUNK):
            found += [r async for r in self.fhir.search_all(res_type, {
                name: ",".join(refs[start:start + CHUNK]), "_count": "500", **params})]
        return found

    async def sequences(self) -> None:
        """Transitions: sequences begun after the first one, over the demo patients' episodes."""
        episodes = list(dict.fromkeys(self.episodes))
        total = 0
        for start in range(0, len(episodes), CHUNK):
            total += await self.count("CarePlan", {"part-of": ",".join(episodes[start:start + CHUNK])})
        self.report.transitions = total - len(episodes)

    async def settle_messages(self, wait_seconds: float) -> None:
        """Wait for the server's MSSanté worker to take in and settle every trigger of the demo's episodes."""
        episodes = list(dict.fromkeys(self.episodes))
        triggers: list[dict[str, Any]] = []
        deadline = monotonic.monotonic() + wait_seconds
        while True:
            triggers = await self._each("Communication", "about", episodes,
                                        {"category": COORDINATION, "part-of:missing": "true"})
            left = sum(t.get("status") in ("preparation", "in-progress") for t in triggers)
            if left == 0 or monotonic.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)
        self.report.pending_messages = left
        self.report.triggers = len(triggers)
        for message in await self._each("Communication", "part-of", [f"Communication/{t['id']}" for t in triggers],
                                        {"_elements": "status"}):
            self.report.messages[str(message.get("status"))] += 1


async def check_server(fhir: FhirClient) -> None:
    try:
        await fhir.metadata()
    except FhirUnavailable as exc:
        raise DemoError(f"the FHIR server at {fhir.base_url} is unreachable; start it with `make run` or give its "
                        "base with --base-url") from exc
    except FhirResponseError as exc:
        if exc.status in (401, 403):
            raise DemoError(f"the FHIR server at {fhir.base_url} refused the request (HTTP {exc.status}); give a "
                            "token with --token or ONCOLINK_TOKEN") from exc
        raise DemoError(f"the FHIR server at {fhir.base_url} answered HTTP {exc.status} to /metadata "
                        f"({exc.diagnostics})") from exc


async def run(driver: Driver, patients: list[DemoPatient], wait_seconds: float) -> Report:
    await check_server(driver.fhir)
    try:
        await driver.hl7.open()
        try:
            await driver.directory()
            for p in patients:
                try:
                    await driver.patient(p)
                except FhirResponseError as exc:
                    if exc.status in (401, 403):
                        raise
                    driver.report.problems.append(f"patient {p.ipp}: HTTP {exc.status} {exc.diagnostics}")
        finally:
            await driver.hl7.close()
        await driver.sequences()
        await driver.settle_messages(wait_seconds)
    except FhirResponseError as exc:
        if exc.status in (401, 403):
            raise DemoError(f"the server refused the demo's request (HTTP {exc.status}: {exc.diagnostics}); give a "
                            "token allowed to write (system/*.cruds) with --token or ONCOLINK_TOKEN") from exc
        raise DemoError(f"the server answered HTTP {exc.status} ({exc.diagnostics})") from exc
    return driver.report
