"""Languages of the pages people read: the buyers' site, certificates' pages and the PDF report.

The translations are gettext catalogues, ``lab/locale/<ll_CC>/LC_MESSAGES/messages.po``, so a
translator edits a ``.po`` file and never the code. They are read with Babel when first needed (no
compile step to forget); English is the language of the source, so it needs no catalogue.

Which language a page is rendered in is a per-render choice (``render(env, name, "en", ...)``):
the current language lives in a context variable that the templates' ``_()``/``gettext`` read, so
one environment serves every language and concurrent requests do not disturb each other.

In templates: ``{{ _("Compatibility matrix") }}``, ``{{ _("Run %(id)s", id=run) }}`` (arguments are
escaped), ``{{ cell.verdict | verdict }}`` (a known outcome word, translated), ``{{ when | date }}``.
In Python: ``gettext("...")`` at render time, or ``N_("...")`` to mark a word for extraction that is
translated later (``gettext(word)``).
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, Template

from lab.wording import N_, known  # N_ re-exported (lab.wording says why it lives there)

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
SOURCE = "en"            # the language the code and templates are written in
SUPPORTED = ("zh-CN", "en")
NAMES = {"zh-CN": "中文", "en": "English"}  # each language in its own words, for the switch

_current: ContextVar[str] = ContextVar("lab_language", default=SOURCE)


def locale_code(lang: str) -> str:
    """``zh-CN`` (the inventory's and HTML's spelling) -> ``zh_CN`` (gettext's and Babel's)."""
    return lang.replace("-", "_")


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / locale_code(lang) / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=8)
def translations(lang: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``lang``, read from its ``.po`` (English: none needed).

    Fuzzy entries are left out (as ``msgfmt`` does): a translator marks a guess fuzzy until checked.
    """
    if lang == SOURCE:
        return _gettext.NullTranslations()
    path = catalogue_path(lang)
    if not path.is_file():
        raise LookupError(f"no catalogue for language {lang!r}: {path}")
    with path.open("rb") as fp:
        catalogue = read_po(fp, locale=locale_code(lang), domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def current() -> str:
    """The language being rendered (English outside any ``language()`` block)."""
    return _current.get()


@contextmanager
def language(lang: str) -> Iterator[str]:
    """Render in ``lang`` inside the block."""
    token = _current.set(lang)
    try:
        yield lang
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    return translations(_current.get()).gettext(message)


def words(message: object, own_word: Callable[[str], str] = str, among=None) -> str:
    """A refusal (``lab.wording``) in the current language; any other text as it is. Only the
    wording is translated: its parameters stay as they were said, but those it calls its own
    (``Wording(..., own=("state",))``) pass through ``own_word``. ``among``: the only wordings that
    may have said it (default: any)."""
    text = "" if message is None else str(message)
    found = known(text, among)
    if found is None:
        return text
    wording, params = found
    try:
        return gettext(wording) % {k: own_word(v) if k in wording.own else v for k, v in params.items()}
    except (KeyError, ValueError, TypeError):  # a text only shaped like the wording: shown as it is
        return text


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(_current.get()).pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).npgettext(context, singular, plural, n)


def babel_locale(lang: str | None = None) -> Locale:
    return Locale.parse(locale_code(lang or _current.get()))


def _moment(value: object) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def date_words(value: object, form: str = "medium") -> str:
    """A date (``datetime``, ``date`` or ISO text) in the current language: ``2026年11月30日`` /
    ``Nov 30, 2026``; text that is no date is shown as it is."""
    moment = _moment(value)
    if moment is None:
        return "" if value is None else str(value)
    if isinstance(moment, datetime):
        return format_date(moment.date(), form, locale=babel_locale())
    return format_date(moment, form, locale=babel_locale())


def datetime_words(value: object, form: str = "medium") -> str:
    """A moment in the current language, in the time zone it was written with (UTC by the lab)."""
    moment = _moment(value)
    if moment is None:
        return "" if value is None else str(value)
    if not isinstance(moment, datetime):
        return format_date(moment, form, locale=babel_locale())
    return format_datetime(moment, form, tzinfo=moment.tzinfo, locale=babel_locale())


