"""`oncolink validate` and `oncolink ig …`: the validator and the implementation guide, offline.

Integrators run `oncolink validate message.json --profile URL` before they connect: the same checks
as the server's `$validate`, with R4 core and our guide loaded from the package cache, plus any other
package they name. `oncolink ig build` writes the FHIR NPM package that the server also serves.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ..errors import Issue, operation_outcome
from ..settings import Settings
from .ig import IgError, build, ensure_loaded
from .packages import R4_CORE, PackageError, PackageRegistry
from .validator import FhirValidator, has_errors

ig_app = typer.Typer(help="The Onco'Link implementation guide (FHIR package).", no_args_is_help=True)

_MARK = {"fatal": "FATAL", "error": "ERROR", "warning": "WARN ", "information": "INFO "}


def _fail(message: str) -> None:
    typer.echo(f"oncolink: {message}", err=True)
    raise typer.Exit(2)


def _cache() -> Path:
    return Settings().package_cache


def _registry(extra: list[str]) -> PackageRegistry:
    try:
        registry = PackageRegistry.from_cache(_cache(), [R4_CORE, *extra])
        ensure_loaded(registry)
    except (PackageError, IgError) as exc:
        _fail(str(exc))
        raise AssertionError from exc  # unreachable: _fail exits
    return registry


def _read(path: Path, registry: PackageRegistry) -> Any:
    data = path.read_bytes()
    if path.suffix.lower() == ".xml" or data.lstrip()[:1] == b"<":
        from ..formats.xml_json import fhir_xml_to_json

        return fhir_xml_to_json(data, registry)
    return orjson.loads(data)


def _text(name: str, issues: list[Issue]) -> str:
    lines = []
    for issue in issues:
        where = ", ".join(issue.expression) or "-"
        message = issue.diagnostics
        if message.startswith(where + ": "):
            message = message[len(where) + 2:]
        lines.append(f"{name}: {_MARK.get(issue.severity, issue.severity)} {where}: {message}")
    errors = sum(i.severity in ("error", "fatal") for i in issues)
    warnings = sum(i.severity == "warning" for i in issues)
    lines.append(f"{name}: {'INVALID' if errors else 'valid'} ({errors} error(s), {warnings} warning(s))")
    return "\n".join(lines)


def validate(
    files: Annotated[list[Path], typer.Argument(help="FHIR resources in JSON (or XML) files", exists=True,
                                                dir_okay=False, readable=True)],
    profile: Annotated[list[str] | None, typer.Option(help="also validate against this profile URL (repeatable)")]
    = None,
    package: Annotated[list[str] | None, typer.Option(help="also load this package from the cache: name#version")]
    = None,
    output: Annotated[str, typer.Option("--format", help="text (for people) or json (OperationOutcomes)")] = "text",
    unknown_profile: Annotated[str, typer.Option(help="severity of an unknown claimed profile: warning or error")]
    = "warning",
    information: Annotated[bool, typer.Option("--info/--no-info", help="show information-level issues")] = False,
) -> None:
    """Validate FHIR resources offline, as the server's $validate does. Exit code 1 when any file has
    errors, 2 when the command itself cannot run."""
    if output not in ("text", "json"):
        _fail("--format must be text or json")
    if unknown_profile not in ("warning", "error"):
        _fail("--unknown-profile must be warning or error")
    registry = _registry(package or [])
    validator = FhirValidator(registry, unknown_profile=unknown_profile)
    failed = False
    results = []
    for path in files:
        try:
            resource = _read(path, registry)
        except Exception as exc:  # noqa: BLE001 - any parse failure is this file's fatal issue
            issues = [Issue("fatal", "structure", f"cannot be read as FHIR JSON or XML: {exc}")]
        else:
            issues = validator.validate(resource, profiles=profile or [])
        failed = failed or has_errors(issues)
        shown = issues if information else [i for i in issues if i.severity != "information"]
        if output == "json":
            outcome = operation_outcome(shown)
            results.append({"file": str(path), "valid": not has_errors(issues), "outcome": outcome})
        else:
            typer.echo(_text(str(path), shown))
    if output == "json":
        sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")
    raise typer.Exit(1 if failed else 0)


@ig_app.command("build")
def ig_build(
    out: Annotated[Path | None, typer.Option(help="output folder (default profiles/dist)")] = None,
    sources: Annotated[Path | None, typer.Option(help="the implementation guide folder (ONCOLINK_IG_DIR)")] = None,
) -> None:
    """Build the FHIR NPM package (snapshots, package.json, .index.json) from the committed SUSHI output."""
    sources = sources or Settings().ig_dir
    try:
        registry = PackageRegistry.from_cache(_cache(), [R4_CORE])
        built = build(registry, sources)
    except (PackageError, IgError) as exc:
        _fail(str(exc))
        raise AssertionError from exc
    folder = out or sources / "dist"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / built.config.filename
    target.write_bytes(built.tgz())
    profiles = sum(r.get("resourceType") == "StructureDefinition" for r in built.conformance.values())
    typer.echo(f"{target}: {len(built.conformance)} conformance resources ({profiles} with snapshots), "
               f"{len(built.examples)} examples, built in {built.seconds * 1000:.0f} ms")


@ig_app.command("install")
def ig_install(
    sources: Annotated[Path | None, typer.Option(help="the implementation guide folder (ONCOLINK_IG_DIR)")] = None,
) -> None:
    """Put the built package in the package cache as name#version, for other FHIR tools."""
    sources = sources or Settings().ig_dir
    try:
        registry = PackageRegistry.from_cache(_cache(), [R4_CORE])
        built = build(registry, sources)
    except (PackageError, IgError) as exc:
        _fail(str(exc))
        raise AssertionError from exc
    target = _cache() / f"{built.config.package_id}#{built.config.version}"
    for name, document in built.files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    typer.echo(f"{built.config.package_id}#{built.config.version}: {target / 'package'}")


def register(app: typer.Typer) -> None:
    """Add `validate` and `ig` to the `oncolink` command line."""
    app.command("validate")(validate)
    app.add_typer(ig_app, name="ig")
