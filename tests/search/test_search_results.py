"""Result parameters: _sort, _count with keyset paging links, _total, _summary, _elements."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from search_helpers import BASE, create, error, ids, links, search, search_ids

from fhir_server.search.sorting import Cursor
from fhir_server.search.subsetting import SUBSETTED


def _patient(res_id: str, family: str | None, birth: str | None, gender: str = "female") -> dict[str, object]:
    body: dict[str, object] = {"resourceType": "Patient", "id": res_id, "gender": gender,
                               "text": {"status": "generated", "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">{res_id}</div>"}}
    if family:
        body["name"] = [{"family": family}]
    if birth:
        body["birthDate"] = birth
    return body


@pytest.fixture
def five(client: TestClient) -> list[str]:
    rows = [("p1", "Martin", "1960-05-01", "male"), ("p2", "Bernard", "1950", "female"),
            ("p3", "Émile", None, "male"), ("p4", "arnaud", "1955-01-01", "female"),
            ("p5", None, "1950-01-01", "male")]
    return [create(client, _patient(*row)) for row in rows]


@pytest.mark.usefixtures("five")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["p1", "p2", "p3", "p4", "p5"]),
        ("_id", ["p1", "p2", "p3", "p4", "p5"]),
        ("-_id", ["p5", "p4", "p3", "p2", "p1"]),
        ("_lastUpdated", ["p1", "p2", "p3", "p4", "p5"]),
        ("-_lastUpdated", ["p5", "p4", "p3", "p2", "p1"]),
        # 1950 (a year) starts with 1950-01-01: ties broken by creation order; no birth date last
        ("birthdate", ["p2", "p5", "p4", "p1", "p3"]),
        # descending uses the end of each range: 1950 ends after 1950-01-01
        ("-birthdate", ["p1", "p4", "p2", "p5", "p3"]),
        # case- and accent-insensitive; no name last either way
        ("family", ["p4", "p2", "p3", "p1", "p5"]),
        ("-family", ["p1", "p3", "p2", "p4", "p5"]),
        ("gender,-birthdate", ["p4", "p2", "p1", "p5", "p3"]),
        ("-gender,family", ["p3", "p1", "p5", "p4", "p2"]),
    ],
)
def test_sort(client: TestClient, sort: str, expected: list[str]) -> None:
    url = "/fhir/Patient" + (f"?_sort={sort}" if sort else "")
    assert search_ids(client, url) == expected


def test_sort_errors(client: TestClient) -> None:
    assert error(client, "/fhir/Patient?_sort=nickname") == "Unknown or unsupported _sort parameter 'nickname'"
    assert error(client, "/fhir/Observation?_sort=code-value-quantity") == "Cannot sort by 'code-value-quantity'"


def _follow(client: TestClient, url: str) -> dict[str, object]:
    return search(client, url.replace("http://testserver", ""))


def test_paging_links_walk_forward_and_back(client: TestClient, five: list[str]) -> None:
    first = search(client, "/fhir/Patient?_count=2&_sort=family")
    assert ids(first) == ["p4", "p2"]
    assert "total" not in first  # not known without counting
    first_links = links(first)
    assert set(first_links) == {"self", "next"}
    assert first_links["self"] == f"{BASE}/Patient?_count=2&_sort=family"
    cursor = parse_qs(urlsplit(first_links["next"]).query)["_cursor"][0]
    assert first_links["next"] == f"{BASE}/Patient?_count=2&_sort=family&_cursor={cursor}"
    assert Cursor.decode(cursor, [SimpleNamespace(kind="text")]).values == ("bernard",)  # type: ignore[list-item]

    second = _follow(client, first_links["next"])
    assert ids(second) == ["p3", "p1"]
    assert set(links(second)) == {"self", "next", "previous"}
    assert links(second)["self"] == first_links["next"]
    third = _follow(client, links(second)["next"])
    assert ids(third) == ["p5"]
    assert set(links(third)) == {"self", "previous"}
    back = _follow(client, links(third)["previous"])
    assert ids(back) == ["p3", "p1"]
    assert set(links(back)) == {"self", "next", "previous"}
    start = _follow(client, links(back)["previous"])
    assert ids(start) == ["p4", "p2"]
    assert set(links(start)) == {"self", "next"}


def test_paging_is_stable_while_data_changes(client: TestClient, five: list[str]) -> None:
    first = search(client, "/fhir/Patient?_count=2")
    assert ids(first) == ["p1", "p2"]
    client.delete("/fhir/Patient/p1")
    create(client, _patient("p0", "Zola", None))
    second = _follow(client, links(first)["next"])
    assert ids(second) == ["p3", "p4"]
    third = _follow(client, links(second)["next"])
    assert ids(third) == ["p5", "p0"]
    assert "next" not in links(third)
    previous = _follow(client, links(second)["previous"])
    assert ids(previous) == ["p2"]


def test_paging_past_deleted_rows(client: TestClient, five: list[str]) -> None:
    first = search(client, "/fhir/Patient?_count=4")
    client.delete("/fhir/Patient/p5")
    last = _follow(client, links(first)["next"])
    assert ids(last) == []
    assert ids(_follow(client, links(last)["previous"])) == ["p1", "p2", "p3", "p4"]


def test_cursor_from_another_search_is_rejected(client: TestClient, five: list[str]) -> None:
    first = search(client, "/fhir/Patient?_count=2&_sort=family")
    cursor = parse_qs(urlsplit(links(first)["next"]).query)["_cursor"][0]
    assert error(client, f"/fhir/Patient?_count=2&_cursor={cursor}") == (
        f"Invalid _cursor '{cursor}': it must come from a link of this search")
    assert error(client, "/fhir/Patient?_cursor=garbage") == (
        "Invalid _cursor 'garbage': it must come from a link of this search")


@pytest.mark.usefixtures("five")
def test_total(client: TestClient) -> None:
    assert search(client, "/fhir/Patient?gender=male")["total"] == 3  # one complete page: free
    assert "total" not in search(client, "/fhir/Patient?gender=male&_count=2")
    assert search(client, "/fhir/Patient?gender=male&_count=2&_total=accurate")["total"] == 3
    assert search(client, "/fhir/Patient?gender=male&_count=2&_total=estimate")["total"] == 3
    assert "total" not in search(client, "/fhir/Patient?gender=male&_total=none")
    assert error(client, "/fhir/Patient?_total=some") == (
        "Invalid _total value 'some': expected none, estimate or accurate")
    assert error(client, "/fhir/Patient?_count=-1") == "Invalid _count value '-1': expected an integer >= 0"


@pytest.mark.usefixtures("five")
def test_count_zero_and_summary_count(client: TestClient) -> None:
    for url in ("/fhir/Patient?gender=female&_summary=count", "/fhir/Patient?gender=female&_count=0"):
        bundle = search(client, url)
        assert bundle["total"] == 2
        assert "entry" not in bundle
        assert links(bundle) == {"self": BASE + url.removeprefix("/fhir")}


@pytest.mark.usefixtures("five")
def test_summary_and_elements(client: TestClient) -> None:
    def resource(url: str) -> dict[str, object]:
        return dict(search(client, url)["entry"][0]["resource"])

    full = resource("/fhir/Patient?_id=p1")
    assert set(full) == {"resourceType", "id", "meta", "text", "gender", "name", "birthDate"}
    assert "tag" not in full["meta"]  # type: ignore[operator]

    summary = resource("/fhir/Patient?_id=p1&_summary=true")
    assert set(summary) == {"resourceType", "id", "meta", "gender", "name", "birthDate"}
    assert summary["meta"]["tag"] == [SUBSETTED]  # type: ignore[index]
    assert set(resource("/fhir/Patient?_id=p1&_summary=text")) == {"resourceType", "id", "meta", "text"}
    assert set(resource("/fhir/Patient?_id=p1&_summary=data")) == {"resourceType", "id", "meta", "gender", "name",
                                                                    "birthDate"}
    assert resource("/fhir/Patient?_id=p1&_summary=false") == full
    elements = resource("/fhir/Patient?_id=p1&_elements=gender,Patient.birthDate")
    assert set(elements) == {"resourceType", "id", "meta", "gender", "birthDate"}
    assert elements["meta"]["tag"] == [SUBSETTED]  # type: ignore[index]
    assert error(client, "/fhir/Patient?_summary=maybe") == (
        "Invalid _summary value 'maybe': expected true, false, text, data or count")


@pytest.mark.usefixtures("five")
def test_max_page_size_is_enforced(client: TestClient) -> None:
    """Cut down to ONCOLINK_MAX_PAGE_SIZE, and the links say the page size served (tests/api/test_limits.py
    checks the warning)."""
    bundle = search(client, "/fhir/Patient?_count=100000")
    assert len(ids(bundle)) == 5
    assert links(bundle)["self"] == f"{BASE}/Patient?_count=1000"


def test_paging_a_filtered_search_both_ways(client: TestClient, five: list[str]) -> None:
    """A single exact token drives the page from its index in pk order (SQLite's streaming plan)."""
    first = search(client, "/fhir/Patient?gender=male&_count=2")
    assert ids(first) == ["p1", "p3"]
    second = _follow(client, links(first)["next"])
    assert ids(second) == ["p5"]
    assert set(links(second)) == {"self", "previous"}
    assert ids(_follow(client, links(second)["previous"])) == ["p1", "p3"]
    assert search(client, "/fhir/Patient?gender=male&_count=2&_total=accurate")["total"] == 3
