"""Writes of the surveys app: building surveys, and responding to them."""

from surveys.services.builder import (
    contrast_with_white,
    new_token,
    question_delete,
    question_move,
    question_save,
    survey_create,
    survey_duplicate,
    survey_missing_texts,
    survey_status_change,
    survey_texts_update,
    survey_update,
)
from surveys.services.responding import (
    answers_record,
    given_answers,
    invitation_create,
    language_for,
    missing_required,
    response_complete,
    response_start,
    response_submit,
    survey_is_open,
)

__all__ = [
    "answers_record",
    "contrast_with_white",
    "given_answers",
    "invitation_create",
    "language_for",
    "missing_required",
    "new_token",
    "question_delete",
    "question_move",
    "question_save",
    "response_complete",
    "response_start",
    "response_submit",
    "survey_create",
    "survey_duplicate",
    "survey_is_open",
    "survey_missing_texts",
    "survey_status_change",
    "survey_texts_update",
    "survey_update",
]
