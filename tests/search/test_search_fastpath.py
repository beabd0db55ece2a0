"""The direct evaluator must give exactly the index rows the FHIRPath engine gives."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace

import orjson
from search_corpus import resources

from fhir_server.search import fhirpath
from fhir_server.search.extract import EXTRACTORS, Emitted
from fhir_server.search.fastpath import Typed
from fhir_server.search.indexer import SearchIndexer
from fhir_server.search.registry import SearchParameters
from fhir_server.validation.packages import PackageRegistry
from tests.validation.support import ig_registry  # noqa: F401 - fixture


def _rows(kind_rows: list[Emitted]) -> set[str]:
    return {orjson.dumps([kind, row], option=orjson.OPT_SORT_KEYS).decode()
            for kind, row in _engine_comparable(kind_rows)}


def _engine_comparable(kind_rows: list[Emitted]) -> list[Emitted]:
    """Rows without the HumanName/Address part bits of string rows: the engine types the members of a union
    as plain strings, so its values cannot tell which part a text is (the direct evaluator's types can, and
    only its single-branch parameters are ever read part by part)."""
    return [(kind, row[:-1] if kind == "string" else row) for kind, row in kind_rows]


def test_fast_path_matches_fhirpath_engine(search_params: SearchParameters) -> None:
    params = search_params
    corpus = resources()
    assert len(corpus) > 250
    compared = Counter[str]()
    engine_cache: dict[tuple[str, str], object] = {}
    for resource in corpus:
        res_type = resource["resourceType"]
        before = copy.deepcopy(resource)
        for code, param in params.for_type(res_type).items():
            if not param.indexed or param.type == "composite":
                continue
            fast = params.values(param, res_type, resource)
            key = (param.expression or "", res_type)
            engine = engine_cache.get(key)
            if engine is None:
                engine = engine_cache[key] = fhirpath.compile_expression(param.expression or "", res_type)
            try:
                slow = engine(resource)  # type: ignore[operator]
            except ValueError:
                # The engine refuses `x as T` on several items (FHIRPath says: error); the direct
                # evaluator filters the collection instead, which is what indexing wants.
                compared["engine error"] += 1
                continue
            extract = EXTRACTORS[param.type]
            hash_type = param.hash_type(res_type)
            assert _rows(extract(hash_type, code, fast)) == _rows(extract(hash_type, code, slow)), (
                f"{res_type}/{resource.get('id')} {code}: {param.expression}"
            )
            compared["values" if fast else "empty"] += 1
        assert resource == before, "evaluation must not modify the resource"
    assert compared["values"] > 1500


def test_most_parameters_take_the_fast_path(search_params: SearchParameters) -> None:
    """Guards the ~95 % coverage the performance of indexing depends on."""
    params = search_params
    fast = slow = 0
    for res_type in params.resource_types():
        for param in params.for_type(res_type).values():
            if not param.indexed:
                continue
            compiled = params._compile(param.expression or "", res_type, res_type, relative=False)
            fast += len(compiled.fast)
            slow += len(compiled.slow)
    assert fast / (fast + slow) > 0.97, (fast, slow)


def test_indexer_rows_match_rows_from_the_fhirpath_engine(search_params: SearchParameters) -> None:
    """What indexing stores — per resource type, the parameters its keys can reach, the branches resolved
    at compile time — must be exactly the rows of the engine's values, parameter by parameter and for the
    resource as a whole; the compile-time branches must also give what the step-by-step walk gives."""
    params = search_params
    indexer = SearchIndexer(params, base_url="http://testserver/fhir")
    engines: dict[tuple[str, str], object] = {}
    compared = Counter[str]()
    for resource in resources():
        res_type = resource["resourceType"]
        plan = params.plan(res_type)
        relevant = {id(item) for item in plan.relevant(resource)}
        expected: set[Emitted] = set()
        for item in plan.items:
            if item.param.type == "composite":
                expected.update(indexer.item_rows(item, res_type, resource))
                continue
            where = f"{res_type}/{resource.get('id')} {item.key}: {item.param.expression}"
            start = [(resource, res_type)]
            walked: list[Typed] = [typed for path in item.fast for typed in path.evaluate(start)]
            walked += [value for slow in item.slow for value in params.guarded(slow, resource, item.param)]
            if item.typed is not None:
                assert item.typed(resource) == walked, where
                compared["compile-time values"] += bool(walked)
            wanted = set(indexer.item_rows(item, res_type, resource, values=walked))
            assert set(indexer.item_rows(item, res_type, resource)) == wanted, where
            key = (item.param.expression or "", res_type)
            engine = engines.get(key)
            if engine is None:
                engine = engines[key] = fhirpath.compile_expression(item.param.expression or "", res_type)
            try:
                by_engine = engine(resource)  # type: ignore[operator]
            except ValueError:  # see test_fast_path_matches_fhirpath_engine
                compared["engine error"] += 1
            else:
                # Without the system a binding implies for `code` values: the engine types the members
                # of a union as plain strings.
                untyped = replace(item, code_system="")
                by_engine_rows = indexer.item_rows(untyped, res_type, resource, values=by_engine)
                walked_rows = indexer.item_rows(untyped, res_type, resource, values=walked)
                assert set(_engine_comparable(by_engine_rows)) == set(_engine_comparable(walked_rows)), where
            if id(item) not in relevant:
                assert not wanted, f"{where}: skipped but has rows"
            compared["rows"] += len(wanted)
            expected |= wanted
        stored = indexer.rows(res_type, resource)
        assert {(kind, row) for kind, rows in stored.items() for row in rows} == expected
        assert sum(len(rows) for rows in stored.values()) == len(expected), "rows are deduplicated"
    assert compared["compile-time values"] > 1200, compared
    assert compared["rows"] > 1300, compared


_EXT = "https://oncolink.example.org/fhir/StructureDefinition/"
_CODING = {"valueCoding": {"system": "https://oncolink.example.org/fhir/CodeSystem/x", "code": "B"}}
_EXTENSIONS = [
    {"url": _EXT + "oncolink-parcours", **_CODING},
    {"url": _EXT + "oncolink-sequence-number", **_CODING},
    {"url": _EXT + "oncolink-alert-colour", **_CODING},
    {"url": _EXT + "oncolink-hospital-reserve", "valueBoolean": True},
    {"url": "http://example.org/other", "valueString": "ignorée"},
]


def test_profile_parameters_on_extensions_take_the_fast_path(ig_registry: PackageRegistry) -> None:  # noqa: F811
    """Our profiles' parameters read `X.extension.where(url = …).value`: evaluated by the FHIRPath engine,
    each cost a CarePlan write 150-190 µs (2026-12-07). They must be compiled, skipped for a resource
    without extensions, and give the engine's rows."""
    params = SearchParameters(ig_registry)
    indexer = SearchIndexer(params)
    compared = 0
    for res_type in ("CarePlan", "ChargeItem", "Task", "Flag", "QuestionnaireResponse", "MedicationRequest"):
        plan = params.plan(res_type)
        ours = [item for item in plan.items if _EXT in (item.param.expression or "")
                and ".extension.where(" in (item.param.expression or "")]
        assert ours, res_type
        resource = {"resourceType": res_type, "id": "x", "extension": _EXTENSIONS}
        bare = {"resourceType": res_type, "id": "y"}
        relevant = {id(item) for item in plan.relevant(bare)}
        for item in ours:
            where = f"{res_type} {item.key}: {item.param.expression}"
            assert not item.slow and item.fast, where
            assert id(item) not in relevant, where
            engine = fhirpath.compile_expression(item.param.expression or "", res_type)
            by_engine = indexer.item_rows(item, res_type, resource, values=engine(resource))
            rows = indexer.item_rows(item, res_type, resource)
            assert rows and set(rows) == set(by_engine), where
            compared += 1
    assert compared >= 8


