"""The implementation guide as web pages at `/ig/`, server-rendered for integrators.

Every page path has at least two segments below `/ig/` (`/ig/StructureDefinition/x`, `/ig/static/…`)
so that none collides with the package download's `/ig/{filename}`; the index is `/ig/` itself.
The pages read the same built guide the server validates with and the download serves, so what an
integrator reads is what the server enforces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..api.deps import ServicesDep
from ..validation.ig import BuiltIg, ensure_loaded
from . import model

HERE = Path(__file__).parent
PAGE_TYPES = ("StructureDefinition", "ValueSet", "CodeSystem", "CapabilityStatement")

router = APIRouter(prefix="/ig", include_in_schema=False)
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(**context), status_code=status)


def _not_found(built: BuiltIg, what: str) -> HTMLResponse:
    return _render("not_found.html", 404, config=built.config, what=what, title="Page introuvable")


@router.get("", include_in_schema=False)
def ig_root() -> RedirectResponse:
    return RedirectResponse("/ig/", status_code=308)


@router.get("/")
def ig_index(svc: ServicesDep) -> HTMLResponse:
    built = ensure_loaded(svc.packages)
    return _render(
        "index.html", config=built.config, title=built.config.title,
        profiles=model.profiles(built), extensions=model.extensions(built),
        value_sets=model.by_type(built, "ValueSet"), code_systems=model.by_type(built, "CodeSystem"),
        statements=model.by_type(built, "CapabilityStatement"), examples=sorted(
            built.examples.values(), key=lambda r: (r["resourceType"], r.get("id", ""))),
        title_of=model.title_of,
    )


@router.get("/static/ig.css")
def ig_css() -> Response:
    return Response((HERE / "static" / "ig.css").read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})


@router.get("/StructureDefinition/{res_id}")
def ig_profile(res_id: str, svc: ServicesDep) -> HTMLResponse:
    built = ensure_loaded(svc.packages)
    profile = model.find(built, "StructureDefinition", res_id)
    if profile is None:
        return _not_found(built, f"StructureDefinition/{res_id}")
    rows = model.element_rows(svc.packages, profile)
    for row in rows:
        row.binding_url = model.local_page(built, row.binding_url) or row.binding_url
    return _render("profile.html", config=built.config, title=model.title_of(profile), profile=profile, rows=rows,
                   examples=model.examples_of(built, profile["url"]), base=profile.get("baseDefinition", ""))


@router.get("/ValueSet/{res_id}")
def ig_value_set(res_id: str, svc: ServicesDep) -> HTMLResponse:
    built = ensure_loaded(svc.packages)
    value_set = model.find(built, "ValueSet", res_id)
    if value_set is None:
        return _not_found(built, f"ValueSet/{res_id}")
    systems = {inc.get("system", ""): model.local_page(built, inc.get("system", ""))
               for inc in (value_set.get("compose") or {}).get("include") or []}
    return _render("value_set.html", config=built.config, title=model.title_of(value_set), resource=value_set,
                   codes=model.codes(built, value_set), systems=systems)


@router.get("/CodeSystem/{res_id}")
def ig_code_system(res_id: str, svc: ServicesDep) -> HTMLResponse:
    built = ensure_loaded(svc.packages)
    code_system = model.find(built, "CodeSystem", res_id)
    if code_system is None:
        return _not_found(built, f"CodeSystem/{res_id}")
    return _render("code_system.html", config=built.config, title=model.title_of(code_system), resource=code_system)


@router.get("/CapabilityStatement/{res_id}")
def ig_capabilities(res_id: str, svc: ServicesDep) -> HTMLResponse:
    built = ensure_loaded(svc.packages)
    statement = model.find(built, "CapabilityStatement", res_id)
    if statement is None:
        return _not_found(built, f"CapabilityStatement/{res_id}")
    pages = {url: model.local_page(built, url) for rest in statement.get("rest") or []
             for entry in rest.get("resource") or [] for url in entry.get("supportedProfile") or []}
    return _render("capability.html", config=built.config, title=model.title_of(statement), resource=statement,
                   pages=pages)


@router.get("/example/{res_type}/{res_id}")
def ig_example(res_type: str, res_id: str, svc: ServicesDep) -> HTMLResponse:
    built = ensure_loaded(svc.packages)
    found = model.example(built, res_type, res_id)
    if found is None:
        return _not_found(built, f"{res_type}/{res_id}")
    profiles = [(url, model.local_page(built, url)) for url in (found.get("meta") or {}).get("profile") or []]
    text = orjson.dumps(found, option=orjson.OPT_INDENT_2).decode()
    return _render("example.html", config=built.config, title=f"Exemple {res_type}/{res_id}", resource=found,
                   text=text, profiles=profiles)
