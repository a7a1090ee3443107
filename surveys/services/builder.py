"""Building surveys: templates, settings, questions, translations and the draft → active → closed
life. Once a survey is live its structure is fixed (types, scales, choice keys, question set
minus additions) so the answers already collected keep their meaning; text fixes and new questions
raise ``Survey.version``."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from cxm.core.services import audit_record
from cxm.errors import ApplicationError
from journeys.models import Touchpoint
from surveys.models import SURVEY_LANGUAGES, Question, Survey
from surveys.templates import (
    SURVEY_TEXTS,
    TEMPLATES,
    choices_in_languages,
    in_languages,
)

LANGUAGE_CODES = [code for code, _name in SURVEY_LANGUAGES]
SCALES: dict[str, list[tuple[int, int]]] = {
    Question.Type.NPS: [(0, 10)],
    Question.Type.RATING: [(1, 5), (1, 7), (1, 10)],
    Question.Type.CES: [(1, 5), (1, 7)],
}
SURVEY_TEXT_KEYS = ("title", "intro", "thank_you", "review_label")
QUESTION_TEXT_KEYS = ("text", "help", "low_label", "high_label", "other_label")
TEXT_LIMITS = {"text": 500, "help": 500, "intro": 1000, "thank_you": 1000}
TEXT_LIMIT_DEFAULT = 120
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
BANDS = ("positive", "neutral", "negative")
LOGO_MAX_BYTES = 512 * 1024
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"RIFF": "webp"}


def new_token() -> str:
    """128 random bits from the OS CSPRNG, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def _languages(default_language: str, languages: list[str]) -> list[str]:
    chosen = [default_language] + [code for code in languages if code != default_language]
    unknown = [code for code in chosen if code not in LANGUAGE_CODES]
    if unknown:
        raise ApplicationError(
            _("Unknown language: %(codes)s.") % {"codes": ", ".join(unknown)}, field="languages"
        )
    return chosen


def _question_from_template(survey: Survey, position: int, template: Any) -> Question:
    return Question(
        survey=survey,
        position=position,
        key=template.key,
        type=template.type,
        required=template.required,
        metric=template.metric,
        scale_min=template.scale[0] if template.scale else None,
        scale_max=template.scale[1] if template.scale else None,
        texts=in_languages(template.texts, survey.languages),
        choices=choices_in_languages(template.choices, survey.languages),
        condition=dict(template.condition),
    )


@transaction.atomic
def survey_create(
    *, name: str, kind: str, default_language: str, languages: list[str], by: Any
) -> Survey:
    """A new draft from a template (or blank), its texts written in each of its languages."""
    if kind not in TEMPLATES:
        raise ApplicationError(_("Choose a template."), field="kind")
    name = name.strip()
    if not name:
        raise ApplicationError(_("Give the survey a name."), field="name")
    chosen = _languages(default_language, languages)
    survey = Survey.objects.create(
        name=name,
        kind=kind,
        default_language=default_language,
        languages=chosen,
        texts=in_languages(SURVEY_TEXTS, chosen),
        public_token=new_token(),
        created_by=by,
    )
    Question.objects.bulk_create(
        [_question_from_template(survey, i, t) for i, t in enumerate(TEMPLATES[kind])]
    )
    audit_record(
        action="survey.created", actor=by, object_type="surveys.survey", object_id=survey.pk
    )
    return survey


