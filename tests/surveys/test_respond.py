from __future__ import annotations

import csv
import datetime as dt
import io
import threading

import pytest
from django.db import connection
from django.db.models import F
from django.urls import reverse

from journeys.models import Interaction
from journeys.services import customer_create
from surveys import services
from surveys.models import Response, Survey
from surveys.signals import response_submitted

pytestmark = pytest.mark.django_db


def _url(token: str, suffix: str = "") -> str:
    return reverse("surveys:respond", args=[token]) + suffix


@pytest.fixture
def invitation(nps_survey, customer):
    return services.invitation_create(survey=nps_survey, customer=customer)


@pytest.fixture
def submitted():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    response_submitted.connect(receiver, weak=False, dispatch_uid="test-submitted")
    yield seen
    response_submitted.disconnect(dispatch_uid="test-submitted")


def test_tokens_are_128_bit_and_unknown_ones_reveal_nothing(client, nps_survey, invitation):
    assert len(invitation.token) == 22  # 16 random bytes, URL-safe
    unknown = client.get(_url("A" * 22))
    tampered = client.get(
        _url(invitation.token[:-1] + ("x" if invitation.token[-1] != "x" else "y"))
    )
    switched_off = client.get(_url(nps_survey.public_token))  # public link not enabled
    assert unknown.status_code == tampered.status_code == switched_off.status_code == 404
    assert unknown.content == switched_off.content
    assert b"This link is not valid" in unknown.content
    assert client.get("/s/%3Cscript%3E/").status_code == 404


def test_customer_answers_an_nps_survey_in_their_language(
    client, invitation, submitted, captured_jobs
):
    page = client.get(_url(invitation.token))
    assert page.status_code == 200
    assert '<html lang="nl"' in page.content.decode()
    assert not Response.objects.exists()  # opening the page stores nothing
    reply = client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "3", "action": "next"}
    )
    assert reply.status_code == 302 and reply["Location"].endswith("?q=improve")
    response = Response.objects.get()
    assert (response.score, response.band, response.language) == (3, "negative", "nl")
    follow = client.get(reply["Location"])
    assert 'name="q-improve"' in follow.content.decode()
    reply = client.post(
        _url(invitation.token),
        {"question": "improve", "q-improve": "Faster delivery", "action": "next"},
    )
    assert reply.status_code == 302
    response.refresh_from_db()
    assert response.completed_at is not None
    invitation.refresh_from_db()
    assert invitation.status == "responded"
    captured_jobs.commit()
    assert submitted == [
        {
            "signal": response_submitted,
            "response_id": response.pk,
            "survey_id": invitation.survey_id,
            "customer_id": invitation.customer_id,
        }
    ]
    entry = Interaction.objects.get(kind="survey.response")
    assert entry.customer_id == invitation.customer_id
    assert "3" in entry.summary and "Faster delivery" in entry.summary
    thanks = client.get(_url(invitation.token))
    assert "thanks" in thanks.content.decode() or thanks.status_code == 200
    # A second submit (the back button, a double tap) changes nothing.
    again = client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "10", "action": "next"}
    )
    assert again.status_code == 200
    response.refresh_from_db()
    assert response.score == 3 and Response.objects.count() == 1
    assert Interaction.objects.filter(kind="survey.response").count() == 1


def test_reopening_the_link_resumes_at_the_next_question(client, invitation):
    client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "10", "action": "next"}
    )
    page = client.get(_url(invitation.token)).content.decode()
    assert 'name="q-liked"' in page
    assert 'value="10" checked' not in page  # the liked question, not the score again


def test_one_click_score_preselects_but_stores_nothing_until_posted(client, invitation):
    page = client.get(_url(invitation.token, "?score=8")).content.decode()
    assert 'value="8" checked' in page and "data-autosubmit" in page
    assert not Response.objects.exists()
    ignored = client.get(_url(invitation.token, "?score=99")).content.decode()
    assert "checked" not in ignored and "data-autosubmit" not in ignored


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"question": "recommend", "q-recommend": "11"}, "Kies een getal"),
        ({"question": "recommend", "q-recommend": "nine"}, "Kies een getal"),
        ({"question": "recommend"}, "Deze vraag"),
    ],
)
def test_bad_answers_get_a_message_beside_the_question(client, invitation, data, message):
    reply = client.post(_url(invitation.token), {**data, "action": "next"})
    assert reply.status_code == 400
    body = reply.content.decode()
    assert 'aria-invalid="true"' in body and 'role="alert"' in body
    assert message in body or "needs an answer" in body or "Choose a number" in body
    assert not Response.objects.filter(score__isnull=False).exists()


