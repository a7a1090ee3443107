"""Reads of the surveys app: lists, filters, and the CSV export, which walks responses in keyset
chunks so memory stays flat however many there are."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.http import StreamingHttpResponse
from django.utils import timezone

from cxm import csvfile
from journeys.models import Customer
from journeys.services.customers import normalize_phone
from surveys.models import (
    Answer,
    Band,
    Distribution,
    Invitation,
    Question,
    Response,
    Survey,
    SurveyChannel,
)

EXPORT_CHUNK = 2000
PAGE_SIZE = 50


def survey_list(*, status: str = "") -> QuerySet[Survey]:
    surveys = Survey.objects.select_related("touchpoint").annotate(
        completed=Count("responses", filter=Q(responses__completed_at__isnull=False))
    )
    if status in Survey.Status.values:
        surveys = surveys.filter(status=status)
    return surveys.order_by("-id")


@dataclass(frozen=True)
class ResponseFilters:
    since: dt.date | None = None
    until: dt.date | None = None
    band: str = ""
    language: str = ""
    channel: str = ""
    state: str = ""  # "complete" or "partial"
    customer_id: int | None = None

    @classmethod
    def parse(
        cls, data: Any, survey: Survey | None = None
    ) -> tuple[ResponseFilters, dict[str, str]]:
        """Filters from query parameters, and a message per parameter that made no sense (the
        filter is then left out, never guessed)."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        from django.utils.translation import gettext as _

        for name in ("since", "until"):
            raw = (data.get(name) or "").strip()
            if raw:
                try:
                    values[name] = dt.date.fromisoformat(raw)
                except ValueError:
                    errors[name] = _("Enter a date as YYYY-MM-DD.")
                else:
                    if not dt.date(1900, 1, 1) <= values[name] <= dt.date(9000, 1, 1):
                        errors[name] = _("Enter a date between 1900 and 9000.")
                        values.pop(name)
        if values.get("since") and values.get("until") and values["since"] > values["until"]:
            errors["until"] = _("The end date is before the start date.")
            values.pop("until")
        checks = {
            "band": Band.values,
            "channel": SurveyChannel.values,
            "state": ["complete", "partial"],
            "language": survey.languages
            if survey
            else [c for c, _n in Survey._meta.get_field("default_language").choices],  # type: ignore[union-attr]
        }
        for name, allowed in checks.items():
            raw = (data.get(name) or "").strip()
            if raw and raw not in allowed:
                errors[name] = _("Unknown value “%(value)s”.") % {"value": raw[:50]}
            elif raw:
                values[name] = raw
        raw_customer = (data.get("customer") or "").strip()
        if raw_customer:
            if raw_customer.isascii() and raw_customer.isdigit() and len(raw_customer) < 19:
                values["customer_id"] = int(raw_customer)
            else:
                errors["customer"] = _("Unknown value “%(value)s”.") % {"value": raw_customer[:50]}
        return cls(**values), errors

    def apply(self, responses: QuerySet[Response]) -> QuerySet[Response]:
        tz = timezone.get_current_timezone()
        if self.since:
            responses = responses.filter(
                started_at__gte=dt.datetime.combine(self.since, dt.time.min, tzinfo=tz)
            )
        if self.until:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
            responses = responses.filter(started_at__lt=end)
        if self.band:
            responses = responses.filter(band=self.band)
        if self.language:
            responses = responses.filter(language=self.language)
        if self.channel:
            responses = responses.filter(channel=self.channel)
        if self.state == "complete":
            responses = responses.filter(completed_at__isnull=False)
        elif self.state == "partial":
            responses = responses.filter(completed_at__isnull=True)
        if self.customer_id is not None:
            responses = responses.filter(customer_id=self.customer_id)
        return responses


