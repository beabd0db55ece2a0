"""Structural validation of FHIR R4 JSON resources, run on every write.

Checks what the R4 core StructureDefinitions say about shape, independent of any profile: known
elements only (choice types, `_x` primitive extensions, backbone and content-referenced elements),
cardinality, JSON spelling (arrays, nulls, empty values), primitive formats, required bindings on
`code` elements, and contained / Bundle / Parameters resources as their own types. FHIRPath
invariants and profiles are checked elsewhere; the compiled schemas keep the constraints for them.

The walker runs on the hot write path, so it works on precompiled tables (`schema.py`), builds an
element's path string only when it must descend into it or report it, and allocates nothing else on
valid input. Expressions are FHIRPath-like with indices, e.g. `Bundle.entry[2].resource.name[0].given[1]`.
"""

from __future__ import annotations

from typing import Any

from ..errors import Issue, error
from .packages import PackageRegistry
from .primitives import SD_BASE
from .schema import (
    ATTRIBUTE,
    COMPLEX,
    PRIMITIVE,
    PROHIBITED,
    RESOURCE,
    UNBOUNDED,
    ElementRule,
    SchemaCompiler,
    TypeSchema,
)

_SHOWN_CODES = 12  # list the allowed codes in a binding error when there are at most this many


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _max_text(rule: ElementRule) -> str:
    return "*" if rule.max == UNBOUNDED else str(rule.max)


