"""JSON Patch: the official FHIR R4 test suite, then our own error and edge cases."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from fhir_server.errors import BadRequest, Unprocessable
from fhir_server.patch import apply_json_patch
from tests.conftest import SHARED

SUITE = json.loads((SHARED / "fhir" / "test-cases" / "r4" / "patch" / "json-patch-tests.json").read_text())


def test_suite_has_all_cases() -> None:
    assert len(SUITE) == 16


@pytest.mark.parametrize("case", SUITE, ids=[c["comment"] for c in SUITE])
def test_official_suite(case: dict[str, Any]) -> None:
    doc = copy.deepcopy(case["doc"])
    if "error" in case:
        with pytest.raises(Unprocessable):
            apply_json_patch(doc, case["patch"])
    else:
        assert apply_json_patch(doc, case["patch"]) == case["expected"]
    assert doc == case["doc"], "the input document must never be modified"


PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "A", "given": ["x", "y"]}], "active": True}


def _error(exc_type: type[Exception], operations: object) -> Any:
    with pytest.raises(exc_type) as info:
        apply_json_patch(PATIENT, operations)
    return info.value


@pytest.mark.parametrize(
    ("operations", "expression", "fragment"),
    [
        ({"op": "add"}, "operations", "must be a JSON array"),
        (["add"], "operations[0]", "must be a JSON object"),
        ([{"op": "append", "path": "/a"}], "operations[0].op", "must be one of"),
        ([{"path": "/a", "value": 1}], "operations[0].op", "must be one of"),
        ([{"op": "remove"}], "operations[0].path", "string JSON Pointer is required"),
        ([{"op": "remove", "path": 3}], "operations[0].path", "string JSON Pointer is required"),
        ([{"op": "remove", "path": "active"}], "operations[0].path", "must be empty or start with '/'"),
        ([{"op": "remove", "path": "/a~2b"}], "operations[0].path", "invalid escape"),
        (
            [{"op": "test", "path": "/active", "value": True}, {"op": "add", "path": "/x"}],
            "operations[1].value",
            "required for 'add'",
        ),
        ([{"op": "move", "path": "/x"}], "operations[0].from", "required for 'move'"),
        ([{"op": "copy", "path": "/x", "from": 1}], "operations[0].from", "required for 'copy'"),
        ([{"op": "move", "from": "/name", "path": "/name/0"}], "operations[0].from", "into its own child"),
    ],
)
def test_malformed_patch_is_400_naming_the_operation(operations: object, expression: str, fragment: str) -> None:
    error = _error(BadRequest, operations)
    assert error.status == 400
    assert error.issues[0].expression == (expression,)
    assert fragment in error.issues[0].diagnostics


def test_malformed_operation_wins_over_an_earlier_inapplicable_one() -> None:
    """The document is checked whole before anything runs, so the answer does not depend on order."""
    error = _error(BadRequest, [{"op": "remove", "path": "/missing"}, {"op": "nope", "path": "/a"}])
    assert error.issues[0].expression == ("operations[1].op",)


@pytest.mark.parametrize(
    ("operations", "fragment"),
    [
        ([{"op": "remove", "path": "/birthDate"}], "path /birthDate does not exist"),
        ([{"op": "replace", "path": "/birthDate", "value": "2000"}], "path /birthDate does not exist"),
        ([{"op": "add", "path": "/meta/source", "value": "x"}], "path /meta does not exist"),
        ([{"op": "remove", "path": "/name/1"}], "path /name/1 does not exist"),
        ([{"op": "remove", "path": "/name/-"}], "path /name/- does not exist"),
        ([{"op": "remove", "path": "/name/00"}], "path /name/00 does not exist"),
        ([{"op": "add", "path": "/name/2", "value": {}}], "not a valid position in an array of 1"),
        ([{"op": "add", "path": "/active/x", "value": 1}], "path /active is not an object or array"),
        ([{"op": "test", "path": "/active", "value": 1}], "test failed"),
        ([{"op": "test", "path": "/name/0/given", "value": ["y", "x"]}], "test failed"),
        ([{"op": "copy", "from": "/nope", "path": "/x"}], "path /nope does not exist"),
        ([{"op": "remove", "path": ""}], "cannot remove the whole document"),
    ],
)
def test_inapplicable_patch_is_422(operations: list[dict[str, Any]], fragment: str) -> None:
    error = _error(Unprocessable, operations)
    assert error.status == 422
    assert error.issues[0].expression == ("operations[0]",)
    assert fragment in error.issues[0].diagnostics


def test_failure_names_the_failing_operation_and_leaves_the_resource_untouched() -> None:
    original = copy.deepcopy(PATIENT)
    error = _error(
        Unprocessable,
        [{"op": "replace", "path": "/active", "value": False}, {"op": "test", "path": "/id", "value": "p2"}],
    )
    assert error.issues[0].expression == ("operations[1]",)
    assert error.issues[0].diagnostics.startswith("operations[1] (test /id): test failed")
    assert original == PATIENT


def test_operations_apply_in_order_on_a_copy() -> None:
    result = apply_json_patch(
        PATIENT,
        [
            {"op": "add", "path": "/name/0/given/-", "value": "z"},
            {"op": "move", "from": "/name/0/given/0", "path": "/name/0/given/2"},
            {"op": "copy", "from": "/name/0", "path": "/name/-"},
            {"op": "replace", "path": "/name/1/family", "value": "B"},
            {"op": "remove", "path": "/active"},
            {"op": "test", "path": "/name/1/given", "value": ["y", "z", "x"]},
        ],
    )
    assert result == {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "A", "given": ["y", "z", "x"]}, {"family": "B", "given": ["y", "z", "x"]}],
    }
    assert PATIENT["name"][0]["given"] == ["x", "y"]


def test_replace_keeps_member_position() -> None:
    result = apply_json_patch(PATIENT, [{"op": "replace", "path": "/id", "value": "p9"}])
    assert list(result) == ["resourceType", "id", "name", "active"]


def test_added_values_are_copies() -> None:
    value = {"family": "C"}
    result = apply_json_patch(PATIENT, [{"op": "add", "path": "/name/-", "value": value}])
    result["name"][1]["family"] = "changed"
    assert value == {"family": "C"}


def test_test_distinguishes_booleans_from_numbers_but_not_int_from_float() -> None:
    doc = {"resourceType": "Basic", "a": 1, "b": True}
    assert apply_json_patch(doc, [{"op": "test", "path": "/a", "value": 1.0}]) == doc
    with pytest.raises(Unprocessable):
        apply_json_patch(doc, [{"op": "test", "path": "/b", "value": 1}])
    with pytest.raises(Unprocessable):
        apply_json_patch(doc, [{"op": "test", "path": "/a", "value": True}])


def test_pointer_escapes() -> None:
    doc = {"resourceType": "Basic", "a/b": {"m~n": 1}}
    result = apply_json_patch(doc, [{"op": "replace", "path": "/a~1b/m~0n", "value": 2}])
    assert result == {"resourceType": "Basic", "a/b": {"m~n": 2}}


def test_move_to_same_place_is_a_no_op_but_source_must_exist() -> None:
    assert apply_json_patch(PATIENT, [{"op": "move", "from": "/active", "path": "/active"}]) == PATIENT
    with pytest.raises(Unprocessable):
        apply_json_patch(PATIENT, [{"op": "move", "from": "/gender", "path": "/gender"}])


def test_whole_document_replace_must_stay_an_object() -> None:
    assert apply_json_patch(PATIENT, [{"op": "replace", "path": "", "value": {"resourceType": "Basic"}}]) == {
        "resourceType": "Basic"
    }
    error = _error(Unprocessable, [{"op": "replace", "path": "", "value": [1]}])
    assert "not a JSON object" in error.issues[0].diagnostics
