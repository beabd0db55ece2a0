"""Who may do what to which patient's data: SMART scopes narrowed by the role table, as SQL.

A request's `Access` answers two questions. *May this caller attempt interaction X on type T?* — its
scopes must grant it (`require`, a 403 otherwise). *Which rows may it see or touch?* — `condition`
returns a SQL predicate on a resource row that the search engine ANDs into every query it builds: the
match itself, each chain and `_has` sub-query, each `_include`/`_revinclude` round and history. Filtering
in SQL rather than after the fact keeps paging, totals and includes truthful, and nothing the caller may
not see can shape a result.

A row is patient data when its type belongs to the R4 Patient compartment (CompartmentDefinition
`patient`); it is then visible when one of its compartment references (read from the reference index)
points to an allowed patient. Other types (Practitioner, Medication, Questionnaire…) are not about a
patient: the scopes alone decide. AuditEvents are shown to audit roles only, whatever their compartment.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from sqlalchemy import ColumnElement, Connection

from ..errors import Forbidden
from ..search.predicates import Target
from ..search.registry import SearchParameters
from ..search.tables import idx_reference
from ..store.tables import resource
from ..validation.packages import PackageRegistry
from .care_access import care_access
from .scopes import Context, Interaction
from .tokens import Principal

PatientReach = Literal["establishment", "care-team", "own", "none"]
PATIENT_COMPARTMENT = "http://hl7.org/fhir/CompartmentDefinition/patient"
AUDIT_TYPE = "AuditEvent"
# One alias for every access probe: each probe is its own correlated EXISTS, so they never clash, and an
# alias built per search would rebuild its column collection every time (a fifth of a filtered search's
# Python time, profiled).
_ACCESS_REF = idx_reference.alias("access_ref")
# Care teams whose predicates are kept (one entry per team, scopes and role: a few kilobytes each); past
# this the memo starts again empty rather than growing with every team ever seen.
_TEAMS_KEPT = 4096


@dataclass(frozen=True)
class RoleRule:
    patients: PatientReach
    audit: bool = False
    audit_source: bool = False


def load_roles(path: Path) -> dict[str, RoleRule]:
    """The role table of `mappings/access/roles.yaml`; a malformed entry stops start-up, never a request."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    roles: dict[str, RoleRule] = {}
    for name, entry in (data.get("roles") or {}).items():
        reach = (entry or {}).get("patients")
        if reach not in ("establishment", "care-team", "own", "none"):
            raise ValueError(f"{path}: role {name!r} needs patients: establishment, care-team, own or none")
        roles[str(name)] = RoleRule(reach, bool(entry.get("audit", False)), bool(entry.get("audit_source", False)))
    return roles


class PatientCompartment:
    """The Patient compartment of R4 as index identities: for each member type, the reference
    parameters that put one of its resources in a patient's compartment. Identities are worked out per
    type on first use (it compiles the type's parameters, which start-up should not pay for every type)."""

    def __init__(self, packages: PackageRegistry, params: SearchParameters) -> None:
        definition = packages.resolve(PATIENT_COMPARTMENT) or {}
        self._params = params
        self._codes: dict[str, tuple[str, ...]] = {
            entry["code"]: tuple(entry.get("param") or ()) for entry in definition.get("resource") or []
            if entry.get("param")}
        self.types: frozenset[str] = frozenset({"Patient", *self._codes})
        self.sorted_types: tuple[str, ...] = tuple(sorted(self.types))
        self._identities: dict[str, tuple[int, ...]] = {}

    def identities(self, res_type: str) -> tuple[int, ...]:
        found = self._identities.get(res_type)
        if found is None:
            ids = []
            for code in self._codes.get(res_type, ()):
                param = self._params.get(res_type, code)
                if param is not None and param.type == "reference" and param.indexed:
                    key = self._params.index_key(res_type, code)
                    ids.append(Target(param.hash_type(res_type), key, code).identity)
            found = self._identities[res_type] = tuple(ids)
        return found

    @functools.cached_property
    def all_identities(self) -> tuple[int, ...]:
        return tuple(sorted({i for res_type in self._codes for i in self.identities(res_type)}))


