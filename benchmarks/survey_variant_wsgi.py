"""The app's WSGI application with a leaner completion path, for ``benchmarks/surveys.py`` only.

A what-if case of the completion benchmark, to show where a completion's time goes (the app is
not changed): with ``CXM_BENCH_SURVEY_VARIANT=lean`` the respondent page's POST of a whole answer
set on a personal invitation that has no response yet (``surveys.views.respond._post``, the
all-on-one-page case) is replaced by one transaction that writes what the request already knows:

* ``INSERT`` the response already completed (score, band, ``completed_at``), no ``get_or_create``
  (the view has just looked for it) and no savepoint: a concurrent first submit makes the
  INSERT fail on the unique invitation, the transaction rolls back and the app's own path runs;
* ``INSERT`` the visible answers (a fresh response has none to update);
* one ``UPDATE`` of the invitation (opened and responded);
* the timeline interaction through ``journeys.services.interactions._store`` (its ``INSERT`` and
  the daily volume), without the idempotency ``SELECT`` (the key names a response id that did not
  exist a moment ago), with the customer, survey and comment the request already holds;
* ``response_submitted`` after commit, as the app sends it.

Every other request (one question per screen, invalid answers, a response already started or
completed, public links) takes the app's path unchanged.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxm.settings")

from cxm.wsgi import application  # noqa: F401 - what gunicorn serves

VARIANT = os.environ.get("CXM_BENCH_SURVEY_VARIANT", "")
APP_POST: Any = None  # the app's ``surveys.views.respond._post``, for every other request


def _lean_post(
    request: Any, survey: Any, invitation: Any, response: Any, language: str, token: str
) -> Any:
    from django.db import IntegrityError, transaction
    from django.db.models.functions import Coalesce
    from django.shortcuts import redirect
    from django.urls import reverse
    from django.utils import timezone

    from cxm.errors import ApplicationError
    from journeys.models import Interaction
    from journeys.services.interactions import _store
    from surveys.answers import answer_parse
    from surveys.models import Answer, Invitation, Response, Survey
    from surveys.scoring import band_for, visible_questions
    from surveys.services.builder import new_token
    from surveys.services.responding import TIMELINE_CHANNEL, main_question
    from surveys.signals import response_submitted

    if invitation is None or response is not None or survey.display != Survey.Display.ALL:
        return APP_POST(request, survey, invitation, response, language, token)
    questions = list(survey.questions.all())
    try:
        values = {q.key: answer_parse(q, request.POST) for q in questions}
    except ApplicationError:
        return APP_POST(request, survey, invitation, response, language, token)
    given = {q.key: values[q.key].comparable(q) for q in questions}
    visible = visible_questions(questions, given)
    if any(q.required and values[q.key].is_empty for q in visible):
        return APP_POST(request, survey, invitation, response, language, token)
    main = main_question(questions)
    score = values[main.key].number if main is not None and main in visible else None
    now = timezone.now()
    try:
        with transaction.atomic():
            response = Response.objects.create(
                survey=survey,
                invitation=invitation,
                customer_id=invitation.customer_id,
                token=new_token(),
                survey_version=survey.version,
                language=language,
                channel=invitation.channel,
                touchpoint_id=invitation.touchpoint_id,
                score=score,
                band=band_for(main, score) if main is not None and score is not None else "",
                completed_at=now,
            )
            Answer.objects.bulk_create(
                [
                    Answer(
                        response=response,
                        question=q,
                        number=values[q.key].number,
                        choices=values[q.key].choices,
                        text=values[q.key].text,
                        created_at=now,
                        updated_at=now,
                    )
                    for q in visible
                ]
            )
            Invitation.objects.filter(pk=invitation.pk).update(
                status=Invitation.Status.RESPONDED,
                opened_at=Coalesce("opened_at", now),
                responded_at=now,
            )
            if invitation.customer_id:
                comment = next(
                    (values[q.key].text for q in visible if q.is_text and values[q.key].text), ""
                )
                parts = [survey.name] + ([str(score)] if score is not None else [])
                if comment:
                    parts.append(f"“{comment[:200]}”")
                _store(
                    [
                        Interaction(
                            customer_id=invitation.customer_id,
                            touchpoint_id=invitation.touchpoint_id,
                            channel=TIMELINE_CHANNEL.get(invitation.channel, "web"),
                            kind="survey.response",
                            occurred_at=now,
                            summary=" · ".join(parts)[:500],
                            source_type="surveys.response",
                            source_id=str(response.pk),
                            data={"survey_id": survey.pk, "score": score, "band": response.band},
                            idempotency_key=f"surveys.response.{response.pk}",
                        )
                    ]
                )
            ids = (response.pk, survey.pk, invitation.customer_id)
            transaction.on_commit(
                lambda: response_submitted.send(
                    sender=Response, response_id=ids[0], survey_id=ids[1], customer_id=ids[2]
                )
            )
    except IntegrityError:
        # Another tab created the response a moment ago: the app's path sorts it out.
        return APP_POST(request, survey, invitation, None, language, token)
    return redirect(reverse("surveys:respond", args=[token]))


if VARIANT == "lean":
    from surveys.views import respond

    APP_POST = respond._post
    respond._post = _lean_post