def test_overlong_text_is_refused_and_nothing_is_lost(client, invitation):
    client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "5", "action": "next"}
    )
    reply = client.post(
        _url(invitation.token), {"question": "improve", "q-improve": "x" * 5001, "action": "next"}
    )
    assert reply.status_code == 400
    response = Response.objects.get()
    assert response.score == 5 and response.completed_at is None


def test_closed_survey_shows_a_friendly_page_in_the_customers_language(
    client, nps_survey, invitation, cx_lead
):
    services.survey_status_change(survey=nps_survey, status="closed", by=cx_lead)
    page = client.get(_url(invitation.token))
    assert page.status_code == 410
    assert '<html lang="nl"' in page.content.decode()


def test_completion_is_recorded_once_under_concurrent_submits(invitation, transactional_db):
    survey = invitation.survey
    questions = list(survey.questions.all())
    response = services.response_start(survey=survey, language="en", invitation=invitation)
    services.answers_record(
        response=response, values={questions[0]: services_value(9)}, language="en"
    )
    results = []
    barrier = threading.Barrier(4)

    def finish():
        try:
            copy = Response.objects.get(pk=response.pk)
            barrier.wait()
            results.append(services.response_complete(response=copy, questions=questions))
        finally:
            connection.close()

    threads = [threading.Thread(target=finish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert Interaction.objects.filter(kind="survey.response").count() == 1


def services_value(number):
    from surveys.answers import AnswerValue

    return AnswerValue(number=number)


def test_public_link_one_response_per_browser(client, nps_survey, cx_lead):
    Survey.objects.filter(pk=nps_survey.pk).update(
        public_enabled=True, one_response_per_browser=True
    )
    url = _url(nps_survey.public_token)
    assert client.get(url).status_code == 200
    client.post(url, {"question": "recommend", "q-recommend": "9", "action": "next"})
    client.post(url, {"question": "liked", "q-liked": "", "action": "next"})
    response = Response.objects.get()
    assert response.completed_at is not None and response.customer_id is None
    assert response.browser_id
    assert "?new=1" not in client.get(url).content.decode()  # thanks, and no way round it
    Response.objects.update(completed_at=F("completed_at") - dt.timedelta(hours=1))
    again = client.get(url)
    assert "You have already answered" in again.content.decode()
    client.post(url, {"question": "recommend", "q-recommend": "1", "action": "next"})
    assert Response.objects.count() == 1


def test_public_link_posts_are_rate_limited(client, nps_survey, monkeypatch):
    from surveys.views import respond

    # Five a minute here; twelve posts cross the limit even if a minute boundary falls between.
    monkeypatch.setattr(respond, "RATE_PUBLIC", "5/m")
    Survey.objects.filter(pk=nps_survey.pk).update(public_enabled=True)
    url = _url(nps_survey.public_token)
    statuses = [
        client.post(
            url, {"question": "recommend", "q-recommend": "x", "action": "next"}
        ).status_code
        for _ in range(12)
    ]
    assert statuses[0] == 400 and 429 in statuses


def test_a_shared_device_can_start_a_new_public_response(client, nps_survey):
    Survey.objects.filter(pk=nps_survey.pk).update(public_enabled=True)
    url = _url(nps_survey.public_token)
    client.post(url, {"question": "recommend", "q-recommend": "9", "action": "next"})
    client.post(url, {"question": "liked", "q-liked": "", "action": "next"})
    thanks = client.get(url).content.decode()
    assert "?new=1" in thanks
    assert client.get(url + "?new=1").status_code == 302
    client.post(url, {"question": "recommend", "q-recommend": "4", "action": "next"})
    assert sorted(Response.objects.values_list("score", flat=True)) == [4, 9]


def test_going_back_and_changing_the_score_drops_the_hidden_answer(client, invitation):
    autosave = reverse("surveys:respond-answer", args=[invitation.token])
    client.post(autosave, {"question": "recommend", "q-recommend": "3"})
    client.post(autosave, {"question": "improve", "q-improve": "Too slow"})
    # Back to the score, now a 10: "improve" is hidden, "liked" is asked instead.
    reply = client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "10", "action": "next"}
    )
    assert reply["Location"].endswith("?q=liked")
    client.post(
        _url(invitation.token), {"question": "liked", "q-liked": "The fitter", "action": "next"}
    )
    response = Response.objects.get()
    assert response.completed_at and response.score == 10
    assert dict(response.answers.values_list("question__key", "text")) == {
        "recommend": "",
        "liked": "The fitter",
    }
    entry = Interaction.objects.get(kind="survey.response")
    assert "Too slow" not in entry.summary


