"""The direct evaluator must give exactly the index rows the FHIRPath engine gives."""

from __future__ import annotations

import copy
from collections import Counter

import orjson
from search_corpus import resources

from fhir_server.search import fhirpath
from fhir_server.search.extract import EXTRACTORS
from fhir_server.search.registry import SearchParameters


def _rows(kind_rows: list[tuple[str, dict]]) -> set[str]:
    return {orjson.dumps([kind, row], option=orjson.OPT_SORT_KEYS).decode() for kind, row in kind_rows}


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
