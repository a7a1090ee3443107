from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cxm.errors import ApplicationError
from surveys import services
from surveys.models import Question, Survey

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _settings(survey: Survey, **changes):
    values = {
        "name": survey.name,
        "default_language": survey.default_language,
        "languages": survey.languages,
        "touchpoint": survey.touchpoint,
        "display": survey.display,
        "public_enabled": survey.public_enabled,
        "one_response_per_browser": survey.one_response_per_browser,
        "expires_at": survey.expires_at,
        "accent_color": survey.accent_color,
        "thank_you_links": survey.thank_you_links,
    }
    values.update(changes)
    return values


def test_templates_start_in_each_language_of_the_survey(cx_lead):
    survey = services.survey_create(
        name="Shop visit",
        kind="visit_intent",
        default_language="nl",
        languages=["en", "fy"],
        by=cx_lead,
    )
    reason, fulfilled, missing = survey.questions.all()
    assert survey.languages == ["nl", "en", "fy"]
    assert reason.metric == "visit_reason" and reason.type == "single_other"
    assert reason.texts["nl"]["text"] != reason.texts["en"]["text"]
    assert [c["key"] for c in reason.choices] == ["buy", "information", "support", "browse"]
    assert set(reason.choices[0]["labels"]) == {"nl", "en", "fy"}
    assert fulfilled.type == "yes_no" and fulfilled.metric == "visit_fulfilled"
    assert missing.condition == {"question": "fulfilled", "values": ["no"]}
    assert len(survey.public_token) >= 22


def test_nps_template_asks_why_per_group(cx_lead):
    survey = services.survey_create(
        name="NPS", kind="nps", default_language="en", languages=[], by=cx_lead
    )
    conditions = {q.key: q.condition for q in survey.questions.all()}
    assert conditions["improve"] == {"question": "recommend", "min": 0, "max": 6}
    assert conditions["liked"] == {"question": "recommend", "min": 9, "max": 10}


def test_every_question_type_can_be_added(cx_lead):
    survey = services.survey_create(
        name="All types", kind="blank", default_language="en", languages=["ro"], by=cx_lead
    )
    cases = [
        ("nps", None, []),
        ("rating", (1, 7), []),
        ("ces", (1, 5), []),
        ("single", None, ["Red", "Blue"]),
        ("multiple", None, ["Fast", "Cheap", "Good"]),
        ("single_other", None, ["Shop", "Web"]),
        ("yes_no", None, []),
        ("short_text", None, []),
        ("long_text", None, []),
    ]
    for type_, scale, labels in cases:
        services.question_save(
            survey=survey,
            language="en",
            key=type_,
            type=type_,
            required=False,
            scale=scale,
            texts={"text": f"A {type_} question"},
            choice_labels=labels,
        )
    saved = {q.key: q for q in survey.questions.all()}
    assert (saved["nps"].scale_min, saved["nps"].scale_max) == (0, 10)
    assert (saved["rating"].scale_min, saved["rating"].scale_max) == (1, 7)
    assert [c["key"] for c in saved["multiple"].choices] == ["fast", "cheap", "good"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "rating", "scale": (2, 9)}, "scale"),
        ({"type": "single", "choice_labels": ["Only one"]}, "choices"),
        ({"texts": {"text": ""}}, "text"),
        ({"texts": {"text": "x" * 501}}, "text"),
        ({"key": "recommend"}, "key"),
        ({"condition": {"question": "recommend", "min": 5, "max": 11}}, "condition_min"),
        ({"condition": {"question": "nope", "min": 1, "max": 2}}, "condition_question"),
        ({"condition": {"question": "recommend"}}, "condition_min"),
    ],
)
def test_bad_questions_are_refused_naming_the_field(cx_lead, changes, field):
    survey = services.survey_create(
        name="NPS", kind="nps", default_language="en", languages=[], by=cx_lead
    )
    values = {
        "survey": survey,
        "language": "en",
        "key": "new",
        "type": "long_text",
        "required": False,
        "texts": {"text": "Anything else?"},
        "choice_labels": [],
    }
    values.update(changes)
    with pytest.raises(ApplicationError) as error:
        services.question_save(**values)
    assert error.value.field == field


def test_condition_on_a_choice_must_name_its_keys(cx_lead):
    survey = services.survey_create(
        name="Visit", kind="visit_intent", default_language="en", languages=[], by=cx_lead
    )
    with pytest.raises(ApplicationError) as error:
        services.question_save(
            survey=survey,
            language="en",
            key="more",
            type="long_text",
            required=False,
            texts={"text": "More?"},
            condition={"question": "reason", "values": ["shoes"]},
        )
    assert "buy" in error.value.message and error.value.field == "condition_values"
    question = services.question_save(
        survey=survey,
        language="en",
        key="more",
        type="long_text",
        required=False,
        texts={"text": "More?"},
        condition={"question": "reason", "values": ["other"]},
    )
    assert question.condition == {"question": "reason", "values": ["other"]}


