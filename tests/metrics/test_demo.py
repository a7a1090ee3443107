"""The demo data fills every headline figure and the follow-up queue, and a second run of
``demo_data`` adds nothing."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from cxm.accounts.models import User
from inbox.models import Conversation, Delivery
from metrics.filters import filters_parse
from metrics.followup_selectors import followup_queue, loop_metrics
from metrics.models import FollowUp
from metrics.selectors import overview
from surveys.models import Response

pytestmark = pytest.mark.django_db


def _load() -> None:
    with open(os.devnull, "w") as quiet:
        call_command("demo_data", customers=60, stdout=quiet)


def _counts() -> tuple[int, ...]:
    return (
        Conversation.objects.count(),
        Response.objects.count(),
        FollowUp.objects.count(),
        Delivery.objects.count(),
    )


def test_demo_data_fills_the_dashboards_and_the_queue_once():
    _load()
    before = _counts()
    _load()
    assert _counts() == before  # the second run added nothing

    f = filters_parse({"period": "30d"})
    figures = {figure.key: figure for figure in overview(f).figures}
    for key in ("nps", "csat", "ces", "response_rate", "frt", "handling"):
        assert figures[key].n > 0 and figures[key].value is not None, key
    assert -100 <= figures["nps"].value <= 100
    assert 0 < figures["response_rate"].value < 100
    assert 0 < figures["frt"].median < 24 * 3600  # minutes to hours, not the same second
    assert figures["handling"].median > figures["frt"].median

    lead = User.objects.get(email="lead@demo.cxm.test")
    queue = followup_queue(user=lead, scope="all", status="open")
    assert queue.followups
    assert all(followup.owner_id for followup in queue.followups)
    loop = loop_metrics(f)
    assert loop.opened > 0 and loop.open_now > 0