def response_page(
    *, survey: Survey, filters: ResponseFilters, before: int | None = None
) -> tuple[list[Response], int | None]:
    """One page of responses, newest first, and the id to continue before (keyset paging)."""
    responses = filters.apply(
        Response.objects.filter(survey=survey).select_related("customer", "touchpoint")
    )
    if before:
        responses = responses.filter(pk__lt=before)
    page = list(responses.order_by("-id")[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    _attach_comments(page, survey)
    return page, page[-1].pk if more and page else None


def _attach_comments(page: list[Response], survey: Survey) -> None:
    text_questions = [q.pk for q in survey.questions.all() if q.is_text]
    comments: dict[int, str] = {}
    if text_questions and page:
        for response_id, text in (
            Answer.objects.filter(
                response_id__in=[r.pk for r in page], question_id__in=text_questions
            )
            .exclude(text="")
            .order_by("question__position")
            .values_list("response_id", "text")
        ):
            comments.setdefault(response_id, text)
    for response in page:
        response.comment = comments.get(response.pk, "")  # type: ignore[attr-defined]


def response_detail(*, response_id: int) -> tuple[Response, list[tuple[Question, Answer | None]]]:
    response = Response.objects.select_related("survey", "customer", "touchpoint").get(
        pk=response_id
    )
    answers = {a.question_id: a for a in response.answers.all()}
    rows = [(q, answers.get(q.pk)) for q in response.survey.questions.all()]
    return response, rows


def answer_display(question: Question, answer: Answer | None, language: str) -> str:
    if answer is None:
        return ""
    if question.is_scored:
        return "" if answer.number is None else str(answer.number)
    if question.is_text:
        return answer.text
    if question.type == Question.Type.YES_NO:
        return ", ".join(answer.choices)
    labels = {
        c["key"]: question.choice_label(c, language, question.survey.default_language)
        for c in question.choices
    }
    shown = [labels.get(key, key) for key in answer.choices if key != "other"]
    if "other" in answer.choices:
        shown.append(answer.text)
    return "; ".join(shown)


def responses_csv(*, survey: Survey, filters: ResponseFilters) -> Iterator[str]:
    """The responses as CSV lines, one column per question, fetched in keyset chunks."""
    questions = list(survey.questions.all())
    for question in questions:
        question.survey = survey  # no query per answer_display
    header = [
        "response_id", "started_at", "completed_at", "language", "channel", "survey_version",
        "customer_id", "customer_email", "touchpoint", "score", "band",
        *[f"q.{q.key}" for q in questions],
    ]  # fmt: skip
    yield from csvfile.lines([header])
    base = filters.apply(Response.objects.filter(survey=survey)).order_by("-id")
    last: int | None = None
    while True:
        chunk_qs = base if last is None else base.filter(pk__lt=last)
        chunk = list(
            chunk_qs.values_list(
                "id", "started_at", "completed_at", "language", "channel", "survey_version",
                "customer_id", "customer__email", "touchpoint__name", "score", "band",
            )[:EXPORT_CHUNK]
        )  # fmt: skip
        if not chunk:
            return
        last = chunk[-1][0]
        answers: dict[int, dict[int, Answer]] = {}
        for answer in Answer.objects.filter(response_id__in=[row[0] for row in chunk]).only(
            "response_id", "question_id", "number", "choices", "text"
        ):
            answers.setdefault(answer.response_id, {})[answer.question_id] = answer
        rows = []
        for row in chunk:
            given = answers.get(row[0], {})
            rows.append(
                [
                    *row[:1],
                    row[1].isoformat(),
                    row[2].isoformat() if row[2] else "",
                    *row[3:],
                    *[
                        answer_display(q, given.get(q.pk), survey.default_language)
                        for q in questions
                    ],
                ]
            )
        yield "".join(csvfile.lines(rows))


def customer_by(
    *,
    id: int | None = None,
    external_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> Customer | None:
    """The customer named by exactly the field given (the first given, in this order)."""
    customers = Customer.objects.all()
    if id:
        return customers.filter(pk=id).first()
    if external_id:
        return customers.filter(external_id=external_id).first()
    if email:
        return customers.filter(email__iexact=email.strip()).first()
    if phone:
        try:
            return customers.filter(phone=normalize_phone(phone)).first()
        except ValueError:
            return None
    return None


def customer_find(*, value: str) -> Customer | None:
    """The customer with this email address (any case), E.164 phone or external id."""
    value = value.strip()
    if not value:
        return None
    if "@" in value:
        return customer_by(email=value)
    return customer_by(phone=value) or customer_by(external_id=value)


def _answers_ordered() -> Prefetch[Any]:
    return Prefetch(
        "answers",
        queryset=Answer.objects.select_related("question")
        .only(
            "id",
            "response_id",
            "question_id",
            "number",
            "choices",
            "text",
            "question__key",
            "question__position",
        )
        .order_by("question__position", "question_id"),
        to_attr="answer_list",
    )


def responses_with_answers() -> QuerySet[Response]:
    return Response.objects.select_related("touchpoint").prefetch_related(_answers_ordered())


def response_list(*, survey: Survey | None, filters: ResponseFilters) -> QuerySet[Response]:
    responses = responses_with_answers()
    if survey is not None:
        responses = responses.filter(survey=survey)
    return filters.apply(responses)


def answer_list(
    *, survey: Survey | None, response_id: int | None, question: Question | None
) -> QuerySet[Answer]:
    answers = Answer.objects.select_related("question")
    if survey is not None:
        answers = answers.filter(question__survey=survey)
    if response_id is not None:
        answers = answers.filter(response_id=response_id)
    if question is not None:
        answers = answers.filter(question=question)
    return answers


def responses_csv_download(*, survey: Survey, filters: ResponseFilters) -> StreamingHttpResponse:
    """The export as a streamed download, for the responses page and the API alike."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csvfile.download(
        responses_csv(survey=survey, filters=filters),
        f"survey-{survey.pk}-responses-{stamp}.csv",
    )


def distribution_progress(*, distribution: Distribution) -> dict[str, Any]:
    """The counts of the distribution page, in three queries whatever its size."""
    invitations = Invitation.objects.filter(distribution=distribution)
    sent = ["sent", "delivered", "opened"]
    totals = invitations.aggregate(
        invited=Count("id", filter=~Q(status__in=["skipped", "cancelled"])),
        skipped=Count("id", filter=Q(status="skipped")),
        cancelled=Count("id", filter=Q(status="cancelled")),
        waiting=Count("id", filter=Q(status="planned")),
        queued=Count("id", filter=Q(delivery__status="queued")),
        sent=Count("id", filter=Q(delivery__status__in=sent)),
        delivered=Count("id", filter=Q(delivery__status__in=["delivered", "opened"])),
        opened=Count("id", filter=Q(delivery__status="opened")),
        clicked=Count("id", filter=Q(opened_at__isnull=False)),
        responded=Count("id", filter=Q(responded_at__isnull=False)),
        failed=Count("id", filter=Q(delivery__status__in=["failed", "bounced"])),
        reminders=Count("id", filter=Q(reminder__isnull=False)),
    )
    labels = dict(Invitation.Skip.choices)
    skipped = [
        (labels.get(reason, reason), n)
        for reason, n in invitations.filter(status="skipped")
        .values_list("skip_reason")
        .annotate(n=Count("id"))
        .order_by("-n")
    ]
    failed = list(
        invitations.filter(delivery__status__in=["failed", "bounced"])
        .values_list("delivery__error")
        .annotate(n=Count("id"))
        .order_by("-n")[:10]
    )
    return {**totals, "skipped_by_reason": skipped, "failed_by_reason": failed}


def distribution_list(*, survey: Survey) -> QuerySet[Distribution]:
    return survey.distributions.order_by("-id")


def customers_from_csv(*, file: Any, limit: int = 200_000) -> tuple[list[int], list[str]]:
    """Customer ids for an uploaded list (one column: email, external_id or id, with or without
    a header), and the values that matched no customer."""
    import io

    reader = csv.reader(io.TextIOWrapper(file, encoding="utf-8-sig", errors="replace"))
    values: list[str] = []
    column = "email"
    for number, row in enumerate(reader):
        cell = (row[0] if row else "").strip()
        if number == 0 and cell.lower() in ("email", "external_id", "id"):
            column = cell.lower()
            continue
        if cell:
            values.append(cell)
        if len(values) > limit:
            break
    found: dict[str, int] = {}
    for start in range(0, len(values), 1000):
        part = values[start : start + 1000]
        if column == "id":
            digits = [int(v) for v in part if v.isascii() and v.isdigit() and len(v) < 19]
            rows = Customer.objects.filter(pk__in=digits).values_list("pk", "pk")
            found.update({str(key): pk for key, pk in rows})
        elif column == "external_id":
            for external_id, pk in Customer.objects.filter(external_id__in=part).values_list(
                "external_id", "pk"
            ):
                found[str(external_id)] = pk
        else:
            lowered = [v.lower() for v in part]
            for email, pk in (
                Customer.objects.annotate(e=Lower("email"))
                .filter(e__in=lowered)
                .values_list("e", "pk")
            ):
                found[email] = pk
    key = (lambda v: v.lower()) if column == "email" else (lambda v: v)
    ids = sorted({found[key(v)] for v in values if key(v) in found})
    unknown = [v for v in values if key(v) not in found]
    return ids, unknown


def conversation_of_customer(*, conversation_id: int, customer: Customer) -> bool:
    """Whether the conversation exists and is the customer's (for crediting an invitation)."""
    from inbox.models import Conversation

    return Conversation.objects.filter(pk=conversation_id, customer=customer).exists()
