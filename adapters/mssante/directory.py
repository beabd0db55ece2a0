"""Recipients' MSSanté addresses from the national health directory (Annuaire Santé FHIR API), cached.

A mailbox is a `telecom` (system email) carrying the `as-ext-mailbox-mss-metadata` extension, whose `type`
says PER (a person), ORG (an organisation), APP (an application) or CAB (a practice). A person is looked
up by national identifier (idnps = "8" + RPPS, or the RPPS alone) and, when the Practitioner carries no
mailbox, through its PractitionerRoles (paged); an organisation by FINESS or IDNST, ORG before APP.
Answers, including "no address", are cached in the database with an expiry; server errors and
timeouts are temporary (the message waits and is retried), other client errors are not.
Without a directory URL, or when it knows no mailbox, the recipient's own FHIR telecom is used if it is
an MSSanté address, so a dev server without the national API still shows messages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from .facts import FINESS_SYSTEMS, IDNPS_OID, IDNST_OID, display_of, identifier
from .store import Store

MSS_EXTENSION = "https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"
PERSON_TYPES = ("PER", "CAB")
ORG_TYPES = ("ORG", "APP")


class DirectoryUnavailable(Exception):
    """The directory could not answer now (network, 5xx, 401/403/429): try again later."""


class DirectoryError(Exception):
    """The directory refused the question itself: retrying the same question will not help."""


@dataclass(frozen=True)
class Mailbox:
    address: str
    kind: str | None  # PER, ORG, APP, CAB (None: MSSanté domain without the directory's metadata)
    red_list: bool = False


@dataclass(frozen=True)
class Resolution:
    address: str | None
    display: str
    source: str  # annuaire | fhir | cache | none
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


def mailboxes(resource: dict[str, Any]) -> list[Mailbox]:
    found = []
    for telecom in resource.get("telecom") or []:
        value = str(telecom.get("value") or "").strip()
        if telecom.get("system") != "email" or "@" not in value:
            continue
        if value.lower().startswith("mailto:"):
            value = value[len("mailto:"):]
        meta = next((e for e in telecom.get("extension") or [] if e.get("url") == MSS_EXTENSION), None)
        if meta is None:
            if value.lower().endswith("mssante.fr"):
                found.append(Mailbox(value, None))
            continue
        kind = red = None
        for sub in meta.get("extension") or []:
            if sub.get("url") == "type":
                concept = sub.get("valueCodeableConcept") or {}
                coding = sub.get("valueCoding") or next(iter(concept.get("coding") or []), {})
                kind = coding.get("code")
            elif sub.get("url") == "listeRouge":
                red = bool(sub.get("valueBoolean"))
        found.append(Mailbox(value, kind, bool(red)))
    return found


def pick(boxes: list[Mailbox], kinds: tuple[str, ...]) -> Mailbox | None:
    """The first mailbox of the preferred kind; unlisted (liste rouge) ones only when nothing else fits."""
    for allow_red in (False, True):
        for kind in kinds:
            for box in boxes:
                if box.kind == kind and (allow_red or not box.red_list):
                    return box
    return None


def person_keys(resource: dict[str, Any]) -> list[tuple[str, str]]:
    idnps = identifier(resource, f"urn:oid:{IDNPS_OID}")
    rpps = identifier(resource, RPPS_SYSTEM)
    if idnps and not rpps and idnps.startswith("8") and len(idnps) == 12:
        rpps = idnps[1:]
    if rpps and not idnps:
        idnps = "8" + rpps
    return [(s, v) for s, v in ((f"urn:oid:{IDNPS_OID}", idnps), (RPPS_SYSTEM, rpps)) if v]


def organisation_keys(resource: dict[str, Any]) -> list[tuple[str, str]]:
    idnst = identifier(resource, f"urn:oid:{IDNST_OID}")
    finess = identifier(resource, *FINESS_SYSTEMS)
    if idnst and not finess and idnst.startswith("1") and len(idnst) == 10:
        finess = idnst[1:]  # IDNST of a FINESS-registered structure = "1" + FINESS
    if finess and not idnst:
        idnst = "1" + finess
    return [(s, v) for s, v in ((FINESS_SYSTEM, finess), (f"urn:oid:{IDNST_OID}", idnst)) if v]


def _token(keys: list[tuple[str, str]]) -> str:
    return ",".join(f"{system}|{value}" for system, value in keys)


class Directory:
    def __init__(self, *, base_url: str, store: Store, api_key: str = "", timeout: float = 15.0,
                 ttl: timedelta = timedelta(days=1), negative_ttl: timedelta = timedelta(hours=1),
                 max_pages: int = 20, http: httpx.AsyncClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.store = store
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_pages = max_pages
        headers = {"Accept": "application/fhir+json"}
        if api_key:
            headers["ESANTE-API-KEY"] = api_key
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=timeout, headers=headers)
        if not self._own_http:
            self.http.headers.update(headers)

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def resolve(self, resource: dict[str, Any], *, practitioner: dict[str, Any] | None = None,
                      organization: dict[str, Any] | None = None) -> Resolution:
        """The MSSanté address of a recipient (our Organization, Practitioner or PractitionerRole)."""
        res_type = resource.get("resourceType")
        display = display_of(resource) or display_of(practitioner) or display_of(organization)
        if res_type == "PractitionerRole":
            own = pick(mailboxes(resource), PERSON_TYPES + ORG_TYPES + (None,))  # type: ignore[operator]
            if own:
                return Resolution(own.address, display, "fhir")
            if practitioner is None:
                return Resolution(None, display, "none", "le rôle ne désigne aucun professionnel (practitioner)")
            resource, res_type = practitioner, "Practitioner"
        if res_type == "Practitioner":
            keys, kinds = person_keys(resource), PERSON_TYPES
            missing = "aucun identifiant RPPS (idnps 8 + RPPS) sur le professionnel"
        elif res_type == "Organization":
            keys, kinds = organisation_keys(resource), ORG_TYPES
            missing = "aucun identifiant FINESS ni IDNST sur la structure"
        else:
            return Resolution(None, display, "none", f"destinataire de type {res_type} : pas de messagerie MSSanté")
        if self.base_url and keys:
            found = await self._lookup(res_type, keys, kinds)
            if found.address:
                return Resolution(found.address, display or found.display, found.source, detail=found.detail)
            reason = found.reason
        else:
            reason = missing if self.base_url else "annuaire santé non configuré"
        local = pick(mailboxes(resource), kinds) or next((b for b in mailboxes(resource) if b.kind is None), None)
        if local:
            return Resolution(local.address, display, "fhir", detail={"note": reason})
        return Resolution(None, display, "none", reason)

    async def _lookup(self, res_type: str, keys: list[tuple[str, str]], kinds: tuple[str, ...]) -> Resolution:
        cache_key = f"{res_type}?identifier={_token(keys)}"[:255]
        cached = await asyncio.to_thread(self.store.cached, cache_key)
        if cached is not None:
            reason = "" if cached.address else str(cached.detail.get("reason") or "aucune BAL MSSanté dans l'annuaire")
            return Resolution(cached.address, cached.display or "", "cache", reason, cached.detail)
        found = await (self._person(keys) if res_type == "Practitioner" else self._organisation(keys, kinds))
        ttl = self.ttl if found.address else self.negative_ttl
        detail = {**found.detail, "reason": found.reason} if not found.address else found.detail
        await asyncio.to_thread(self.store.cache, cache_key, found.address, found.display, detail, ttl)
        return found

    async def _person(self, keys: list[tuple[str, str]]) -> Resolution:
        people = await self._search("Practitioner", {"identifier": _token(keys)})
        if not people:
            return Resolution(None, "", "annuaire", "professionnel inconnu de l'annuaire santé (RPPS "
                              f"{keys[0][1]})")
        for person in people:
            box = pick(mailboxes(person), PERSON_TYPES)
            if box:
                return Resolution(box.address, display_of(person), "annuaire",
                                  detail={"directory_id": person.get("id"), "type": box.kind})
        for person in people:
            if not person.get("id"):
                continue
            roles = await self._search("PractitionerRole", {"practitioner": f"Practitioner/{person['id']}"})
            for role in roles:
                box = pick(mailboxes(role), PERSON_TYPES)
                if box:
                    return Resolution(box.address, display_of(person), "annuaire",
                                      detail={"directory_id": role.get("id"), "type": box.kind, "via": "role"})
        return Resolution(None, display_of(people[0]), "annuaire",
                          "aucune BAL MSSanté personnelle dans l'annuaire santé pour ce professionnel")

    async def _organisation(self, keys: list[tuple[str, str]], kinds: tuple[str, ...]) -> Resolution:
        orgs = await self._search("Organization", {"identifier": _token(keys)})
        if not orgs:
            return Resolution(None, "", "annuaire", f"structure inconnue de l'annuaire santé ({keys[0][1]})")
        for org in orgs:
            box = pick(mailboxes(org), kinds)
            if box:
                return Resolution(box.address, display_of(org), "annuaire",
                                  detail={"directory_id": org.get("id"), "type": box.kind})
        return Resolution(None, display_of(orgs[0]), "annuaire",
                          "aucune BAL MSSanté organisationnelle dans l'annuaire santé pour cette structure")

    async def _search(self, res_type: str, params: dict[str, str]) -> list[dict[str, Any]]:
        url: str | None = f"{self.base_url}/{res_type}"
        query: dict[str, str] | None = {**params, "_count": "50"}
        found: list[dict[str, Any]] = []
        for _ in range(self.max_pages):
            if url is None:
                break
            bundle = await self._get(url, query)
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") or {}
                if resource.get("resourceType") == res_type and (entry.get("search") or {}).get("mode", "match") \
                        == "match":
                    found.append(resource)
            url = next((link.get("url") for link in bundle.get("link") or [] if link.get("relation") == "next"), None)
            query = None  # the next link carries the whole query
        return found

    async def _get(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        try:
            response = await self.http.get(url, params=params)
        except httpx.TimeoutException as exc:
            raise DirectoryUnavailable(f"annuaire santé : pas de réponse à temps ({url})") from exc
        except httpx.TransportError as exc:
            raise DirectoryUnavailable(f"annuaire santé injoignable ({exc})") from exc
        status = response.status_code
        if status == 404:
            return {}
        if status in (401, 403, 408, 429) or status >= 500:
            raise DirectoryUnavailable(f"annuaire santé : HTTP {status} sur {url}")
        if status >= 400:
            raise DirectoryError(f"annuaire santé : requête refusée (HTTP {status}) sur {url}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DirectoryUnavailable(f"annuaire santé : réponse illisible sur {url}") from exc
        if not isinstance(body, dict):
            raise DirectoryUnavailable(f"annuaire santé : réponse inattendue sur {url}")
        return body
