"""The Dutch, Romanian and Frisian catalogues stay complete: every string translated, none fuzzy,
the same placeholders as the English, and each catalogue compiles. No database needed.

When this fails after new strings were added: `make messages`, translate what it added (and
clear the fuzzy flags), then `make messages` again to compile."""

from __future__ import annotations

import gettext
import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("nl", "ro", "fy")

# %% first, so an escaped percent sign is never read as the start of a placeholder.
PERCENT = re.compile(r"%%|%\(\w+\)[sdif]|%[sd]")
BRACE = re.compile(r"\{\w+\}")


def po_path(language: str) -> Path:
    return ROOT / "locale" / language / "LC_MESSAGES" / "django.po"


def load(language: str) -> polib.POFile:
    return polib.pofile(str(po_path(language)))


def placeholders(text: str) -> set[str]:
    return {p for p in PERCENT.findall(text) if p != "%%"} | set(BRACE.findall(text))


def entries(po: polib.POFile) -> list[polib.POEntry]:
    return [e for e in po if not e.obsolete and e.msgid]


def described(entry: polib.POEntry) -> str:
    context = f" (context {entry.msgctxt!r})" if entry.msgctxt else ""
    return f"{entry.msgid!r}{context}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_entry_is_translated(language):
    missing = [described(e) for e in entries(load(language)) if not e.translated()]
    assert not missing, f"{language}: {len(missing)} untranslated entries:\n" + "\n".join(missing)


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_entry_is_fuzzy(language):
    fuzzy = [described(e) for e in entries(load(language)) if "fuzzy" in e.flags]
    assert not fuzzy, f"{language}: {len(fuzzy)} fuzzy entries:\n" + "\n".join(fuzzy)


def placeholder_problems(entry: polib.POEntry) -> list[str]:
    """What is wrong with the entry's placeholders, in words (nothing when all is well)."""
    if not entry.msgid_plural:
        want, got = placeholders(entry.msgid), placeholders(entry.msgstr)
        return [] if got == want else [f"msgstr has {sorted(got)}, msgid has {sorted(want)}"]
    # Plural forms: each form keeps every placeholder of the msgid. A placeholder that only the
    # msgid_plural has (the count, in "One file" / "%(count)s files") may be left out, as the
    # msgid itself leaves it out; nothing outside msgid and msgid_plural may appear.
    required = placeholders(entry.msgid)
    allowed = required | placeholders(entry.msgid_plural)
    problems = []
    for index, form in sorted(entry.msgstr_plural.items()):
        got = placeholders(form)
        if not required <= got <= allowed:
            problems.append(
                f"msgstr[{index}] has {sorted(got)}; it needs {sorted(required)} "
                f"and may use only {sorted(allowed)}"
            )
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match_the_english(language):
    wrong = [
        f"{described(e)}: {problem}"
        for e in entries(load(language))
        if e.translated()
        for problem in placeholder_problems(e)
    ]
    assert not wrong, f"{language}: placeholders differ from the English:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_compiles(language, tmp_path):
    po = load(language)
    mo = tmp_path / f"{language}.mo"
    po.save_as_mofile(str(mo))
    with mo.open("rb") as handle:
        catalogue = gettext.GNUTranslations(handle)
    for entry in entries(po):
        if not entry.translated():
            continue  # a gap: the tests above name it
        if entry.msgid_plural:  # n = 1 takes form 0 in all three languages
            got = (
                catalogue.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
                if entry.msgctxt
                else catalogue.ngettext(entry.msgid, entry.msgid_plural, 1)
            )
            want = entry.msgstr_plural[0]
        else:
            got = (
                catalogue.pgettext(entry.msgctxt, entry.msgid)
                if entry.msgctxt
                else catalogue.gettext(entry.msgid)
            )
            want = entry.msgstr
        assert got == want, f"{language}: {described(entry)} does not survive compiling"


@pytest.mark.parametrize("language", LANGUAGES)
def test_msgfmt_accepts_the_formats(language):
    """What compilemessages runs: msgfmt checks each format string against its msgid."""
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (GNU gettext) is not installed")
    result = subprocess.run(
        [msgfmt, "--check-format", "-o", "/dev/null", str(po_path(language))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{language}: msgfmt --check-format failed:\n{result.stderr}"
