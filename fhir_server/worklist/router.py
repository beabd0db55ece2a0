"""`/worklist` pages: the file active of a team, a patient's timeline, and the form that handles an alert.

Forms post and redirect (303) back, so the pages work with a keyboard and without JavaScript. Reads go
through `query`; the one write goes through `telemonitoring.handling`, i.e. the repository."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..api.deps import ServicesDep
from ..errors import FhirError, Forbidden, Unauthorized
from ..http import read_body
from ..telemonitoring import episodes
from ..telemonitoring.handling import handle_alert
from ..telemonitoring.tree import load_tree
from . import query
from .session import COOKIE, check_login, next_target, worklist_caller

HERE = Path(__file__).parent
# The login form and the stylesheet are public; every other page needs the team's token (`session`).
public = APIRouter(prefix="/worklist", include_in_schema=False)
router = APIRouter(prefix="/worklist", include_in_schema=False, dependencies=[Depends(worklist_caller)])
_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)

COLOUR_FR = {"red": "Rouge", "orange": "Orange", "green": "Vert", "": "Aucun questionnaire"}
ALERT_FR = {"diarrhoea": "Diarrhée", "nausea-vomiting": "Nausées ou vomissements", "mucositis": "Mucite",
            "hand-foot": "Syndrome main-pied", "rash": "Éruption cutanée", "fatigue": "Fatigue", "fever": "Fièvre",
            "pain": "Douleur", "dyspnoea": "Essoufflement", "bleeding": "Saignement", "missed-doses": "Prises oubliées",
            "missing-questionnaire": "Questionnaire non rempli", "interaction": "Interaction médicamenteuse"}


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env.get_template(name).render(colour_fr=COLOUR_FR, alert_fr=ALERT_FR, **context),
                        status_code=status)


@public.get("/login")
def login_form(next: str = "") -> HTMLResponse:  # noqa: A002 - the query parameter's name
    return _render("login.html", title="Connexion", team="", next=next_target(next), message="")


@public.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    target = next_target(form.get("next", ""))
    try:
        await check_login(request, form.get("token", ""))
    except (Unauthorized, Forbidden) as exc:
        return _render("login.html", exc.status, title="Connexion", team="", next=target,
                       message=f"Connexion refusée : {exc.issues[0].diagnostics}")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, form["token"].strip(), httponly=True, samesite="strict", path="/worklist",
                        secure=request.url.scheme == "https")
    return response


@public.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/worklist/login", status_code=303)
    response.delete_cookie(COOKIE, path="/worklist")
    return response


@public.get("/static/worklist.css")
def worklist_css() -> Response:
    return Response((HERE / "static" / "worklist.css").read_bytes(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=300"})


@router.get("")
def worklist(svc: ServicesDep, team: str = "", colour: str = "", parcours: str = "", sequence: str = "",
             open_only: Annotated[str, Query(alias="ouvertes")] = "", q: str = "") -> HTMLResponse:
    rows: list[query.Row] = []
    if team:
        with svc.db.read() as conn:
            rows = query.file_active(svc.repository, conn, team, datetime.now(UTC).date(),
                                     lookback_days=svc.settings.worklist_lookback_days,
                                     interactions_file=svc.settings.interactions_file)
    total = len(rows)
    rows = [r for r in rows if (not colour or r.colour == colour) and (not parcours or r.parcours == parcours)
            and (not sequence or r.sequence == sequence) and (not open_only or r.alerts)
            and (not q or q.casefold() in r.name.casefold())]
    return _render("list.html", title="File active", team=team, rows=rows, total=total,
                   filters={"colour": colour, "parcours": parcours, "sequence": sequence, "ouvertes": open_only,
                            "q": q})


@router.get("/patient/{patient_id}")
def patient_view(patient_id: str, svc: ServicesDep, team: str = "", traite: str = "") -> HTMLResponse:
    with svc.db.read() as conn:
        patient, events = query.timeline(svc.repository, conn, patient_id)
        tasks = query.open_tasks(svc.repository, conn, patient_id) if patient else {}
        episode = episodes.active_episode(svc.repository, conn, patient_id) if patient else None
        finess = episodes.finess_of(svc.repository, conn, episodes.hospital_team(episode)) if episode else None
    if patient is None:
        return _render("not_found.html", 404, title="Patient introuvable", team=team)
    tree = load_tree(svc.settings.triage_dir, finess)
    return _render("patient.html", title=query.name_of(patient), patient=patient, events=events, tasks=tasks,
                   outcomes=tree.outcomes, team=team, handled=traite, colour_of=query.alerts.colour_of)


async def _form(request: Request) -> dict[str, str]:
    """The posted urlencoded form (parsed here: FastAPI's Form needs python-multipart, a dependency for
    one form of plain fields), bounded like every request body (the login form is public)."""
    limit = request.app.state.services.settings.max_body_bytes
    body = (await read_body(request, limit)).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@router.post("/task/{task_id}/handle")
async def handle(task_id: str, request: Request, svc: ServicesDep) -> Response:
    form = await _form(request)
    patient, team = form.get("patient", ""), form.get("team", "")
    return await run_in_threadpool(_handle, svc, task_id, patient, team, form)


def _handle(svc: Any, task_id: str, patient: str, team: str, form: dict[str, str]) -> Response:
    outcome, note, version = form.get("outcome", ""), form.get("note", ""), form.get("version", "")
    try:
        with svc.db.write() as conn:
            episode = episodes.active_episode(svc.repository, conn, patient)
            finess = episodes.finess_of(svc.repository, conn, episodes.hospital_team(episode)) if episode else None
            handle_alert(svc.repository, conn, load_tree(svc.settings.triage_dir, finess), task_id,
                         outcome=outcome, note=note, if_match=f'W/"{version}"' if version else None)
    except FhirError as exc:
        return _render("error.html", exc.status, title="Alerte non traitée", message=exc.issues[0].diagnostics,
                       back=f"/worklist/patient/{patient}?" + urlencode({"team": team}), team=team)
    return RedirectResponse(f"/worklist/patient/{patient}?" + urlencode({"team": team, "traite": task_id}),
                            status_code=303)