@dataclass(frozen=True)
class Access:
    """One caller's rights, for one request. `patients` is None when every patient is reachable, else a
    selectable (or list) of the patient ids the caller may reach."""

    principal: Principal
    rule: RoleRule | None
    compartment: PatientCompartment = field(repr=False, compare=False)
    patients: Any = None
    context: Context | None = None
    # The care-team members `patients` is drawn from, when the reach is care-team scoped (else None): the
    # search engine then reads the member-scoped string index (`security/member_index.py`).
    members: tuple[str, ...] | None = None
    # Predicates on the `resource` table itself, by (known type, interaction): shared by every request of
    # the same care team and scopes (see `AccessPolicy.access`), so a pharmacist's searches build them once.
    memo: dict[tuple[str | None, str], ColumnElement[bool] | None] = field(
        default_factory=dict, repr=False, compare=False)

    @property
    def role(self) -> str:
        return self.principal.role or "?"

    def require(self, interaction: Interaction, res_type: str) -> None:
        """403 unless the scopes grant `interaction` on `res_type` and the role may touch that type at all."""
        if self.rule is None:
            raise Forbidden(f"Le rôle « {self.role} » n'a aucun droit sur ce serveur")
        if res_type == AUDIT_TYPE and interaction in ("update", "delete"):
            raise Forbidden("Les journaux d'audit (AuditEvent) ne peuvent être ni modifiés ni supprimés par l'API")
        if res_type == AUDIT_TYPE and interaction == "create" and not self.rule.audit_source:
            raise Forbidden("Les journaux d'audit (AuditEvent) sont écrits par le serveur et ses adaptateurs, pas "
                            "par l'API")
        if res_type == AUDIT_TYPE and interaction != "create" and not self.rule.audit:
            raise Forbidden("Seuls les auditeurs peuvent consulter les journaux d'audit (AuditEvent)")
        if not self.principal.scopes.permits(interaction, res_type, self.context):
            raise Forbidden(f"Le jeton ne donne pas le droit « {interaction} » sur {res_type} "
                            f"(portées : {self.principal.scopes or 'aucune'})")

    def condition(self, pk: ColumnElement[Any], res_type: ColumnElement[str], res_id: ColumnElement[str],
                  known_type: str | None = None, interaction: Interaction = "search") -> ColumnElement[bool] | None:
        """The predicate a row must meet to be visible; None when nothing needs filtering.

        `known_type` (a type-level search, an include of one type) lets the predicate drop the branches
        of other types. Without it, rows are also limited to the types the scopes grant `interaction` on
        (a system-level search by a pharmacist returns no Practitioner it has no scope for)."""
        if pk is not resource.c.pk:
            return self._condition(pk, res_type, res_id, known_type, interaction)
        key = (known_type, interaction)
        if key not in self.memo:
            self.memo[key] = self._condition(pk, res_type, res_id, known_type, interaction)
        return self.memo[key]

    def _condition(self, pk: ColumnElement[Any], res_type: ColumnElement[str], res_id: ColumnElement[str],
                   known_type: str | None, interaction: Interaction) -> ColumnElement[bool] | None:
        rule = self.rule
        if rule is None:
            return sa.false()
        if known_type is not None:
            if known_type == AUDIT_TYPE and not rule.audit:
                return sa.false()
            if not self.principal.scopes.permits(interaction, known_type, self.context):
                return sa.false()
            if not self.resource_condition_needed(known_type):
                return None
            return self._patient_rows(pk, res_type, res_id, known_type)
        parts: list[ColumnElement[bool]] = []
        types = self.permitted_types(interaction)
        if types is not None:
            parts.append(res_type.in_(types))
        if not rule.audit:
            parts.append(res_type != AUDIT_TYPE)
        if rule.patients != "establishment":
            patient_rows = self._patient_rows(pk, res_type, res_id, None)
            parts.append(sa.or_(res_type == AUDIT_TYPE, patient_rows) if rule.audit else patient_rows)
        return sa.and_(*parts) if parts else None

    def permitted_types(self, interaction: Interaction) -> list[str] | None:
        """The types the scopes grant `interaction` on without restriction; None for every type."""
        scopes = self.principal.scopes
        if scopes.permits(interaction, "*", self.context):
            return None
        return sorted({s.resource_type for s in scopes.scopes if s.resource_type != "*"
                       and scopes.permits(interaction, s.resource_type, self.context)})

    def _patient_rows(self, pk: ColumnElement[Any], res_type: ColumnElement[str], res_id: ColumnElement[str],
                      known_type: str | None) -> ColumnElement[bool]:
        """Rows of patient data that concern a reachable patient, and (without `known_type`) every row
        that is not patient data."""
        compartment = self.compartment
        if self.rule is None or self.rule.patients == "none":
            return sa.false() if known_type is not None else res_type.not_in(compartment.sorted_types)
        if known_type == "Patient":
            # A Patient is reached by its own id; its `link` to another Patient record grants nothing.
            return res_id.in_(self.patients)
        identities = compartment.identities(known_type) if known_type else compartment.all_identities
        ref = _ACCESS_REF
        linked = sa.exists().where(ref.c.res_pk == pk, ref.c.hash_identity.in_(identities),
                                   ref.c.target_type == "Patient", ref.c.target_id.in_(self.patients)
                                   ).correlate_except(ref)
        if known_type is not None:
            return linked if identities else sa.false()
        own = sa.and_(res_type == "Patient", res_id.in_(self.patients))
        return sa.or_(res_type.not_in(compartment.sorted_types), own, linked)

    def resource_condition_needed(self, res_type: str) -> bool:
        """Whether rows of `res_type` need the visibility predicate at all (most calls by the hospital
        team and for non-patient types do not, and then cost no query)."""
        rule = self.rule
        if rule is None:
            return True
        if res_type == AUDIT_TYPE:
            return not rule.audit
        return rule.patients != "establishment" and res_type in self.compartment.types

    def write_check_needed(self, res_type: str) -> bool:
        """Whether a written row must be checked against the caller's reach: as for reads, except that
        an audit source's own AuditEvents are its to write."""
        if res_type == AUDIT_TYPE and self.rule is not None and self.rule.audit_source:
            return False
        return self.resource_condition_needed(res_type)

    def visible_pks(self, conn: Connection, pks: list[int]) -> set[int]:
        """Which of these current resource rows the caller may see (write checks, reads)."""
        where = self.condition(resource.c.pk, resource.c.res_type, resource.c.res_id, interaction="read")
        if where is None or not pks:
            return set(pks)
        return {row.pk for row in conn.execute(sa.select(resource.c.pk).where(resource.c.pk.in_(pks), where))}