@transaction.atomic
def survey_duplicate(*, survey: Survey, by: Any) -> Survey:
    """A draft copy with the same questions, texts and branding, and new links."""
    copy = Survey.objects.create(
        name=_("Copy of %(name)s") % {"name": survey.name},
        kind=survey.kind,
        default_language=survey.default_language,
        languages=list(survey.languages),
        touchpoint=survey.touchpoint,
        display=survey.display,
        texts=survey.texts,
        thank_you_links=survey.thank_you_links,
        accent_color=survey.accent_color,
        logo=survey.logo.name if survey.logo else "",
        one_response_per_browser=survey.one_response_per_browser,
        public_token=new_token(),
        created_by=by,
    )
    Question.objects.bulk_create(
        [
            Question(
                survey=copy,
                position=q.position,
                key=q.key,
                type=q.type,
                required=q.required,
                metric=q.metric,
                scale_min=q.scale_min,
                scale_max=q.scale_max,
                good_end=q.good_end,
                texts=q.texts,
                choices=q.choices,
                condition=q.condition,
            )
            for q in survey.questions.all()
        ]
    )
    audit_record(
        action="survey.duplicated",
        actor=by,
        object_type="surveys.survey",
        object_id=copy.pk,
        data={"from": survey.pk},
    )
    return copy