class StructureValidator:
    """Validates resources against the R4 core definitions of a package registry."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._compiler = SchemaCompiler(registry)
        self._resource_schemas: dict[str, TypeSchema] = {}
        self._element_schema: TypeSchema | None = None

    @property
    def resource_types(self) -> frozenset[str]:
        """Concrete R4 resource types (146): what `resourceType` and REST URLs may name."""
        return self._compiler.resource_types

    @property
    def compiler(self) -> SchemaCompiler:
        """The schema compiler, shared with checks that need the same compiled definitions."""
        return self._compiler

    def schema(self, resource_type: str) -> TypeSchema:
        """The compiled schema of a concrete resource type (compiled on first use)."""
        found = self._resource_schemas.get(resource_type)
        if found is None:
            found = self._resource_schemas[resource_type] = self._compiler.schema(SD_BASE + resource_type)
        return found

    def validate(self, resource: object, expected_type: str | None = None, *, at: str | None = None) -> list[Issue]:
        """Every structural problem of `resource` (a decoded JSON value); empty when it is valid.

        `at` roots the expressions where the resource sits in a larger document, e.g.
        `Bundle.entry[1].resource`, so a caller that validates Bundle entries one by one reports the
        same paths as a validation of the whole Bundle would.
        """
        issues: list[Issue] = []
        if not isinstance(resource, dict):
            where = (at,) if at else ()
            issues.append(error("invalid", f"A resource must be a JSON object, not {_kind(resource)}", *where))
            return issues
        try:
            self._resource(resource, at, expected_type, issues)
        except RecursionError:
            issues.append(
                error("too-costly", "The resource is nested too deeply to be validated", *((at,) if at else ()))
            )
        return issues

    # -- resources ------------------------------------------------------------------------------

    def _resource(self, obj: dict[str, Any], path: str | None, expected: str | None, issues: list[Issue]) -> None:
        """`path` is None for the top-level resource, else where this nested resource sits."""
        where = "resourceType" if path is None else f"{path}.resourceType"
        owner = "The resource" if path is None else path
        resource_type = obj.get("resourceType")
        if resource_type is None:
            issues.append(error("invalid", f"{owner} has no resourceType", where))
            return
        if not isinstance(resource_type, str):
            issues.append(
                error("invalid", f"{owner}: resourceType must be a string, not {_kind(resource_type)}", where)
            )
            return
        if resource_type not in self._compiler.resource_types:
            issues.append(error("invalid", f"{owner}: unknown resource type '{resource_type}'", where))
            return
        if expected is not None and resource_type != expected:
            issues.append(
                error(
                    "invalid",
                    f"{owner}: resourceType '{resource_type}' does not match the expected type '{expected}'",
                    where,
                )
            )
            return
        schema = self._resource_schemas.get(resource_type) or self.schema(resource_type)
        self._object(obj, schema, resource_type if path is None else path, issues)

    # -- objects --------------------------------------------------------------------------------

    def _object(self, obj: dict[str, Any], schema: TypeSchema, path: str, issues: list[Issue]) -> None:
        if not obj:
            issues.append(error("structure", f"{path} must not be an empty object", path))
            return
        elements = schema.elements
        choices: dict[str, str] | None = None
        for key, value in obj.items():
            rule = elements.get(key)
            if rule is None:
                self._unmatched(obj, key, value, schema, path, issues)
                continue
            kind = rule.kind
            if kind == PROHIBITED:
                where = f"{path}.{key}"
                issues.append(error("structure", f"{where} is not allowed ({rule.path} has max cardinality 0)", where))
                continue
            if value is None:
                where = f"{path}.{key}"
                issues.append(error("structure", f"{where} must not be null", where))
                continue
            if rule.is_array:
                if not isinstance(value, list):
                    where = f"{path}.{key}"
                    issues.append(
                        error(
                            "structure",
                            f"{where} must be a JSON array (max cardinality {_max_text(rule)}), not {_kind(value)}",
                            where,
                        )
                    )
                    continue
                if not value:
                    where = f"{path}.{key}"
                    issues.append(error("structure", f"{where} must not be an empty array", where))
                    continue
                if len(value) > rule.max:
                    where = f"{path}.{key}"
                    issues.append(
                        error("structure", f"{where} has {len(value)} values but at most {rule.max} are allowed", where)
                    )
                if kind <= ATTRIBUTE:
                    self._primitive_array(obj, key, value, rule, path, issues)
                else:
                    self._complex_array(key, value, rule, path, issues)
            elif isinstance(value, list):
                where = f"{path}.{key}"
                issues.append(
                    error("structure", f"{where} must be a single value, not an array (max cardinality 1)", where)
                )
                continue
            elif kind <= ATTRIBUTE:
                reason = rule.primitive.check(value)  # type: ignore[union-attr]
                if reason is not None:
                    where = f"{path}.{key}"
                    issues.append(error("value", f"{where}: {reason}", where))
                elif rule.codes is not None and value not in rule.codes:
                    self._bad_code(value, rule, f"{path}.{key}", issues)
            elif kind == COMPLEX:
                if isinstance(value, dict):
                    self._object(value, rule.schema, f"{path}.{key}", issues)  # type: ignore[arg-type]
                else:
                    self._not_object(value, rule, f"{path}.{key}", issues)
            elif isinstance(value, dict):
                self._resource(value, f"{path}.{key}", None, issues)
            else:
                self._not_object(value, rule, f"{path}.{key}", issues)
            if rule.choice is not None:
                if choices is None:
                    choices = {}
                first = choices.setdefault(rule.choice, key)
                if first != key:
                    where = f"{path}.{key}"
                    issues.append(
                        error(
                            "structure",
                            f"{path}: only one of {rule.choice}[x] may be present, found '{first}' and '{key}'",
                            where,
                        )
                    )
        for required in schema.required:
            for candidate in required.keys:
                if candidate in obj:
                    if required.min > 1:
                        self._check_min(obj[candidate], required.min, f"{path}.{candidate}", issues)
                    break
            else:
                where = f"{path}.{required.label}"
                issues.append(
                    error(
                        "required",
                        f"Missing required element '{required.label}' in {path} (min cardinality {required.min})",
                        where,
                    )
                )

    def _complex_array(self, key: str, values: list[Any], rule: ElementRule, path: str, issues: list[Issue]) -> None:
        schema = rule.schema
        nested_resource = rule.kind == RESOURCE
        for index, item in enumerate(values):
            if isinstance(item, dict):
                if nested_resource:
                    self._resource(item, f"{path}.{key}[{index}]", None, issues)
                else:
                    self._object(item, schema, f"{path}.{key}[{index}]", issues)  # type: ignore[arg-type]
            elif item is None:
                where = f"{path}.{key}[{index}]"
                issues.append(error("structure", f"{where} must not be null", where))
            else:
                self._not_object(item, rule, f"{path}.{key}[{index}]", issues)

    def _primitive_array(
        self, obj: dict[str, Any], key: str, values: list[Any], rule: ElementRule, path: str, issues: list[Issue]
    ) -> None:
        check = rule.primitive.check  # type: ignore[union-attr]
        codes = rule.codes
        extensions: Any = None
        for index, item in enumerate(values):
            if item is None:
                if extensions is None:
                    extensions = obj.get("_" + key, False)
                if not (
                    rule.kind == PRIMITIVE
                    and isinstance(extensions, list)
                    and index < len(extensions)
                    and extensions[index] is not None
                ):
                    where = f"{path}.{key}[{index}]"
                    issues.append(
                        error(
                            "structure",
                            f"{where} must not be null (null is only allowed where _{key}[{index}] holds an extension)",
                            where,
                        )
                    )
                continue
            reason = check(item)
            if reason is not None:
                where = f"{path}.{key}[{index}]"
                issues.append(error("value", f"{where}: {reason}", where))
            elif codes is not None and item not in codes:
                self._bad_code(item, rule, f"{path}.{key}[{index}]", issues)

    # -- keys without a rule: `resourceType`, `_x` siblings, unknown elements -------------------

    def _unmatched(
        self, obj: dict[str, Any], key: str, value: Any, schema: TypeSchema, path: str, issues: list[Issue]
    ) -> None:
        if key == "resourceType" and schema.is_resource:
            return
        if key.startswith("_"):
            rule = schema.elements.get(key[1:])
            if rule is not None and rule.kind == PRIMITIVE:
                self._primitive_extension(obj, key[1:], value, rule, path, issues)
                return
        where = f"{path}.{key}"
        issues.append(error("structure", f"Unknown element '{key}' in {path}{self._hint(key, schema)}", where))

    @staticmethod
    def _hint(key: str, schema: TypeSchema) -> str:
        """For a near-miss on a choice element, name the spellings that are allowed."""
        if not schema.has_choices:
            return ""
        for rule in schema.elements.values():
            if rule.choice is not None and key.startswith(rule.choice):
                allowed = [r.key for r in schema.elements.values() if r.choice == rule.choice]
                return f" ({rule.choice}[x] allows: {', '.join(allowed)})"
        return ""

    def _primitive_extension(
        self, obj: dict[str, Any], base: str, value: Any, rule: ElementRule, path: str, issues: list[Issue]
    ) -> None:
        """`_base`: the id/extensions of a primitive, an object or (for arrays) a list aligned with it."""
        element = self._element_schema
        if element is None:
            element = self._element_schema = self._compiler.type_schema("Element")
        json_where = f"{path}._{base}"
        if not rule.is_array:
            if isinstance(value, dict):
                self._object(value, element, f"{path}.{base}", issues)
            else:
                issues.append(error("structure", f"{json_where} must be a JSON object, not {_kind(value)}", json_where))
            return
        if not isinstance(value, list):
            issues.append(
                error(
                    "structure",
                    f"{json_where} must be a JSON array aligned with {base}, not {_kind(value)}",
                    json_where,
                )
            )
            return
        if not value:
            issues.append(error("structure", f"{json_where} must not be an empty array", json_where))
            return
        primitives = obj.get(base)
        if isinstance(primitives, list) and len(primitives) != len(value):
            issues.append(
                error(
                    "structure",
                    f"{json_where} has {len(value)} items but {base} has {len(primitives)}; they must be aligned",
                    json_where,
                )
            )
        for index, item in enumerate(value):
            if isinstance(item, dict):
                self._object(item, element, f"{path}.{base}[{index}]", issues)
            elif item is None:
                if not (isinstance(primitives, list) and index < len(primitives)):
                    where = f"{path}.{base}[{index}]"
                    issues.append(error("structure", f"{where} has neither a value nor an extension", where))
            else:
                where = f"{path}.{base}[{index}]"
                issues.append(
                    error("structure", f"{json_where}[{index}] must be a JSON object or null, not {_kind(item)}", where)
                )

    # -- error helpers --------------------------------------------------------------------------

    @staticmethod
    def _not_object(value: Any, rule: ElementRule, where: str, issues: list[Issue]) -> None:
        issues.append(
            error("structure", f"{where} must be a JSON object ({rule.type_name}), not {_kind(value)}", where)
        )

    @staticmethod
    def _bad_code(value: Any, rule: ElementRule, where: str, issues: list[Issue]) -> None:
        codes = rule.codes or frozenset()
        listed = f": expected one of {', '.join(sorted(codes))}" if len(codes) <= _SHOWN_CODES else ""
        issues.append(
            error(
                "code-invalid", f"{where}: '{value}' is not in the required value set {rule.value_set}{listed}", where
            )
        )

    @staticmethod
    def _check_min(value: Any, minimum: int, where: str, issues: list[Issue]) -> None:
        count = len(value) if isinstance(value, list) else 1
        if count < minimum:
            issues.append(error("required", f"{where} has {count} values but at least {minimum} are required", where))
