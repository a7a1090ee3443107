"""Rollups: counts per day × survey × touchpoint × channel × language, kept current as responses
complete, so a dashboard reads a few thousand rows instead of millions of answers.

The grain follows the real cardinalities: days × surveys × touchpoints × channels × languages
is small next to the responses it sums (a survey is usually on one touchpoint, a response on one
channel in one language). ``RolledUpResponse`` marks each response counted once, in the same
transaction as its counts, so a task that runs twice cannot count twice.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ResponseDaily(models.Model):
    day = models.DateField()
    survey = models.ForeignKey("surveys.Survey", on_delete=models.CASCADE, related_name="+")
    # A plain id, 0 for none: no NULL in the grain, so one upsert key works on every database.
    touchpoint_id = models.BigIntegerField(default=0)
    channel = models.CharField(max_length=10)
    language = models.CharField(max_length=8)
    responses = models.PositiveIntegerField(default=0)
    scored = models.PositiveIntegerField(default=0)  # responses with a main score
    positive = models.PositiveIntegerField(default=0)  # promoters / satisfied / low effort
    neutral = models.PositiveIntegerField(default=0)  # passives
    negative = models.PositiveIntegerField(default=0)  # detractors / dissatisfied / high effort
    score_sum = models.BigIntegerField(default=0)  # for means (effort: turned so high is good)

    class Meta:
        verbose_name = _("daily response counts")
        verbose_name_plural = _("daily response counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "survey", "touchpoint_id", "channel", "language"],
                name="metrics_responsedaily_grain",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.survey_id}"


class RolledUpResponse(models.Model):
    response = models.OneToOneField(
        "surveys.Response", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )

    def __str__(self) -> str:
        return str(self.response_id)
