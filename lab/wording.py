"""Refusals written once: said in English where they are raised (the API and ``lab validate`` answer
them so, word for word: their contract), and put into the page's language by the portal.

A ``Wording`` is that English sentence with ``%(name)s`` placeholders; it is also the gettext
message id (marked ``N_`` where it is written, so the catalogues have it). Where the refusal is
raised it is said (``TOO_MANY.say(most=16)`` -> ``"more than 16 form fields"``), and it travels as
plain text: through ``InputError.problems``, an upload's ``Problem.message``, an exception's
detail, the API's documents, none of which change. A page reads the text back (``lab.i18n.words``): a text
one of the wordings said is translated and its parameters put back as they were said; any other
text is shown as it is.

Why the text rather than a typed error carried to the page: every layer between the two already
holds text, so nothing in between learns about languages. The parameters (a file's name, a broker's
complaint: often a vendor's words) never pass through gettext and the result is plain text, which
the templates escape like any other; ``own`` names the parameters that hold one of the lab's own
words (a cell's state), which the page may translate too.
"""

from __future__ import annotations

import re


def N_(text: str) -> str:
    """Marks ``text`` for extraction without translating it now (it is translated where shown).
    Here rather than in ``lab.i18n`` so that marking a wording costs no import of Babel."""
    return text


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_KNOWN: dict[str, Wording] = {}  # every wording made, by its English text (a module's import makes its own)
_sorted: tuple[int, list[Wording]] = (0, [])  # (how many were made, in the order known() tries them)
READ_MAX = 2000  # characters: a longer text is never read back (shown as it is, in English)


class Wording(str):
    """An English refusal with ``%(name)s`` placeholders (the message id); ``say`` it, ``read`` it back."""

    def __new__(cls, template: str, own: tuple[str, ...] = ()) -> Wording:
        self = super().__new__(cls, template)
        parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, ..., literal
        self.literals, self.names = parts[0::2], parts[1::2]
        self.own = own
        self.fixed = sum(map(len, self.literals))  # the more literal text, the surer a match
        _KNOWN[str(template)] = self
        return self

    def say(self, **params: object) -> str:
        """The refusal in English, as the API answers it."""
        return str(self) % params

    def read(self, text: str) -> dict[str, str] | None:
        """The parameters this wording said ``text`` with; None: it did not say it.

        Read left to right in one pass: each parameter runs to the first place the literal text
        after it is found, the last one to the wording's end. No other split is ever tried (a
        regular expression would backtrack through them: a vendor's text of a few kilobytes, made
        of the wordings' own phrases, took seconds), so a text that only one of those splits would
        read is not read: it is shown as it is."""
        lits, names = self.literals, self.names
        if not names:
            return {} if text == lits[0] else None
        end = len(text) - len(lits[-1])
        if not (text.startswith(lits[0]) and text.endswith(lits[-1])) or end <= len(lits[0]):
            return None
        at, params = len(lits[0]), {}
        for i, name in enumerate(names):
            if i == len(names) - 1:
                stop, after = end, end
            else:
                stop = text.find(lits[i + 1], at + 1, end) if lits[i + 1] else at + 1
                if stop < 0:
                    return None
                after = stop + len(lits[i + 1])
            value = text[at:stop]
            if not value or params.get(name, value) != value:
                return None
            params[name], at = value, after
        return params


def _most_literal_first() -> list[Wording]:
    """Every wording made, the most literal first: sorted once, again only when more were made
    (a module imported later); replaced whole, so a reader in another thread sees one or the other."""
    global _sorted
    made, order = _sorted
    if made != len(_KNOWN):
        order = sorted(list(_KNOWN.values()), key=lambda w: -w.fixed)
        _sorted = (len(order), order)
    return order


def known(text: str, among=None) -> tuple[Wording, dict[str, str]] | None:
    """The wording that said ``text`` and its parameters (the most literal one, if several could),
    from ``among`` (an iterable of wordings; default every one made)."""
    if len(text) > READ_MAX:
        return None
    candidates = _most_literal_first() if among is None else sorted(among, key=lambda w: -w.fixed)
    exact = _KNOWN.get(text)
    if exact is not None and not exact.names and exact in candidates:
        return exact, {}
    for wording in candidates:
        params = wording.read(text)
        if params is not None:
            return wording, params
    return None
