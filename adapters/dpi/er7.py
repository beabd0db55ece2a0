"""ER7 (pipe-and-hat) messages: bytes → text by MSH-18, text → segments and fields.

A deliberately small parser (see docs/adr/0002-hl7v2-library.md): split segments and fields once,
split repetitions/components/subcomponents and unescape only when a field is read. The delimiters come
from MSH-1/MSH-2 of each message, never assumed; the character set from MSH-18, read from the raw bytes
before anything is decoded, because French feeds declare ISO 8859-1 per message.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import cached_property

from .errors import (
    DATA_TYPE_ERROR,
    REQUIRED_FIELD_MISSING,
    SEGMENT_SEQUENCE,
    TABLE_VALUE_NOT_FOUND,
    Location,
    Problem,
    Rejected,
)

BOM = codecs.BOM_UTF8
# HL7 table 0211 (alternate character sets) → Python codecs. The first repetition of MSH-18 is the one
# the message is written in.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "iso-8859-1",
    "8859/15": "iso-8859-15",
    "8859/2": "iso-8859-2",
    "8859/5": "iso-8859-5",
    "8859/7": "iso-8859-7",
    "8859/9": "iso-8859-9",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",  # not in table 0211, but sent by real feeds
}
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_HEX = re.compile(r"[0-9A-Fa-f]+")


@dataclass(frozen=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent


DEFAULT_DELIMITERS = Delimiters()


# -- bytes → text ----------------------------------------------------------------------------------


def normalise_segments(raw: bytes) -> bytes:
    """Strip a UTF-8 BOM and make CR the only segment terminator (LF and CRLF are common in files)."""
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    if b"\n" in raw:
        raw = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    return raw


def header_fields(raw: bytes) -> list[bytes]:
    """MSH split on its own field separator, indexed like the standard (index n = MSH-n, 0 = 'MSH').

    Works on bytes so it can run before the character set is known: all supported charsets keep ASCII
    bytes as they are.
    """
    end = raw.find(b"\r")
    first = raw if end < 0 else raw[:end]
    if len(first) < 4 or not first.startswith(b"MSH"):
        return []
    separator = first[3:4]
    return [b"MSH", separator, *first[4:].split(separator)]


def declared_charset(msh: list[bytes]) -> str:
    """The MSH-18 value (first repetition), '' when absent."""
    if len(msh) <= 18 or len(msh) < 3:
        return ""
    repetition = msh[2][1:2] or b"~"
    return msh[18].split(repetition, 1)[0].decode("ascii", "replace").strip()


def decode(raw: bytes, default_charset: str = "") -> tuple[str, str]:
    """Decode a normalised message; returns (text, MSH-18 label used).

    Without MSH-18 the standard says ASCII; real feeds then send UTF-8 or Latin-1, so we take the
    configured default, else UTF-8 when the bytes are valid UTF-8, else ISO 8859-1 (which never fails).
    """
    msh = header_fields(raw)
    label = declared_charset(msh)
    if not label:
        label = default_charset
    if not label or label == "ASCII":
        try:
            return raw.decode("utf-8"), label or "UNICODE UTF-8"
        except UnicodeDecodeError:
            return raw.decode("iso-8859-1"), label or "8859/1"
    codec = CHARSETS.get(label.upper())
    if codec is None:
        raise Rejected(Problem(TABLE_VALUE_NOT_FOUND, f"character set {label!r} in MSH-18 is not supported; use "
                               "8859/1, 8859/15 or UNICODE UTF-8", Location("MSH", 1, 18)))
    try:
        return raw.decode(codec), label
    except UnicodeDecodeError as exc:
        raise Rejected(Problem(DATA_TYPE_ERROR, f"byte {exc.start} is not valid {label} as declared in MSH-18",
                               Location("MSH", 1, 18))) from exc


def encode(text: str, charset_label: str) -> bytes:
    """Encode an outgoing message (an ACK) in the charset of the message it answers."""
    codec = CHARSETS.get(charset_label.upper(), "utf-8") if charset_label else "utf-8"
    return text.encode(codec, errors="replace")


# -- escapes ---------------------------------------------------------------------------------------


def unescape(value: str, d: Delimiters, codec: str = "utf-8") -> str:
    if d.escape not in value:
        return value
    out: list[str] = []
    i = 0
    esc = d.escape
    while i < len(value):
        ch = value[i]
        if ch != esc:
            out.append(ch)
            i += 1
            continue
        end = value.find(esc, i + 1)
        if end < 0:  # a lone escape character is taken literally
            out.append(value[i:])
            break
        seq = value[i + 1:end]
        i = end + 1
        if seq == "F":
            out.append(d.field)
        elif seq == "S":
            out.append(d.component)
        elif seq == "R":
            out.append(d.repetition)
        elif seq == "T":
            out.append(d.subcomponent)
        elif seq == "E":
            out.append(d.escape)
        elif seq == ".br":
            out.append("\n")
        elif seq.startswith("X") and _HEX.fullmatch(seq[1:] or "-") and len(seq) % 2 == 1:
            out.append(bytes.fromhex(seq[1:]).decode(codec, errors="replace"))
        elif seq in ("H", "N") or seq.startswith((".sp", ".in", ".ti", ".fi", ".nf", ".sk", ".ce", "Z")):
            continue  # formatting hints and locally defined escapes carry no data for us
        else:
            out.append(esc + seq + esc)
    return "".join(out)


def escape(value: str, d: Delimiters = DEFAULT_DELIMITERS) -> str:
    esc = d.escape
    table = {esc: f"{esc}E{esc}", d.field: f"{esc}F{esc}", d.component: f"{esc}S{esc}",
             d.repetition: f"{esc}R{esc}", d.subcomponent: f"{esc}T{esc}", "\r": f"{esc}.br{esc}",
             "\n": f"{esc}.br{esc}"}
    return "".join(table.get(ch, ch) for ch in value)


# -- fields ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One repetition of a field: components and subcomponents on demand."""

    raw: str
    d: Delimiters
    codec: str = "utf-8"

    @property
    def empty(self) -> bool:
        return not self.raw or self.raw == '""'

    @cached_property
    def _components(self) -> list[str]:
        return self.raw.split(self.d.component)

    def component(self, index: int) -> str:
        """Component `index` (1-based) as text, its first subcomponent when it has several."""
        parts = self._components
        if index > len(parts):
            return ""
        value = parts[index - 1]
        if self.d.subcomponent in value:
            value = value.split(self.d.subcomponent, 1)[0]
        return "" if value == '""' else unescape(value, self.d, self.codec)

    def sub(self, index: int, subindex: int) -> str:
        parts = self._components
        if index > len(parts):
            return ""
        subs = parts[index - 1].split(self.d.subcomponent)
        if subindex > len(subs):
            return ""
        return unescape(subs[subindex - 1], self.d, self.codec)

    def component_field(self, index: int) -> Field:
        """A component read as a field of its own, its subcomponents becoming components (e.g. HD in CX-4)."""
        parts = self._components
        raw = parts[index - 1] if index <= len(parts) else ""
        inner = Delimiters(self.d.field, self.d.subcomponent, self.d.repetition, self.d.escape, self.d.subcomponent)
        return Field(raw, inner, self.codec)

    def components_from(self, index: int) -> Field:
        """Components `index`… as a field of their own (the HD inside an EI, from EI-2 on)."""
        return Field(self.d.component.join(self._components[index - 1:]), self.d, self.codec)

    @property
    def text(self) -> str:
        """The whole repetition unescaped (for plain ST/ID fields)."""
        return "" if self.raw == '""' else unescape(self.raw, self.d, self.codec)