def test_live_survey_takes_text_fixes_but_not_type_changes(nps_survey):
    question = nps_survey.questions.get(key="recommend")
    version = nps_survey.version
    services.question_save(
        survey=nps_survey,
        question=question,
        language="nl",
        key="recommend",
        type="nps",
        required=True,
        metric="nps",
        texts={"text": "Hoe waarschijnlijk is het dat u ons aanbeveelt?"},
    )
    nps_survey.refresh_from_db()
    assert nps_survey.version == version + 1
    with pytest.raises(ApplicationError) as error:
        services.question_save(
            survey=nps_survey,
            question=question,
            language="en",
            key="recommend",
            type="rating",
            scale=(1, 5),
            required=True,
            metric="nps",
            texts={"text": "Rate us"},
        )
    assert error.value.field == "type" and "duplicate" in error.value.message
    with pytest.raises(ApplicationError):
        services.question_delete(question=question)


def test_live_choice_question_may_only_grow(cx_lead):
    survey = services.survey_create(
        name="Visit", kind="visit_intent", default_language="en", languages=[], by=cx_lead
    )
    services.survey_status_change(survey=survey, status="active", by=cx_lead)
    reason = survey.questions.get(key="reason")
    labels = [c["labels"]["en"] for c in reason.choices]
    common = {
        "survey": survey,
        "question": reason,
        "language": "en",
        "key": "reason",
        "type": "single_other",
        "required": True,
        "metric": "visit_reason",
        "texts": {"text": "Why did you come?"},
    }
    services.question_save(**common, choice_labels=[*labels, "To return something"])
    reason.refresh_from_db()
    assert reason.choices[-1]["key"] == "to-return-something"
    with pytest.raises(ApplicationError):
        services.question_save(**common, choice_labels=labels[:2])


def test_translations_missing_are_listed_per_language(cx_lead):
    survey = services.survey_create(
        name="NPS", kind="nps", default_language="en", languages=["nl"], by=cx_lead
    )
    assert services.survey_missing_texts(survey) == {}
    services.question_save(
        survey=survey,
        language="en",
        key="extra",
        type="short_text",
        required=False,
        texts={"text": "Anything else?"},
    )
    assert services.survey_missing_texts(survey) == {"nl": ["extra"]}


def test_choice_translation_needs_every_choice_in_order(cx_lead):
    survey = services.survey_create(
        name="Visit", kind="visit_intent", default_language="en", languages=["nl"], by=cx_lead
    )
    reason = survey.questions.get(key="reason")
    common = {
        "survey": survey,
        "question": reason,
        "language": "nl",
        "key": "reason",
        "type": "single_other",
        "required": True,
        "metric": "visit_reason",
        "texts": {"text": "Waarom kwam u?"},
    }
    with pytest.raises(ApplicationError) as error:
        services.question_save(**common, choice_labels=["Kopen"])
    assert error.value.field == "choices"
    services.question_save(**common, choice_labels=["Kopen", "Info", "Hulp", "Kijken"])
    reason.refresh_from_db()
    assert reason.choices[0] == {"key": "buy", "labels": {"en": "To buy something", "nl": "Kopen"}}


def test_activation_needs_questions(cx_lead):
    survey = services.survey_create(
        name="Empty", kind="blank", default_language="en", languages=[], by=cx_lead
    )
    with pytest.raises(ApplicationError):
        services.survey_status_change(survey=survey, status="active", by=cx_lead)


def test_moving_a_question_above_what_it_depends_on_is_refused(cx_lead):
    survey = services.survey_create(
        name="NPS", kind="nps", default_language="en", languages=[], by=cx_lead
    )
    improve = survey.questions.get(key="improve")
    with pytest.raises(ApplicationError):
        services.question_move(question=improve, up=True)
    liked = survey.questions.get(key="liked")
    services.question_move(question=liked, up=True)
    assert list(survey.questions.values_list("key", flat=True)) == [
        "recommend",
        "improve",
        "liked",
        "ten",
    ]


def test_duplicate_is_a_draft_with_new_links(nps_survey, cx_lead):
    copy = services.survey_duplicate(survey=nps_survey, by=cx_lead)
    assert copy.status == "draft" and copy.public_token != nps_survey.public_token
    assert copy.questions.count() == nps_survey.questions.count()


