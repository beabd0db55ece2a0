"""The messages a French hospital's DPI sends for the demo patients: ADT^A04 (registration, PAM-FR style
identity with INS), RDE^O11 or OMP^O09 new orders, and DC of an order. ER7 text, UTF-8 (MSH-18).

Fields are placed by number, never by counting separators, so each line can be read against the HL7 v2.5
tables; values come from the demo data and contain no HL7 delimiter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .data import Drug, Hospital, Person
from .hospital import DemoPatient

ENCODING = "^~\\&"
RPPS_AUTHORITY = "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
FRENCH_PAM = "2.11^IHE_FRANCE-2.11-PAM"


def segment(name: str, fields: dict[int, str]) -> str:
    """`name|f1|f2…` with every field not given left empty."""
    last = max(fields, default=0)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))])


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def msh(hospital: Hospital, moment: datetime, message_type: str, control_id: str, version: str = "2.5") -> str:
    # MSH-1 is the field separator itself: MSH-2 is the first field after "MSH|".
    fields = {3: hospital.sending_application, 4: hospital.sending_facility, 5: "ONCOLINK", 6: "ONCOLINK",
              7: timestamp(moment), 9: message_type, 10: control_id, 11: "P", 12: version, 17: "FRA",
              18: "UNICODE UTF-8", 19: "FR"}
    if version.startswith("2.5^FRA"):
        fields[21] = FRENCH_PAM
    return "MSH|" + ENCODING + "|" + "|".join(fields.get(n, "") for n in range(3, max(fields) + 1))


def _authority(hospital: Hospital) -> str:
    return f"{hospital.authority}&{hospital.authority_oid}&ISO"


def _identifiers(patient: DemoPatient, hospital: Hospital) -> str:
    ids = [f"{patient.ipp}^^^{_authority(hospital)}^PI"]
    if patient.ins:
        ids.append(f"{patient.ins}^^^{hospital.ins_authority}&{hospital.ins_oid}&ISO^INS")
    return "~".join(ids)


def pid(patient: DemoPatient, hospital: Hospital, *, full: bool) -> str:
    fields = {1: "1", 3: _identifiers(patient, hospital), 5: f"{patient.family.upper()}^{patient.given}^^^^^L",
              7: patient.birth.strftime("%Y%m%d"), 8: patient.sex,
              11: f"{patient.street}^^{patient.city.name}^^{patient.city.postcode}^FRA^H",
              32: "VALI" if patient.ins else "PROV"}
    if full:
        fields[13] = f"^PRN^CP^^^^^^^^^{patient.mobile}"
        fields[18] = f"{visit_number(patient)}^^^{_authority(hospital)}^AN"
    return segment("PID", fields)


def visit_number(patient: DemoPatient) -> str:
    return f"V{patient.ipp}"


def pv1(patient: DemoPatient, hospital: Hospital, moment: datetime | None = None) -> str:
    fields = {1: "1", 2: hospital.patient_class, 19: f"{visit_number(patient)}^^^{_authority(hospital)}^VN"}
    if moment is not None:
        fields[3] = f"ONCO^^^{hospital.sending_facility}"
        fields[44] = timestamp(moment)
    return segment("PV1", fields)


def admission(patient: DemoPatient, hospital: Hospital, moment: datetime, control_id: str) -> bytes:
    """ADT^A04: the patient registered for the day-hospital consultation that starts the treatment."""
    lines = [msh(hospital, moment, "ADT^A04^ADT_A01", control_id, "2.5^FRA^2.11"),
             segment("EVN", {2: timestamp(moment)}), pid(patient, hospital, full=True), pv1(patient, hospital, moment),
             segment("ZBE", {1: f"MVT-{patient.ipp}^{hospital.sending_facility}^{hospital.authority_oid}^ISO",
                             2: timestamp(moment), 4: "INSERT", 5: "N",
                             7: f"{hospital.unit}^^^^^{_authority(hospital)}^UF^^^4020", 9: "HMS"})]
    return ("\r".join(lines) + "\r").encode("utf-8")


@dataclass(frozen=True)
class Order:
    placer: str
    group: str
    drug: Drug
    start: date
    end: date
    control: str = "NW"  # ORC-1
    reason: str = ""  # ORC-16 for a discontinued order


def _prescriber(person: Person) -> str:
    return f"{person.rpps}^{person.family.upper()}^{person.given}^^^Dr^^^{RPPS_AUTHORITY}^^^^RPPS"


def _give_code(drug: Drug) -> str:
    return f"{drug.cip13}^{drug.label}^CIP^{drug.atc}^{drug.substance}^ATC"


def _amount(value: float) -> str:
    return f"{value:g}"


def prescription(patient: DemoPatient, hospital: Hospital, moment: datetime, control_id: str, orders: list[Order],
                 *, omp: bool) -> bytes:
    """RDE^O11 (the pharmacy's encoded order) or OMP^O09 (the placer order), one ORC group per drug."""
    kind = "OMP^O09^OMP_O09" if omp else "RDE^O11^RDE_O11"
    lines = [msh(hospital, moment, kind, control_id), pid(patient, hospital, full=False), pv1(patient, hospital)]
    for order in orders:
        drug, app = order.drug, hospital.sending_application
        orc = {1: order.control, 2: f"{order.placer}^{app}", 4: f"{order.group}^{app}", 9: timestamp(moment),
               12: _prescriber(patient.oncologist), 29: "O"}
        if order.reason:
            orc[16] = order.reason
        lines.append(segment("ORC", orc))
        timing = segment("TQ1", {1: "1", 3: drug.frequency, 7: order.start.strftime("%Y%m%d"),
                                 8: order.end.strftime("%Y%m%d"), 9: "R", 11: drug.text})
        if omp:
            lines += [timing, segment("RXO", {1: _give_code(drug), 2: _amount(drug.dose), 4: drug.unit, 9: "N",
                                              13: "0"})]
        else:
            lines += [segment("RXE", {2: _give_code(drug), 3: _amount(drug.dose), 5: f"{drug.unit}^{drug.unit}^UCUM",
                                      9: "N", 12: "0", 13: _prescriber(patient.oncologist)}), timing]
        lines.append(segment("RXR", {1: "PO^voie orale^HL70162"}))
    return ("\r".join(lines) + "\r").encode("utf-8")
