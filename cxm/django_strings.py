"""Django's own strings that appear on cxm's screens, listed so that our catalogues carry them.

Django ships a Frisian (``fy``) catalogue that is almost empty, so form labels, validation errors,
password rules, dates and "time since" phrases from Django would show up in English on the Frisian
screens. Catalogues in ``LOCALE_PATHS`` take precedence over Django's own, so ``locale/fy`` (and,
for consistency, ``locale/nl`` and ``locale/ro``) translates these strings itself.

``makemessages`` only keeps a msgid that it finds in our code, hence this module: every msgid
below is copied byte for byte from Django (typographic apostrophes included) and marked with
``gettext_noop``, ``pgettext_lazy`` or, for plurals, ``ngettext_lazy``. Nothing imports these
values; the module is read by ``makemessages`` only. When Django changes one of these strings,
update it here, run ``makemessages`` and translate the new entry.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop, ngettext_lazy, pgettext_lazy

# django.contrib.auth.forms: sign-in, password change and "choose a password" forms.
AUTH_FORMS = (
    gettext_noop("Password"),
    gettext_noop("Old password"),
    gettext_noop("New password"),
    gettext_noop("New password confirmation"),
    gettext_noop("Enter the same password as before, for verification."),
    gettext_noop("The two password fields didn’t match."),
    gettext_noop("Your old password was entered incorrectly. Please enter it again."),
)

# django.contrib.auth.password_validation: the validators in AUTH_PASSWORD_VALIDATORS.
PASSWORD_VALIDATION = (
    gettext_noop("The password is too similar to the %(verbose_name)s."),
    gettext_noop("Your password can’t be too similar to your other personal information."),
    gettext_noop("This password is too common."),
    gettext_noop("Your password can’t be a commonly used password."),
    gettext_noop("This password is entirely numeric."),
    gettext_noop("Your password can’t be entirely numeric."),
)
PASSWORD_TOO_SHORT = ngettext_lazy(
    "This password is too short. It must contain at least %d character.",
    "This password is too short. It must contain at least %d characters.",
    "min_length",
)
PASSWORD_MIN_LENGTH_HELP = ngettext_lazy(
    "Your password must contain at least %(min_length)d character.",
    "Your password must contain at least %(min_length)d characters.",
    "min_length",
)

# django.forms and django.core.validators: errors of the fields our forms and filters use.
FORM_ERRORS = (
    gettext_noop("This field is required."),
    gettext_noop("Enter a valid email address."),
    gettext_noop("Enter a valid date."),
    gettext_noop("Enter a valid date/time."),
    gettext_noop("Enter a number."),
    gettext_noop("Enter a list of values."),
    gettext_noop("Select a valid choice. %(value)s is not one of the available choices."),
    gettext_noop("Select a valid choice. That choice is not one of the available choices."),
    gettext_noop("“%(pk)s” is not a valid value."),
    gettext_noop("No file was submitted. Check the encoding type on the form."),
    gettext_noop("No file was submitted."),
    gettext_noop("The submitted file is empty."),
    gettext_noop("Ensure this value is less than or equal to %(limit_value)s."),
    gettext_noop("Ensure this value is greater than or equal to %(limit_value)s."),
)
MAX_LENGTH = ngettext_lazy(
    "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
    "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
    "limit_value",
)
MAX_DIGITS = ngettext_lazy(
    "Ensure that there are no more than %(max)s digit in total.",
    "Ensure that there are no more than %(max)s digits in total.",
    "max",
)
MAX_DECIMAL_PLACES = ngettext_lazy(
    "Ensure that there are no more than %(max)s decimal place.",
    "Ensure that there are no more than %(max)s decimal places.",
    "max",
)
MAX_WHOLE_DIGITS = ngettext_lazy(
    "Ensure that there are no more than %(max)s digit before the decimal point.",
    "Ensure that there are no more than %(max)s digits before the decimal point.",
    "max",
)

# django.utils.timesince: "Last used" on the API token and integration lists.
TIME_SINCE = (
    ngettext_lazy("%(num)d year", "%(num)d years", "num"),
    ngettext_lazy("%(num)d month", "%(num)d months", "num"),
    ngettext_lazy("%(num)d week", "%(num)d weeks", "num"),
    ngettext_lazy("%(num)d day", "%(num)d days", "num"),
    ngettext_lazy("%(num)d hour", "%(num)d hours", "num"),
    ngettext_lazy("%(num)d minute", "%(num)d minutes", "num"),
)

# django.utils.dates and django.utils.dateformat: day and month names in formatted dates
# (the timeline's day headings, the journey map's period, DATE_FORMAT and DATETIME_FORMAT).
WEEKDAYS = (
    gettext_noop("Monday"),
    gettext_noop("Tuesday"),
    gettext_noop("Wednesday"),
    gettext_noop("Thursday"),
    gettext_noop("Friday"),
    gettext_noop("Saturday"),
    gettext_noop("Sunday"),
)
MONTHS = (
    gettext_noop("January"),
    gettext_noop("February"),
    gettext_noop("March"),
    gettext_noop("April"),
    gettext_noop("May"),
    gettext_noop("June"),
    gettext_noop("July"),
    gettext_noop("August"),
    gettext_noop("September"),
    gettext_noop("October"),
    gettext_noop("November"),
    gettext_noop("December"),
)
MONTHS_3 = (
    gettext_noop("jan"),
    gettext_noop("feb"),
    gettext_noop("mar"),
    gettext_noop("apr"),
    gettext_noop("may"),
    gettext_noop("jun"),
    gettext_noop("jul"),
    gettext_noop("aug"),
    gettext_noop("sep"),
    gettext_noop("oct"),
    gettext_noop("nov"),
    gettext_noop("dec"),
)
MONTHS_AP = (
    pgettext_lazy("abbrev. month", "Jan."),
    pgettext_lazy("abbrev. month", "Feb."),
    pgettext_lazy("abbrev. month", "March"),
    pgettext_lazy("abbrev. month", "April"),
    pgettext_lazy("abbrev. month", "May"),
    pgettext_lazy("abbrev. month", "June"),
    pgettext_lazy("abbrev. month", "July"),
    pgettext_lazy("abbrev. month", "Aug."),
    pgettext_lazy("abbrev. month", "Sept."),
    pgettext_lazy("abbrev. month", "Oct."),
    pgettext_lazy("abbrev. month", "Nov."),
    pgettext_lazy("abbrev. month", "Dec."),
)
DAY_PERIODS = (
    gettext_noop("a.m."),
    gettext_noop("p.m."),
    gettext_noop("midnight"),
    gettext_noop("noon"),
)

# django.template.defaultfilters.filesizeformat: attachment sizes in the inbox, and the size limits
# in the import and API error messages.
FILE_SIZES = (
    ngettext_lazy("%(size)d byte", "%(size)d bytes", "size"),
    gettext_noop("%s KB"),
    gettext_noop("%s MB"),
    gettext_noop("%s GB"),
)
