"""A synthetic but plausible file active, drawn from a seed and the demo data tables.

Each patient's identity comes from a random stream of its own (seed and rank), so the same seed always
gives the same people, whatever the number of patients asked for or the day of the run; treatments and
dates come from other streams, dates counted back from the demo's day. Shares of the data file that
matter to the story (proton-pump inhibitor, hospital reserve, stopped treatment) are quotas: at least one
patient each, so even a small demo shows every flow.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .data import City, DemoData, Drug, Person, Pharmacy, Regimen
from .questionnaire import Scale


@dataclass(frozen=True)
class Week:
    authored: datetime
    answers: dict[str, float]
    alert: str | None  # the alert type the answers were drawn to reach


@dataclass(frozen=True)
class DemoPatient:
    rank: int  # 1-based
    ipp: str
    ins: str | None
    family: str
    given: str
    sex: str  # F or M (HL7 table 0001)
    birth: date
    street: str
    city: City
    mobile: str
    oncologist: Person
    pharmacy: Pharmacy
    gp: Person
    regimen: Regimen
    supportive: Drug | None
    ppi: Drug | None
    omp: bool
    enrolled_on: date
    stopped_on: date | None
    weeks: tuple[Week, ...]
    renewal_leads: tuple[int, ...]
    handling_seed: str

    @property
    def drugs(self) -> list[Drug]:
        """The drugs of the first prescription: the anticancer drug first."""
        return [self.regimen.drug, *(d for d in (self.supportive, self.ppi) if d is not None)]


def nir(sex: str, birth: date, insee: str, order: int) -> str:
    """A NIR-shaped INS: sex, year and month of birth, birthplace (INSEE), order number and its key."""
    body = f"{1 if sex == 'M' else 2}{birth.year % 100:02d}{birth.month:02d}{insee}{order:03d}"
    return f"{body}{97 - int(body) % 97:02d}"


def _quota(rng: random.Random, candidates: list[int], share: float, total: int) -> set[int]:
    if not candidates:
        return set()
    wanted = min(len(candidates), max(1, round(share * total)))
    return set(rng.sample(candidates, wanted))


def _weighted(rng: random.Random, regimens: list[Regimen]) -> Regimen:
    return rng.choices(regimens, weights=[r.weight for r in regimens], k=1)[0]


@dataclass(frozen=True)
class _Identity:
    ipp: str
    ins: str | None
    family: str
    given: str
    sex: str
    birth: date
    street: str
    city: City
    mobile: str


def _identity(data: DemoData, seed: int, rank: int) -> _Identity:
    rng = random.Random(f"{seed}/identity/{rank}")
    mix = data.mix
    sex = "F" if rng.random() < mix.female_share else "M"
    given = rng.choice(data.female_names if sex == "F" else data.male_names)
    family = rng.choice(data.family_names)
    first = date(mix.birth_years[0], 1, 1)
    birth = first + timedelta(days=rng.randrange((date(mix.birth_years[1], 12, 31) - first).days + 1))
    city = rng.choice(data.cities)
    birthplace = rng.choice(data.cities)
    ins = nir(sex, birth, birthplace.insee, rng.randint(1, 999)) if rng.random() < mix.ins_share else None
    street = f"{rng.randint(1, 120)} {rng.choice(data.streets)}"
    mobile = "06" + "".join(str(rng.randrange(10)) for _ in range(8))
    return _Identity(f"{data.hospital.ipp_prefix}{seed}{rank:05d}", ins, family, given, sex, birth, street, city,
                     mobile)


def _weeks(rng: random.Random, data: DemoData, scale: Scale, enrolled: date, last_day: date, zone: ZoneInfo
           ) -> list[Week]:
    timeline = data.timeline
    days = [enrolled + timedelta(days=7 * n) for n in range(1, (last_day - enrolled).days // 7 + 1)]
    weeks = []
    for day in days[-timeline.max_weeks:] if timeline.max_weeks else []:
        if rng.random() < timeline.skip_share:
            continue
        at = datetime.combine(day, time(rng.randint(8, 20), rng.randrange(60)), zone)
        if rng.random() < timeline.alert_share:
            answers, alert = scale.alerting(rng, rng.random() < timeline.severe_share)
            weeks.append(Week(at, answers, alert))
        else:
            weeks.append(Week(at, scale.quiet(rng), None))
    return weeks


def generate(data: DemoData, scale: Scale, *, seed: int, count: int, today: date,
             hospital_reserve: Callable[[str], bool], zone: ZoneInfo) -> list[DemoPatient]:
    """`count` patients; `hospital_reserve(atc)` is the server's drug table (parcours B)."""
    identities = [_identity(data, seed, rank) for rank in range(1, count + 1)]
    timeline, mix = data.timeline, data.mix
    starts = [random.Random(f"{seed}/enrolment/{i.ipp}").randint(*timeline.enrolled_days_ago) for i in identities]
    quotas = random.Random(f"{seed}/mix/{count}")
    everyone = list(range(count))
    reserve = _quota(quotas, [i for i in everyone if any(
        hospital_reserve(r.drug.atc) and r.sex in (None, identities[i].sex) for r in data.regimens)],
        mix.hospital_reserve_share, count)
    with_ppi = _quota(quotas, everyone, mix.ppi_share, count)
    # A stop needs a few weeks of treatment before it, and is not the whole file active.
    stopped = _quota(quotas, [i for i in everyone if starts[i] >= 28], mix.stopped_share, count) if count > 2 \
        else set()
    patients = []
    for index, ident in enumerate(identities):
        rng = random.Random(f"{seed}/treatment/{ident.ipp}")
        fitting = [r for r in data.regimens if r.sex in (None, ident.sex)]
        if index in reserve:
            fitting = [r for r in fitting if hospital_reserve(r.drug.atc)] or fitting
        regimen = _weighted(rng, fitting)
        supportive = rng.choice(data.supportive) if data.supportive and rng.random() < mix.supportive_share else None
        ppi = rng.choice(data.ppi) if index in with_ppi else None
        enrolled = today - timedelta(days=starts[index])
        stopped_on = enrolled + timedelta(days=rng.randint(14, starts[index] - 7)) if index in stopped else None
        weeks = _weeks(rng, data, scale, enrolled, stopped_on or today, zone)
        patients.append(DemoPatient(
            rank=index + 1, ipp=ident.ipp, ins=ident.ins, family=ident.family, given=ident.given, sex=ident.sex,
            birth=ident.birth, street=ident.street, city=ident.city, mobile=ident.mobile,
            oncologist=rng.choice(data.oncologists), pharmacy=rng.choice(data.pharmacies), gp=rng.choice(data.gps),
            regimen=regimen, supportive=supportive, ppi=ppi, omp=rng.random() < mix.omp_share, enrolled_on=enrolled,
            stopped_on=stopped_on, weeks=tuple(weeks),
            renewal_leads=tuple(rng.randint(*timeline.renewal_lead_days) for _ in range(12)),
            handling_seed=f"{seed}/handling/{ident.ipp}"))
    _ensure_an_open_alert(patients, scale, seed, today - timedelta(days=timeline.handled_after_days))
    return patients


def _ensure_an_open_alert(patients: list[DemoPatient], scale: Scale, seed: int, handled_before: date) -> None:
    """The worklist must show at least one alert still to handle: when no recent answer alerts, the latest
    answer of the patient with most weeks does."""
    if any(w.alert and w.authored.date() >= handled_before for p in patients for w in p.weeks):
        return
    candidates = [p for p in patients if p.weeks and p.stopped_on is None] or [p for p in patients if p.weeks]
    if not candidates:
        return
    chosen = max(candidates, key=lambda p: (len(p.weeks), -p.rank))
    answers, alert = scale.alerting(random.Random(f"{seed}/forced-alert"), False)
    last = chosen.weeks[-1]
    weeks = (*chosen.weeks[:-1], Week(last.authored, answers, alert))
    patients[chosen.rank - 1] = DemoPatient(**{**chosen.__dict__, "weeks": weeks})
