"""Build the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from . import outcomes
from .api import bundle, history, in_process, instance, metadata, search, type_level
from .api.auth import establishment_caller
from .audit import middleware as audit
from .ig_pages import router as ig_pages_router
from .operations import ig as ig_download
from .operations import validate as validate_op
from .pathway.router import router as pathway_router
from .services import Services, build_services
from .settings import Settings, get_settings
from .worklist.router import public as worklist_public
from .worklist.router import router as worklist_router

Attachment = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def create_app(
    settings: Settings | None = None, services: Services | None = None, *,
    routers: Sequence[APIRouter] = (), attachments: Sequence[Attachment] = (),
) -> FastAPI:
    """`services` may be injected (tests share one set across clients); otherwise the lifespan builds
    them from `settings`. `routers` and `attachments` (async context managers entered after the
    server's start-up, e.g. the DPI adapter) are given by the CLI, which alone knows the adapters."""
    settings = settings or (services.settings if services else get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or build_services(settings)
        try:
            async with AsyncExitStack() as stack:
                for attach in attachments:
                    await stack.enter_async_context(attach(app))
                yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(title="Onco'Link FHIR", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    audit.install(app)  # inside the request-id middleware that outcomes.install adds
    outcomes.install(app)
    in_process.install(app)  # the adapters' door when they run in this process (`oncolink serve`)
    # Order matters: literal segments (metadata, _history, _search) before `{res_type}/{res_id}`.
    app.include_router(metadata.router)
    app.include_router(validate_op.router)
    app.include_router(pathway_router)
    app.include_router(ig_download.router)
    app.include_router(ig_pages_router)
    app.include_router(worklist_public)
    app.include_router(worklist_router)
    for router in routers:  # the adapters' routes: callers authenticate as on /fhir
        app.include_router(router, dependencies=[Depends(establishment_caller)])
    app.include_router(bundle.router)
    app.include_router(history.router)
    app.include_router(search.router)
    app.include_router(type_level.router)
    app.include_router(instance.router)
    return app
