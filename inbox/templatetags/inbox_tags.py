from __future__ import annotations

import datetime as dt
import re

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from inbox import sla

register = template.Library()


@register.filter
def sla_state(due: dt.datetime | None) -> str:
    """ "breached", "at_risk" or "" for a due time."""
    now = timezone.now()
    if sla.breached(due, now):
        return "breached"
    if sla.at_risk(due, now):
        return "at_risk"
    return ""


QUOTE_START = re.compile(
    r"^(>|On .{5,200} wrote:$|Op .{5,200} schreef .*:$|-----Original Message-----|From: )",
    re.MULTILINE,
)


@register.filter
def split_quote(text: str) -> tuple[str, str]:
    """(what the customer wrote now, the quoted history below it) of a plain-text email."""
    match = QUOTE_START.search(text or "")
    if match is None or match.start() == 0:
        return text, ""
    return text[: match.start()].rstrip(), text[match.start() :]


@register.filter
def split_quote_html(html: str) -> tuple[SafeString, SafeString]:
    """The same for sanitized HTML: the first blockquote and everything after it is history.
    Both halves go through the sanitizer again, so their tags are balanced."""
    from inbox.services import sanitize_html

    index = (html or "").find("<blockquote")
    if index <= 0:
        return mark_safe(html), mark_safe("")  # noqa: S308 - sanitized on the way in
    return mark_safe(sanitize_html(html[:index])), mark_safe(sanitize_html(html[index:]))  # noqa: S308 - sanitized just now


@register.filter
def call_minutes(seconds: int) -> str:
    return f"{(seconds or 0) / 60:.1f}".rstrip("0").rstrip(".")


@register.filter
def call_outcome(key: str) -> str:
    from inbox.forms import CallLogForm

    field = CallLogForm.base_fields["outcome"]
    return str(dict(getattr(field, "choices", [])).get(key, key))
