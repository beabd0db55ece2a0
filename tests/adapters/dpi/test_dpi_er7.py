"""ER7 parsing and ACK writing, without sockets."""

from __future__ import annotations

import pytest

from adapters.dpi import ack
from adapters.dpi.er7 import escape, parse_bytes, unescape
from adapters.dpi.errors import Location, Problem, Rejected
from tests.adapters.dpi.dpi_helpers import Ack, message


def test_delimiters_come_from_msh2_not_from_habit() -> None:
    raw = (b"MSH*!@$%*APP*FAC*ONCOLINK*ONCOLINK*20250101**ADT!A28*X1*P*2.5\r"
           b"PID*1**123!!!AUTH%1.2.3%ISO!PI@456**A$F$B!C\r")
    msg = parse_bytes(raw)
    assert msg.d.field == "*" and msg.d.component == "!" and msg.d.repetition == "@"
    assert msg.type_name == "ADT^A28" and msg.control_id == "X1"
    pid = msg.first("PID")
    assert pid is not None
    reps = pid.repetitions(3)
    assert [r.component(1) for r in reps] == ["123", "456"]
    assert reps[0].component_field(4).component(2) == "1.2.3"
    assert pid.field(5).component(1) == "A*B"  # \F\ written with this message's escape character


def test_bom_lf_and_crlf_are_tolerated() -> None:
    for raw in (b"\xef\xbb\xbf" + message("adt_a28_add_person.hl7"), message("adt_a31_update_person.hl7")):
        msg = parse_bytes(raw)
        assert [s.name for s in msg.segments] == ["MSH", "EVN", "PID"]


def test_charset_from_msh18() -> None:
    latin1 = parse_bytes(message("adt_a04_latin1.hl7"))
    assert latin1.charset == "8859/1"
    assert latin1.first("PID").field(5).component(1) == "LEFÈVRE"  # type: ignore[union-attr]
    no_charset = b"MSH|^~\\&|A|B|C|D|20250101||ADT^A28|X|P|2.5\rPID|1||1^^^A^PI||H\xe9l\xe8ne\r"
    assert parse_bytes(no_charset).first("PID").value(5) == "Hélène"  # type: ignore[union-attr]


def test_escapes_round_trip() -> None:
    from adapters.dpi.er7 import DEFAULT_DELIMITERS as d

    text = "a|b^c~d\\e&f"
    assert unescape(escape(text, d), d) == text
    assert unescape("\\X48C3A9\\", d) == "Hé"
    assert unescape("ligne\\.br\\suite\\H\\gras\\N\\", d) == "ligne\nsuitegras"


@pytest.mark.parametrize(("raw", "location"), [
    (b"PID|1\r", "MSH[1]"),
    (b"MSH|^~\\&&|A|B|C|D|1||ADT^A28|X|P|2.5\r", "MSH[1]-2"),
    (b"MSH|^~\\|A|B|C|D|1||ADT^A28|X|P|2.5\r", "MSH[1]-2"),
    (b"MSH|^~\\&|A|B|C|D|1||ADT^A28||P|2.5\r", "MSH[1]-10"),
    (b"MSH|^~\\&|A|B|C|D|1|||X|P|2.5\r", "MSH[1]-9"),
    (b"MSH|^~\\&|A|B|C|D|1||ADT^A28|X|P|2.5||||||8859/99\r", "MSH[1]-18"),
    (b"MSH|^~\\&|A|B|C|D|1||ADT^A28|X|P|2.5\rthis is not a segment\r", "thi[1]"),
])
def test_unreadable_messages_are_rejected_with_a_position(raw: bytes, location: str) -> None:
    with pytest.raises(Rejected) as caught:
        parse_bytes(raw)
    assert str(caught.value.problems[0].location) == location


def test_ack_echoes_control_id_swaps_parties_and_places_errors() -> None:
    msg = parse_bytes(message("adt_a04_latin1.hl7"))
    header = ack.Header.of(msg)
    text = ack.build(header, "AE", [Problem("102", "date invalide | mois 13", Location("PID", 1, 7))])
    parsed = Ack.parse(text.encode("iso-8859-1"))
    msh = parsed.segment("MSH")
    assert msh[2:6] == ["ONCOLINK", "ONCOLINK", "GAM", "CHU-ONCO"]
    assert msh[8] == "ACK^A04^ACK" and msh[10] == "P" and msh[17] == "8859/1"
    assert parsed.segment("MSA")[:3] == ["MSA", "AE", "A04-0001"]
    err = parsed.segment("ERR")
    assert err[2] == "PID^1^7" and err[3] == "102^Data type error^HL70357" and err[4] == "E"
    assert err[8] == "date invalide \\F\\ mois 13"


def test_ack_for_an_unparseable_message_salvages_the_header() -> None:
    raw = b"MSH|^~^&|APP|FAC|ONCOLINK|X|20250101||ADT^A08|CTRL-9|P|2.4\rPID|1\r"
    header = ack.Header.salvage(raw)
    text = ack.build(header, "AR", [Problem("102", "bad MSH-2", Location("MSH", 1, 2))])
    parsed = Ack.parse(text.encode())
    assert parsed.segment("MSA")[1:3] == ["AR", "CTRL-9"]
    assert parsed.segment("ERR")[1] == "MSH^1^2^102&bad MSH-2"  # a v2.4 sender reads ERR-1
