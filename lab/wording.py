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


class Wording(str):
    """An English refusal with ``%(name)s`` placeholders (the message id); ``say`` it, ``read`` it back."""

    def __new__(cls, template: str, own: tuple[str, ...] = ()) -> Wording:
        self = super().__new__(cls, template)
        pattern, seen, at = [], set(), 0
        for m in _PLACEHOLDER.finditer(template):
            name = m.group(1)
            pattern += [re.escape(template[at:m.start()]), f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"]
            seen.add(name)
            at = m.end()
        pattern.append(re.escape(template[at:]))
        self.pattern = re.compile("".join(pattern), re.S)
        self.own = own
        self.fixed = len(_PLACEHOLDER.sub("", template))  # the more literal text, the surer a match
        _KNOWN[str(template)] = self
        return self

    def say(self, **params: object) -> str:
        """The refusal in English, as the API answers it."""
        return str(self) % params

    def read(self, text: str) -> dict[str, str] | None:
        """The parameters this wording said ``text`` with; None: it did not say it."""
        m = self.pattern.fullmatch(text)
        return m.groupdict() if m else None


def known(text: str) -> tuple[Wording, dict[str, str]] | None:
    """The wording that said ``text`` and its parameters (the most literal one, if several could)."""
    exact = _KNOWN.get(text)
    if exact is not None and not _PLACEHOLDER.search(exact):
        return exact, {}
    for wording in sorted(_KNOWN.values(), key=lambda w: -w.fixed):
        params = wording.read(text)
        if params is not None:
            return wording, params
    return None

