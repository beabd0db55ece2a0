"""The demo hospital's tables (`mappings/demo/hospital.toml`), read into typed records once.

Reading them through these records makes a typo in the data file fail at start, with the file named,
rather than as a KeyError half-way through filling a server."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class DemoDataError(ValueError):
    """The demo data file is missing or malformed."""


@dataclass(frozen=True)
class Hospital:
    name: str
    idnst: str
    phone: str
    city: str
    sending_application: str
    sending_facility: str
    authority: str
    authority_oid: str
    patient_class: str
    unit: str
    ipp_prefix: str
    mailbox_domain: str
    ins_authority: str
    ins_oid: str
    response_system: str


@dataclass(frozen=True)
class Person:
    rpps: str
    family: str
    given: str


@dataclass(frozen=True)
class Pharmacy:
    name: str
    idnst: str
    mailbox: str
    city: str


@dataclass(frozen=True)
class City:
    name: str
    postcode: str
    insee: str


@dataclass(frozen=True)
class Drug:
    atc: str
    substance: str
    label: str
    cip13: str
    dose: float
    unit: str
    frequency: str
    text: str


@dataclass(frozen=True)
class Regimen:
    drug: Drug
    cancer_code: str
    cancer_display: str
    sex: str | None
    weight: float


@dataclass(frozen=True)
class Mix:
    birth_years: tuple[int, int]
    female_share: float
    ins_share: float
    ppi_share: float
    hospital_reserve_share: float
    supportive_share: float
    omp_share: float
    stopped_share: float


@dataclass(frozen=True)
class Timeline:
    enrolled_days_ago: tuple[int, int]
    renewal_lead_days: tuple[int, int]
    max_weeks: int
    skip_share: float
    alert_share: float
    severe_share: float
    handled_after_days: int


@dataclass(frozen=True)
class DemoData:
    hospital: Hospital
    oncologists: tuple[Person, ...]
    pharmacies: tuple[Pharmacy, ...]
    gps: tuple[Person, ...]
    female_names: tuple[str, ...]
    male_names: tuple[str, ...]
    family_names: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[City, ...]
    regimens: tuple[Regimen, ...]
    supportive: tuple[Drug, ...]
    ppi: tuple[Drug, ...]
    mix: Mix
    timeline: Timeline


def _drug(d: dict[str, Any]) -> Drug:
    return Drug(str(d["atc"]), str(d["substance"]), str(d["label"]), str(d["cip13"]), float(d["dose"]),
                str(d["unit"]), str(d["frequency"]), str(d["text"]))


def _pair(value: Any) -> tuple[int, int]:
    low, high = (int(v) for v in value)
    if low > high:
        raise ValueError(f"range {value!r} is reversed")
    return low, high


def load(path: Path) -> DemoData:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DemoDataError(f"cannot read the demo data {path} ({exc})") from exc
    try:
        names, mix, timeline = raw["names"], raw["mix"], raw["timeline"]
        data = DemoData(
            hospital=Hospital(**{k: str(v) for k, v in raw["hospital"].items()}),
            oncologists=tuple(Person(str(p["rpps"]), str(p["family"]), str(p["given"])) for p in raw["oncologists"]),
            pharmacies=tuple(Pharmacy(str(p["name"]), str(p["idnst"]), str(p["mailbox"]), str(p["city"]))
                             for p in raw["pharmacies"]),
            gps=tuple(Person(str(p["rpps"]), str(p["family"]), str(p["given"])) for p in raw["gps"]),
            female_names=tuple(names["female"]), male_names=tuple(names["male"]),
            family_names=tuple(names["family"]), streets=tuple(names["streets"]),
            cities=tuple(City(str(c["name"]), str(c["postcode"]), str(c["insee"])) for c in raw["cities"]),
            regimens=tuple(Regimen(_drug(r), str(r["cancer"]["code"]), str(r["cancer"]["display"]),
                                   r.get("sex"), float(r["weight"])) for r in raw["regimens"]),
            supportive=tuple(_drug(d) for d in raw["supportive"]),
            ppi=tuple(_drug(d) for d in raw["ppi"]),
            mix=Mix(_pair(mix["birth_years"]), float(mix["female_share"]), float(mix["ins_share"]),
                    float(mix["ppi_share"]), float(mix["hospital_reserve_share"]), float(mix["supportive_share"]),
                    float(mix["omp_share"]), float(mix["stopped_share"])),
            timeline=Timeline(_pair(timeline["enrolled_days_ago"]), _pair(timeline["renewal_lead_days"]),
                              int(timeline["max_weeks"]), float(timeline["skip_share"]),
                              float(timeline["alert_share"]), float(timeline["severe_share"]),
                              int(timeline["handled_after_days"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DemoDataError(f"{path}: malformed demo data ({exc!r})") from exc
    if not (data.oncologists and data.pharmacies and data.gps and data.regimens and data.ppi and data.cities):
        raise DemoDataError(f"{path}: oncologists, pharmacies, gps, regimens, ppi and cities may not be empty")
    return data
