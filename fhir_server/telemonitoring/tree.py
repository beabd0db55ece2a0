"""The centre's decision tree, held as data (`mappings/triage/`), and the scoring of one response.

The default tree is overridden per establishment by `establishments/<FINESS>.yaml`: a centre's own
rules replace the default list, its messages and settings are merged over the default ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

COLOURS = ("green", "orange", "red")
RANK = {colour: rank for rank, colour in enumerate(COLOURS)}


class TreeError(ValueError):
    """A triage file that cannot be used: the server must not score with a half-read tree."""


@dataclass(frozen=True)
class Condition:
    item: str
    at_least: float


@dataclass(frozen=True)
class Rule:
    alert: str
    colour: str
    any: tuple[Condition, ...]


@dataclass(frozen=True)
class Tree:
    questionnaire: str
    rules: tuple[Rule, ...]
    messages: dict[str, str]
    missing_after_days: int
    missing_colour: str
    outcomes: dict[str, str]

    def score(self, answers: dict[str, float]) -> dict[str, str]:
        """Alert type → colour (the most severe of its rules that fired); empty when green."""
        alerts: dict[str, str] = {}
        for rule in self.rules:
            fired = any(answers.get(c.item, float("-inf")) >= c.at_least for c in rule.any)
            if fired and RANK[rule.colour] > RANK[alerts.get(rule.alert, "green")]:
                alerts[rule.alert] = rule.colour
        return alerts


def worst(colours: list[str]) -> str:
    return max(colours, key=RANK.__getitem__, default="green")


def answers_of(response: dict[str, Any]) -> dict[str, float]:
    """Numeric value of each answered top-level item: a coded grade by its code, a number by its value."""
    out: dict[str, float] = {}
    for item in response.get("item") or []:
        for answer in item.get("answer") or []:
            value: Any = None
            if "valueCoding" in answer:
                value = answer["valueCoding"].get("code")
            elif "valueDecimal" in answer or "valueInteger" in answer:
                value = answer.get("valueDecimal", answer.get("valueInteger"))
            try:
                out[item["linkId"]] = float(value)
            except (TypeError, ValueError):
                continue
    return out


def _build(data: dict[str, Any], where: str) -> Tree:
    try:
        rules = tuple(
            Rule(str(r["alert"]), str(r["colour"]),
                 tuple(Condition(str(c["item"]), float(c["at_least"])) for c in r["any"]))
            for r in data["rules"])
        missing = data["missing_questionnaire"]
        tree = Tree(str(data["questionnaire"]), rules, {str(k): " ".join(str(v).split())
                                                        for k, v in data["messages"].items()},
                    int(missing["after_days"]), str(missing["colour"]),
                    {str(o["code"]): str(o["label"]) for o in data["outcomes"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise TreeError(f"{where}: malformed triage tree ({exc!r})") from exc
    for rule in tree.rules:
        if rule.colour not in ("orange", "red"):
            raise TreeError(f"{where}: rule for {rule.alert} has colour {rule.colour!r}; use orange or red")
        if rule.alert not in tree.messages:
            raise TreeError(f"{where}: no message template for alert type {rule.alert!r}")
    if "missing-questionnaire" not in tree.messages:
        raise TreeError(f"{where}: no message template for alert type 'missing-questionnaire'")
    return tree


def _read(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TreeError(f"{path}: a triage file must be a mapping")
    return data


@lru_cache(maxsize=256)
def load_tree(triage_dir: Path, finess: str | None) -> Tree:
    """The tree of an establishment (its FINESS), or the default one; cached per process."""
    data = _read(triage_dir / "default.yaml")
    where = str(triage_dir / "default.yaml")
    override = triage_dir / "establishments" / f"{finess}.yaml" if finess else None
    if override is not None and override.is_file():
        own = _read(override)
        where = str(override)
        for key in ("messages", "missing_questionnaire"):
            if key in own:
                data[key] = {**data.get(key, {}), **own.pop(key)}
        data.update(own)
    return _build(data, where)
