"""Names that draw alike: a vendor's name on a certificate must not pass for another vendor's.

``skeleton`` follows Unicode's confusables (UTS #39, through ``confusable-homoglyphs``, which
carries Unicode's confusables.txt): each letter that has a Latin look-alike is replaced by it, and
case and spacing are folded, so ``ACME Software`` written with the Cyrillic letters U+0410, U+0421,
U+041C and U+0415, and ``ACME  software``, have the skeleton of ``ACME Software``. Two names with
one skeleton and different text are two vendors a buyer cannot tell apart: the catalogue and the
centre refuse the second.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from confusable_homoglyphs import confusables


@lru_cache(maxsize=4096)
def _latin(c: str) -> str:
    """The ASCII letter or digit ``c`` is drawn like, or ``c`` itself."""
    found = confusables.is_confusable(c, preferred_aliases=["latin"], greedy=True)
    for entry in found or ():
        for glyph in entry.get("homoglyphs", ()):
            if glyph["c"].isascii() and glyph["c"].isalnum():
                return glyph["c"]
    return c


def skeleton(name: str) -> str:
    """What ``name`` looks like, as a key: Latin look-alikes, case and spacing folded."""
    text = unicodedata.normalize("NFKC", name)
    drawn = "".join(c if c.isascii() else _latin(c) for c in text)
    return " ".join(drawn.casefold().split())


def drawn_like(name: str, others) -> str | None:
    """The first of ``others`` that differs from ``name`` but draws like it, or None."""
    key = skeleton(name)
    return next((o for o in others if o and o != name and skeleton(o) == key), None)
