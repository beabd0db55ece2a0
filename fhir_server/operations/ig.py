"""The implementation guide's FHIR NPM package at stable URLs, for integrators and FHIR tools.

`GET /ig/package.tgz` always answers the guide this server runs; `GET /ig/onco-link.fhir-0.1.0.tgz`
names the version (404 once the server runs another). `GET /ig/package.json` gives the manifest.
The tarball is built once per process, byte-for-byte the same as `oncolink ig build` writes.
"""

from __future__ import annotations

import hashlib

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..api.deps import ServicesDep
from ..errors import NotFound
from ..validation.ig import BuiltIg, ensure_loaded

router = APIRouter(prefix="/ig")


def _tarball(built: BuiltIg, request: Request) -> Response:
    data = built.tgz()
    tag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {
        "ETag": tag,
        "Cache-Control": "public, max-age=300",
        "Content-Disposition": f'attachment; filename="{built.config.filename}"',
    }
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/gzip", headers=headers)


@router.get("/package.tgz")
def package_tgz(request: Request, svc: ServicesDep) -> Response:
    return _tarball(ensure_loaded(svc.packages), request)


@router.get("/package.json")
def package_json(svc: ServicesDep) -> Response:
    built = ensure_loaded(svc.packages)
    return Response(orjson.dumps(built.files["package/package.json"]), media_type="application/json")


@router.get("/{filename}")
def versioned_tgz(filename: str, request: Request, svc: ServicesDep) -> Response:
    built = ensure_loaded(svc.packages)
    if filename != built.config.filename:
        raise NotFound(f"{filename} is not served here; this server runs {built.config.filename} "
                       "(also at /ig/package.tgz)")
    return _tarball(built, request)