class _LookupNeeded(Exception):
    """The caller's organisations are not remembered: building its access needs the database."""


class AccessPolicy:
    """Builds each request's `Access` from its verified principal. Organisation identifiers in tokens
    (FINESS) are turned into `Organization/<id>` references once and remembered for a short while: care
    teams name organisations by reference, tokens by identifier."""

    def __init__(self, roles: Mapping[str, RoleRule], compartment: PatientCompartment,
                 organization_cache_seconds: float = 60.0) -> None:
        self.roles = dict(roles)
        self.compartment = compartment
        self._cache_seconds = organization_cache_seconds
        self._organizations: dict[tuple[str, ...], tuple[float, tuple[str, ...]]] = {}
        self._teams: dict[tuple[Any, ...], tuple[Any, dict[Any, Any]]] = {}
        self._lock = threading.Lock()

    def access(self, principal: Principal, conn_factory: Any, finder: Any) -> Access:
        """`conn_factory()` opens a read connection and `finder.find(conn, type, query)` runs conditional
        lookups; both only when the role needs care-team members resolved."""
        return self._access(principal, lambda key: self._organization_refs(key, conn_factory, finder))

    def access_without_lookup(self, principal: Principal) -> Access | None:
        """`access` when it needs no database lookup (every role but the care-team ones, and those once
        their organisations are remembered), else None; never blocks."""
        try:
            return self._access(principal, self._remembered_organizations)
        except _LookupNeeded:
            return None

    def _access(self, principal: Principal, organizations: Callable[[tuple[str, ...]], tuple[str, ...] | None]
                ) -> Access:
        rule = self.roles.get(principal.role or "")
        context = _context(principal)
        if rule is None or rule.patients in ("establishment", "none"):
            return Access(principal, rule, self.compartment, None, context)
        if rule.patients == "own":
            patient = principal.patient or _patient_of(principal.fhir_user)
            return Access(principal, rule, self.compartment, [patient] if patient else [], context)
        members: set[str] = set()
        if principal.organizations:
            refs = organizations(tuple(sorted(principal.organizations)))
            if refs is None:
                raise _LookupNeeded
            members.update(refs)
        if principal.fhir_user and "/" in principal.fhir_user:
            members.add("/".join(principal.fhir_user.rsplit("/", 2)[-2:]))  # absolute fhirUser URLs too
        key = (principal.role, tuple(sorted(members)), principal.scopes, context)
        with self._lock:
            team = self._teams.get(key)
            if team is None:
                if len(self._teams) >= _TEAMS_KEPT:
                    self._teams.clear()
                patients = sa.select(care_access.c.patient_id).where(care_access.c.member.in_(key[1]))
                team = self._teams[key] = (patients, {})
        return Access(principal, rule, self.compartment, team[0], context, key[1], team[1])

    def _remembered_organizations(self, key: tuple[str, ...]) -> tuple[str, ...] | None:
        with self._lock:
            cached = self._organizations.get(key)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def _organization_refs(self, key: tuple[str, ...], conn_factory: Any, finder: Any) -> tuple[str, ...]:
        now = time.monotonic()
        remembered = self._remembered_organizations(key)
        if remembered is not None:
            return remembered
        refs: list[str] = []
        with conn_factory() as conn:
            for identifier in key:
                if "|" in identifier:
                    refs += [f"Organization/{res_id}" for _, res_id in
                             finder.find(conn, "Organization", f"identifier={identifier}")]
        found = tuple(refs)
        with self._lock:
            self._organizations[key] = (now + self._cache_seconds, found)
        return found


def _context(principal: Principal) -> Context | None:
    """The one SMART context whose scopes apply: a patient app's patient/ scopes, a machine client's
    system/ scopes, a practitioner's user/ scopes."""
    contexts = principal.contexts
    for context in ("system", "user", "patient"):
        if contexts == frozenset({context}):
            return context  # type: ignore[return-value]
    return None


def _patient_of(fhir_user: str | None) -> str | None:
    if fhir_user and fhir_user.rsplit("/", 2)[-2:-1] == ["Patient"]:
        return fhir_user.rsplit("/", 1)[-1]
    return None
