"""Weekly answers that fit the questionnaire the server triages and the centre's decision tree.

The items and their codes come from the implementation guide's Questionnaire (and its ValueSets and
CodeSystems), the thresholds from the triage tree: a quiet week stays below every rule, an alerting week
meets exactly one rule's condition. Changing the questionnaire or the tree changes the demo with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..telemonitoring.tree import Rule, Tree, load_tree
from ..validation.ig import source_resources


class QuestionnaireError(ValueError):
    """The triage tree names a questionnaire the implementation guide does not define."""


@dataclass(frozen=True)
class Item:
    link_id: str
    system: str | None  # coded items: their CodeSystem; None for decimals
    codes: tuple[str, ...]  # coded items: codes in order of the scale (numeric)


@dataclass(frozen=True)
class Scale:
    questionnaire: str
    items: tuple[Item, ...]
    rules: tuple[Rule, ...]
    # Per item, the lowest value that fires a rule: a quiet answer stays below it.
    ceilings: dict[str, float]

    def quiet(self, rng: random.Random) -> dict[str, float]:
        answers: dict[str, float] = {}
        for item in self.items:
            ceiling = self.ceilings.get(item.link_id, float("inf"))
            if item.system is None:
                if rng.random() < 0.4:  # temperature is optional: taken only some weeks
                    answers[item.link_id] = min(round(rng.uniform(36.4, 37.4), 1), ceiling - 0.1)
                continue
            allowed = [float(c) for c in item.codes if float(c) < ceiling]
            answers[item.link_id] = allowed[1] if len(allowed) > 1 and rng.random() < 0.2 else allowed[0]
        return answers

    def alerting(self, rng: random.Random, severe: bool) -> tuple[dict[str, float], str]:
        """A week whose answers meet one rule (of the tree's most severe colour when `severe`)."""
        colours = {r.colour for r in self.rules}
        wanted = "red" if severe and "red" in colours else "orange"
        rule = rng.choice([r for r in self.rules if r.colour == wanted] or list(self.rules))
        condition = rng.choice(rule.any)
        answers = self.quiet(rng)
        item = next((i for i in self.items if i.link_id == condition.item), None)
        if item is None or item.system is None:
            answers[condition.item] = round(condition.at_least + rng.choice((0.0, 0.1, 0.2)), 1)
        else:
            answers[condition.item] = min(float(c) for c in item.codes if float(c) >= condition.at_least)
        return answers, rule.alert

    def response(self, patient: str, authored: str, answers: dict[str, float], identifier: dict[str, str]
                 ) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for item in self.items:
            if item.link_id not in answers:
                continue
            value = answers[item.link_id]
            answer = ({"valueDecimal": value} if item.system is None else
                      {"valueCoding": {"system": item.system, "code": _code(item, value)}})
            items.append({"linkId": item.link_id, "answer": [answer]})
        return {"resourceType": "QuestionnaireResponse", "identifier": identifier, "questionnaire": self.questionnaire,
                "status": "completed", "subject": {"reference": patient}, "authored": authored, "item": items}


def _code(item: Item, value: float) -> str:
    return next(c for c in item.codes if float(c) == value)


def _by_url(resources: dict[str, dict[str, Any]], res_type: str, url: str) -> dict[str, Any] | None:
    return next((r for r in resources.values() if r.get("resourceType") == res_type
                 and r.get("url") == url.split("|", 1)[0]), None)


def load_scale(ig_dir: Path, triage_dir: Path, idnst: str | None) -> Scale:
    tree: Tree = load_tree(triage_dir, idnst)
    resources = source_resources(ig_dir)
    questionnaire = _by_url(resources, "Questionnaire", tree.questionnaire)
    if questionnaire is None:
        raise QuestionnaireError(f"the triage tree names {tree.questionnaire}, which {ig_dir} does not define")
    items = []
    for item in questionnaire.get("item") or []:
        if item.get("type") == "decimal":
            items.append(Item(str(item["linkId"]), None, ()))
        elif item.get("type") == "choice" and item.get("answerValueSet"):
            value_set = _by_url(resources, "ValueSet", str(item["answerValueSet"])) or {}
            include = next(iter((value_set.get("compose") or {}).get("include") or []), {})
            system = str(include.get("system", ""))
            codes = [str(c["code"]) for c in include.get("concept") or []] or [
                str(c["code"]) for c in (_by_url(resources, "CodeSystem", system) or {}).get("concept") or []]
            if not codes or not all(_numeric(c) for c in codes):
                raise QuestionnaireError(f"item {item['linkId']}: no numeric scale in {item['answerValueSet']}")
            items.append(Item(str(item["linkId"]), system, tuple(sorted(codes, key=float))))
    ceilings: dict[str, float] = {}
    for rule in tree.rules:
        for condition in rule.any:
            ceilings[condition.item] = min(ceilings.get(condition.item, float("inf")), condition.at_least)
    return Scale(tree.questionnaire, tuple(items), tree.rules, ceilings)


def _numeric(code: str) -> bool:
    try:
        float(code)
    except ValueError:
        return False
    return True