@dataclass
class Segment:
    name: str
    fields: list[str]  # fields[n] is the raw text of field n; fields[0] is the segment id
    index: int  # 0-based position in the message
    sequence: int  # 1-based occurrence among segments of the same id
    d: Delimiters = DEFAULT_DELIMITERS
    codec: str = "utf-8"
    # Field n's repetitions, split once: the maps read a field for each rule that names it.
    _repetitions: dict[int, list[Field]] = field(default_factory=dict, repr=False, compare=False)

    def raw(self, n: int) -> str:
        return self.fields[n] if n < len(self.fields) else ""

    def has(self, n: int) -> bool:
        value = self.raw(n)
        return bool(value) and value != '""'

    def repetitions(self, n: int) -> list[Field]:
        """The non-empty repetitions of field n (the list is shared: do not change it)."""
        found = self._repetitions.get(n)
        if found is None:
            value = self.raw(n)
            if not value:
                found = []
            elif self.name == "MSH" and n <= 2:
                found = [Field(value, self.d, self.codec)]
            else:
                found = [Field(r, self.d, self.codec) for r in value.split(self.d.repetition) if r and r != '""']
            self._repetitions[n] = found
        return found

    def field(self, n: int) -> Field:
        reps = self.repetitions(n)
        return reps[0] if reps else Field("", self.d, self.codec)

    def value(self, n: int, component: int = 1) -> str:
        return self.field(n).component(component)

    def location(self, field_no: int | None = None, component: int | None = None) -> Location:
        return Location(self.name, self.sequence, field_no, None, component)

    def text(self) -> str:
        return self.d.field.join(self.fields) if self.name != "MSH" else \
            "MSH" + self.d.field + self.d.field.join(self.fields[2:])


