"""The Onco'Link pathway engine: rules as data (mappings/pathway), enrolment, sequences, forfaits."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..services import Services


def install(services: Services) -> None:
    """Register the prescription listener on the repository (called by `build_services`)."""
    from .reactions import PrescriptionListener
    from .transitions import engine

    services.repository.listeners.append(PrescriptionListener(engine(services)))
