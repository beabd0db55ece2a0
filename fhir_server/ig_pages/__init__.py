"""The implementation guide as server-rendered web pages (`/ig/`): `app.include_router(router)`."""

from .router import router

__all__ = ["router"]