def test_item_subject_of_a_response_takes_the_fast_path(search_params: SearchParameters) -> None:
    """R4 core's `item-subject` (`item.where(hasExtension(…)).answer.value.ofType(Reference)`): only the
    answers of items marked as the subject, as the engine gives them."""
    subject = "http://hl7.org/fhir/StructureDefinition/questionnaireresponse-isSubject"
    response = {"resourceType": "QuestionnaireResponse", "id": "q", "status": "completed", "item": [
        {"linkId": "a", "extension": [{"url": subject, "valueBoolean": True}],
         "answer": [{"valueReference": {"reference": "Patient/1"}}, {"valueString": "texte"}]},
        {"linkId": "b", "extension": [{"url": "http://example.org/autre", "valueBoolean": True}],
         "answer": [{"valueReference": {"reference": "Patient/2"}}]},
        {"linkId": "c", "answer": [{"valueReference": {"reference": "Patient/3"}}]}]}
    indexer = SearchIndexer(search_params)
    (item,) = [i for i in search_params.plan("QuestionnaireResponse").items if i.key == "item-subject"]
    assert not item.slow and item.fast
    engine = fhirpath.compile_expression(item.param.expression or "", "QuestionnaireResponse")
    rows = indexer.item_rows(item, "QuestionnaireResponse", response)
    assert rows == indexer.item_rows(item, "QuestionnaireResponse", response, values=engine(response))
    assert [row[1:3] for _, row in rows] == [("Patient", "1")]
