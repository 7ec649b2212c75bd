"""Names that draw alike: a vendor's name on a certificate must not pass for another vendor's.

``skeleton`` follows Unicode's confusables (UTS #39, through ``confusable-homoglyphs``, which
carries Unicode's confusables.txt): each letter that has a Latin look-alike is replaced by it, and
case and spacing are folded, so ``ACME Software`` written with the Cyrillic letters U+0410, U+0421,
U+041C and U+0415, and ``ACME  software``, have the skeleton of ``ACME Software``. Two names with
one skeleton and different text are two vendors a buyer cannot tell apart: the catalogue and the
centre refuse the second. ``look_alike`` is the rule for one name alone (a submission's vendor, an
organisation's names): nothing a page collapses, hides or draws as another script's letter.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from confusable_homoglyphs import confusables

# Printable, yet drawn as nothing (Unicode's default-ignorable letters and marks, the Hangul fillers,
# the blank Braille cell): a name with one looks like the name without it.
INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
                      + "".join(map(chr, range(0xFE00, 0xFE10))) + "".join(map(chr, range(0xE0100, 0xE01F0))))
CONFUSABLE_SCRIPTS = frozenset(("LATIN", "CYRILLIC", "GREEK"))  # whose letters are drawn alike: A, U+0410, U+0391
WORD = re.compile(r"[^\W\d_]+")


def look_alike(name: str) -> str | None:
    """Why ``name`` could be drawn like another name, or None: spaces a page collapses or trims,
    an invisible character, or a word mixing Latin, Cyrillic and Greek letters (``ACM`` and a Cyrillic ``E``)."""
    if name != name.strip() or "  " in name:
        return "must not begin or end with a space, nor hold two spaces in a row (a page shows them as one)"
    hidden = sorted({f"U+{ord(c):04X}" for c in name if c in INVISIBLE})
    if hidden:
        return f"must not contain invisible characters ({', '.join(hidden)})"
    for word in WORD.findall(name):
        scripts = {unicodedata.name(c, "").split(" ")[0] for c in word} & CONFUSABLE_SCRIPTS
        if len(scripts) > 1:
            return f"the word {word!r} mixes {' and '.join(sorted(s.title() for s in scripts))} letters"
    return None


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
