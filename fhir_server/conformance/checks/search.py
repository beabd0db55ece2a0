"""search-type with each declared parameter type, the common parameters, sorting, paging and includes.

Each query is answered on data this run made; a check passes when the resources that must match are
there and this run's resources that must not match are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ..client import ensure
from ..run import Run, Skipped, entries, ids
from ..samples import UCUM
from .fixture import Resource, SearchData, search_data


def ref(resource: Resource | None) -> str:
    if resource is None:
        raise Skipped("the test data of this type could not be created (create not claimed)")
    return f"{resource['resourceType']}/{resource['id']}"


def expect_found(run: Run, res_type: str, params: list[tuple[str, str]], must: list[str], must_not: list[str]
                 ) -> None:
    bundle = run.search(res_type, params)
    found = set(ids(entries(bundle)))
    query = "&".join(f"{k}={v}" for k, v in params)
    missing = [r for r in must if r not in found]
    extra = [r for r in must_not if r in found]
    ensure(not missing, f"GET {res_type}?{query} did not return {', '.join(missing)}")
    ensure(not extra, f"GET {res_type}?{query} returned {', '.join(extra)}, which does not match")


def run(run: Run) -> None:
    claims = run.capability
    probes: list[tuple[str, str, str, str, Callable[[SearchData], None]]] = [
        # feature, resource type, parameter, its declared type, check
        ("string", "Patient", "family", "string", lambda d: expect_found(
            run, "Patient", [("family", f"{run.marks.word}AL".lower())], [ref(d.a)], [ref(d.b)])),
        ("token", "Patient", "identifier", "token", lambda d: expect_found(
            run, "Patient", [("identifier", f"{run.marks.identifier_system}|beta")], [ref(d.b)], [ref(d.a)])),
        ("token", "Patient", "gender", "token", lambda d: expect_found(
            run, "Patient", [("gender", "male")], [ref(d.a)], [ref(d.b)])),
        ("date", "Patient", "birthdate", "date", lambda d: (
            expect_found(run, "Patient", [("birthdate", "lt1970-01-01")], [ref(d.a)], [ref(d.b)]),
            expect_found(run, "Patient", [("birthdate", "1990-06")], [ref(d.b)], [ref(d.a)]))),
        ("reference", "Observation", "subject", "reference", lambda d: expect_found(
            run, "Observation", [("subject", ref(d.a))], [ref(d.obs_a)], [ref(d.obs_b)])),
        ("number", "RiskAssessment", "probability", "number", lambda d: expect_found(
            run, "RiskAssessment", [("probability", "gt0.5")], [ref(d.risk_b)], [ref(d.risk_a)])),
        ("quantity", "Observation", "value-quantity", "quantity", lambda d: expect_found(
            run, "Observation", [("value-quantity", f"gt6|{UCUM}|mmol/L")], [ref(d.obs_b)], [ref(d.obs_a)])),
        ("uri", "Questionnaire", "url", "uri", lambda d: expect_found(
            run, "Questionnaire", [("url", str((d.q_a or {}).get("url")))], [ref(d.q_a)], [ref(d.q_b)])),
        ("_id", "Patient", "_id", "token", lambda d: expect_found(
            run, "Patient", [("_id", d.a["id"])], [ref(d.a)], [ref(d.b)])),
        ("_lastUpdated", "Patient", "_lastUpdated", "date", lambda d: last_updated(run, d)),
        ("_sort", "Patient", "birthdate", "date", lambda d: sort(run, d)),
        ("_count", "Patient", "_tag", "token", lambda d: count(run, d)),
    ]
    for feature, res_type, code, kind, check in probes:
        if not claims.searchable(res_type, code, kind):
            continue
        label = f"search {feature} {res_type}" + ("" if code == feature or feature == "_count" else f"?{code}")
        run.check(label, "search", lambda c=check: c(search_data(run)), res_type)
    if "Observation:subject" in (claims.types.get("Observation").includes if "Observation" in claims.types else ()):
        run.check("search _include Observation:subject", "search", lambda: include(run, search_data(run)),
                  "Observation")
    if "Observation:subject" in (claims.types.get("Patient").revincludes if "Patient" in claims.types else ()):
        run.check("search _revinclude Observation:subject", "search", lambda: revinclude(run, search_data(run)),
                  "Patient")


def last_updated(run: Run, d: SearchData) -> None:
    stamp = str((d.a.get("meta") or {}).get("lastUpdated") or "")
    ensure(bool(stamp), "the created Patient has no meta.lastUpdated")
    before = (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=5)).isoformat()
    expect_found(run, "Patient", [("_lastUpdated", f"ge{before}")], [ref(d.a), ref(d.b)], [])
    expect_found(run, "Patient", [("_lastUpdated", "lt2000-01-01")], [], [ref(d.a), ref(d.b)])


def sort(run: Run, d: SearchData) -> None:
    if run.capability.param("Patient", "_tag") != "token":
        raise Skipped("needs _tag to sort only this run's patients")
    for order, expected in (("birthdate", [ref(d.a), ref(d.b)]), ("-birthdate", [ref(d.b), ref(d.a)])):
        got = [r for r in ids(entries(run.search("Patient", [("_sort", order)]))) if r in expected]
        ensure(got == expected, f"GET Patient?_sort={order} gave {got}, expected {expected}")


def count(run: Run, d: SearchData) -> None:
    """`_count=1` over this run's patients: one per page, `next` links, each patient seen exactly once."""
    bundle = run.search("Patient", [("_count", "1")])
    seen = ids(entries(bundle))
    ensure(len(seen) == 1, f"GET Patient?_count=1 returned {len(seen)} resources on the first page, expected 1")
    url = {link.get("relation"): link.get("url") for link in bundle.get("link") or []}.get("next")
    ensure(bool(url), "GET Patient?_count=1 matched several resources but gave no next link")
    for _ in range(50):
        if not url:
            break
        page = run.client.expect("GET", url, (200,)).json()
        found = ids(entries(page))
        ensure(len(found) <= 1, f"page {url} of a _count=1 search holds {len(found)} resources")
        seen += found
        url = {link.get("relation"): link.get("url") for link in page.get("link") or []}.get("next")
    duplicates = sorted({r for r in seen if seen.count(r) > 1})
    ensure(not duplicates, f"paging with _count=1 returned {', '.join(duplicates)} more than once")
    missing = [r for r in (ref(d.a), ref(d.b)) if r not in seen]
    ensure(not missing, f"paging with _count=1 never returned {', '.join(missing)}")


def include(run: Run, d: SearchData) -> None:
    bundle = run.search("Observation", [("_id", str((d.obs_a or {}).get("id"))), ("_include", "Observation:subject")],
                        ours=False)
    ensure(ids(entries(bundle)) == [ref(d.obs_a)], f"_include search matched {ids(entries(bundle))}, "
                                                   f"expected only {ref(d.obs_a)}")
    included = ids(entries(bundle, "include"))
    ensure(included == [ref(d.a)], f"GET Observation?_include=Observation:subject included {included}, expected "
                                   f"{ref(d.a)} with search.mode include")


def revinclude(run: Run, d: SearchData) -> None:
    bundle = run.search("Patient", [("_id", d.a["id"]), ("_revinclude", "Observation:subject")], ours=False)
    ensure(ids(entries(bundle)) == [ref(d.a)], f"_revinclude search matched {ids(entries(bundle))}, "
                                               f"expected only {ref(d.a)}")
    included = ids(entries(bundle, "include"))
    ensure(included == [ref(d.obs_a)], f"GET Patient?_revinclude=Observation:subject included {included}, expected "
                                       f"{ref(d.obs_a)} with search.mode include")
