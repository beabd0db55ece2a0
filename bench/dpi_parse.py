"""HL7 v2 parsing cost: our ER7 parser against python-hl7 and hl7apy on the same messages (docs/adr/0002).

Each figure is the mean of repeated parses after warm-up, in this process. The comparison libraries are
measured only when installed (`pip install hl7 hl7apy`); the table says so otherwise. Also checked:
whether the parsed message still holds the Z-segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from adapters.dpi.er7 import normalise_segments, parse_bytes

from .common import ROOT

SAMPLES = ROOT.parent / "shared" / "samples" / "hl7v2" / "ms-fhir-converter"
OURS = ROOT / "tests" / "adapters" / "dpi" / "messages"
CASES = [
    ("PAM-FR ADT^A01 (ours, Z-segments)", OURS / "adt_a01_pamfr_ins.hl7"),
    ("RDE^O11 3 orders (ours)", OURS / "rde_o11_three_orders.hl7"),
    ("FHIR-Converter RDE-O11-01", SAMPLES / "RDE-O11-01.hl7"),
    ("FHIR-Converter ADT-A01-01", SAMPLES / "ADT-A01-01.hl7"),
]


def _timeit(function: Callable[[], Any], budget: float = 0.4) -> float:
    for _ in range(5):
        function()
    runs = 0
    started = time.perf_counter()
    while time.perf_counter() - started < budget or runs < 20:
        function()
        runs += 1
    return (time.perf_counter() - started) / runs * 1000


def _ours_full(raw: bytes) -> int:
    """Parse, then read every component of every field: the cost when all data is used."""
    message = parse_bytes(raw)
    total = 0
    for segment in message.segments:
        for n in range(1, len(segment.fields)):
            for rep in segment.repetitions(n):
                total += sum(len(rep.component(i)) for i in range(1, rep.raw.count(message.d.component) + 2))
    return total


def measure() -> tuple[list[str], list[str]]:
    """Rows of the parse table, and notes (library versions, Z-segment checks)."""
    try:
        import hl7  # python-hl7
    except ImportError:
        hl7 = None
    try:
        from hl7apy import parser as hl7apy_parser
        from hl7apy.consts import VALIDATION_LEVEL
    except ImportError:
        hl7apy_parser = None
    rows, notes = [], []
    for label, path in CASES:
        if not path.exists():
            continue
        raw = normalise_segments(path.read_bytes())
        text = raw.decode("utf-8")
        cells = [label, f"{len(raw):,}", f"{_timeit(lambda r=raw: parse_bytes(r)):.3f}",
                 f"{_timeit(lambda r=raw: _ours_full(r)):.3f}"]
        if hl7 is not None:
            cells.append(f"{_timeit(lambda t=text: hl7.parse(t)):.3f}")
        else:
            cells.append("not installed")
        if hl7apy_parser is not None:
            for groups in (True, False):
                def run(t: str = text, g: bool = groups) -> Any:
                    return hl7apy_parser.parse_message(t, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=g)
                try:
                    cells.append(f"{_timeit(run, 0.3):.2f}")
                except Exception as exc:  # hl7apy refuses some structures; say so rather than hide it
                    cells.append(f"error: {type(exc).__name__}")
        else:
            cells += ["not installed", "not installed"]
        rows.append("| " + " | ".join(cells) + " |")
    pamfr = normalise_segments((OURS / "adt_a01_pamfr_ins.hl7").read_bytes()).decode()
    z_in = [line[:3] for line in pamfr.split("\r") if line.startswith("Z")]
    notes.append(f"Z-segments in the PAM-FR message: {', '.join(z_in)}; ours keeps "
                 f"{sum(1 for s in parse_bytes(pamfr.encode()).segments if s.name.startswith('Z'))}.")
    if hl7 is not None:
        kept = sum(1 for s in hl7.parse(pamfr) if str(s[0]).startswith("Z"))
        notes.append(f"python-hl7 {getattr(hl7, '__version__', '?')} keeps {kept}.")
    if hl7apy_parser is not None:
        from importlib.metadata import version

        for groups in (True, False):
            message = hl7apy_parser.parse_message(pamfr, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=groups)
            kept = sum(1 for line in message.to_er7().split("\r") if line.startswith("Z"))
            notes.append(f"hl7apy {version('hl7apy')} find_groups={groups} keeps {kept} in to_er7().")
    return rows, notes


def table() -> str:
    rows, notes = measure()
    return ("| message | bytes | ours: parse (ms) | ours: parse + read every component (ms) | python-hl7 `hl7.parse` "
            "(ms) | hl7apy find_groups=True (ms) | hl7apy find_groups=False (ms) |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n\n" + " ".join(notes))


if __name__ == "__main__":
    print(table())
