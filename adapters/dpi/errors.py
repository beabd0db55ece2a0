"""What can go wrong with a message, in the terms an HL7 v2 ACK needs.

Every failure carries the ACK code it deserves (AE: the content is wrong, AR: we will not process this
kind of message at all) and, where it is known, the position of the culprit, so the sender can fix the
exact field instead of guessing from a free-text reason.
"""

from __future__ import annotations

from dataclasses import dataclass

# HL7 table 0357 (message error condition codes) that this adapter emits.
SEGMENT_SEQUENCE = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT_CODE = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
RECORD_LOCKED = "206"
INTERNAL_ERROR = "207"

CODE_TEXT = {
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION: "Unsupported version id",
    UNKNOWN_KEY: "Unknown key identifier",
    DUPLICATE_KEY: "Duplicate key identifier",
    RECORD_LOCKED: "Application record locked",
    INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class Location:
    """Where in the message: segment id, its occurrence (1-based), field, repetition, component."""

    segment: str
    sequence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        text = f"{self.segment}[{self.sequence}]"
        if self.field is not None:
            text += f"-{self.field}"
            if self.component is not None:
                text += f".{self.component}"
        return text


@dataclass(frozen=True)
class Problem:
    """One ERR segment's worth: HL7 error code, location and a sentence for the people who fix it."""

    code: str
    text: str
    location: Location | None = None
    severity: str = "E"  # E error, W warning, I information (HL7 table 0516)


class MessageError(Exception):
    """A message we answer with AE (content) or AR (rejected) instead of AA."""

    ack_code = "AE"

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(f"{p.location}: {p.text}" if p.location else p.text for p in problems))
        self.problems = list(problems)

    @classmethod
    def at(cls, code: str, text: str, location: Location | None = None) -> MessageError:
        return cls(Problem(code, text, location))


class ContentError(MessageError):
    """The message is understood but a field is missing, malformed or refers to something unknown."""

    ack_code = "AE"


class Rejected(MessageError):
    """We do not process this message at all (type, version, framing, charset): AR."""

    ack_code = "AR"
