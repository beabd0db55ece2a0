"""The rights seam of notifications: a subscriber is told only about resources it may read.

Authentication and care-team authorisation are wired elsewhere (ADR 0009); until the subscriber's
principal is recorded with the Subscription, every active subscription is notified. The matcher calls
`may_notify` for every match, so the rule is enforced in one place once it exists."""

from __future__ import annotations

from typing import Any


def may_notify(subscriber: object | None, resource: dict[str, Any]) -> bool:
    """Whether `subscriber` (the principal that created the Subscription, None when unknown) may learn
    that `resource` changed."""
    del subscriber, resource
    return True
