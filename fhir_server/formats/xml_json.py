"""FHIR XML → FHIR JSON, driven by the R4 StructureDefinition snapshots.

XML does not say what JSON needs: whether an element is a list (one `<given>` may still be an
array), whether `value="1"` is a number or a string, or that `id`/`extension` on a primitive move to
a `_name` sibling. All of that comes from the snapshots (through `StructureModel`), so the output is
the JSON the same resource would have been sent as, and everything downstream only knows JSON.

Errors: text that is not well-formed XML (or carries a DTD, which FHIR forbids) is a 400; XML that
is well-formed but not a FHIR resource (unknown element, bad primitive, misplaced content) is a 422
whose expression names the element, as JSON content errors are.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from fhir_server.errors import BadRequest, Unprocessable
from fhir_server.formats.structure import (
    JSON_BOOLEAN_TYPES,
    JSON_INTEGER_TYPES,
    Child,
    Context,
    Kind,
    StructureModel,
    structure_model,
)
from fhir_server.validation.packages import PackageRegistry

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_F = "{" + FHIR_NS + "}"
_X = "{" + XHTML_NS + "}"
_EXTENSION_CONTEXT = Context("Extension", "Extension")
# Written `<br/>`; every other empty element as `<td></td>`, which HTML parsers also read right.
_VOID_ELEMENTS = frozenset({"area", "br", "col", "hr", "img", "wbr"})

_INTEGER_RE = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class _DoctypeRejected(Exception):
    pass


class _NoDoctypeBuilder(ET.TreeBuilder):
    """Tree builder that refuses DTDs: FHIR XML may not have one, and refusing them closes the
    door on entity tricks whatever the expat version."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _DoctypeRejected(name)


def parse_xml(xml: bytes | str) -> ET.Element:
    """Parse FHIR XML text into an element tree; malformed text is a 400."""
    parser = ET.XMLParser(target=_NoDoctypeBuilder())
    try:
        parser.feed(xml)
        return parser.close()
    except _DoctypeRejected as exc:
        raise BadRequest("XML with a DOCTYPE declaration is not allowed in FHIR", code="structure") from exc
    except ET.ParseError as exc:
        raise BadRequest(f"malformed XML: {exc}", code="structure") from exc


def fhir_xml_to_json(xml: bytes | str, registry: PackageRegistry) -> dict[str, Any]:
    """Convert one FHIR XML resource document into its FHIR JSON object."""
    return element_to_json(parse_xml(xml), registry)


def element_to_json(root: ET.Element, registry: PackageRegistry) -> dict[str, Any]:
    """Convert an already parsed resource element (e.g. one found inside a test-case file)."""
    return _Reader(structure_model(registry)).resource(root, "")


def _local(tag: str, expression: str) -> str:
    if not tag.startswith(_F):
        raise _invalid(f"element {tag!r} is not in the FHIR namespace {FHIR_NS}", expression or tag)
    return tag[len(_F) :]


def _invalid(message: str, expression: str, code: str = "structure") -> Unprocessable:
    return Unprocessable(message, code=code, expression=(expression,))


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


