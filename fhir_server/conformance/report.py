"""Results per feature, printed for people or as JSON for CI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Result:
    feature: str
    status: str
    reason: str = ""


@dataclass
class Report:
    base_url: str
    results: list[Result] = field(default_factory=list)

    def add(self, feature: str, status: str, reason: str = "") -> None:
        self.results.append(Result(feature, status, reason))

    def status_of(self, feature: str) -> str | None:
        return next((r.status for r in self.results if r.feature == feature), None)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status == FAIL]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.results if r.status == s) for s in (PASS, FAIL, SKIP)}

    def to_json(self) -> str:
        return json.dumps({"server": self.base_url, "summary": self.counts(),
                           "results": [asdict(r) for r in self.results]}, ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        width = max((len(r.feature) for r in self.results), default=10)
        lines = [f"Conformance run against {self.base_url}"]
        for r in self.results:
            lines.append(f"  {r.status.upper():4}  {r.feature.ljust(width)}  {r.reason}".rstrip())
        c = self.counts()
        lines.append(f"{c[PASS]} passed, {c[FAIL]} failed, {c[SKIP]} skipped")
        return "\n".join(lines)
