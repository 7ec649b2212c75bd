"""Vendor and tool text for people: cut to one limit (``trim``), and its hidden characters shown
(``visible``, and ``finalize`` for the pages' templates).

The head says what started, the tail how it ended (where the error usually is), and the cut says
how much is missing and where the whole of it is kept. A character a page would act on instead of
showing (a bidi override, a zero-width space, an escape sequence) is written out as ``\\u202e``.

Example::

    visible("dessap\\u202e")  # the override shown, not obeyed
    trim(output)   # first third + "[... 51234 characters cut: see the command log ...]" + last two thirds
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from markupsafe import Markup

LIMIT = 4000  # characters of one check message, one step's output, one piece of evidence


def trim(text: str, limit: int = LIMIT, where: str = "the command log") -> str:
    if len(text) <= limit:
        return text
    head, tail = limit // 3, limit - limit // 3
    return f"{text[:head]}\n[... {len(text) - limit} characters cut: see {where} ...]\n{text[-tail:]}"


# What a vendor's string may hold that a page would act on rather than show: C0/C1 controls (an
# escape sequence), format characters (bidi overrides and isolates, zero-width ones), line and
# paragraph separators, surrogates and private-use code points. Line ends and tabs are layout.
HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co"))
KEPT = frozenset("\n\t\r")


def visible(text: str) -> str:
    """``text`` with every character of ``HIDDEN`` written out (``\\u202e``, ``\\x1b``), so that a
    right-to-left override cannot turn ``dessap`` into ``passed`` on a page or in a PDF, and a
    zero-width space cannot make two names look alike."""
    if text.isprintable():
        return text
    return "".join(c if c in KEPT or unicodedata.category(c) not in HIDDEN else written_out(c) for c in text)


def written_out(c: str) -> str:
    """One character as Python writes it in a string: ``\\x1b``, ``\\u202e``, ``\\U000e0001``."""
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def finalize(value: object) -> object:
    """Jinja's ``finalize`` for the lab's pages: every ``{{ ... }}`` shown through ``visible``, Markup
    kept Markup (the escapes it adds are backslashes and hex digits, never markup)."""
    if isinstance(value, Markup):
        return Markup(visible(str(value)))  # noqa: S704 - already escaped; visible() adds only \\ and hex
    if isinstance(value, str):
        return visible(value)
    return value


def slug_of(text: str) -> str:
    """A name safe in a file name or a URL path (a product's page, a certificate's folder), and one
    name's alone: ``acme+calc`` and ``acme_calc`` once shared ``acme_calc``, and the product
    published later took the other's page (a hostile review). A name of safe characters is its own
    slug; any other is made safe and given ``~`` and a digest of the whole name (``~`` is never in
    the first kind), short enough for a file name whatever its script."""
    # ...nor ends like a page's language (``acme.en``: products/acme.en.html is acme's English page)
    if re.fullmatch(r"[A-Za-z0-9._-]{1,100}", text) and text not in (".", "..") \
            and not re.search(r"\.[A-Za-z]{2,3}(-[A-Za-z]{2,4})?$", text):
        return text
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:60] + "~" + hashlib.sha256(text.encode()).hexdigest()[:16]
