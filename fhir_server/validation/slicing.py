"""Slicing: which slice each value of a sliced element belongs to, and the slices' cardinalities.

Discriminators are evaluated on the instance with the small path language of `patterns.py`; the
value they must match is read from the slice's element (fixed or pattern value, or a required
binding), following type profiles when the slice does not expand the path (an extension slice's `url`
is its definition's URL). `profile` discriminators validate the candidate against the profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import NO_VALUE, Discriminator, ElementNode
from .patterns import equals_fixed, matches_pattern, split_path, step_values

if TYPE_CHECKING:
    from .profile import Occurrence, ProfileValidator, _Run


class Slicer:
    """Mixed into ProfileValidator: the slicing half of the walker."""

    def _slice(self: ProfileValidator, run: _Run, node: ElementNode, occurrences: list[Occurrence],
               where: str) -> list[ElementNode]:
        slicing = node.slicing
        assert slicing is not None
        chosen: list[ElementNode] = []
        counts: dict[int, int] = {}
        last_rank = -1
        unmatched_seen = False
        for occurrence in occurrences:
            matches = [s for s in node.slices if self._matches(run, occurrence, s, slicing.discriminators)]
            if len(matches) > 1:
                names = ", ".join(s.slice_name or "?" for s in matches)
                run.add("error", "structure",
                        f"{occurrence.path}: matches several slices ({names}) of {self._source(node)}", occurrence.path)
            if not matches:
                chosen.append(node)
                unmatched_seen = True
                # Type slicing of a choice names the types it constrains; the choice's own type list
                # says which types are allowed, so a value of an unsliced allowed type is accepted.
                type_slicing = node.is_choice and all(d.type == "type" for d in slicing.discriminators)
                if slicing.rules == "closed" and not type_slicing:
                    run.add("error", "structure",
                            f"{occurrence.path}: does not match any slice of {self._source(node)}, "
                            "whose slicing is closed",
                            occurrence.path)
                continue
            target = matches[0]
            rank = node.slices.index(target)
            if slicing.rules == "openAtEnd" and unmatched_seen:
                run.add("error", "structure",
                        f"{occurrence.path}: slice '{target.slice_name}' must come before the values that match no "
                        f"slice ({self._source(node)} is open at the end only)", occurrence.path)
            if slicing.ordered and rank < last_rank:
                run.add("error", "structure",
                        f"{occurrence.path}: slice '{target.slice_name}' is out of order (the slices of "
                        f"{self._source(node)} are ordered)",
                        occurrence.path)
            last_rank = max(last_rank, rank)
            counts[id(target)] = counts.get(id(target), 0) + 1
            if counts[id(target)] > target.max:
                run.add("error", "structure",
                        f"{occurrence.path}: slice '{target.slice_name}' of {self._source(node)} allows at most "
                        f"{target.max}",
                        occurrence.path)
            chosen.append(target)
        for slice_node in node.slices:
            found = counts.get(id(slice_node), 0)
            if found < slice_node.min:
                run.add("error", "required",
                        f"{where}: slice '{slice_node.slice_name}' requires at least {slice_node.min} value(s), "
                        f"found {found} ({self._source(node)})", where)
        return chosen

    def _matches(self: ProfileValidator, run: _Run, occurrence: Occurrence, slice_node: ElementNode,
                 discriminators: tuple[Discriminator, ...]) -> bool:
        for discriminator in discriminators:
            if not self._discriminated(run, occurrence, slice_node, discriminator.type, discriminator.path):
                return False
        return True

    def _discriminated(self: ProfileValidator, run: _Run, occurrence: Occurrence, slice_node: ElementNode, kind: str,
                       path: str) -> bool:
        value = occurrence.value
        if kind == "type" and path == "$this":
            if isinstance(value, dict) and "resourceType" in value:
                return value["resourceType"] in slice_node.type_codes
            return occurrence.type in slice_node.type_codes
        # The usual extension slicing: `url` against the extension definition's URL.
        if path == "url" and kind in ("value", "pattern") and slice_node.types and slice_node.types[0].profiles:
            return isinstance(value, dict) and value.get("url") == slice_node.types[0].profiles[0]
        segments = split_path(path)
        values = [value]
        for segment in segments:
            if segment == "resolve()":
                resolved = []
                for item in values:
                    reference = item.get("reference") if isinstance(item, dict) else None
                    if isinstance(reference, str):
                        target, _ = self._local(run, reference)
                        if target is None:
                            parts = reference.split("/_history/")[0].split("/")
                            target = {"resourceType": parts[-2]} if len(parts) >= 2 else None
                        if target is not None:
                            resolved.append(target)
                values = resolved
            else:
                values = step_values(values, segment)
        spec = self._node_at(slice_node, segments)
        if kind == "exists":
            if spec is None:
                return True
            return bool(values) if spec.min >= 1 else not values if spec.max == 0 else True
        if kind == "type":
            codes = spec.type_codes if spec is not None else ()
            return any(isinstance(v, dict) and v.get("resourceType") in codes for v in values) if codes else True
        if kind == "profile":
            if spec is None:
                return True
            profiles = [p for t in spec.types for p in (t.profiles or t.targets)]
            run.scoped += 1  # conformance of a resolved or nested item: checked in the enclosing scope
            for item in values:
                if isinstance(item, dict) and any(
                    not self.conforms(item, p, occurrence.path, run.scope) for p in profiles if self.compiler.knows(p)
                ):
                    return True
            return False
        if spec is None:
            return False
        expected = spec.fixed if spec.fixed is not NO_VALUE else spec.pattern
        if expected is not NO_VALUE:
            exact = spec.fixed is not NO_VALUE and kind == "value"
            return any(equals_fixed(v, expected) if exact else matches_pattern(v, expected) for v in values)
        if spec.binding is not None and spec.binding.strength == "required":
            expansion = self.value_sets.expansion(spec.binding.value_set)
            if expansion is None:
                return False
            for item in values:
                pairs = [(None, item)] if isinstance(item, str) else (
                    [(item.get("system"), item.get("code"))] if isinstance(item, dict) and "code" in item else
                    [(c.get("system"), c.get("code")) for c in (item.get("coding") or [])] if isinstance(item, dict)
                    else []
                )
                if any(expansion.contains(s, c) for s, c in pairs if isinstance(c, str)):
                    return True
            return False
        return False

    def _node_at(self: ProfileValidator, start: ElementNode, segments: list[str]) -> ElementNode | None:
        """The element node a discriminator path designates, following type profiles."""
        node: ElementNode | None = start
        for segment in segments:
            if node is None:
                return None
            if segment == "$this":
                continue
            if segment == "resolve()":
                targets = [t for ref in node.types for t in ref.targets]
                node = self.compiler.root(targets[0]) if len(targets) == 1 and self.compiler.knows(targets[0]) else None
                continue
            if segment.startswith("extension("):
                url = segment[len("extension("):-1].strip().strip("'\"")
                extension = self._children_of(node).get("extension")
                node = None
                if extension is not None:
                    for slice_node in extension.slices:
                        if slice_node.types and url in slice_node.types[0].profiles:
                            node = slice_node
                            break
                    if node is None and self.compiler.knows(url):
                        node = self.compiler.root(url)
                continue
            if segment.startswith("ofType("):
                continue
            children = self._children_of(node)
            found = children.get(segment)
            if found is None:
                found = children.get(segment + "[x]")
            node = found
        return node

    def _children_of(self: ProfileValidator, node: ElementNode) -> dict[str, ElementNode]:
        if node.children:
            return node.children
        if node.types:
            ref = node.types[0]
            root = self.compiler.type_root(ref.code, ref.profiles)
            if root is not None:
                return root.children
        return {}
