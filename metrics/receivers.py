"""What the metrics app listens to: a completed response updates the rollups (by task)."""

from __future__ import annotations


def _response_submitted(sender: object, response_id: int, **kwargs: object) -> None:
    from cxm.celery import app
    from cxm.jobs import Job

    # response_submitted is sent after commit already.
    app.send_task(Job.METRICS_ROLLUP_RESPONSE.value, kwargs={"response_id": response_id})


def connect() -> None:
    from surveys.signals import response_submitted

    response_submitted.connect(
        _response_submitted, weak=False, dispatch_uid="metrics-rollup-response"
    )
