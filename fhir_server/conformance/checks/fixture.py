"""The search data set shared by the search, history and format checks, created once per run.

Two patients that differ in every searched value, an observation and a risk assessment for each, and
two questionnaires: each search must find one side and not the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import samples
from ..client import CheckFailed
from ..run import Run, Skipped

Resource = dict[str, Any]


@dataclass
class SearchData:
    a: Resource
    b: Resource
    obs_a: Resource | None
    obs_b: Resource | None
    risk_a: Resource | None
    risk_b: Resource | None
    q_a: Resource | None
    q_b: Resource | None


def search_data(run: Run) -> SearchData:
    cached = run.cache.get("search")
    if isinstance(cached, SearchData):
        return cached
    if isinstance(cached, Exception):
        raise Skipped(str(cached))
    claims = run.capability
    if not claims.claims("Patient", "create"):
        raise Skipped("needs create on Patient to make test data")
    marks = run.marks
    try:
        a = run.create(samples.patient(marks, "alpha", gender="male", birth_date="1950-03-04"))
        b = run.create(samples.patient(marks, "beta", gender="female", birth_date="1990-06-07"))

        def maybe(res_type: str, build: Any) -> tuple[Resource | None, Resource | None]:
            if not claims.claims(res_type, "create"):
                return None, None
            return run.create(build(a, 0)), run.create(build(b, 1))

        obs = maybe("Observation", lambda p, i: samples.observation(marks, f"Patient/{p['id']}", (5.4, 7.2)[i]))
        risk = maybe("RiskAssessment", lambda p, i: samples.risk_assessment(marks, f"Patient/{p['id']}", (0.2, 0.8)[i]))
        qs = maybe("Questionnaire", lambda p, i: samples.questionnaire(marks, ("qa", "qb")[i]))
    except CheckFailed as exc:
        run.cache["search"] = exc
        raise Skipped(f"could not create the search test data: {exc}") from exc
    data = SearchData(a, b, obs[0], obs[1], risk[0], risk[1], qs[0], qs[1])
    run.cache["search"] = data
    return data
