"""Outgoing webhooks: events other tools subscribe to."""

from __future__ import annotations

from typing import Any


def event_publish(event: str, data: dict[str, Any]) -> None:
    """Queue one delivery of ``event`` to each active subscription to it, after commit."""
