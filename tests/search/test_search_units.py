"""Pure functions of the search engine: date ranges, value splitting, normalisation (no database)."""

from __future__ import annotations

import pytest

from fhir_server.search.dates import DateFormatError, micros_to_iso, parse_range
from fhir_server.search.parse import split_unescaped, unescape
from fhir_server.search.predicates.uri import ancestors
from fhir_server.search.text import normalise, prefix_upper_bound, words


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2020", "2020-01-01T00:00:00.000000Z", "2020-12-31T23:59:59.999999Z"),
        ("2020-02", "2020-02-01T00:00:00.000000Z", "2020-02-29T23:59:59.999999Z"),
        ("2021-02", "2021-02-01T00:00:00.000000Z", "2021-02-28T23:59:59.999999Z"),
        ("2020-02-29", "2020-02-29T00:00:00.000000Z", "2020-02-29T23:59:59.999999Z"),
        ("2020-01-01T10:00", "2020-01-01T10:00:00.000000Z", "2020-01-01T10:00:59.999999Z"),
        ("2020-01-01T10:00:00Z", "2020-01-01T10:00:00.000000Z", "2020-01-01T10:00:00.999999Z"),
        ("2020-01-01T10:00:00.5+02:00", "2020-01-01T08:00:00.500000Z", "2020-01-01T08:00:00.599999Z"),
        ("2020-01-01T00:30:00-01:00", "2020-01-01T01:30:00.000000Z", "2020-01-01T01:30:00.999999Z"),
        ("0001", "0001-01-01T00:00:00.000000Z", "0001-12-31T23:59:59.999999Z"),
        ("9999-12-31", "9999-12-31T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_date_ranges(text: str, low: str, high: str) -> None:
    found = parse_range(text)
    assert (micros_to_iso(found[0]), micros_to_iso(found[1])) == (low, high)


@pytest.mark.parametrize("text", ["2020-13", "2021-02-29", "2020-01-01T24:00", "0000", "20-01-01", "2020-1-1",
                                  "2020-01-01T10", "2020-01-01T10:00:00+15:00", "2020-01-01T10:00:61", ""])
def test_invalid_dates(text: str) -> None:
    with pytest.raises(DateFormatError):
        parse_range(text)


def test_escaping() -> None:
    assert split_unescaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    assert split_unescaped(r"sys|a\|b", "|") == ["sys", r"a\|b"]
    assert split_unescaped(r"x\$y$z", "$") == [r"x\$y", "z"]
    assert unescape(r"a\,b\|c\$d\\e") == "a,b|c$d\\e"


def test_normalisation() -> None:
    assert normalise("  Lefèvre-DURAND  Hélène ") == "lefevre-durand helene"
    assert normalise("Müller ŒUVRE ß") == "muller œuvre ss"
    assert words("French (France)") == "french france"
    assert prefix_upper_bound("dur") == "dus"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None


def test_uri_ancestors() -> None:
    assert ancestors("http://a.org/fhir/ValueSet/1") == [
        "http://a.org/fhir/ValueSet/1", "http://a.org/fhir/ValueSet", "http://a.org/fhir", "http://a.org"]
    assert ancestors("urn:oid:1.2.3") == ["urn:oid:1.2.3"]
