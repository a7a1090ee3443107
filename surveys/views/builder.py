"""The CX lead's pages: the survey list, the builder with its live preview, personal links, and
the responses (table, one response, CSV export)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from csp.constants import SELF
from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from cxm.errors import ApplicationError
from surveys import selectors, services
from surveys.forms import (
    InvitationForm,
    QuestionForm,
    SurveyCreateForm,
    SurveySettingsForm,
    SurveyTextsForm,
    TriggerRuleForm,
)
from surveys.models import Band, Question, Survey, SurveyChannel
from surveys.presenters import condition_note
from surveys.views.respond import _render_questions, logo_file, theme_css


def _attach(form: Any, exc: ApplicationError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _survey(survey_id: int) -> Survey:
    return get_object_or_404(Survey.objects.select_related("touchpoint"), pk=survey_id)


def _language(request: HttpRequest, survey: Survey) -> str:
    wanted = request.GET.get("lang") or request.POST.get("lang") or ""
    return wanted if wanted in survey.languages else survey.default_language


@permission_required("surveys.view_survey", raise_exception=True)
def survey_list(request: HttpRequest) -> HttpResponse:
    form = SurveyCreateForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("surveys.add_survey"):
            raise Http404
        if form.is_valid():
            try:
                survey = services.survey_create(**form.cleaned_data, by=request.user)
            except ApplicationError as exc:
                _attach(form, exc)
            else:
                messages.success(
                    request, _("Survey created. Adjust its questions, then activate it.")
                )
                return redirect("surveys:survey-detail", survey_id=survey.pk)
    status = request.GET.get("status", "")
    return render(
        request,
        "surveys/survey_list.html",
        {"surveys": selectors.survey_list(status=status), "form": form, "status": status},
    )


@permission_required("surveys.view_survey", raise_exception=True)
def survey_detail(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    language = _language(request, survey)
    can_edit = request.user.has_perm("surveys.change_survey")
    texts_form = SurveyTextsForm(
        request.POST if request.method == "POST" else None,
        initial=survey.texts.get(language) or {},
    )
    if request.method == "POST":
        if not can_edit:
            raise Http404
        if texts_form.is_valid():
            try:
                services.survey_texts_update(
                    survey=survey, language=language, texts=texts_form.cleaned_data
                )
            except ApplicationError as exc:
                _attach(texts_form, exc)
            else:
                messages.success(request, _("Texts saved."))
                return redirect(
                    f"{reverse('surveys:survey-detail', args=[survey.pk])}?lang={language}"
                )
    questions = list(survey.questions.all())
    for question in questions:
        question.shown_text = question.text("text", language, survey.default_language)  # type: ignore[attr-defined]
        question.own_text = bool((question.texts.get(language) or {}).get("text"))  # type: ignore[attr-defined]
        question.condition_note = condition_note(question)  # type: ignore[attr-defined]
    names = dict(settings.LANGUAGES)
    missing = services.survey_missing_texts(survey)
    base_url = request.build_absolute_uri("/")[:-1]
    context = {
        "survey": survey,
        "language": language,
        "language_name": names.get(language, language),
        "languages": [(code, names.get(code, code)) for code in survey.languages],
        "questions": questions,
        "texts_form": texts_form,
        "missing": [(names.get(code, code), keys) for code, keys in missing.items()],
        "can_edit": can_edit,
        "public_url": base_url + reverse("surveys:respond", args=[survey.public_token]),
        "invitation_form": InvitationForm(),
        "distributions": selectors.distribution_list(survey=survey),
        "trigger_rules": survey.trigger_rules.select_related("touchpoint"),
        "trigger_form": TriggerRuleForm(),
        "preview_url": f"{reverse('surveys:survey-preview', args=[survey.pk])}?lang={language}",
    }
    return render(request, "surveys/survey_detail.html", context)


@permission_required("surveys.change_survey", raise_exception=True)
def survey_settings(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    form = SurveySettingsForm.for_survey(survey, request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_update(survey=survey, **form.service_values(), by=request.user)
        except ApplicationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _("Settings saved."))
            return redirect("surveys:survey-detail", survey_id=survey.pk)
    return render(request, "surveys/survey_settings.html", {"survey": survey, "form": form})


@permission_required("surveys.change_survey", raise_exception=True)
def question_edit(
    request: HttpRequest, survey_id: int, question_id: int | None = None
) -> HttpResponse:
    survey = _survey(survey_id)
    language = _language(request, survey)
    questions = list(survey.questions.all())
    question = None
    if question_id is not None:
        question = next((q for q in questions if q.pk == question_id), None)
        if question is None:
            raise Http404
    earlier = [q for q in questions if question is None or q.position < question.position]
    data = request.POST if request.method == "POST" else None
    if question is None:
        form = QuestionForm(
            data,
            initial={"type": Question.Type.LONG_TEXT, "key": f"q{len(questions) + 1}"},
            earlier=earlier,
        )
    else:
        form = QuestionForm.for_question(question, language, earlier, data)
        if survey.is_live or language != survey.default_language:
            # Structure is set in the default language, and fixed once live: show it, read-only.
            for name in QuestionForm.STRUCTURE:
                form.fields[name].disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            services.question_save(
                survey=survey, question=question, language=language, **form.service_values()
            )
        except ApplicationError as exc:
            field = {"scale": "scale", "condition_min": "condition_min"}.get(
                exc.field or "", exc.field
            )
            _attach(form, ApplicationError(exc.message, field=field))
        else:
            messages.success(request, _("Question saved."))
            return redirect(f"{reverse('surveys:survey-detail', args=[survey.pk])}?lang={language}")
    names = dict(settings.LANGUAGES)
    return render(
        request,
        "surveys/question_form.html",
        {
            "survey": survey,
            "question": question,
            "form": form,
            "language": language,
            "language_name": names.get(language, language),
            "is_default": language == survey.default_language,
        },
    )


def _back(survey: Survey, request: HttpRequest) -> HttpResponse:
    language = _language(request, survey)
    return redirect(f"{reverse('surveys:survey-detail', args=[survey.pk])}?lang={language}")


@require_POST
@permission_required("surveys.change_survey", raise_exception=True)
def question_delete(request: HttpRequest, survey_id: int, question_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    question = get_object_or_404(Question, pk=question_id, survey=survey)
    try:
        services.question_delete(question=question)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Question deleted."))
    return _back(survey, request)


@require_POST
@permission_required("surveys.change_survey", raise_exception=True)
def question_move(request: HttpRequest, survey_id: int, question_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    question = get_object_or_404(Question, pk=question_id, survey=survey)
    try:
        services.question_move(question=question, up=request.POST.get("direction") == "up")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return _back(survey, request)


@require_POST
@permission_required("surveys.change_survey", raise_exception=True)
def survey_status(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    try:
        survey = services.survey_status_change(
            survey=survey, status=request.POST.get("status", ""), by=request.user
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        texts: dict[str, str] = {
            Survey.Status.ACTIVE: _("The survey is active and takes answers."),
            Survey.Status.CLOSED: _("The survey is closed; its links show a friendly closed page."),
        }
        messages.success(request, texts[survey.status])
    return _back(survey, request)


@require_POST
@permission_required("surveys.add_survey", raise_exception=True)
def survey_duplicate(request: HttpRequest, survey_id: int) -> HttpResponse:
    copy = services.survey_duplicate(survey=_survey(survey_id), by=request.user)
    messages.success(request, _("This is a draft copy; change it freely."))
    return redirect("surveys:survey-detail", survey_id=copy.pk)


@require_POST
@permission_required("surveys.add_invitation", raise_exception=True)
def invitation_create(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    form = InvitationForm(request.POST)
    link = ""
    if form.is_valid():
        customer = selectors.customer_find(value=form.cleaned_data["customer"])
        if customer is None:
            form.add_error("customer", _("No customer has this email address, phone or id."))
        else:
            try:
                invitation = services.invitation_create(survey=survey, customer=customer)
            except ApplicationError as exc:
                _attach(form, exc)
            else:
                link = request.build_absolute_uri(
                    reverse("surveys:respond", args=[invitation.token])
                )
    return render(
        request,
        "surveys/_invitation.html",
        {"survey": survey, "invitation_form": form, "link": link},
    )


@xframe_options_sameorigin
@csp_replace({"frame-ancestors": [SELF]})  # type: ignore[arg-type]
@permission_required("surveys.view_survey", raise_exception=True)
def survey_preview(request: HttpRequest, survey_id: int) -> HttpResponse:
    """The respondent page as it will look, in one language; nothing is saved."""
    survey = _survey(survey_id)
    language = _language(request, survey)
    questions = list(survey.questions.all())
    with translation.override(language):
        if not questions:
            return render(
                request,
                "surveys/respond/message.html",
                {"heading": _("No questions yet"), "message": _("Add a question to preview it.")},
            )
        current = next((q for q in questions if q.key == request.GET.get("q")), questions[0])
        return _render_questions(
            request, survey, questions, None, language, "", current=current, preview=True
        )


@permission_required("surveys.view_survey", raise_exception=True)
def survey_theme(request: HttpRequest, survey_id: int) -> HttpResponse:
    return theme_css(_survey(survey_id))


@permission_required("surveys.view_survey", raise_exception=True)
def survey_logo(request: HttpRequest, survey_id: int) -> HttpResponseBase:
    return logo_file(_survey(survey_id))


def _filters(
    request: HttpRequest, survey: Survey
) -> tuple[selectors.ResponseFilters, dict[str, str]]:
    return selectors.ResponseFilters.parse(request.GET, survey)


@permission_required("surveys.view_response", raise_exception=True)
def response_list(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(survey_id)
    filters, errors = _filters(request, survey)
    before = request.GET.get("before", "")
    page, next_before = selectors.response_page(
        survey=survey, filters=filters, before=int(before) if before.isdigit() else None
    )
    for error in errors.values():
        messages.error(request, error)
    params = {k: v for k, v in request.GET.items() if k != "before" and k not in errors}
    names = dict(settings.LANGUAGES)
    context = {
        "survey": survey,
        "responses": page,
        "next_before": next_before,
        "query": urlencode(params),
        "params": params,
        "bands": Band.choices,
        "channels": SurveyChannel.choices,
        "languages": [(code, names.get(code, code)) for code in survey.languages],
        "errors": errors,
        "can_export": request.user.has_perm("surveys.export_responses"),
    }
    return render(request, "surveys/response_list.html", context)


@permission_required("surveys.view_response", raise_exception=True)
def response_detail(request: HttpRequest, response_id: int) -> HttpResponse:
    try:
        response, rows = selectors.response_detail(response_id=response_id)
    except selectors.Response.DoesNotExist:
        raise Http404 from None
    language = translation.get_language()
    answers = [
        {
            "question": question,
            "text": question.text("text", language, response.survey.default_language),
            "answer": selectors.answer_display(question, answer, language),
            "skipped": answer is not None
            and not selectors.answer_display(question, answer, language),
            "given": answer is not None,
        }
        for question, answer in rows
    ]
    return render(
        request,
        "surveys/response_detail.html",
        {"response": response, "survey": response.survey, "answers": answers},
    )


@permission_required("surveys.export_responses", raise_exception=True)
def response_export(request: HttpRequest, survey_id: int) -> HttpResponseBase:
    survey = _survey(survey_id)
    filters, errors = _filters(request, survey)
    if errors:
        for error in errors.values():
            messages.error(request, error)
        return redirect("surveys:response-list", survey_id=survey.pk)
    return selectors.responses_csv_download(survey=survey, filters=filters)
