"""Weekly PRO telemonitoring: triage of questionnaire responses into alerts, messages and nurse tasks,
and the interaction check of an episode's prescriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..services import Services


def install(services: Services) -> None:
    """Register the telemonitoring write listeners on the repository (called by `build_services`)."""
    from .interactions import InteractionListener
    from .triage import TriageListener

    services.repository.listeners.append(TriageListener(services))
    services.repository.listeners.append(InteractionListener(services))
