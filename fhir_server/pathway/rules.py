"""Pathway rules, tariffs and drug table read from `mappings/pathway/`, checked once at load.

A tariff file whose actor shares do not add up to the total of their sequence is refused at load, so a
wrong split can never reach a bill.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ACTORS = ("hospital", "community-pharmacist", "gp")


class RulesError(ValueError):
    """A pathway data file is missing, malformed or inconsistent (file and key named)."""


@dataclass(frozen=True)
class Sequence:
    number: int
    months: int
    renewable: bool
    requires_allowance: bool


@dataclass(frozen=True)
class Drug:
    hospital_reserve: bool
    sequence3_allowed: bool


@dataclass(frozen=True)
class Rules:
    episode_months: int
    renewal_window_days: int
    sequences: dict[int, Sequence]
    eligibility: dict[str, Any]
    currency: str
    shares: dict[tuple[str, int], dict[str, Decimal]]
    telemonitoring_amount: Decimal
    telemonitoring_max_months: int
    default_drug: Drug
    drugs: dict[str, Drug]

    def drug(self, atc: str) -> Drug:
        return self.drugs.get(atc, self.default_drug)

    def total(self, parcours: str, sequence: int) -> Decimal:
        return sum(self.shares[(parcours, sequence)].values(), Decimal(0))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: {exc}") from exc


def _shares(path: Path, data: dict[str, Any]) -> dict[tuple[str, int], dict[str, Decimal]]:
    out: dict[tuple[str, int], dict[str, Decimal]] = {}
    for parcours, body in (data.get("parcours") or {}).items():
        for number, entry in (body.get("sequence") or {}).items():
            where = f"{path.name}: parcours.{parcours}.sequence.{number}"
            shares = {actor: Decimal(str(value)) for actor, value in (entry.get("shares") or {}).items()}
            if set(shares) != set(ACTORS):
                raise RulesError(f"{where}: shares must name exactly {', '.join(ACTORS)}")
            if any(value < 0 for value in shares.values()):
                raise RulesError(f"{where}: a share cannot be negative")
            total = Decimal(str(entry.get("total")))
            if sum(shares.values(), Decimal(0)) != total:
                raise RulesError(f"{where}: shares add up to {sum(shares.values())}, not the total {total}")
            out[(parcours, int(number))] = shares
    for parcours in ("A", "B"):
        for number in (1, 2, 3):
            if (parcours, number) not in out:
                raise RulesError(f"{path.name}: no tariff for parcours {parcours}, sequence {number}")
    return out


def load(folder: Path) -> Rules:
    pathway = _read(folder / "pathway.toml")
    tariffs = _read(folder / "tariffs.toml")
    drugs = _read(folder / "drugs.toml")
    try:
        sequences = {int(n): Sequence(int(n), int(s["months"]), bool(s["renewable"]),
                                      bool(s.get("requires_allowance", False)))
                     for n, s in pathway["sequence"].items()}
        default = drugs.get("default") or {}
        default_drug = Drug(bool(default.get("hospital_reserve", False)), bool(default.get("sequence3_allowed", False)))
        table = {atc: Drug(bool(d.get("hospital_reserve", default_drug.hospital_reserve)),
                           bool(d.get("sequence3_allowed", default_drug.sequence3_allowed)))
                 for atc, d in (drugs.get("atc") or {}).items()}
        tele = tariffs["telemonitoring"]
        return Rules(int(pathway["episode_months"]), int(pathway["renewal_window_days"]), sequences,
                     dict(pathway["eligibility"]),
                     str(tariffs.get("currency", "EUR")), _shares(folder / "tariffs.toml", tariffs),
                     Decimal(str(tele["amount"])), int(tele["max_consecutive_months"]), default_drug, table)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RulesError):
            raise
        raise RulesError(f"{folder}: missing or malformed key {exc}") from exc