def test_branding_is_checked(nps_survey, cx_lead):
    with pytest.raises(ApplicationError) as error:
        services.survey_update(
            survey=nps_survey, **_settings(nps_survey, accent_color="#ffff00"), by=cx_lead
        )
    assert error.value.field == "accent_color" and "4.5:1" in error.value.message
    with pytest.raises(ApplicationError) as error:
        services.survey_update(
            survey=nps_survey,
            **_settings(nps_survey),
            by=cx_lead,
            logo=SimpleUploadedFile("logo.svg", b"<svg onload=alert(1)>"),
        )
    assert error.value.field == "logo"
    with pytest.raises(ApplicationError) as error:
        services.survey_update(
            survey=nps_survey,
            **_settings(nps_survey, thank_you_links={"positive": "javascript:x"}),
            by=cx_lead,
        )
    survey = services.survey_update(
        survey=nps_survey,
        **_settings(
            nps_survey,
            accent_color="#7A1F5C",
            thank_you_links={"positive": "https://reviews.example/us"},
        ),
        logo=SimpleUploadedFile("logo.png", PNG, content_type="image/png"),
        by=cx_lead,
    )
    assert survey.accent_color == "#7a1f5c" and survey.logo.name.endswith(".png")


def test_builder_pages_need_the_right_role(client, agent, nps_survey):
    client.force_login(agent)
    assert client.get(reverse("surveys:survey-detail", args=[nps_survey.pk])).status_code == 200
    assert client.get(reverse("surveys:survey-settings", args=[nps_survey.pk])).status_code == 403
    assert (
        client.post(
            reverse("surveys:survey-status", args=[nps_survey.pk]), {"status": "closed"}
        ).status_code
        == 403
    )
    assert client.get(reverse("surveys:response-export", args=[nps_survey.pk])).status_code == 403


def test_lead_builds_a_survey_through_the_pages(client, cx_lead):
    client.force_login(cx_lead)
    reply = client.post(
        reverse("surveys:survey-list"),
        {"name": "After delivery", "kind": "csat", "default_language": "en", "languages": ["nl"]},
    )
    survey = Survey.objects.get(name="After delivery")
    assert reply.status_code == 302
    reply = client.post(
        reverse("surveys:question-new", args=[survey.pk]) + "?lang=en",
        {
            "text": "Which product?",
            "type": "single",
            "key": "product",
            "choices": "Sofa\nChair",
            "condition_question": "satisfaction",
            "condition_min": "1",
            "condition_max": "2",
        },
    )
    assert reply.status_code == 302, reply.content.decode()[:2000]
    product = survey.questions.get(key="product")
    assert product.condition == {"question": "satisfaction", "min": 1, "max": 2}
    reply = client.post(
        reverse("surveys:question-edit", args=[survey.pk, product.pk]) + "?lang=nl",
        {
            "text": "Welk product?",
            "type": "single",
            "key": "product",
            "choices": "Bank\nStoel",
            "condition_question": "satisfaction",
            "condition_min": "1",
            "condition_max": "2",
            "lang": "nl",
        },
    )
    assert reply.status_code == 302
    product.refresh_from_db()
    assert product.texts["nl"]["text"] == "Welk product?"
    assert product.choices[1]["labels"] == {"en": "Chair", "nl": "Stoel"}
    page = client.get(reverse("surveys:survey-detail", args=[survey.pk]) + "?lang=nl")
    assert "Welk product?" in page.content.decode()
    preview = client.get(reverse("surveys:survey-preview", args=[survey.pk]) + "?lang=nl&q=product")
    assert "Welk product?" in preview.content.decode() and "Stoel" in preview.content.decode()
    assert preview["X-Frame-Options"] == "SAMEORIGIN"
    client.post(reverse("surveys:survey-status", args=[survey.pk]), {"status": "active"})
    survey.refresh_from_db()
    assert survey.status == "active"


def test_question_form_shows_the_error_beside_the_field(client, cx_lead, nps_survey):
    client.force_login(cx_lead)
    reply = client.post(
        reverse("surveys:question-new", args=[nps_survey.pk]),
        {"text": "Pick", "type": "single", "key": "pick", "choices": "One"},
    )
    assert reply.status_code == 200
    assert "Give at least two choices" in reply.content.decode()
    assert not Question.objects.filter(key="pick").exists()


def test_progress_counts_follow_ups_that_may_still_come(cx_lead):
    from surveys.scoring import possible_questions, visible_questions

    survey = services.survey_create(
        name="NPS", kind="nps", default_language="en", languages=[], by=cx_lead
    )
    questions = list(survey.questions.all())
    keys = lambda qs: [q.key for q in qs]  # noqa: E731
    assert keys(visible_questions(questions, {})) == ["recommend"]
    assert keys(possible_questions(questions, {})) == ["recommend", "improve", "ten", "liked"]
    assert keys(possible_questions(questions, {"recommend": 9})) == ["recommend", "liked"]
    assert keys(possible_questions(questions, {"recommend": ""})) == ["recommend"]