def test_answers_cannot_change_after_completion(invitation):
    from cxm.errors import ApplicationError

    survey = invitation.survey
    questions = list(survey.questions.all())
    response = services.response_start(survey=survey, language="en", invitation=invitation)
    stale = Response.objects.get(pk=response.pk)
    services.answers_record(response=response, values={questions[0]: services_value(9)})
    services.response_complete(response=response, questions=questions)
    with pytest.raises(ApplicationError):
        services.answers_record(response=stale, values={questions[0]: services_value(0)})
    assert Response.objects.get().score == 9


def test_personal_links_need_an_active_survey(cx_lead, customer):
    from cxm.errors import ApplicationError

    draft = services.survey_create(
        name="D", kind="nps", default_language="en", languages=[], by=cx_lead
    )
    with pytest.raises(ApplicationError):
        services.invitation_create(survey=draft, customer=customer)


def test_erasing_a_customer_erases_their_answers(client, invitation, customer):
    from journeys.services import customer_delete

    client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "8", "action": "next"}
    )
    customer_delete(customer=customer, actor=None)
    assert not Response.objects.exists()


def test_all_on_one_page_drops_answers_to_hidden_questions(client, nps_survey, customer):
    Survey.objects.filter(pk=nps_survey.pk).update(display="all")
    invitation = services.invitation_create(survey=nps_survey, customer=customer)
    missing = client.post(_url(invitation.token), {"q-improve": "Cheaper"})
    assert missing.status_code == 400
    reply = client.post(
        _url(invitation.token),
        {"q-recommend": "10", "q-improve": "Cheaper", "q-liked": "The staff"},
    )
    assert reply.status_code == 302
    response = Response.objects.get()
    assert response.completed_at is not None
    texts = dict(response.answers.values_list("question__key", "text"))
    assert texts.get("liked") == "The staff" and "improve" not in texts


