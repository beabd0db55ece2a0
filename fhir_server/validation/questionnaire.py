"""QuestionnaireResponse checked against the Questionnaire it answers, when we hold it.

A profile cannot say that `item.answer` must fit the item it answers: the Questionnaire does. We check
that every linkId exists at its level, that answers have the item's type, that coded answers come
from the item's answerValueSet or answerOption, that non-repeating items have one answer, and, once
the response is completed, that required items are answered. Items with `enableWhen` are never
required here: deciding whether they are enabled needs the other answers' semantics, which we leave to
dedicated tools rather than guess.
"""

from __future__ import annotations

from typing import Any

from ..errors import Issue
from .bindings import ValueSetExpander
from .packages import PackageRegistry
from .patterns import matches_pattern

_ANSWER_TYPES: dict[str, tuple[str, ...]] = {
    "boolean": ("valueBoolean",),
    "decimal": ("valueDecimal",),
    "integer": ("valueInteger",),
    "date": ("valueDate",),
    "dateTime": ("valueDateTime",),
    "time": ("valueTime",),
    "string": ("valueString",),
    "text": ("valueString",),
    "url": ("valueUri",),
    "choice": ("valueCoding",),
    "open-choice": ("valueCoding", "valueString"),
    "attachment": ("valueAttachment",),
    "reference": ("valueReference",),
    "quantity": ("valueQuantity",),
}
_DONE = frozenset({"completed", "amended"})


class QuestionnaireChecker:
    def __init__(self, registry: PackageRegistry, value_sets: ValueSetExpander) -> None:
        self._registry = registry
        self._value_sets = value_sets

    def check(self, response: dict[str, Any], path: str) -> list[Issue]:
        canonical = response.get("questionnaire")
        if not isinstance(canonical, str):
            return []
        questionnaire = self._registry.resolve(canonical)
        where = f"{path}.questionnaire"
        if questionnaire is None or questionnaire.get("resourceType") != "Questionnaire":
            return [Issue("warning", "not-found",
                          f"{where}: questionnaire {canonical} is not known here, the answers are not checked",
                          (where,))]
        issues: list[Issue] = []
        completed = response.get("status") in _DONE
        self._items(response.get("item"), questionnaire.get("item") or [], f"{path}.item", path, canonical,
                    completed, issues)
        return issues

    def _items(self, items: Any, definitions: list[dict[str, Any]], where: str, owner: str, canonical: str,
               completed: bool, issues: list[Issue]) -> None:
        by_link = {d.get("linkId"): d for d in definitions if isinstance(d, dict)}
        answered: set[str] = set()
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            item_path = f"{where}[{i}]"
            link = item.get("linkId")
            definition = by_link.get(link)
            if definition is None:
                issues.append(Issue("error", "structure",
                                    f"{item_path}.linkId: '{link}' is not an item of {canonical} at this level",
                                    (f"{item_path}.linkId",)))
                continue
            answers = item.get("answer") or []
            if answers or item.get("item"):
                answered.add(str(link))
            self._answers(item_path, definition, answers, canonical, completed, issues)
            if item.get("item"):
                self._items(item["item"], definition.get("item") or [], f"{item_path}.item", item_path, canonical,
                            completed, issues)
        if completed:
            for definition in definitions:
                link = definition.get("linkId")
                if definition.get("required") and not definition.get("enableWhen") and link not in answered:
                    issues.append(Issue("error", "required",
                                        f"{owner}: the required item '{link}' of {canonical} has no answer", (owner,)))

    def _answers(self, item_path: str, definition: dict[str, Any], answers: list[Any], canonical: str,
                 completed: bool, issues: list[Issue]) -> None:
        item_type = definition.get("type")
        link = definition.get("linkId")
        if item_type in ("group", "display") and answers:
            issues.append(Issue("error", "structure",
                                f"{item_path}: item '{link}' is a {item_type} and takes no answer",
                                (f"{item_path}.answer",)))
            return
        if len(answers) > 1 and not definition.get("repeats"):
            issues.append(Issue("error", "structure",
                                f"{item_path}: item '{link}' does not repeat but has {len(answers)} answers",
                                (f"{item_path}.answer",)))
        expected = _ANSWER_TYPES.get(str(item_type))
        for j, answer in enumerate(answers):
            if not isinstance(answer, dict):
                continue
            answer_path = f"{item_path}.answer[{j}]"
            key = next((k for k in answer if k.startswith("value")), None)
            if key is None:
                continue
            where = f"{answer_path}.{key}"
            if expected is not None and key not in expected:
                issues.append(Issue("error", "structure",
                                    f"{where}: item '{link}' is of type {item_type}, so its answer must be "
                                    f"{' or '.join(expected)}", (where,)))
                continue
            if key == "valueCoding":
                self._coded(where, answer[key], definition, issues)
            if answer.get("item"):
                self._items(answer["item"], definition.get("item") or [], f"{answer_path}.item", answer_path,
                            canonical, completed, issues)

    def _coded(self, where: str, coding: Any, definition: dict[str, Any], issues: list[Issue]) -> None:
        if not isinstance(coding, dict):
            return
        options = definition.get("answerOption")
        if options:
            if not any(matches_pattern(coding, o.get("valueCoding")) for o in options if "valueCoding" in o):
                issues.append(Issue("error", "code-invalid",
                                    f"{where}: {coding.get('system')}|{coding.get('code')} is not one of the answer "
                                    f"options of item '{definition.get('linkId')}'", (where,)))
            return
        value_set = definition.get("answerValueSet")
        if not isinstance(value_set, str):
            return
        expansion = self._value_sets.expansion(value_set)
        code = coding.get("code")
        found = expansion.contains(coding.get("system"), code) if expansion and isinstance(code, str) else None
        if found is False:
            issues.append(Issue("error", "code-invalid",
                                f"{where}: {coding.get('system')}|{code} is not in the answer value set {value_set}",
                                (where,)))
        elif found is None:
            issues.append(Issue("warning", "code-invalid",
                                f"{where}: cannot check the answer against {value_set} here", (where,)))
