"""What the metrics app listens to: a completed response asks for a refresh of the rollups
within seconds (beat refreshes them every minute anyway)."""

from __future__ import annotations


def _response_submitted(sender: object, response_id: int, **kwargs: object) -> None:
    from metrics.services import refresh_soon

    refresh_soon()


def connect() -> None:
    from surveys.signals import response_submitted

    response_submitted.connect(
        _response_submitted, weak=False, dispatch_uid="metrics-rollup-response"
    )
