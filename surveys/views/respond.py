"""The respondent's pages at ``/s/<token>/``: no login, mobile first, working without JavaScript.

A token is a personal invitation's or a survey's public-link token (128 random bits); anything
else, or a public link that is switched off, gets the same "not valid" page, so nobody learns
whether a survey exists. A GET never stores anything (mail scanners open links); a one-click
score link preselects the score and the page's script posts it, or the person taps Next.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from cxm.errors import ApplicationError
from surveys import services
from surveys.answers import AnswerValue, answer_parse
from surveys.models import Invitation, Question, Response, Survey, SurveyChannel
from surveys.presenters import QuestionView, question_views
from surveys.scoring import possible_questions, visible_questions
from surveys.services import distribution as distribution_services

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
RESPONSE_COOKIE = "cxm_s{survey_id}"
BROWSER_COOKIE = "cxm_b"
COOKIE_AGE = 90 * 24 * 3600
RATE_PUBLIC = "30/m"  # answers posted from one address to public links
RATE_INVITED = "120/m"
# One-click unsubscribes come from mailbox providers' few addresses: a generous limit.
RATE_UNSUBSCRIBE = "1200/m"
# A finished respondent coming back soon after sees the thank-you page, later "already answered".
THANKS_FOR = dt.timedelta(minutes=30)
RATE_BAD_TOKEN = "60/m"  # noqa: S105 - a rate, not a secret


def _resolve(token: str) -> tuple[Survey, Invitation | None] | None:
    if not TOKEN_RE.match(token):
        return None
    invitation = (
        Invitation.objects.select_related("survey", "customer", "touchpoint")
        .filter(token=token)
        .first()
    )
    if invitation is not None:
        return invitation.survey, invitation
    survey = Survey.objects.filter(public_token=token, public_enabled=True).first()
    return (survey, None) if survey else None


def _response_for(
    request: HttpRequest, survey: Survey, invitation: Invitation | None
) -> Response | None:
    if invitation is not None:
        found = Response.objects.filter(invitation=invitation).first()
        if found is not None:
            # Already loaded with the invitation: no query per use.
            found.survey = survey
            found.customer = invitation.customer
            found.touchpoint = invitation.touchpoint
        return found
    token = request.COOKIES.get(RESPONSE_COOKIE.format(survey_id=survey.pk), "")
    if TOKEN_RE.match(token):
        found = Response.objects.filter(survey=survey, token=token).first()
        if found is not None:
            return found
    browser = request.COOKIES.get(BROWSER_COOKIE, "")
    if survey.one_response_per_browser and TOKEN_RE.match(browser):
        return Response.objects.filter(survey=survey, browser_id=browser).first()
    return None


def _language(
    request: HttpRequest, survey: Survey, invitation: Invitation | None, response: Response | None
) -> str:
    wanted = [request.POST.get("lang", "") or request.GET.get("lang", "")]
    if response is not None:
        wanted.append(response.language)
    if invitation is not None:
        wanted.append(invitation.language)
        customer = invitation.customer
    else:
        customer = None
        wanted.append(translation.get_language_from_request(request))
    return services.language_for(survey, wanted=wanted, customer=customer)


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    page = render(request, template, context, status=status)
    page["Cache-Control"] = "no-store"
    page["X-Robots-Tag"] = "noindex"
    return page


def _bad_token_limited(request: HttpRequest) -> bool:
    """Counts a token that matched nothing, on every public survey URL; True once over the limit."""
    return is_ratelimited(
        request, group="surveys-bad-token", key="ip", rate=RATE_BAD_TOKEN, increment=True
    )


def _message(
    request: HttpRequest, heading: str, message: str, *, status: int = 200, **context: Any
) -> HttpResponse:
    return _page(
        request,
        "surveys/respond/message.html",
        {**context, "heading": heading, "message": message},
        status=status,
    )


def _missing(request: HttpRequest) -> HttpResponse:
    language = translation.get_language_from_request(request)
    with translation.override(language):
        if _bad_token_limited(request):
            return _message(
                request, _("Too many requests"), _("Wait a minute and try again."), status=429
            )
        return _message(
            request,
            _("This link is not valid"),
            _("Check that you copied the whole link from your message."),
            status=404,
        )


def _base_context(
    survey: Survey, language: str, token: str, *, preview: bool = False
) -> dict[str, Any]:
    if preview:
        theme = reverse("surveys:survey-theme", args=[survey.pk])
        logo = reverse("surveys:survey-logo", args=[survey.pk]) if survey.logo else ""
        languages_base = reverse("surveys:survey-preview", args=[survey.pk])
    else:
        theme = reverse("surveys:respond-theme", args=[token])
        logo = reverse("surveys:respond-logo", args=[token]) if survey.logo else ""
        languages_base = reverse("surveys:respond", args=[token])
    names = dict(settings.LANGUAGES)
    return {
        "survey": survey,
        "language": language,
        "title": survey.text("title", language) or _("Survey"),
        "intro": survey.text("intro", language),
        "theme_url": theme,
        "logo_url": logo,
        "token": token,
        "preview": preview,
        "language_links": [
            {
                "code": code,
                "name": translation.get_language_info(code)["name_local"],
                "current": code == language,
                "url": f"{languages_base}?lang={code}",
            }
            for code in survey.languages
            if code in names
        ]
        if len(survey.languages) > 1
        else [],
    }


def _thanks(request: HttpRequest, survey: Survey, response: Response, token: str) -> HttpResponse:
    language = translation.get_language()
    link = survey.thank_you_links.get(response.band, "")
    context = {
        **_base_context(survey, language, token),
        "message": survey.text("thank_you", language) or _("Thank you for your feedback!"),
        "link": link,
        "link_label": survey.text("review_label", language) or _("Leave us a review"),
        "again_url": (
            f"{reverse('surveys:respond', args=[token])}?new=1"
            if response.invitation_id is None and not survey.one_response_per_browser
            else ""
        ),
    }
    return _page(request, "surveys/respond/thanks.html", context)


def _set_cookies(page: HttpResponseBase, survey: Survey, response: Response, browser: str) -> None:
    if response.invitation_id:
        return
    cookies = [(RESPONSE_COOKIE.format(survey_id=survey.pk), response.token)]
    if browser:
        cookies.append((BROWSER_COOKIE, browser))
    for name, value in cookies:
        page.set_cookie(
            name,
            value,
            max_age=COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            path="/s/",
        )


def _browser_id(request: HttpRequest) -> str:
    value = request.COOKIES.get(BROWSER_COOKIE, "")
    return value if TOKEN_RE.match(value) else services.new_token()


def _planned_token(request: HttpRequest, survey: Survey) -> str | None:
    """The response key this page handed out before any answer was stored (see ``_get``)."""
    value = request.COOKIES.get(RESPONSE_COOKIE.format(survey_id=survey.pk), "")
    return value if TOKEN_RE.match(value) else None


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def respond(request: HttpRequest, token: str) -> HttpResponse:
    found = _resolve(token)
    if found is None:
        return _missing(request)
    survey, invitation = found
    if request.GET.get("new") == "1" and invitation is None and not survey.one_response_per_browser:
        # A shared device on a public link: forget this browser's finished response.
        fresh = redirect(reverse("surveys:respond", args=[token]))
        fresh.delete_cookie(RESPONSE_COOKIE.format(survey_id=survey.pk), path="/s/")
        return fresh
    response = _response_for(request, survey, invitation)
    language = _language(request, survey, invitation, response)
    with translation.override(language):
        if response is not None and response.completed_at is not None:
            just_now = response.completed_at > timezone.now() - THANKS_FOR
            if request.method == "POST" or just_now or not survey.one_response_per_browser:
                return _thanks(request, survey, response, token)
            return _message(
                request,
                _("You have already answered"),
                _("Thank you! Your answers were recorded."),
                **_base_context(survey, language, token),
            )
        if not services.survey_is_open(survey, invitation):
            return _message(
                request,
                _("This survey is closed"),
                _("Thank you for your interest. It no longer takes answers."),
                status=410,
                **_base_context(survey, language, token),
            )
        if request.method == "POST":
            rate = RATE_INVITED if invitation else RATE_PUBLIC
            if is_ratelimited(request, group="surveys-answer", key="ip", rate=rate, increment=True):
                return _message(
                    request, _("Too many requests"), _("Wait a minute and try again."), status=429
                )
            return _post(request, survey, invitation, response, language, token)
        page = _get(request, survey, response, language, token)
        if invitation is None and response is None:
            # Answers saved at the same moment (the one-page form saves each as it is given)
            # must land in one response: the page hands out its key now, stored at the first
            # answer. Nothing is written to the database for a visit without answers.
            planned = Response(token=_planned_token(request, survey) or services.new_token())
            _set_cookies(page, survey, planned, _browser_id(request))
        return page


def _answer_rows(response: Response | None) -> dict[int, Any]:
    return {a.question_id: a for a in response.answers.all()} if response else {}


def _render_questions(
    request: HttpRequest,
    survey: Survey,
    questions: list[Question],
    response: Response | None,
    language: str,
    token: str,
    *,
    current: Question | None = None,
    errors: dict[str, str] | None = None,
    posted: dict[str, AnswerValue] | None = None,
    preselect: int | None = None,
    preview: bool = False,
    status: int = 200,
) -> HttpResponse:
    rows = _answer_rows(response)
    given = services.given_answers(response, questions) if response else {}
    if posted:
        given.update({q.key: posted[q.key].comparable(q) for q in questions if q.key in posted})
    visible = visible_questions(questions, given)
    shown = questions if survey.display == Survey.Display.ALL or preview else visible
    views = question_views(shown, survey, language, rows)
    by_key: dict[str, QuestionView] = {v.key: v for v in views}
    for key, value in (posted or {}).items():
        if key in by_key:
            question = next(q for q in questions if q.key == key)
            by_key[key].value = value.comparable(question)
            by_key[key].other_text = value.text if "other" in value.choices else ""
    for key, message in (errors or {}).items():
        if key in by_key:
            by_key[key].error = message
    context = _base_context(survey, language, token, preview=preview)
    if survey.display == Survey.Display.ALL:
        context.update({"mode": "all", "questions": views})
    else:
        assert current is not None
        view = by_key[current.key]
        if not preview:
            # Count what may still come: a follow-up whose condition is not decided yet.
            shown = possible_questions(questions, given)
        index = [q.key for q in shown].index(current.key)
        if preselect is not None:
            view.value = preselect
        context.update(
            {
                "mode": "one",
                "question": view,
                "position": index + 1,
                "total": len(shown),
                "percent": round(100 * index / max(len(shown), 1)),
                "previous": shown[index - 1].key if index > 0 else "",
                "next": shown[index + 1].key if index + 1 < len(shown) else "",
                "autosubmit": preselect is not None,
            }
        )
    context["has_errors"] = bool(errors)
    return _page(request, "surveys/respond/page.html", context, status=status)


def _get(
    request: HttpRequest, survey: Survey, response: Response | None, language: str, token: str
) -> HttpResponse:
    questions = list(survey.questions.all())
    if not questions:
        raise Http404
    if survey.display == Survey.Display.ALL:
        return _render_questions(request, survey, questions, response, language, token)
    given = services.given_answers(response, questions) if response else {}
    visible = visible_questions(questions, given)
    rows = _answer_rows(response)
    wanted = request.GET.get("q", "")
    current = next((q for q in visible if q.key == wanted), None)
    if current is None:
        current = next((q for q in visible if q.pk not in rows), None)
    if current is None:
        # Everything shown was answered but the response never completed (a lost request).
        return _complete(request, survey, response, questions, language, token)  # type: ignore[arg-type]
    preselect = None
    score = request.GET.get("score", "")
    if current.is_scored and score.lstrip("-").isdigit():
        number = int(score)
        if current.scale_min <= number <= current.scale_max:  # type: ignore[operator]
            preselect = number
    return _render_questions(
        request, survey, questions, response, language, token, current=current, preselect=preselect
    )


def _post(
    request: HttpRequest,
    survey: Survey,
    invitation: Invitation | None,
    response: Response | None,
    language: str,
    token: str,
) -> HttpResponse:
    questions = list(survey.questions.all())
    browser = "" if invitation else _browser_id(request)
    if response is None and survey.display == Survey.Display.ALL:
        done = _post_all_at_once(request, survey, invitation, questions, language, browser)
        if done is not None:
            finished = redirect(reverse("surveys:respond", args=[token]))
            _set_cookies(finished, survey, done, browser)
            return finished
    if response is None:
        response = services.response_start(
            survey=survey,
            language=language,
            invitation=invitation,
            browser_id=browser or None,
            token=None if invitation else _planned_token(request, survey),
            channel=SurveyChannel.LINK,
        )
        if response.completed_at is not None:
            page = _thanks(request, survey, response, token)
            _set_cookies(page, survey, response, browser)
            return page
    # What is stored already: nothing for a response this request started.
    fresh = getattr(response, "just_created", False)
    stored = {} if fresh else services.given_answers(response, questions)
    if survey.display == Survey.Display.ALL:
        page = _post_all(request, survey, questions, response, language, token, stored)
    else:
        page = _post_one(request, survey, questions, response, language, token, stored)
    _set_cookies(page, survey, response, browser)
    return page


def _post_all_at_once(
    request: HttpRequest,
    survey: Survey,
    invitation: Invitation | None,
    questions: list[Question],
    language: str,
    browser: str,
) -> Response | None:
    """The one-page form sent whole before anything was saved: one transaction creates the
    response complete. None when the answers need attention or a response exists after all;
    the usual path then shows the errors or completes that response."""
    values: dict[Question, AnswerValue] = {}
    try:
        for question in questions:
            values[question] = answer_parse(question, request.POST)
        given = {q.key: v.comparable(q) for q, v in values.items()}
        shown = {q: values[q] for q in visible_questions(questions, given)}
        return services.response_create_complete(
            survey=survey,
            questions=questions,
            values=shown,
            language=language,
            invitation=invitation,
            browser_id=browser or None,
            token=None if invitation else _planned_token(request, survey),
        )
    except ApplicationError:
        return None


def _post_one(
    request: HttpRequest,
    survey: Survey,
    questions: list[Question],
    response: Response,
    language: str,
    token: str,
    stored: dict[str, Any],
) -> HttpResponse:
    base = reverse("surveys:respond", args=[token])
    given = dict(stored)
    visible = visible_questions(questions, given)
    question = next((q for q in visible if q.key == request.POST.get("question")), None)
    if question is None:
        return redirect(base)
    keys = [q.key for q in visible]
    if request.POST.get("action") == "back":
        index = keys.index(question.key)
        return redirect(f"{base}?q={keys[max(index - 1, 0)]}")
    try:
        value = answer_parse(question, request.POST)
        if value.is_empty and question.required:
            raise ApplicationError(_("This question needs an answer."), field=question.key)
    except ApplicationError as exc:
        return _render_questions(
            request, survey, questions, response, language, token,
            current=question, errors={question.key: exc.message}, status=400,
        )  # fmt: skip
    given[question.key] = value.comparable(question)
    following = [q for q in visible_questions(questions, given) if q.position > question.position]
    if following:
        services.answers_record(
            response=response, values={question: value}, language=language, questions=questions
        )
        return redirect(f"{base}?q={following[0].key}")
    # The last question: its answer and the completion in one transaction.
    return _submit(request, survey, questions, response, language, token, {question: value}, stored)


def _post_all(
    request: HttpRequest,
    survey: Survey,
    questions: list[Question],
    response: Response,
    language: str,
    token: str,
    stored: dict[str, Any],
) -> HttpResponse:
    values: dict[str, AnswerValue] = {}
    errors: dict[str, str] = {}
    for question in questions:
        try:
            values[question.key] = answer_parse(question, request.POST)
        except ApplicationError as exc:
            errors[question.key] = exc.message
    given = {q.key: values[q.key].comparable(q) for q in questions if q.key in values}
    visible = visible_questions(questions, given)
    shown = {q: values[q.key] for q in visible if q.key in values}
    for question in visible:
        if question.required and question.key in values and values[question.key].is_empty:
            errors[question.key] = _("This question needs an answer.")
    errors = {key: message for key, message in errors.items() if key in {q.key for q in visible}}
    if errors:
        # Keep what was answered well; the page shows what still needs attention.
        services.answers_record(
            response=response, values=shown, language=language, questions=questions
        )
        return _render_questions(
            request, survey, questions, response, language, token,
            errors=errors, posted=values, status=400,
        )  # fmt: skip
    return _submit(request, survey, questions, response, language, token, shown, stored)


def _submit(
    request: HttpRequest,
    survey: Survey,
    questions: list[Question],
    response: Response,
    language: str,
    token: str,
    values: dict[Question, AnswerValue],
    stored: dict[str, Any],
) -> HttpResponse:
    try:
        services.response_submit(
            response=response, questions=questions, values=values, language=language, stored=stored
        )
    except ApplicationError as exc:
        services.answers_record(
            response=response, values=values, language=language, questions=questions
        )
        current = next(q for q in questions if q.key == exc.field)
        return _render_questions(
            request, survey, questions, response, language, token,
            current=current, errors={current.key: exc.message}, status=400,
        )  # fmt: skip
    return redirect(reverse("surveys:respond", args=[token]))


def _complete(
    request: HttpRequest,
    survey: Survey,
    response: Response,
    questions: list[Question],
    language: str,
    token: str,
) -> HttpResponse:
    try:
        services.response_complete(response=response, questions=questions)
    except ApplicationError as exc:
        current = next(q for q in questions if q.key == exc.field)
        return _render_questions(
            request, survey, questions, response, language, token,
            current=current, errors={current.key: exc.message}, status=400,
        )  # fmt: skip
    return redirect(reverse("surveys:respond", args=[token]))


@never_cache
@require_POST
def respond_answer(request: HttpRequest, token: str) -> HttpResponse:
    """Save one answer as it is given (the all-on-one-page form posts here on each change)."""
    found = _resolve(token)
    if found is None:
        status = 429 if _bad_token_limited(request) else 404
        return JsonResponse({"detail": _("Not found.")}, status=status)
    survey, invitation = found
    response = _response_for(request, survey, invitation)
    language = _language(request, survey, invitation, response)
    with translation.override(language):
        if not services.survey_is_open(survey, invitation):
            return _json_error(_("This survey is closed."), None, 410)
        rate = RATE_INVITED if invitation else RATE_PUBLIC
        if is_ratelimited(request, group="surveys-answer", key="ip", rate=rate, increment=True):
            return _json_error(_("Too many requests. Wait a minute and try again."), None, 429)
        questions = list(survey.questions.all())
        question = next((q for q in questions if q.key == request.POST.get("question")), None)
        if question is None:
            return _json_error(_("Unknown question."), "question", 400)
        try:
            value = answer_parse(question, request.POST)
        except ApplicationError as exc:
            return _json_error(exc.message, question.key, 400)
        browser = "" if invitation else _browser_id(request)
        if response is None:
            response = services.response_start(
                survey=survey,
                language=language,
                invitation=invitation,
                browser_id=browser or None,
                token=None if invitation else _planned_token(request, survey),
            )
        try:
            services.answers_record(
                response=response, values={question: value}, language=language, questions=questions
            )
        except ApplicationError as exc:
            return _json_error(exc.message, None, 409)
        page = HttpResponse(status=204)
        _set_cookies(page, survey, response, browser)
        return page


def _json_error(message: str, field: str | None, status: int) -> JsonResponse:
    return JsonResponse(
        {"detail": message, "errors": [{"field": field, "code": "invalid", "message": message}]},
        status=status,
    )


def theme_css(survey: Survey) -> HttpResponse:
    color = survey.accent_color
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    css = (
        ":root[data-theme] {"
        f" --cxm-accent: {color}; --pico-primary: {color};"
        f" --pico-primary-background: {color}; --pico-primary-border: {color};"
        f" --pico-primary-hover: {color}; --pico-primary-hover-background: {color};"
        f" --pico-primary-hover-border: {color}; --pico-primary-underline: {color};"
        f" --pico-primary-focus: rgba({red}, {green}, {blue}, 0.35); }}\n"
    )
    page = HttpResponse(css, content_type="text/css; charset=utf-8")
    page["Cache-Control"] = "private, max-age=300"
    return page


def logo_file(survey: Survey) -> HttpResponseBase:
    if not survey.logo:
        raise Http404
    ext = survey.logo.name.rsplit(".", 1)[-1]
    types = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
    page = FileResponse(survey.logo.open("rb"), content_type=types.get(ext, "image/png"))
    page["Cache-Control"] = "private, max-age=3600"
    return page


def _survey_of(request: HttpRequest, token: str) -> Survey:
    found = _resolve(token)
    if found is None:
        _bad_token_limited(request)
        raise Http404
    return found[0]


@require_GET
def respond_theme(request: HttpRequest, token: str) -> HttpResponse:
    return theme_css(_survey_of(request, token))


@require_GET
def respond_logo(request: HttpRequest, token: str) -> HttpResponseBase:
    return logo_file(_survey_of(request, token))


@never_cache
@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without our form; the token is the key
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The invitation's unsubscribe link: GET asks, POST (the button, or a mail client's
    one-click request) puts the address on the suppression list."""
    invitation = (
        Invitation.objects.select_related("survey", "customer").filter(token=token).first()
        if TOKEN_RE.match(token)
        else None
    )
    if invitation is None:
        return _missing(request)
    survey = invitation.survey
    language = services.language_for(
        survey, wanted=[invitation.language], customer=invitation.customer
    )
    with translation.override(language):
        context = _base_context(survey, language, token)
        context["language_links"] = []
        if request.method == "POST":
            if is_ratelimited(
                request,
                group="surveys-unsubscribe",
                key="ip",
                rate=RATE_UNSUBSCRIBE,
                increment=True,
            ):
                return _message(
                    request, _("Too many requests"), _("Wait a minute and try again."), status=429
                )
            distribution_services.invitation_unsubscribe(invitation=invitation)
            return _message(
                request,
                _("You are unsubscribed"),
                _("We will not send you surveys at this address any more."),
                **context,
            )
        return _page(request, "surveys/respond/unsubscribe.html", context)
