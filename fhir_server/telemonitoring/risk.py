"""Priority of at-risk patients (age, polypharmacy, frailty), thresholds from `mappings/interactions.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml


@dataclass(frozen=True)
class RiskRules:
    age_at_least: int
    active_drugs_at_least: int
    frailty_system: str
    frailty_code: str


@dataclass(frozen=True)
class Risk:
    score: int
    reasons: tuple[str, ...]


@lru_cache(maxsize=8)
def load_risk(path: Path) -> RiskRules:
    data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["risk"]
    return RiskRules(int(data["age_at_least"]), int(data["active_drugs_at_least"]),
                     str(data["frailty"]["system"]), str(data["frailty"]["code"]))


def age_on(birth: str | None, today: date) -> int | None:
    if not birth or len(birth) < 4:
        return None
    year, month, day = (int(p) for p in (birth + "-07-01")[:10].split("-")) if len(birth) == 4 else (
        int(p) for p in (birth + "-01")[:10].split("-"))
    return today.year - year - ((today.month, today.day) < (month, day))


def assess(rules: RiskRules, *, age: int | None, active_drugs: int, frail: bool) -> Risk:
    reasons = []
    if age is not None and age >= rules.age_at_least:
        reasons.append(f"{age} ans")
    if active_drugs >= rules.active_drugs_at_least:
        reasons.append(f"{active_drugs} médicaments actifs")
    if frail:
        reasons.append("fragilité")
    return Risk(len(reasons), tuple(reasons))