def test_autosave_endpoint_saves_each_answer(client, invitation):
    url = reverse("surveys:respond-answer", args=[invitation.token])
    assert client.post(url, {"question": "recommend", "q-recommend": "7"}).status_code == 204
    assert Response.objects.get().score == 7
    bad = client.post(url, {"question": "recommend", "q-recommend": "70"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "recommend"
    assert Response.objects.get().score == 7


def test_responses_page_filters_and_csv_export(client, cx_lead, nps_survey):
    for score, email in ((2, "a@example.com"), (9, "b@example.com"), (10, "c@example.com")):
        customer = customer_create(email=email, language="en")
        invitation = services.invitation_create(survey=nps_survey, customer=customer)
        client.post(
            _url(invitation.token),
            {"question": "recommend", "q-recommend": str(score), "action": "next"},
        )
        key = "improve" if score < 7 else "liked"
        client.post(
            _url(invitation.token),
            {"question": key, f"q-{key}": f"=HYPERLINK({score})", "action": "next"},
        )
    client.force_login(cx_lead)
    page = client.get(reverse("surveys:response-list", args=[nps_survey.pk]), {"band": "positive"})
    body = page.content.decode()
    assert "b@example.com" in body and "a@example.com" not in body
    bad = client.get(
        reverse("surveys:response-list", args=[nps_survey.pk]),
        {"band": "nonsense", "since": "yesterday"},
    )
    assert bad.status_code == 200 and "Unknown value" in bad.content.decode()
    export = client.get(reverse("surveys:response-export", args=[nps_survey.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted(int(r["score"]) for r in rows) == [2, 9, 10]
    assert all(r["q.liked"].startswith("'=") or r["q.improve"].startswith("'=") for r in rows)
    detail = client.get(reverse("surveys:response-detail", args=[Response.objects.first().pk]))
    assert detail.status_code == 200


def test_expired_invitation_and_survey_show_the_closed_page(client, nps_survey, customer):
    import datetime as dt

    from django.utils import timezone

    late = services.invitation_create(
        survey=nps_survey, customer=customer, expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert client.get(_url(late.token)).status_code == 410
    fresh = services.invitation_create(survey=nps_survey, customer=customer)
    Survey.objects.filter(pk=nps_survey.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    assert client.get(_url(fresh.token)).status_code == 410
    reply = client.post(_url(fresh.token), {"question": "recommend", "q-recommend": "9"})
    assert reply.status_code == 410 and not Response.objects.exists()


def test_branding_reaches_the_respondent_page(client, nps_survey, invitation):
    from django.core.files.uploadedfile import SimpleUploadedFile

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    Survey.objects.filter(pk=nps_survey.pk).update(
        accent_color="#7a1f5c", thank_you_links={"positive": "https://reviews.example/us"}
    )
    nps_survey.refresh_from_db()
    nps_survey.logo.save("logo.png", SimpleUploadedFile("logo.png", png), save=True)
    page = client.get(_url(invitation.token)).content.decode()
    assert reverse("surveys:respond-theme", args=[invitation.token]) in page
    css = client.get(reverse("surveys:respond-theme", args=[invitation.token]))
    assert css["Content-Type"].startswith("text/css") and "#7a1f5c" in css.content.decode()
    logo = client.get(reverse("surveys:respond-logo", args=[invitation.token]))
    assert logo["Content-Type"] == "image/png" and b"".join(logo.streaming_content) == png
    # A promoter is invited to the review site on the thank-you page.
    client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "10", "action": "next"}
    )
    client.post(_url(invitation.token), {"question": "liked", "q-liked": "", "action": "next"})
    thanks = client.get(_url(invitation.token)).content.decode()
    assert "https://reviews.example/us" in thanks


def test_responses_record_the_survey_version_they_answered(client, nps_survey, customer, cx_lead):
    first = services.invitation_create(survey=nps_survey, customer=customer)
    client.post(_url(first.token), {"question": "recommend", "q-recommend": "8", "action": "next"})
    services.survey_texts_update(
        survey=nps_survey, language="en", texts={"title": "How did we do?"}
    )
    nps_survey.refresh_from_db()
    second = services.invitation_create(survey=nps_survey, customer=customer)
    client.post(_url(second.token), {"question": "recommend", "q-recommend": "8", "action": "next"})
    versions = sorted(Response.objects.values_list("survey_version", flat=True))
    assert versions == [nps_survey.version - 1, nps_survey.version]


def test_merging_customers_moves_their_responses(client, invitation, customer):
    from journeys.services import customer_merge

    client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "8", "action": "next"}
    )
    survivor = customer_create(name="Dirk", email="dirk.devries@example.nl")
    customer_merge(survivor=survivor, merged=customer, choices={}, actor=None)
    assert Response.objects.get().customer_id == survivor.pk


@pytest.mark.parametrize(
    "params",
    [{"customer": "²"}, {"customer": "0"}, {"until": "9999-12-31"}, {"since": "0001-01-01"}],
)
def test_odd_filters_never_break_the_responses_page(
    client, cx_lead, nps_survey, invitation, params
):
    client.post(
        _url(invitation.token), {"question": "recommend", "q-recommend": "8", "action": "next"}
    )
    client.force_login(cx_lead)
    page = client.get(reverse("surveys:response-list", args=[nps_survey.pk]), params)
    assert page.status_code == 200
    export = client.get(reverse("surveys:response-export", args=[nps_survey.pk]), params)
    assert export.status_code in (200, 302)
    if params == {"customer": "0"}:
        assert "Dirk de Vries" not in page.content.decode()


def test_answers_saved_at_once_on_a_public_page_land_in_one_response(client, nps_survey):
    Survey.objects.filter(pk=nps_survey.pk).update(public_enabled=True)
    page = client.get(_url(nps_survey.public_token))
    planned = page.cookies[f"cxm_s{nps_survey.pk}"].value
    assert not Response.objects.exists()  # a visit alone writes nothing
    first = services.response_start(survey=nps_survey, language="en", token=planned)
    second = services.response_start(survey=nps_survey, language="en", token=planned)
    assert first.pk == second.pk and Response.objects.count() == 1


def test_completing_a_whole_page_takes_few_queries(
    client, nps_survey, customer, django_assert_max_num_queries
):
    Survey.objects.filter(pk=nps_survey.pk).update(display="all")
    invitation = services.invitation_create(survey=nps_survey, customer=customer)
    # Invitation, response, questions; then one transaction: the response created complete,
    # its answers, the invitation, and the timeline entry (in a savepoint).
    with django_assert_max_num_queries(11):
        reply = client.post(_url(invitation.token), {"q-recommend": "9", "q-liked": "Quick"})
    assert reply.status_code == 302 and Response.objects.get().completed_at
