"""Original-mode acknowledgements: AA after commit, AE with ERR for content errors, AR for rejects.

The ACK is written with the delimiters and the character set of the message it answers, echoes its
MSH-10 in MSA-2, and swaps sender and receiver. ERR follows the sender's version: v2.5+ senders read
ERR-2/3/4/8, older ones only know ERR-1 (segment^sequence^field^code&text).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from datetime import datetime

from .er7 import DEFAULT_DELIMITERS, Delimiters, Message, escape, header_fields
from .errors import CODE_TEXT, Problem

_COUNTER = itertools.count(1)
_PREFIX = f"{os.getpid() % 10000:04d}"


@dataclass(frozen=True)
class Header:
    """What an ACK copies from the message header, as raw ER7 field text."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    control_id: str = ""
    trigger: str = ""
    processing_id: str = "P"
    version: str = "2.5"
    charset: str = ""
    d: Delimiters = DEFAULT_DELIMITERS

    @classmethod
    def of(cls, message: Message) -> Header:
        msh = message.msh
        return cls(msh.raw(3), msh.raw(4), msh.raw(5), msh.raw(6), msh.raw(10), msh.value(9, 2),
                   msh.raw(11) or "P", msh.raw(12) or "2.5", msh.raw(18), message.d)

    @classmethod
    def salvage(cls, raw: bytes) -> Header:
        """Best effort for a message we could not parse: whatever MSH fields can be split."""
        fields = [f.decode("iso-8859-1") for f in header_fields(raw)]
        if not fields:
            return cls()

        def get(n: int) -> str:
            return fields[n] if n < len(fields) else ""

        trigger = get(9).split("^")[1] if "^" in get(9) else ""
        return cls(get(3), get(4), get(5), get(6), get(10), trigger, get(11) or "P", get(12) or "2.5", get(18))

    @property
    def major_minor(self) -> tuple[int, int]:
        text = self.version.split(self.d.component, 1)[0]
        try:
            major, minor = text.split(".")[:2]
            return int(major), int(minor)
        except ValueError:
            return 2, 5


def _timestamp() -> str:
    return datetime.now().astimezone().strftime("%Y%m%d%H%M%S%z")


def _err_segment(problem: Problem, header: Header) -> str:
    d = header.d
    code_text = CODE_TEXT.get(problem.code, "")
    loc = problem.location
    if header.major_minor < (2, 5):
        location = ""
        if loc:
            location = d.component.join([loc.segment, str(loc.sequence), str(loc.field or "")])
        eld = location + d.component + problem.code + d.subcomponent + escape(problem.text, d)
        return d.field.join(["ERR", eld])
    erl = ""
    if loc:
        parts = [loc.segment, str(loc.sequence), *(str(v) if v is not None else "" for v in (
            loc.field, loc.repetition, loc.component, loc.subcomponent))]
        erl = d.component.join(parts).rstrip(d.component)
    code = d.component.join([problem.code, escape(code_text, d), "HL70357"])
    fields = ["ERR", "", erl, code, problem.severity, "", "", "", escape(problem.text, d)]
    return d.field.join(fields)


def build(header: Header, code: str, problems: list[Problem] | None = None, text: str = "") -> str:
    """The ACK as ER7 text (CR-separated segments)."""
    d = header.d
    control = f"A{_PREFIX}{next(_COUNTER):015d}"
    trigger = header.trigger
    msh = [
        "MSH", d.encoding_characters, header.receiving_application or "ONCOLINK", header.receiving_facility,
        header.sending_application, header.sending_facility, _timestamp(), "",
        d.component.join(["ACK", trigger, "ACK"]) if trigger else "ACK", control, header.processing_id,
        header.version,
    ]
    if header.charset:
        msh += ["", "", "", "", "", header.charset]
    problems = problems or []
    if not text and problems:
        text = problems[0].text
    msa = d.field.join(["MSA", code, header.control_id, escape(text[:200], d)] if text else
                       ["MSA", code, header.control_id])
    segments = [d.field.join(msh), msa, *(_err_segment(p, header) for p in problems)]
    return "\r".join(segments) + "\r"
