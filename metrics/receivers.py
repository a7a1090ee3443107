"""What the metrics app listens to: a completed response updates the rollups (by task)."""

from __future__ import annotations


def _response_submitted(sender: object, response_id: int, **kwargs: object) -> None:
    from cxm.jobs import Job, enqueue_on_commit

    enqueue_on_commit(Job.METRICS_ROLLUP_RESPONSE, response_id=response_id)


def connect() -> None:
    from surveys.signals import response_submitted

    response_submitted.connect(
        _response_submitted, weak=False, dispatch_uid="metrics-rollup-response"
    )
