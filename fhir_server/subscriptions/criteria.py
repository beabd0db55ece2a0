"""What the server accepts as a Subscription: checked on every create, update and patch, before the
version is written, so a subscription the worker could never honour is refused with 422 instead of
failing later in the background."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from ..errors import Issue, Unprocessable, error

PAYLOADS = ("application/fhir+json",)


def split_criteria(criteria: str) -> tuple[str, str]:
    """`CarePlan?patient=…` → (`CarePlan`, `patient=…`)."""
    res_type, _, query = criteria.partition("?")
    return res_type, query


def _endpoint_issues(endpoint: Any) -> list[Issue]:
    where = "Subscription.channel.endpoint"
    if not isinstance(endpoint, str) or not endpoint:
        return [error("required", "Un abonnement rest-hook doit indiquer channel.endpoint", where)]
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [error("value", f"channel.endpoint doit être une URL absolue http(s), pas {endpoint!r}", where)]
    return []


def _criteria_issues(criteria: Any, resource_types: Collection[str]) -> list[Issue]:
    where = "Subscription.criteria"
    if not isinstance(criteria, str) or not criteria:
        return [error("required", "Un abonnement doit indiquer criteria (une URL de recherche)", where)]
    res_type, _ = split_criteria(criteria)
    if res_type not in resource_types:
        return [error("value", f"criteria doit commencer par un type de ressource connu, pas {res_type!r}", where)]
    if res_type == "Subscription":
        return [error("not-supported", "Un abonnement ne peut pas porter sur des abonnements", where)]
    return []


def subscription_checker(resource_types: Callable[[], Collection[str]]
                         ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The preparer the repository runs on Subscription bodies: 422 with expression paths for what we
    cannot deliver, and `status` requested → active (the server accepts it at once). The criteria's
    parameters are checked against the search engine inside the write transaction (matcher.py)."""

    def check(body: dict[str, Any]) -> dict[str, Any]:
        channel = body.get("channel") or {}
        issues = _criteria_issues(body.get("criteria"), resource_types())
        if channel.get("type") != "rest-hook":
            issues.append(error("not-supported", f"Seul channel.type = rest-hook est pris en charge, pas "
                                f"{channel.get('type')!r}", "Subscription.channel.type"))
        else:
            issues += _endpoint_issues(channel.get("endpoint"))
        for n, header in enumerate(channel.get("header") or []):
            if ":" not in header or not header.split(":", 1)[0].strip():
                issues.append(error("value", f"channel.header doit être de la forme « Nom: valeur », pas {header!r}",
                                    f"Subscription.channel.header[{n}]"))
        payload = channel.get("payload")
        if payload is not None and payload not in PAYLOADS:
            issues.append(error("not-supported", f"channel.payload doit être vide ou application/fhir+json, pas "
                                f"{payload!r}", "Subscription.channel.payload"))
        if issues:
            raise Unprocessable(issues)
        if body.get("status") == "requested":
            body = {**body, "status": "active"}
            body.pop("error", None)
        return body

    return check
