"""The message itself, without network: CDA R2 structure (schema order, checked here since no CDA schema
can be installed from a registry), XDS metadata, the archive, headers, French bodies, escaping."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import pytest
from lxml import etree

from adapters.mssante.compose import Composer, Mappings, message_id
from adapters.mssante.settings import DEFAULT_MAPPINGS

from .helpers import CDA_NS, PHARMACY_ADDRESS, RIM_NS, example_snapshot, parse, trigger

H = "{urn:hl7-org:v3}"
# POCD_MT000040.ClinicalDocument content model, in schema order (CDA R2 normative edition).
HEADER_ORDER = ["realmCode", "typeId", "templateId", "id", "code", "title", "effectiveTime", "confidentialityCode",
                "languageCode", "setId", "versionNumber", "copyTime", "recordTarget", "author", "dataEnterer",
                "informant", "custodian", "informationRecipient", "legalAuthenticator", "authenticator",
                "participant", "inFulfillmentOf", "documentationOf", "relatedDocument", "authorization",
                "componentOf", "component"]
REQUIRED = ["typeId", "id", "code", "effectiveTime", "confidentialityCode", "recordTarget", "author", "custodian",
            "component"]
NARRATIVE = {"content", "linkHtml", "sub", "sup", "br", "footnote", "footnoteRef", "renderMultiMedia", "paragraph",
             "list", "item", "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "col", "colgroup", "text"}


@pytest.fixture(scope="module")
def composer() -> Composer:
    return Composer(Mappings.load(DEFAULT_MAPPINGS), sender="oncologie@ch-lyon.mssante.fr",
                    sender_name="Onco'Link CH Lyon", notification_to="oncologie@ch-lyon.mssante.fr",
                    source_oid="1.2.250.1.999.8.1")


def compose(composer: Composer, snapshot: dict, ref: str = "Organization/org-pharmacie-lilas") -> bytes:
    mid = message_id(snapshot["trigger_key"], ref, composer.sender)
    return composer.compose(snapshot, recipient_ref=ref, recipient_name="Pharmacie des Lilas",
                            address=PHARMACY_ADDRESS, message_id=mid,
                            at=datetime(2025, 11, 3, 9, 0, tzinfo=UTC)).raw


def test_cda_follows_the_cda_r2_header_order_and_narrative_rules(composer: Composer) -> None:
    cda = parse(compose(composer, example_snapshot())).cda
    names = [etree.QName(child).localname for child in cda]
    assert all(name in HEADER_ORDER for name in names)
    positions = [HEADER_ORDER.index(n) for n in names]
    assert positions == sorted(positions), names
    for name in REQUIRED:
        assert name in names
    assert cda.find("h:typeId", CDA_NS).attrib == {"root": "2.16.840.1.113883.1.3", "extension": "POCD_HD000040"}
    assert [t.get("root") for t in cda.findall("h:templateId", CDA_NS)] == ["2.16.840.1.113883.2.8.2.1",
                                                                              "1.2.250.1.213.1.1.1.1"]
    assert all(e.tag.startswith(H) for e in cda.iter(etree.Element))  # one namespace throughout
    sections = cda.findall(".//h:section", CDA_NS)
    assert len(sections) == 5
    for section in sections:
        order = [etree.QName(c).localname for c in section]
        assert order[:3] == ["code", "title", "text"] and set(order[3:]) <= {"entry"}
        text = section.find("h:text", CDA_NS)
        assert {etree.QName(e).localname for e in text.iter(etree.Element)} <= NARRATIVE
    admin = cda.find(".//h:substanceAdministration", CDA_NS)
    assert [etree.QName(c).localname for c in admin] == ["text", "routeCode", "consumable"]
    assert admin.find("h:text/h:reference", CDA_NS).get("value") == "#dose-1"
    assert cda.find(".//h:td[@ID='dose-1']", CDA_NS) is not None
    custodian = cda.find(".//h:representedCustodianOrganization", CDA_NS)
    assert len(custodian.findall("h:telecom", CDA_NS)) <= 1  # the schema allows one


def test_document_ids_versions_and_metadata_agree(composer: Composer) -> None:
    got = parse(compose(composer, example_snapshot()))
    cda = got.cda
    doc_id = cda.find("h:id", CDA_NS).get("root")
    assert doc_id.startswith("2.25.") and doc_id != cda.find("h:setId", CDA_NS).get("root")
    assert cda.find("h:versionNumber", CDA_NS).get("value") == "3"  # the episode CarePlan's version
    root = got.metadata
    assert etree.QName(root).localname == "SubmitObjectsRequest"
    entry = root.find(".//rim:ExtrinsicObject", RIM_NS)
    assert entry.get("mimeType") == "text/xml"
    slots = {s.get("name"): [v.text for v in s.findall(".//rim:Value", RIM_NS)]
             for s in entry.findall("rim:Slot", RIM_NS)}
    assert slots["hash"] == [hashlib.sha1(got.cda_bytes).hexdigest()]  # noqa: S324
    assert slots["creationTime"] == ["20251103090000"] and slots["languageCode"] == ["fr-FR"]
    assert slots["sourcePatientInfo"] == ["PID-5|MARTIN^Jeanne^^^^^L", "PID-7|19480220", "PID-8|F"]
    assert slots["serviceStartTime"] == ["20251103"] and slots["serviceStopTime"] == ["20251202"]
    schemes = {c.get("classificationScheme"): c.get("nodeRepresentation")
               for c in entry.findall("rim:Classification", RIM_NS)}
    assert schemes["urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"] == "N"
    assert schemes["urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    association = root.find(".//rim:Association", RIM_NS)
    assert association.get("targetObject") == entry.get("id")
    assert association.get("sourceObject") == root.find(".//rim:RegistryPackage", RIM_NS).get("id")
    recipient = root.find(".//rim:RegistryPackage/rim:Slot[@name='intendedRecipient']//rim:Value", RIM_NS).text
    assert recipient.endswith(f"^^Internet^{PHARMACY_ADDRESS}")
    readme = got.zip.read("README.TXT").decode("utf-8")
    assert "\r\n" in readme and "IHE_XDM/SUBSET01/DOC0001.XML" in readme and "Onco'Link FHIR" in readme
    index = etree.fromstring(got.zip.read("INDEX.HTM"))  # well-formed XHTML
    assert "README.TXT" in [a.get("href") for a in index.iter("{http://www.w3.org/1999/xhtml}a")]


def test_same_trigger_and_recipient_give_the_same_message_id_and_document(composer: Composer) -> None:
    snapshot = example_snapshot()
    one, two = parse(compose(composer, snapshot)), parse(compose(composer, snapshot))
    assert one.message["Message-ID"] == two.message["Message-ID"]
    assert one.zip.fp.getvalue() == two.zip.fp.getvalue()  # the archive is byte-for-byte reproducible
    other = message_id(snapshot["trigger_key"], "Practitioner/gp-paul-petit", composer.sender)
    assert other != message_id(snapshot["trigger_key"], "Organization/org-pharmacie-lilas", composer.sender)


def test_text_from_fhir_is_escaped_in_html_and_xml(composer: Composer) -> None:
    snapshot = example_snapshot(trigger(text="Dose <b>doublée</b> & « à revoir »"))
    got = parse(compose(composer, snapshot))
    assert "Dose &lt;b&gt;doublée&lt;/b&gt; &amp; « à revoir »" in got.html
    assert "Dose <b>doublée</b> & « à revoir »" in got.text
    assert "Dose <b>doublée</b> & « à revoir »" in "".join(got.cda.itertext())


def test_patient_without_ins_is_filed_under_the_ipp(composer: Composer) -> None:
    snapshot = example_snapshot()
    snapshot["patient"]["identifier"] = [i for i in snapshot["patient"]["identifier"] if "1.2.250.1.213.1.4" not in
                                         i.get("system", "")]
    got = parse(compose(composer, snapshot))
    assert got.message["X-MSS-INS"] == "N"
    ids = [e.get("value") for e in got.metadata.findall(".//rim:ExternalIdentifier", RIM_NS)]
    assert "IPP00012345^^^&1.2.250.1.71.4.2.7.999&ISO^PI" in ids
    assert got.cda.find("h:recordTarget/h:patientRole/h:id", CDA_NS).get("extension") == "IPP00012345"
    assert "INS : non disponible" in got.text


def test_compose_time_is_within_budget(composer: Composer) -> None:
    snapshot = example_snapshot()
    compose(composer, snapshot)
    start = time.perf_counter()
    for _ in range(20):
        compose(composer, snapshot)
    assert (time.perf_counter() - start) / 20 < 0.1  # generous here; bench/mssante_bench.py measures ≤ 20 ms