def _relative_luminance(color: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(color: str) -> float:
    """WCAG contrast ratio of white text on ``color``."""
    return 1.05 / (_relative_luminance(color) + 0.05)


def _logo_check(logo: Any) -> None:
    if logo.size > LOGO_MAX_BYTES:
        raise ApplicationError(_("The logo must be 512 KB or smaller."), field="logo")
    head = logo.read(12)
    logo.seek(0)
    ok = any(head.startswith(magic) for magic in LOGO_TYPES) and (
        not head.startswith(b"RIFF") or head[8:12] == b"WEBP"
    )
    if not ok:
        raise ApplicationError(_("Upload the logo as a PNG, JPEG or WebP image."), field="logo")


def _bump(survey: Survey) -> None:
    """A live survey changed: responses from now on record the new version."""
    if survey.is_live:
        Survey.objects.filter(pk=survey.pk).update(version=F("version") + 1)
        survey.refresh_from_db(fields=["version"])


@transaction.atomic
def survey_update(
    *,
    survey: Survey,
    name: str,
    default_language: str,
    languages: list[str],
    touchpoint: Touchpoint | None,
    display: str,
    public_enabled: bool,
    one_response_per_browser: bool,
    expires_at: Any,
    accent_color: str,
    thank_you_links: dict[str, str],
    logo: Any = None,
    remove_logo: bool = False,
    by: Any,
) -> Survey:
    if not name.strip():
        raise ApplicationError(_("Give the survey a name."), field="name")
    chosen = _languages(default_language, languages)
    if survey.is_live and default_language != survey.default_language:
        raise ApplicationError(
            _("The default language of a live survey cannot change."), field="default_language"
        )
    if not COLOR_RE.match(accent_color):
        raise ApplicationError(
            _("Enter the colour as #rrggbb, for example #0b5cad."), field="accent_color"
        )
    if contrast_with_white(accent_color) < 4.5:
        raise ApplicationError(
            _(
                "White text on this colour is hard to read (contrast %(ratio).1f:1, at least "
                "4.5:1 is needed). Choose a darker colour."
            )
            % {"ratio": contrast_with_white(accent_color)},
            field="accent_color",
        )
    links = {band: url for band, url in thank_you_links.items() if band in BANDS and url}
    for band, url in links.items():
        if not url.startswith(("https://", "http://")):
            raise ApplicationError(
                _("A thank-you link must start with https:// or http://."),
                field=f"link_{band}",
            )
    if expires_at is not None and expires_at <= timezone.now() and survey.expires_at != expires_at:
        raise ApplicationError(_("The closing time must be in the future."), field="expires_at")
    if logo is not None:
        _logo_check(logo)
    survey.name = name.strip()
    survey.default_language = default_language
    survey.languages = chosen
    survey.touchpoint = touchpoint
    survey.display = display
    survey.public_enabled = public_enabled
    survey.one_response_per_browser = one_response_per_browser
    survey.expires_at = expires_at
    survey.accent_color = accent_color.lower()
    survey.thank_you_links = links
    if remove_logo and survey.logo:
        survey.logo = ""
    if logo is not None:
        survey.logo.save(f"{survey.pk}-{new_token()[:8]}.{_logo_ext(logo)}", logo, save=False)
    survey.save()
    audit_record(
        action="survey.changed", actor=by, object_type="surveys.survey", object_id=survey.pk
    )
    return survey


def _logo_ext(logo: Any) -> str:
    head = logo.read(12)
    logo.seek(0)
    return next(ext for magic, ext in LOGO_TYPES.items() if head.startswith(magic))


def _clean_texts(values: dict[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    cleaned = {}
    for key in keys:
        value = (values.get(key) or "").strip()
        limit = TEXT_LIMITS.get(key, TEXT_LIMIT_DEFAULT)
        if len(value) > limit:
            raise ApplicationError(
                _("Keep this under %(limit)d characters.") % {"limit": limit}, field=key
            )
        if value:
            cleaned[key] = value
    return cleaned


@transaction.atomic
def survey_texts_update(*, survey: Survey, language: str, texts: dict[str, str]) -> Survey:
    if language not in survey.languages:
        raise ApplicationError(_("This survey is not offered in that language."), field="language")
    if survey.status == Survey.Status.CLOSED:
        raise ApplicationError(_("Reopen the survey to change it."))
    survey.texts = {**survey.texts, language: _clean_texts(texts, SURVEY_TEXT_KEYS)}
    survey.save(update_fields=["texts", "updated_at"])
    _bump(survey)
    return survey


def _choices_for(
    question: Question | None, language: str, default_language: str, labels: list[str]
) -> list[dict[str, Any]]:
    """Choice lines typed in one language → the choice list. In the default language the lines
    are the choices (existing keys kept by position); in another, they translate them in order."""
    labels = [label.strip() for label in labels if label.strip()]
    for label in labels:
        if len(label) > TEXT_LIMIT_DEFAULT:
            raise ApplicationError(
                _("Keep each choice under %(limit)d characters.") % {"limit": TEXT_LIMIT_DEFAULT},
                field="choices",
            )
    existing = list(question.choices) if question else []
    if language != default_language:
        if len(labels) != len(existing):
            raise ApplicationError(
                _("Translate each of the %(count)d choices, one per line, in the same order.")
                % {"count": len(existing)},
                field="choices",
            )
        return [
            {**choice, "labels": {**choice.get("labels", {}), language: label}}
            for choice, label in zip(existing, labels, strict=True)
        ]
    out: list[dict[str, Any]] = []
    used: set[str] = set()
    for position, label in enumerate(labels):
        if position < len(existing):
            choice = existing[position]
            out.append({**choice, "labels": {**choice.get("labels", {}), language: label}})
            used.add(choice["key"])
            continue
        base = slugify(label)[:30] or f"choice-{position + 1}"
        key, n = base, 2
        while key in used or key == "other" or any(c["key"] == key for c in existing):
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        out.append({"key": key, "labels": {language: label}})
    return out


def _condition_check(
    survey: Survey, question: Question | None, position: int, condition: dict[str, Any]
) -> dict[str, Any]:
    if not condition or not condition.get("question"):
        return {}
    source = (
        survey.questions.filter(key=condition["question"])
        .exclude(pk=question.pk if question else 0)
        .first()
    )
    if source is None or source.position >= position:
        raise ApplicationError(
            _("A question can only depend on an earlier question."), field="condition_question"
        )
    if source.is_scored:
        low, high = condition.get("min"), condition.get("max")
        if low is None and high is None:
            raise ApplicationError(_("Say which scores show this question."), field="condition_min")
        low = source.scale_min if low is None else low
        high = source.scale_max if high is None else high
        if not (source.scale_min <= low <= high <= source.scale_max):  # type: ignore[operator]
            raise ApplicationError(
                _("Choose scores between %(low)d and %(high)d, the lowest first.")
                % {"low": source.scale_min, "high": source.scale_max},
                field="condition_min",
            )
        return {"question": source.key, "min": low, "max": high}
    allowed = {c["key"] for c in source.choices}
    if source.type == Question.Type.YES_NO:
        allowed = {"yes", "no"}
    elif source.type == Question.Type.SINGLE_OTHER:
        allowed.add("other")
    elif not source.is_choice:
        raise ApplicationError(
            _("A question can depend on a score, a choice or a yes/no answer only."),
            field="condition_question",
        )
    values = [v for v in condition.get("values", []) if v]
    if not values or not set(values) <= allowed:
        raise ApplicationError(
            _("Choose the answers that show this question, from: %(keys)s.")
            % {"keys": ", ".join(sorted(allowed))},
            field="condition_values",
        )
    return {"question": source.key, "values": values}


def _live_structure_check(question: Question, new: dict[str, Any]) -> None:
    fixed = ("type", "scale_min", "scale_max", "good_end", "metric", "key")
    changed = [name for name in fixed if getattr(question, name) != new[name]]
    old_keys = [c["key"] for c in question.choices]
    new_keys = [c["key"] for c in new["choices"]]
    if changed or new_keys[: len(old_keys)] != old_keys:
        raise ApplicationError(
            _(
                "This survey is live, so its question types, scales and choices are fixed and the "
                "answers already given keep their meaning. Fix texts here, add choices at the end, "
                "or duplicate the survey to change its structure."
            ),
            field=changed[0] if changed else "choices",
        )


@transaction.atomic
def question_save(
    *,
    survey: Survey,
    question: Question | None = None,
    language: str,
    key: str,
    type: str,
    required: bool,
    metric: str = "",
    scale: tuple[int, int] | None = None,
    good_end: str = Question.GoodEnd.HIGH,
    texts: dict[str, str],
    choice_labels: list[str] | None = None,
    condition: dict[str, Any] | None = None,
) -> Question:
    """Add a question (at the end) or change one, with its texts in ``language``."""
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status == Survey.Status.CLOSED:
        raise ApplicationError(_("Reopen the survey to change it."))
    if language not in survey.languages:
        raise ApplicationError(_("This survey is not offered in that language."), field="language")
    if type not in Question.Type.values:
        raise ApplicationError(_("Choose a question type."), field="type")
    key = slugify(key)[:40]
    if not key:
        raise ApplicationError(_("Give the question a short key, like “reason”."), field="key")
    if survey.questions.filter(key=key).exclude(pk=question.pk if question else 0).exists():
        raise ApplicationError(_("Another question already has this key."), field="key")
    if type in SCALES:
        scale = SCALES[type][0] if type == Question.Type.NPS else scale
        if scale not in SCALES[type]:
            raise ApplicationError(_("Choose one of the offered scales."), field="scale")
    else:
        scale = None
    cleaned = _clean_texts(texts, QUESTION_TEXT_KEYS)
    if language == survey.default_language and not cleaned.get("text"):
        raise ApplicationError(_("Write the question."), field="text")
    is_choice = type in Question.CHOICE
    choices = (
        _choices_for(question, language, survey.default_language, choice_labels or [])
        if is_choice
        else []
    )
    if is_choice and language == survey.default_language and len(choices) < 2:
        raise ApplicationError(_("Give at least two choices, one per line."), field="choices")
    position = (
        question.position
        if question
        else (survey.questions.aggregate(m=Max("position"))["m"] or 0) + 1
    )
    new = {
        "key": key,
        "type": type,
        "required": required,
        "metric": metric if metric in Question.Metric.values else "",
        "scale_min": scale[0] if scale else None,
        "scale_max": scale[1] if scale else None,
        "good_end": good_end if type == Question.Type.CES else Question.GoodEnd.HIGH,
        "choices": choices,
        "condition": _condition_check(survey, question, position, condition or {}),
    }
    if question is not None and survey.is_live:
        _live_structure_check(question, new)
    if question is None:
        question = Question(survey=survey, position=position)
    elif question.key != key and survey.questions.filter(condition__question=question.key):
        raise ApplicationError(
            _("Other questions depend on this key; change their conditions first."), field="key"
        )
    for name, value in new.items():
        setattr(question, name, value)
    question.texts = {**question.texts, language: cleaned}
    question.save()
    _bump(survey)
    return question


def _dependants(question: Question) -> list[str]:
    return [
        q.key
        for q in question.survey.questions.exclude(pk=question.pk)
        if q.condition.get("question") == question.key
    ]


@transaction.atomic
def question_delete(*, question: Question) -> None:
    if question.survey.is_live:
        raise ApplicationError(
            _(
                "This survey is live; deleting a question would drop answers already given. "
                "Make it optional, or duplicate the survey."
            )
        )
    dependants = _dependants(question)
    if dependants:
        raise ApplicationError(
            _("Questions %(keys)s depend on this one; change their conditions first.")
            % {"keys": ", ".join(dependants)}
        )
    question.delete()


@transaction.atomic
def question_move(*, question: Question, up: bool) -> None:
    questions = list(Survey.objects.select_for_update().get(pk=question.survey_id).questions.all())
    index = next(i for i, q in enumerate(questions) if q.pk == question.pk)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(questions):
        return
    questions[index], questions[other] = questions[other], questions[index]
    seen: set[str] = set()
    for q in questions:
        if q.condition.get("question") and q.condition["question"] not in seen:
            raise ApplicationError(
                _("“%(key)s” depends on an earlier answer and cannot move above it.")
                % {"key": q.key}
            )
        seen.add(q.key)
    for position, q in enumerate(questions):
        if q.position != position:
            q.position = position
            q.save(update_fields=["position", "updated_at"])
    _bump(question.survey)


def survey_missing_texts(survey: Survey) -> dict[str, list[str]]:
    """Per language, the questions (by key) and survey texts still without a translation."""
    questions = list(survey.questions.all())
    wanted_survey = [k for k in SURVEY_TEXT_KEYS if survey.text(k, survey.default_language)]
    missing: dict[str, list[str]] = {}
    for language in survey.languages:
        gaps = [
            str(_("survey %(text)s") % {"text": key})
            for key in wanted_survey
            if not (survey.texts.get(language) or {}).get(key)
        ]
        default = survey.default_language
        for q in questions:
            own = q.texts.get(language) or {}
            wanted = [k for k in QUESTION_TEXT_KEYS if (q.texts.get(default) or {}).get(k)]
            lacking = [k for k in wanted if not own.get(k)] or (
                ["choices"]
                if any(language not in (c.get("labels") or {}) for c in q.choices)
                else []
            )
            if lacking:
                gaps.append(q.key)
        if gaps:
            missing[language] = gaps
    return missing


@transaction.atomic
def survey_status_change(*, survey: Survey, status: str, by: Any) -> Survey:
    """Activate (checks the survey is complete in its default language), close, or reopen."""
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if status not in Survey.Status.values or status == Survey.Status.DRAFT:
        raise ApplicationError(_("A survey can be activated or closed."), field="status")
    if status == Survey.Status.CLOSED and survey.status != Survey.Status.ACTIVE:
        raise ApplicationError(_("Only an active survey can be closed."), field="status")
    if status == Survey.Status.ACTIVE:
        questions = list(survey.questions.all())
        if not questions:
            raise ApplicationError(_("Add at least one question before activating."))
        if any(
            not q.text("text", survey.default_language, survey.default_language) for q in questions
        ):
            raise ApplicationError(
                _("Every question needs its text in the default language before activating.")
            )
        survey.activated_at = survey.activated_at or timezone.now()
        survey.closed_at = None
    else:
        survey.closed_at = timezone.now()
    survey.status = status
    survey.save(update_fields=["status", "activated_at", "closed_at", "updated_at"])
    audit_record(
        action=f"survey.{status}", actor=by, object_type="surveys.survey", object_id=survey.pk
    )
    return survey