def number_words(value: object) -> str:
    """``12345`` -> ``12,345`` (both languages group by thousands; Babel knows each)."""
    try:
        return format_decimal(value, locale=babel_locale())
    except (TypeError, ValueError, ArithmeticError):
        return "" if value is None else str(value)


# The lab's own words that reach a page through a variable: extracted here, translated at render.
VERDICTS = frozenset((N_("passed"), N_("failed"), N_("broken"), N_("skipped"), N_("waived"), N_("unknown"),
                      N_("passed with waivers")))


def verdict_word(word: object) -> str:
    """A verdict or outcome in the current language; anything else (a vendor's word) as it is."""
    text = "" if word is None else str(word)
    return gettext(text) if text in VERDICTS else text


# The facts a target's gathering records (lab.facts.Facts), by what a person calls them.
FACT_LABELS = {
    "arch": N_("CPU architecture"), "emulated": N_("emulated"), "os_id": N_("OS id"), "os_version": N_("OS version"),
    "os_name": N_("operating system"), "os_like": N_("OS family"), "codename": N_("codename"),
    "package_manager": N_("package manager"), "kernel": N_("kernel"), "glibc": N_("glibc"),
    "db_engine": N_("database engine"), "db_server": N_("database server"), "db_version": N_("database version"),
    "db_profiles": N_("database profiles"), "snapshot": N_("packages up to date on"),
    "memory_limit": N_("memory limit"), "pids_limit": N_("process limit"), "cpu_limit": N_("CPU limit"),
    "desktop": N_("desktop environment"), "desktop_version": N_("desktop environment version"),
    "display": N_("display server"), "locales": N_("locales"), "image_recipe": N_("image recipe (sha256)"),
}


def fact_label(key: object) -> str:
    """A fact's name in the current language; a name the lab does not know, as it is."""
    text = "" if key is None else str(key)
    return gettext(FACT_LABELS[text]) if text in FACT_LABELS else text


def yes_no(value: object) -> str:
    """A fact as a person reads it: yes/no (translated) for booleans (also ``"True"``/``"no"``),
    nothing for none, anything else as it is."""
    if value is None or value == "" or value == "None":
        return ""
    if value is True or value in ("True", "true", "yes"):
        return gettext("yes")
    if value is False or value in ("False", "false", "no"):
        return gettext("no")
    return str(value)


def check_title(check_id: str) -> str:
    """A check's title from the registry, in the current language (a vendor's own test: its suite's)."""
    from lab.suite import registry  # the registry imports nothing of this module

    text = registry.title(check_id)
    return gettext(text) if text else ""


OTHER_CHARACTERISTIC = N_("lab")  # registry.characteristic() of a check the registry does not know


def characteristic_words(name: str | None) -> str:
    """A GB/T 25000.51 characteristic (``"portability: installability"``) in the current language."""
    return gettext(name) if name else ""


def install(env: Environment) -> Environment:
    """Make ``env`` translation-aware: Jinja's i18n extension with the lab's gettext, and the
    filters for verdicts, dates and numbers."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext)
    env.filters["verdict"] = verdict_word
    env.filters["tr"] = gettext  # the lab's words held in a variable (marked N_ where written)
    env.filters["date"] = date_words
    env.filters["datetime"] = datetime_words
    env.filters["number"] = number_words
    env.filters["check_title"] = check_title
    env.filters["fact_label"] = fact_label
    env.filters["characteristic"] = characteristic_words
    # what a page without a language's context has: English, its links as they are, no switch
    env.globals.update(lang=SOURCE, link=lambda url: url, switch=None, language_names=NAMES)
    return env


def render(env: Environment, template: str | Template, lang: str = SOURCE, /, **context) -> str:
    """``template`` (a name in ``env``, or a template) rendered in ``lang``; it also gets ``lang``
    (for ``<html lang>``)."""
    with language(lang):
        return env.get_template(template).render(lang=lang, **context)
