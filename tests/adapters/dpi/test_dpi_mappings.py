"""The maps are data: they load, cover every segment of our messages, and a new field is a data change.
Also: the adapters reach the server only through its FHIR API (no import of fhir_server)."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import orjson
import pytest

from adapters.dpi.conceptmaps import ConceptMaps
from adapters.dpi.er7 import parse_bytes
from adapters.dpi.errors import MessageError
from adapters.dpi.maps import MappingError, Mappings
from adapters.dpi.processor import spec_check
from adapters.dpi.settings import DEFAULT_MAPPINGS
from adapters.dpi.transform import BUILDERS, STRUCTURAL, Builder
from tests.adapters.dpi.dpi_helpers import MESSAGES, message

ROOT = Path(__file__).resolve().parents[3]


def test_adapters_never_import_the_server() -> None:
    offenders = []
    for path in sorted((ROOT / "adapters").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "fhir_server"]
    assert offenders == []


def test_mapping_data_loads_and_conceptmaps_are_fhir() -> None:
    mappings = Mappings.load(DEFAULT_MAPPINGS)
    assert {"ADT^A01", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A40", "RDE^O11", "OMP^O09",
            "RDS^O13"} == set(mappings.messages)
    for name in ("order-control", "route", "units", "sex", "identity-reliability"):
        assert name in mappings.maps.tables
    for path in (DEFAULT_MAPPINGS / "conceptmaps").glob("*.json"):
        document = orjson.loads(path.read_bytes())
        assert document["resourceType"] == "ConceptMap" and document["status"] == "active"
        assert document["url"].endswith("/" + document["id"])
        for group in document["group"]:
            for element in group["element"]:
                assert all(t["code"] and t["equivalence"] for t in element["target"]), (path.name, element)


def test_every_order_control_code_is_mapped() -> None:
    maps = ConceptMaps.load(DEFAULT_MAPPINGS / "conceptmaps")
    expected = {"NW": ("active", "replace"), "XO": ("active", "replace"), "CA": ("cancelled", "status"),
                "DC": ("stopped", "status"), "HD": ("on-hold", "status"), "RL": ("active", "status")}
    for code, (status, action) in expected.items():
        target = maps.translate("order-control", code)
        assert target is not None and (target.code, target.products["action"]) == (status, action)


@pytest.mark.parametrize("path", sorted(MESSAGES.glob("*.hl7")), ids=lambda p: p.name)
def test_each_segment_of_our_messages_is_mapped_or_deliberately_ignored(path: Path) -> None:
    mappings = Mappings.load(DEFAULT_MAPPINGS)
    try:
        parsed = parse_bytes(path.read_bytes())
        spec_check(mappings, parsed)
    except MessageError:
        return  # refused messages are about framing and types, not segments
    spec = mappings.messages[parsed.type_name]
    known = mappings.mapped_segments() | set(mappings.ignored) | STRUCTURAL | {"ORC"} | \
        set(spec.options.get("ignored_segments", {}))
    assert {s.name for s in parsed.segments} <= known
    if spec.kind != "merge":
        try:
            plan = BUILDERS[spec.kind](Builder(parsed, mappings, spec))
        except MessageError:
            return
        assert plan.unmapped == []


def test_a_z_segment_nobody_maps_is_reported() -> None:
    mappings = Mappings.load(DEFAULT_MAPPINGS)
    parsed = parse_bytes(message("adt_a28_add_person.hl7").replace(b"\nEVN", b"\nZXY|local data\nEVN"))
    spec = mappings.messages[parsed.type_name]
    plan = BUILDERS[spec.kind](Builder(parsed, mappings, spec))
    assert plan.unmapped == ["ZXY[1]"]


def test_adding_a_mapped_field_is_a_data_change(tmp_path: Path) -> None:
    """PID-16 (marital status) is not mapped; one rule in PID.toml puts it in Patient.maritalStatus."""
    folder = tmp_path / "dpi"
    shutil.copytree(DEFAULT_MAPPINGS, folder)
    raw = message("adt_a28_add_person.hl7")  # LF-separated; PID is the third segment
    pid = raw.split(b"\n")[2]
    fields = pid.split(b"|")
    fields[16] = b"M^Married^HL70002"
    raw = raw.replace(pid, b"|".join(fields))

    def patient(mapping_folder: Path) -> dict:
        mappings = Mappings.load(mapping_folder)
        parsed = parse_bytes(raw)
        spec = mappings.messages[parsed.type_name]
        bundle = BUILDERS[spec.kind](Builder(parsed, mappings, spec, provenance=False)).bundle
        return bundle["entry"][0]["resource"]

    assert "maritalStatus" not in patient(folder)
    with (folder / "segments" / "PID.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[[field]]\nresource = "Patient"\nfield = 16\ntype = "CWE"\npath = "maritalStatus"\n')
    assert patient(folder)["maritalStatus"] == {"coding": [{"code": "M", "display": "Married"}], "text": "Married"}


def test_broken_mapping_data_is_refused_at_load(tmp_path: Path) -> None:
    folder = tmp_path / "dpi"
    shutil.copytree(DEFAULT_MAPPINGS, folder)
    with (folder / "segments" / "PID.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[[field]]\nresource = "Patient"\nfield = 16\ntype = "NOPE"\npath = "maritalStatus"\n')
    with pytest.raises(MappingError, match="type 'NOPE'"):
        Mappings.load(folder)
