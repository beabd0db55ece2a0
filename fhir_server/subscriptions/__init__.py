"""R4 Subscriptions (rest-hook) for pharmacy software: checks on write, a transactional delivery queue
filled by a write listener, and a worker that delivers with retries (ADR 0011)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..services import Services


def install(services: Services) -> None:
    """Register the Subscription checks and the matcher on the repository (called by `build_services`)."""
    from .criteria import subscription_checker
    from .matcher import SubscriptionListener
    from .rights import SubscriberRights

    services.repository.preparers["Subscription"] = subscription_checker(services.search_params.resource_types)
    services.repository.listeners.append(SubscriptionListener(services.repository, SubscriberRights(services)))
