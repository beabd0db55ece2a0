"""HL7 v2 datatypes → FHIR datatypes, one small function per v2 type.

The map files name these converters (`type = "CX"`); a converter turns one field repetition into one
FHIR value (or None when the field carries nothing usable) and raises ContentError, with the field's
position, when the data is malformed. Code tables go through the ConceptMaps named by the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

from .conceptmaps import ConceptMaps
from .er7 import Field
from .errors import DATA_TYPE_ERROR, TABLE_VALUE_NOT_FOUND, ContentError, Location, Problem

FR_IDENTIFIER_TYPES = "http://hl7.fr/ig/fhir/core/CodeSystem/fr-core-v2-0203"
V2_IDENTIFIER_TYPES = "http://terminology.hl7.org/CodeSystem/v2-0203"
IDENTITY_RELIABILITY = "http://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-ident-reliability"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
UCUM = "http://unitsofmeasure.org"
_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?")
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


@dataclass(frozen=True)
class Rule:
    """One line of a segment map: which field goes where, through which converter."""

    segment: str
    resource: str
    field: int
    type: str
    path: str
    component: int | None = None
    repeat: bool = False
    required: bool = False
    map: str | None = None
    as_: str | None = None
    if_absent: bool = False
    note: str = ""


class Context(Protocol):
    maps: ConceptMaps
    tz: ZoneInfo

    def system_for(self, authority: Field) -> str | None: ...

    def practitioner(self, xcn: Field, location: Location) -> dict[str, Any] | None: ...


Converter = Callable[[Field, Rule, Context, Location], Any]


def _bad(location: Location, text: str, code: str = DATA_TYPE_ERROR) -> ContentError:
    return ContentError(Problem(code, text, location))


# -- dates and numbers ---------------------------------------------------------------------------------


def parse_dtm(value: str, location: Location, tz: ZoneInfo, *, as_date: bool = False) -> str | None:
    """HL7 DTM/TS → FHIR date or dateTime, keeping the precision the sender gave."""
    value = value.strip()
    if not value:
        return None
    match = _DTM.fullmatch(value)
    if not match:
        raise _bad(location, f"{value!r} is not an HL7 date/time (YYYY[MM[DD[HH[MM[SS]]]]][+/-ZZZZ])")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        date(int(year), int(month or 1), int(day or 1))
        if hour is not None and (int(hour) > 23 or int(minute or 0) > 59 or int(second or 0) > 59):
            raise ValueError("time out of range")
    except ValueError as exc:
        raise _bad(location, f"{value!r} is not a valid date/time ({exc})") from exc
    if as_date or hour is None:
        return "-".join(p for p in (year, month, day) if p)
    naive = datetime(int(year), int(month or 1), int(day or 1), int(hour), int(minute or 0), int(second or 0))
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        if delta >= timedelta(hours=24):
            raise _bad(location, f"{value!r} has an impossible time-zone offset")
        aware = naive.replace(tzinfo=timezone(sign * delta))
    else:
        aware = naive.replace(tzinfo=tz)
    text = aware.isoformat(timespec="seconds")
    if fraction:
        text = text[:19] + fraction + text[19:]
    return text


def parse_decimal(value: str, location: Location) -> int | float | None:
    value = value.strip()
    if not value:
        return None
    if not _DECIMAL.fullmatch(value):
        raise _bad(location, f"{value!r} is not a number")
    number = float(value)
    return int(number) if number.is_integer() and "." not in value else number


# -- converters -------------------------------------------------------------------------------------


def st(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """Plain text; `as = "text"` wraps it as {"text": …} (Annotation, CodeableConcept without codes)."""
    value = f.text.strip()
    if not value:
        return None
    return {"text": value} if rule.as_ == "text" else value


def code(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """A coded value (ID/IS or the code of a CWE), through `map` when the rule names one."""
    value = f.component(1).strip()
    if not value:
        return None
    if not rule.map:
        return value
    target = ctx.maps.translate(rule.map, value)
    if target is None:
        allowed = ", ".join(ctx.maps.table(rule.map).codes)
        raise _bad(loc, f"{value!r} is not a known value here (expected one of {allowed})", TABLE_VALUE_NOT_FOUND)
    if rule.as_ == "coding":
        return target.coding()
    if rule.as_ == "concept":
        return {"coding": [target.coding()], "text": f.component(2) or target.display or value}
    return target.code


def cwe(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """CWE/CE → CodeableConcept: the primary and alternate codings, systems from `coding-systems`."""
    codings = []
    for offset in (0, 3):
        value = f.component(1 + offset).strip()
        if not value:
            continue
        coding: dict[str, str] = {}
        system_name = f.component(3 + offset).strip()
        if system_name:
            target = ctx.maps.translate("coding-systems", system_name)
            if target is not None:
                coding["system"] = target.code
        coding["code"] = value
        display = f.component(2 + offset).strip()
        if display:
            coding["display"] = display
        codings.append(coding)
    if rule.map and codings:
        target = ctx.maps.translate(rule.map, codings[0]["code"])
        if target is not None and target.system:
            codings.insert(0, target.coding())
    text = f.component(9).strip() or f.component(2).strip() or f.component(5).strip()
    if not codings and not text:
        return None
    concept: dict[str, Any] = {}
    if codings:
        concept["coding"] = codings
    if text:
        concept["text"] = text
    return concept


def _identifier_type(ctx: Context, type_code: str, system: str | None) -> tuple[dict[str, Any] | None, str | None]:
    if not type_code:
        return None, None
    oid = system.removeprefix("urn:oid:") if system and system.startswith("urn:oid:") else ""
    target = ctx.maps.translate("identifier-type", type_code, {"oid": oid})
    if target is None:
        return {"coding": [{"system": V2_IDENTIFIER_TYPES, "code": type_code}]}, None
    return {"coding": [target.coding()]}, target.products.get("use")


def cx(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """CX → Identifier; the system comes from CX-4 (assigning authority), the type from CX-5."""
    value = f.component(1).strip()
    if not value:
        return None
    system = ctx.system_for(f.component_field(4))
    identifier: dict[str, Any] = {}
    kind, use = _identifier_type(ctx, f.component(5).strip(), system)
    if use:
        identifier["use"] = use
    if kind:
        identifier["type"] = kind
    if system:
        identifier["system"] = system
    identifier["value"] = value
    start, end = f.component(7).strip(), f.component(8).strip()
    if start or end:
        period = {k: parse_dtm(v, loc, ctx.tz) for k, v in (("start", start), ("end", end)) if v}
        identifier["period"] = period
    return identifier


def ei(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """EI → Identifier; namespace (EI-2) or universal id (EI-3/4) → system."""
    value = f.component(1).strip()
    if not value:
        return None
    authority = f.components_from(2)
    identifier: dict[str, Any] = {}
    if rule.as_:
        identifier["type"] = {"coding": [{"system": V2_IDENTIFIER_TYPES, "code": rule.as_}]}
    system = ctx.system_for(authority)
    if system:
        identifier["system"] = system
    identifier["value"] = value
    return identifier


def xpn(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """XPN → HumanName. French feeds: L = birth name (official), D = used name (usual)."""
    family = f.sub(1, 1).strip()
    given = [g for g in (f.component(2).strip(), *f.component(3).strip().split(" ")) if g]
    if not family and not given:
        return None
    name: dict[str, Any] = {}
    use_code = f.component(7).strip()
    if use_code:
        target = ctx.maps.translate("name-use", use_code)
        if target is not None:
            name["use"] = target.code
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if f.component(5).strip():
        name["prefix"] = [f.component(5).strip()]
    if f.component(4).strip():
        name["suffix"] = [f.component(4).strip()]
    return name


def _address(f: Field) -> dict[str, Any] | None:
    lines = [v for v in (f.sub(1, 1).strip(), f.component(2).strip()) if v]
    address: dict[str, Any] = {}
    if lines:
        address["line"] = lines
    for key, index in (("city", 3), ("state", 4), ("postalCode", 5), ("country", 6)):
        value = f.component(index).strip()
        if value:
            address[key] = value
    district = f.component(9).strip()
    if district:
        address["district"] = district
    return address or None


def xad(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """XAD → Address; the birth place (type BDL) is not an address of the patient (see xad_birthplace)."""
    kind = f.component(7).strip()
    if kind == "BDL":
        return None
    address = _address(f)
    if address is None:
        return None
    if kind:
        target = ctx.maps.translate("address-use", kind)
        if target is not None:
            address = {**({"use": target.code} if target.code != "-" else {}),
                       **({"type": target.products["type"]} if "type" in target.products else {}), **address}
    return address


def xad_birthplace(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """PAM-FR sends the birth place as a PID-11 repetition of type BDL (INSEE code in XAD-9)."""
    if f.component(7).strip() != "BDL":
        return None
    address = _address(f)
    if address is None:
        return None
    return {"url": BIRTH_PLACE, "valueAddress": address}


def xtn(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """XTN → ContactPoint: e-mail from XTN-4, number from XTN-12, XTN-7 (with area) or XTN-1."""
    equipment = f.component(3).strip()
    use_code = f.component(2).strip()
    email = f.component(4).strip()
    number = f.component(12).strip()
    if not number and f.component(7).strip():
        number = " ".join(v for v in (f.component(5).strip() and "+" + f.component(5).strip(),
                                      f.component(6).strip(), f.component(7).strip()) if v)
    number = number or f.component(1).strip()
    kind = ctx.maps.translate("telecom", equipment or "PH")
    system = kind.code if kind else "phone"
    value = email if system == "email" and email else (number or email)
    if not value:
        return None
    if "@" in value and system != "email":
        system = "email"
    point: dict[str, Any] = {"system": system, "value": value}
    use = ctx.maps.translate("telecom-use", use_code) if use_code else None
    if kind and kind.products.get("use"):
        point["use"] = kind.products["use"]
    elif use is not None:
        point["use"] = use.code
    return point


def dtm(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    return parse_dtm(f.component(1), loc, ctx.tz, as_date=rule.as_ == "date")


def nm(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    number = parse_decimal(f.component(1), loc)
    if number is not None and rule.as_ == "integer":
        if not float(number).is_integer() or number < 0:
            raise _bad(loc, f"{f.component(1)!r} must be a whole number")
        return int(number)
    return number


def units(value: str, text: str, ctx: Context) -> dict[str, str]:
    """Unit code → Quantity unit/system/code, UCUM when the `units` ConceptMap knows it."""
    target = ctx.maps.translate("units", value) if value else None
    if target is not None:
        return {"unit": target.display or text or value, "system": target.system or UCUM, "code": target.code}
    return {"unit": text or value} if (text or value) else {}


def cq(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """CQ (quantity^units) → Quantity."""
    number = parse_decimal(f.component(1), loc)
    if number is None:
        return None
    unit_field = f.component_field(2)
    return {"value": number, **units(unit_field.component(1).strip(), unit_field.component(2).strip(), ctx)}


def quantity_units(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """A CWE that is only the unit of an amount sent in another field (RXE-5, RXE-11…)."""
    return units(f.component(1).strip(), f.component(2).strip(), ctx) or None


def xcn(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    return ctx.practitioner(f, loc)


def xcn_display(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    name = " ".join(v for v in (f.component(3).strip(), f.sub(2, 1).strip()) if v)
    return name or f.component(1).strip() or None


def display_reference(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """PL/XON → a Reference with only a display (we keep no Location/Organization of the sender)."""
    parts = [f.component(i).strip() for i in (1, 2, 3, 4)]
    text = " ".join(p for p in parts if p)
    return {"display": text} if text else None


def identity_reliability(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """PID-32 (PAM-FR table 0445) → the FR Core identity reliability extension."""
    value = f.component(1).strip()
    if not value:
        return None
    target = ctx.maps.translate("identity-reliability", value)
    if target is None:
        allowed = ", ".join(ctx.maps.table("identity-reliability").codes)
        raise _bad(loc, f"identity status {value!r} is not in PAM-FR table 0445 ({allowed})", TABLE_VALUE_NOT_FOUND)
    return {"url": IDENTITY_RELIABILITY,
            "extension": [{"url": "identityReliability", "valueCoding": target.coding()}]}


def repeat_pattern(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    """RPT (TQ1-3) → Timing.repeat through the `repeat-pattern` ConceptMap's products."""
    value = f.component(1).strip()
    if not value:
        return None
    target = ctx.maps.translate("repeat-pattern", value)
    if target is None:
        return None  # kept as text by the dosage's own text; an unknown pattern is not an error
    repeat: dict[str, Any] = {}
    for key, raw in target.products.items():
        repeat[key] = int(raw) if raw.isdigit() else raw
    return repeat or None


def boolean(f: Field, rule: Rule, ctx: Context, loc: Location) -> Any:
    value = f.component(1).strip()
    if not value:
        return None
    target = ctx.maps.translate(rule.map, value) if rule.map else None
    if target is None:
        raise _bad(loc, f"{value!r} is not a known value here", TABLE_VALUE_NOT_FOUND)
    return target.code == "true"


def local_system(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{quote(name, safe='')}"


CONVERTERS: dict[str, Converter] = {
    "ST": st,
    "code": code,
    "CWE": cwe,
    "CX": cx,
    "EI": ei,
    "XPN": xpn,
    "XAD": xad,
    "XAD-birthplace": xad_birthplace,
    "XTN": xtn,
    "DTM": dtm,
    "NM": nm,
    "CQ": cq,
    "units": quantity_units,
    "XCN": xcn,
    "XCN-display": xcn_display,
    "display": display_reference,
    "identity-reliability": identity_reliability,
    "repeat-pattern": repeat_pattern,
    "boolean": boolean,
}