class _Reader:
    def __init__(self, model: StructureModel) -> None:
        self.model = model

    def resource(self, element: ET.Element, expression: str) -> dict[str, Any]:
        if not isinstance(element.tag, str):
            raise _invalid("expected a resource element", expression)
        name = _local(element.tag, expression)
        context = self.model.resource_context(name)
        if context is None:
            raise _invalid(f"{name!r} is not a FHIR R4 resource type", expression or name)
        out: dict[str, Any] = {"resourceType": name}
        self._fill(out, element, context, expression or name)
        return out

    def _fill(self, out: dict[str, Any], element: ET.Element, context: Context, expression: str) -> None:
        """Put the attributes and child elements of `element` into `out`."""
        children = self.model.children(context)
        for attr, value in element.attrib.items():
            if attr.startswith("{"):
                continue  # xsi:schemaLocation and the like carry no content
            child = children.by_name.get(attr)
            if child is None or not child.attribute:
                raise _invalid(f"unknown attribute {attr!r}", _join(expression, attr))
            out[attr] = value
        if element.text and element.text.strip():
            raise _invalid("text content is not allowed here", expression)

        repeated: dict[str, tuple[list[Any], list[Any]]] = {}
        choices_seen: dict[str, str] = {}
        for item in element:
            if item.tail and item.tail.strip():
                raise _invalid("text content is not allowed here", expression)
            if item.tag == _X + "div":
                name = "div"  # the narrative is the one element allowed outside the FHIR namespace
                child = children.by_name.get(name)
                if child is not None and child.kind is not Kind.XHTML:
                    child = None
            else:
                name = _local(item.tag, _join(expression, str(item.tag)))
                child = children.by_name.get(name)
            if child is None or child.attribute:
                raise _invalid(f"unknown element {name!r}", _join(expression, name))
            if child.choice:
                other = choices_seen.setdefault(child.base_name, name)
                if other != name:
                    raise _invalid(
                        f"{other!r} and {name!r} are two types for one choice element", _join(expression, name)
                    )
            if child.repeats:
                lists = repeated.get(name)
                if lists is None:
                    # Placed at the first occurrence so that the JSON keeps the document's order.
                    lists = repeated[name] = ([], [])
                    out[name], out["_" + name] = lists
                values, extras = lists
                path = f"{_join(expression, name)}[{len(values)}]"
                value, extra = self._value(item, child, path)
                values.append(value)
                extras.append(extra)
                continue
            path = _join(expression, name)
            if name in out or "_" + name in out:
                raise _invalid(f"element {name!r} may occur only once", path)
            value, extra = self._value(item, child, path)
            if value is not None:
                out[name] = value
            if extra is not None:
                out["_" + name] = extra
        for name, (values, extras) in repeated.items():
            if all(v is None for v in values):
                del out[name]
            if all(e is None for e in extras):
                del out["_" + name]

    def _value(self, element: ET.Element, child: Child, expression: str) -> tuple[Any, dict[str, Any] | None]:
        """The JSON value of one element and, for primitives, its `_name` companion."""
        kind = child.kind
        if kind is Kind.PRIMITIVE:
            return self._primitive(element, child, expression)
        if kind is Kind.COMPLEX:
            if child.context is None:
                raise _invalid(f"no definition for type {child.type_code}", expression)
            obj: dict[str, Any] = {}
            self._fill(obj, element, child.context, expression)
            if not obj:
                raise _invalid("element has no content", expression, "required")
            return obj, None
        if kind is Kind.RESOURCE:
            inner = [e for e in element if isinstance(e.tag, str)]
            if len(inner) != 1 or (element.text and element.text.strip()):
                raise _invalid("must contain exactly one resource", expression)
            if element.attrib:
                raise _invalid("a resource wrapper takes no attributes", expression)
            return self.resource(inner[0], expression), None
        return xhtml_to_string(element, expression), None

    def _primitive(self, element: ET.Element, child: Child, expression: str) -> tuple[Any, dict[str, Any] | None]:
        extra: dict[str, Any] = {}
        raw: str | None = None
        for attr, text in element.attrib.items():
            if attr == "value":
                raw = text
            elif attr == "id":
                extra["id"] = text
            elif not attr.startswith("{"):
                raise _invalid(f"unknown attribute {attr!r}", f"{expression}.{attr}")
        if element.text and element.text.strip():
            raise _invalid("a primitive carries its value in the value attribute", expression)
        extensions: list[dict[str, Any]] = []
        for item in element:
            name = _local(item.tag, f"{expression}.{item.tag}")
            path = f"{expression}.extension[{len(extensions)}]"
            if name != "extension":
                raise _invalid(f"unknown element {name!r} in a primitive", f"{expression}.{name}")
            ext: dict[str, Any] = {}
            self._fill(ext, item, _EXTENSION_CONTEXT, path)
            extensions.append(ext)
        if extensions:
            extra["extension"] = extensions
        if raw is None and not extra:
            raise _invalid("primitive element has neither a value nor extensions", expression, "required")
        value = None if raw is None else _primitive_json(raw, child.type_code, expression)
        return value, (extra or None)


def _primitive_json(raw: str, type_code: str, expression: str) -> Any:
    """JSON form of a primitive: booleans and numbers lose their quotes, everything else is a string."""
    if type_code in JSON_BOOLEAN_TYPES:
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise _invalid(f"{raw!r} is not a boolean", expression, "value")
    if type_code in JSON_INTEGER_TYPES:
        if not _INTEGER_RE.fullmatch(raw):
            raise _invalid(f"{raw!r} is not an {type_code}", expression, "value")
        return int(raw)
    if type_code == "decimal":
        if not _DECIMAL_RE.fullmatch(raw):
            raise _invalid(f"{raw!r} is not a decimal", expression, "value")
        # Same numbers a JSON parser would produce from the same digits.
        return int(raw) if _INTEGER_RE.fullmatch(raw) else float(raw)
    return raw


# -- XHTML ------------------------------------------------------------------------------------------


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#9;")
    )


def xhtml_to_string(element: ET.Element, expression: str) -> str:
    """Serialise a narrative `div` the way FHIR JSON carries it: one string, XHTML namespace on the
    root only, text and attributes as written."""
    if element.tag != _X + "div":
        raise _invalid("narrative must be an XHTML div element", expression)
    parts: list[str] = []
    _write_xhtml(element, parts, expression, root=True)
    return "".join(parts)


def _write_xhtml(element: ET.Element, parts: list[str], expression: str, *, root: bool = False) -> None:
    tag = element.tag
    if not isinstance(tag, str) or not tag.startswith(_X):
        raise _invalid(f"narrative may only contain XHTML elements, found {tag!r}", expression)
    name = tag[len(_X) :]
    parts.append("<" + name)
    if root:
        parts.append(f' xmlns="{XHTML_NS}"')
    for attr, value in element.attrib.items():
        if attr.startswith("{"):
            ns, _, local = attr[1:].partition("}")
            if ns != XML_NS:
                raise _invalid(f"narrative attribute {attr!r} is not allowed", expression)
            attr = "xml:" + local
        parts.append(f' {attr}="{_escape_attr(value)}"')
    if element.text is None and len(element) == 0 and name in _VOID_ELEMENTS:
        parts.append("/>")
        return
    parts.append(">")
    if element.text:
        parts.append(_escape_text(element.text))
    for item in element:
        _write_xhtml(item, parts, expression)
        if item.tail:
            parts.append(_escape_text(item.tail))
    parts.append(f"</{name}>")
