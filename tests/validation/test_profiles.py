"""Validation against our profiles: every example of the guide is valid, and each kind of violation
yields exactly the issues (severity, code, expression) a client must see, and no others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fhir_server.validation.validator import FhirValidator
from tests.validation.support import Found, example, found

Mutation = Callable[[dict[str, Any]], None]

# Warnings that are true of valid examples: code systems we do not hold, and R4's identifier-type
# value set, which has no code for a hospital's patient id (PI).
EXPECTED_WARNINGS: dict[str, Found] = {
    "patient-jeanne-martin": [("warning", "code-invalid", ("Patient.identifier[1].type",))],
}


def err(code: str, expression: str) -> tuple[str, str, tuple[str, ...]]:
    return ("error", code, (expression,))


def warn(code: str, expression: str) -> tuple[str, str, tuple[str, ...]]:
    return ("warning", code, (expression,))


def test_every_example_is_valid(fhir_validator: FhirValidator, examples: dict[str, dict[str, Any]]) -> None:
    assert len(examples) >= 16
    for name, resource in examples.items():
        assert found(fhir_validator.validate(resource)) == EXPECTED_WARNINGS.get(name, []), name


def test_every_conformance_resource_of_the_guide_is_valid(fhir_validator: FhirValidator, built_ig: Any) -> None:
    for name, resource in built_ig.conformance.items():
        errors = [i for i in fhir_validator.validate(resource) if i.severity == "error"]
        assert errors == [], name


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting a dotted path (list indices as numbers) to `value`; None deletes."""

    def apply(resource: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = resource
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            if last.isdigit():
                del node[int(last)]
            else:
                del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _all(*mutations: Mutation) -> Mutation:
    def apply(resource: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(resource)

    return apply


def _append(path: str, value: Any) -> Mutation:
    def apply(resource: dict[str, Any]) -> None:
        node: Any = resource
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node.setdefault(part, [])
        node.append(value)

    return apply


EXT = "https://oncolink.example.org/fhir/StructureDefinition/"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"

CASES: list[tuple[str, str, Mutation, Found]] = [
    # -- cardinality ------------------------------------------------------------------------------
    ("patient without birth date (profile 1..1)", "patient-jeanne-martin", _set("birthDate", None),
     [err("required", "Patient.birthDate")]),
    ("patient without identifier: cardinality and invariant", "patient-jeanne-martin", _set("identifier", None),
     [err("invariant", "Patient"), err("required", "Patient.identifier")]),
    ("sequence plan without end (profile 1..1 below an optional element)", "sequence-jeanne-martin-1",
     _set("period.end", None), [err("required", "CarePlan.period.end")]),
    ("episode with a second care team (profile max 1)", "episode-jeanne-martin",
     _append("careTeam", {"reference": "#team-jeanne-martin"}), [err("structure", "CarePlan.careTeam[1]")]),
    ("activity detail is prohibited (max 0) and the reference is then missing", "episode-jeanne-martin",
     _set("activity.0", {"detail": {"status": "in-progress"}}),
     [err("required", "CarePlan.activity[0].reference"), err("structure", "CarePlan.activity[0].detail")]),
    # -- choice types ---------------------------------------------------------------------------
    ("medication as a reference: the profile allows only a CodeableConcept", "mr-capecitabine",
     _all(_set("medicationCodeableConcept", None), _set("medicationReference", {"reference": "Medication/x"})),
     [err("structure", "MedicationRequest.medicationReference"), err("required", "MedicationRequest.medication[x]")]),
    ("forfait dated by a dateTime instead of a period", "forfait-jeanne-martin-tsm-2025-11",
     _all(_set("occurrencePeriod", None), _set("occurrenceDateTime", "2025-11-30")),
     [err("structure", "ChargeItem.occurrenceDateTime"), err("required", "ChargeItem.occurrence[x]")]),
    # -- fixed and pattern values ---------------------------------------------------------------
    ("forfait in US dollars (fixed EUR)", "forfait-jeanne-martin-tsm-2025-11", _set("priceOverride.currency", "USD"),
     [err("value", "ChargeItem.priceOverride.currency"), warn("code-invalid", "ChargeItem.priceOverride.currency")]),
    ("episode with intent order (pattern plan)", "episode-jeanne-martin", _set("intent", "order"),
     [err("value", "CarePlan.intent")]),
    ("prescription by the intravenous route (pattern: oral)", "mr-capecitabine",
     _set("dosageInstruction.0.route", {"coding": [{"system": "http://standardterms.edqm.eu", "code": "20045000"}]}),
     [err("value", "MedicationRequest.dosageInstruction[0].route")]),
    # -- bindings -------------------------------------------------------------------------------
    ("parcours C is not in the required value set", "episode-jeanne-martin",
     _set("extension.0.valueCoding.code", "C"), [err("code-invalid", "CarePlan.extension[0].valueCoding")]),
    ("flag code from another code system", "flag-jeanne-martin-diarrhee",
     _set("code", {"coding": [{"system": "http://snomed.info/sct", "code": "62315008"}]}),
     [err("code-invalid", "Flag.code")]),
    ("flag code with text only", "flag-jeanne-martin-diarrhee", _set("code", {"text": "diarrhée"}),
     [err("code-invalid", "Flag.code")]),
    ("care team role outside the extensible value set: a warning", "care-team-jeanne-martin",
     _append("participant", {"role": [{"coding": [{"system": "http://snomed.info/sct", "code": "309343006"}]}],
                             "member": {"reference": "Practitioner/x"}}),
     [warn("code-invalid", "CareTeam.participant[3].role[0]")]),
    ("task type our code system does not define: one issue, on the bound element", "task-jeanne-martin-diarrhee",
     _set("code.coding.0.code", "alert-handle"), [err("code-invalid", "Task.code")]),
    ("a code our code system does not define, on an element without binding", "condition-cancer-sein",
     _append("code.coding", {"system": "https://oncolink.example.org/fhir/CodeSystem/oncolink-sequence", "code": "9"}),
     [err("code-invalid", "Condition.code.coding[1]")]),
    # -- slicing --------------------------------------------------------------------------------
    ("two test INS (slice max 1)", "patient-jeanne-martin",
     _append("identifier", {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": "248027512345679"}),
     [err("structure", "Patient.identifier[2]")]),
    ("prescription without ATC code (slice min 1)", "mr-capecitabine",
     _set("medicationCodeableConcept.coding.0", None),
     [err("required", "MedicationRequest.medicationCodeableConcept.coding")]),
    ("prescription coded in ATC only: neither CIP13 nor UCD", "mr-capecitabine",
     _set("medicationCodeableConcept.coding.1", None),
     [err("invariant", "MedicationRequest.medicationCodeableConcept")]),
    ("episode without its episode category (slice min 1)", "episode-jeanne-martin",
     _set("category.0.coding.0.code", "sequence"), [err("required", "CarePlan.category")]),
    ("prescription without the hospital-reserve extension (slice min 1)", "mr-capecitabine",
     _set("extension.0", None), [err("required", "MedicationRequest.extension")]),
    # -- extensions -----------------------------------------------------------------------------
    ("unknown extension: a warning", "episode-jeanne-martin",
     _append("extension", {"url": "https://example.org/fhir/StructureDefinition/x", "valueString": "x"}),
     [warn("extension", "CarePlan.extension[4]")]),
    ("unknown modifier extension: an error", "episode-jeanne-martin",
     _append("modifierExtension", {"url": "https://example.org/fhir/StructureDefinition/x", "valueString": "x"}),
     [err("extension", "CarePlan.modifierExtension[0]")]),
    ("extension outside its context", "episode-jeanne-martin",
     _append("extension", {"url": EXT + "oncolink-hospital-reserve", "valueBoolean": True}),
     [err("extension", "CarePlan.extension[4]")]),
    ("extension value of the wrong type", "episode-jeanne-martin",
     _set("extension.0", {"url": EXT + "oncolink-parcours", "valueString": "A"}),
     [err("structure", "CarePlan.extension[0].valueString"), err("required", "CarePlan.extension[0].value[x]")]),
    # -- invariants -----------------------------------------------------------------------------
    ("ATC class outside L01/L02", "mr-capecitabine", _set("medicationCodeableConcept.coding.0.code", "L04AX03"),
     [err("invariant", "MedicationRequest.medicationCodeableConcept.coding[0]")]),
    ("CIP13 of the wrong shape", "mr-capecitabine", _set("medicationCodeableConcept.coding.1.code", "1234567"),
     [err("invariant", "MedicationRequest.medicationCodeableConcept.coding[1]")]),
    ("sequence 1 cannot be renewed", "sequence-jeanne-martin-1", _set("extension.1.valueUnsignedInt", 2),
     [err("invariant", "CarePlan")]),
    ("completed task without outcome", "task-jeanne-martin-diarrhee", _set("note", None),
     [err("invariant", "Task")]),
    ("INS exchanged for an identity that is not qualified: a warning", "patient-jeanne-martin",
     _all(_set("identifier.0.system", INS_NIR), _set("extension.0.valueCoding.code", "PROV")),
     [warn("invariant", "Patient")]),
    ("care team without GP: a warning", "care-team-jeanne-martin", _set("participant.2", None),
     [warn("invariant", "CareTeam")]),
    ("sequence forfait without parcours", "forfait-jeanne-martin-s1-officine", _set("extension", None),
     [err("invariant", "ChargeItem")]),
    ("R4 core invariant per-1 on a datatype the profile does not touch", "sequence-jeanne-martin-1",
     _set("period.end", "2025-10-01"), [err("invariant", "CarePlan.period")]),
    # -- maxLength and min/max values ---------------------------------------------------------
    ("INS of 16 characters: maxLength and the INS shape", "patient-jeanne-martin",
     _set("identifier.0.value", "2480275123456789"),
     [err("too-long", "Patient.identifier[0].value"), err("invariant", "Patient.identifier[0]")]),
    ("negative forfait amount (minValue 0)", "forfait-jeanne-martin-tsm-2025-11", _set("priceOverride.value", -28),
     [err("value", "ChargeItem.priceOverride.value")]),
    ("13 repeats (maxValue 12)", "mr-capecitabine", _set("dispenseRequest.numberOfRepeatsAllowed", 13),
     [err("value", "MedicationRequest.dispenseRequest.numberOfRepeatsAllowed")]),
    ("message longer than 2,000 characters", "message-jeanne-martin-diarrhee",
     _set("payload.0.contentString", "x" * 2001), [err("too-long", "Communication.payload[0].contentString")]),
    # -- references -----------------------------------------------------------------------------
    ("prescriber that is an organization", "mr-capecitabine", _set("requester.reference", "Organization/x"),
     [err("structure", "MedicationRequest.requester.reference")]),
    ("absolute reference to the wrong type", "episode-jeanne-martin",
     _set("subject.reference", "https://other.example.org/fhir/Group/g1"),
     [err("structure", "CarePlan.subject.reference")]),
    ("reference by logical id with its type", "episode-jeanne-martin",
     _set("subject", {"type": "Group", "identifier": {"value": "g"}}),
     [err("structure", "CarePlan.subject.reference")]),
    ("urn:uuid references cannot be typed and pass", "episode-jeanne-martin",
     _set("subject.reference", "urn:uuid:6e1b2f9c-3c1a-4a55-9d5b-3f4e2a1b0c9d"), []),
    ("contained care team that breaks its profile (via the reference's target profile)", "episode-jeanne-martin",
     _set("contained.0.participant.1", None),
     [err("required", "CarePlan.contained[0].participant")]),
    ("care team referenced outside the plan", "episode-jeanne-martin", _set("careTeam.0.reference", "CareTeam/x"),
     [err("invariant", "CarePlan"), err("invariant", "CarePlan")]),
    # -- the questionnaire behind the response --------------------------------------------------
    ("answer for an item the questionnaire does not have", "pro-jeanne-martin-2025-11-17",
     _set("item.0.linkId", "vomissements"),
     [err("structure", "QuestionnaireResponse.item[0].linkId"), err("required", "QuestionnaireResponse")]),
    ("text answer to a graded item", "pro-jeanne-martin-2025-11-17",
     _set("item.0.answer.0", {"valueString": "beaucoup"}),
     [err("structure", "QuestionnaireResponse.item[0].answer[0].valueString")]),
    ("grade outside the scale", "pro-jeanne-martin-2025-11-17", _set("item.0.answer.0.valueCoding.code", "7"),
     [err("code-invalid", "QuestionnaireResponse.item[0].answer[0].valueCoding")]),
    ("two answers to a single-answer item", "pro-jeanne-martin-2025-11-17",
     _append("item.0.answer", {"valueCoding": {"system": "https://oncolink.example.org/fhir/CodeSystem/oncolink-grade",
                                                 "code": "1"}}),
     [err("structure", "QuestionnaireResponse.item[0].answer")]),
    ("completed without the missed-doses answer", "pro-jeanne-martin-2025-11-17", _set("item.11", None),
     [err("required", "QuestionnaireResponse")]),
    ("in progress: required answers may still be missing", "pro-jeanne-martin-2025-11-17",
     _all(_set("item.11", None), _set("status", "in-progress")), []),
    ("another questionnaire", "pro-jeanne-martin-2025-11-17",
     _set("questionnaire", "https://example.org/Questionnaire/other"),
     [err("invariant", "QuestionnaireResponse.questionnaire"),
      warn("not-found", "QuestionnaireResponse.questionnaire")]),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), [(c[1], c[2], c[3]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_violation(fhir_validator: FhirValidator, examples: dict[str, dict[str, Any]], name: str,
                   mutate: Mutation, expected: Found) -> None:
    resource = example(examples, name)
    mutate(resource)
    baseline = EXPECTED_WARNINGS.get(name, [])
    got = [i for i in found(fhir_validator.validate(resource)) if i not in baseline]
    assert sorted(got) == sorted(expected)


def test_messages_name_the_rule(fhir_validator: FhirValidator, examples: dict[str, dict[str, Any]]) -> None:
    resource = example(examples, "mr-capecitabine")
    resource["medicationCodeableConcept"]["coding"][0]["code"] = "L04AX03"
    (issue,) = [i for i in fhir_validator.validate(resource) if i.severity == "error"]
    assert issue.diagnostics == (
        "MedicationRequest.medicationCodeableConcept.coding[0]: oncolink-mr-1: Un anticancéreux oral appartient aux "
        "classes ATC L01 (antinéoplasiques) ou L02 (thérapeutique endocrine)."
    )


def test_unknown_claimed_profile_is_a_warning_or_an_error(ig_registry: Any, examples: dict[str, Any]) -> None:
    resource = example(examples, "condition-cancer-sein")
    resource["meta"] = {"profile": ["https://example.org/fhir/StructureDefinition/unknown"]}
    lenient = FhirValidator(ig_registry)
    strict = FhirValidator(ig_registry, unknown_profile="error")
    assert found(lenient.validate(resource)) == [warn("not-found", "Condition.meta.profile[0]")]
    assert found(strict.validate(resource)) == [err("not-found", "Condition.meta.profile[0]")]
    assert found(lenient.check_claimed(resource)) == [warn("not-found", "Condition.meta.profile[0]")]


def test_requested_profile_is_checked_and_an_unknown_one_is_an_error(fhir_validator: FhirValidator,
                                                                     examples: dict[str, Any]) -> None:
    resource = example(examples, "condition-cancer-sein")
    assert found(fhir_validator.validate(resource, profiles=["https://example.org/unknown"])) == [
        ("error", "not-found", ())
    ]
    patient = example(examples, "patient-jeanne-martin")
    del patient["meta"]
    del patient["birthDate"]
    assert found(fhir_validator.validate(patient)) == EXPECTED_WARNINGS["patient-jeanne-martin"]
    assert err("required", "Patient.birthDate") in found(
        fhir_validator.validate(patient, profiles=[EXT + "oncolink-patient"])
    )


def test_profile_of_another_type_is_an_error(fhir_validator: FhirValidator, examples: dict[str, Any]) -> None:
    resource = example(examples, "condition-cancer-sein")
    issues = fhir_validator.validate(resource, profiles=[EXT + "oncolink-patient"])
    assert found(issues) == [err("invalid", "Condition")]


def test_check_claimed_only_runs_claimed_profiles(fhir_validator: FhirValidator, examples: dict[str, Any]) -> None:
    resource = example(examples, "episode-jeanne-martin")
    assert found(fhir_validator.check_claimed(resource)) == []
    del resource["subject"]
    assert found(fhir_validator.check_claimed(resource)) == [err("required", "CarePlan.subject")]
    del resource["meta"]
    assert fhir_validator.check_claimed(resource) == []


def test_contained_resources_are_checked_against_their_claimed_profiles(fhir_validator: FhirValidator,
                                                                         examples: dict[str, Any]) -> None:
    resource = example(examples, "condition-cancer-sein")
    patient = example(examples, "patient-jeanne-martin")
    del patient["birthDate"]
    patient["id"] = "p"
    resource["contained"] = [patient]
    resource["subject"] = {"reference": "#p"}
    assert err("required", "Condition.contained[0].birthDate") in found(fhir_validator.validate(resource))


def test_bundle_entries_are_validated_and_resolve_each_other(fhir_validator: FhirValidator,
                                                             examples: dict[str, Any]) -> None:
    plan = example(examples, "episode-jeanne-martin")
    request = example(examples, "mr-capecitabine")
    request["requester"] = {"reference": "urn:uuid:0a7d3c52-2d0b-4a6f-8b33-0c8b5e1f7a10"}
    prescriber = example(examples, "prescriber-claire-roux")
    prescriber["identifier"][0]["value"] = "123"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "https://oncolink.example.org/fhir/CarePlan/episode-jeanne-martin", "resource": plan},
            {"fullUrl": "https://oncolink.example.org/fhir/MedicationRequest/mr-capecitabine", "resource": request},
            {"fullUrl": "urn:uuid:0a7d3c52-2d0b-4a6f-8b33-0c8b5e1f7a10", "resource": prescriber},
        ],
    }
    got = found(fhir_validator.validate(bundle))
    assert err("invariant", "Bundle.entry[2].resource.identifier[0]") in got
    # The requester resolves to the prescriber entry, which fails its target profile.
    assert err("structure", "Bundle.entry[1].resource.requester.reference") in got


def test_a_value_found_clean_is_checked_again_where_its_checks_read_the_resource(
        fhir_validator: FhirValidator, examples: dict[str, Any]) -> None:
    """Clean values are not walked twice (ProfileValidator memo), but a value whose checks look beyond it
    (a local reference, ref-1 on `%rootResource`) is checked in every resource: the same `#team` is
    valid where the care team is contained and an error where it is not."""
    plan = example(examples, "episode-jeanne-martin")
    [reference] = plan["careTeam"]
    assert reference["reference"].startswith("#")
    assert not [i for i in found(fhir_validator.validate(plan)) if i[0] == "error"]
    plan["contained"][0]["id"] = "another"
    for _ in range(2):  # and an invalid value is reported every time, never remembered as clean
        assert err("invariant", "CarePlan.careTeam[0]") in found(fhir_validator.validate(plan))