@dataclass
class Message:
    segments: list[Segment]
    d: Delimiters
    charset: str = ""
    by_name: dict[str, list[Segment]] = field(default_factory=dict)

    @property
    def msh(self) -> Segment:
        return self.segments[0]

    def first(self, name: str) -> Segment | None:
        found = self.by_name.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[Segment]:
        return self.by_name.get(name, [])

    @property
    def control_id(self) -> str:
        return self.msh.field(10).text

    @property
    def version(self) -> str:
        return self.msh.value(12)

    @property
    def message_code(self) -> str:
        return self.msh.value(9, 1)

    @property
    def trigger(self) -> str:
        return self.msh.value(9, 2)

    @property
    def structure(self) -> str:
        return self.msh.value(9, 3)

    @property
    def type_name(self) -> str:
        """`RDE^O11` as people write it."""
        return f"{self.message_code}^{self.trigger}"


def _check_encoding_characters(field_sep: str, encoding: str) -> Delimiters:
    problem = None
    if not field_sep or field_sep.isalnum() or field_sep.isspace():
        problem = f"field separator {field_sep!r} (MSH-1) must be a punctuation character"
        location = Location("MSH", 1, 1)
    else:
        location = Location("MSH", 1, 2)
        chars = encoding[:4]
        if len(encoding) not in (4, 5):
            problem = f"MSH-2 must hold 4 encoding characters (component, repetition, escape, subcomponent); " \
                      f"got {encoding!r}"
        elif len(set(encoding + field_sep)) != len(encoding) + 1:
            problem = f"the encoding characters {encoding!r} in MSH-2 repeat each other or the field separator"
        elif any(c.isalnum() or c.isspace() for c in encoding):
            problem = f"the encoding characters {encoding!r} in MSH-2 must be punctuation"
    if problem:
        raise Rejected(Problem(DATA_TYPE_ERROR, problem, location))
    return Delimiters(field_sep, chars[0], chars[1], chars[2], chars[3])


def parse(text: str, charset: str = "") -> Message:
    """Split a decoded, CR-separated message. Raises Rejected when it cannot be read as ER7 at all."""
    lines = [line for line in text.split("\r") if line.strip()]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        raise Rejected(Problem(SEGMENT_SEQUENCE, "the message must start with an MSH segment", Location("MSH", 1)))
    head = lines[0]
    field_sep = head[3]
    encoding = head[4:].split(field_sep, 1)[0]
    d = _check_encoding_characters(field_sep, encoding)
    codec = CHARSETS.get(charset.upper(), "utf-8") if charset else "utf-8"
    segments: list[Segment] = []
    by_name: dict[str, list[Segment]] = {}
    for index, line in enumerate(lines):
        parts = line.split(field_sep)
        name = parts[0].strip()
        if not _SEGMENT_ID.fullmatch(name):
            raise Rejected(Problem(SEGMENT_SEQUENCE, f"segment {index + 1} starts with {name[:10]!r}, which is not "
                                   "a segment id", Location(name[:3] or "?", 1)))
        if name == "MSH":
            if index:
                raise Rejected(Problem(SEGMENT_SEQUENCE, "a second MSH segment: send one message per frame",
                                       Location("MSH", 2)))
            fields = ["MSH", field_sep, *parts[1:]]
        else:
            fields = parts
        same = by_name.setdefault(name, [])
        segment = Segment(name, fields, index, len(same) + 1, d, codec)
        same.append(segment)
        segments.append(segment)
    message = Message(segments, d, charset, by_name)
    for n, what in ((9, "message type"), (10, "message control id")):
        if not message.msh.has(n):
            raise Rejected(Problem(REQUIRED_FIELD_MISSING, f"MSH-{n} ({what}) is required", Location("MSH", 1, n)))
    return message


def parse_bytes(raw: bytes, default_charset: str = "") -> Message:
    normalised = normalise_segments(raw)
    text, label = decode(normalised, default_charset)
    return parse(text, label)
