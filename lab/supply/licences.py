"""Licences as SPDX expressions, and the lab's policy against them.

Sources, in the words each speaks: Debian's machine-readable ``copyright`` files (DEP-5, read with
python-debian), rpm's ``License`` tag, a bundled component's own metadata, and licence files found
in tarballs, recognised by Debian's ``licensecheck`` (run on the controller over copies of the
texts: it reads them, nothing of the vendor's runs). Debian's short names (``GPL-2+``, ``Expat``)
and anything else are normalised to SPDX by ``license-expression``; a name SPDX does not know stays
as ``LicenseRef-<name>``, so nothing is lost.

The policy (``[lab.policy] forbidden_licences``) compares licence *families*: forbidding
``AGPL-3.0-only`` also refuses ``AGPL-3.0-or-later`` (that code is just as much under the AGPL).
An ``OR`` lets the recipient choose: only an expression that cannot be satisfied without a
forbidden licence counts.

Example::

    normalise("GPL-2+ or Artistic")        # "GPL-2.0-or-later OR Artistic-1.0-Perl"
    forbidden_in("MIT OR AGPL-3.0-only", ["AGPL-3.0-only"])   # [] (MIT may be chosen)
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from license_expression import AND, OR, ExpressionError, LicenseSymbol, LicenseWithExceptionSymbol, get_spdx_licensing

from lab.errors import InfrastructureError

SPDX = get_spdx_licensing()
WORDS_MOST = 2000  # names in one licence field parsed as an expression (a vendor's may hold thousands)
# license-expression builds its matcher at the first parse and publishes it before it is complete: a
# parse in another thread meanwhile fails (a review: the worker's warm-up thread beside a check).
_MATCHER = threading.Lock()
DEBIAN = {"expat": "MIT", "artistic": "Artistic-1.0-Perl", "public-domain": "LicenseRef-public-domain",
          "bsd-3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause", "bsd-4-clause": "BSD-4-Clause",
          "zlib": "Zlib", "psf-2": "PSF-2.0", "python": "PSF-2.0", "mpl-2.0": "MPL-2.0", "ssleay": "OpenSSL",
          "x11": "X11", "isc": "ISC", "cc0": "CC0-1.0", "unicode": "Unicode-DFS-2016", "curl": "curl",
          "gfdl-1.2+": "GFDL-1.2-or-later", "gfdl-1.3+": "GFDL-1.3-or-later",
          "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later"}
GNU = re.compile(r"^(A|L)?GPL-?(\d)(?:\.(\d))?(\+|-only|-or-later)?$", re.I)
NOT_FOUND = {"", "unknown", "none", "noassertion", "generated", "unknown-license"}
LICENSECHECK_TIMEOUT = 300
# license-expression refuses some malformed text with these rather than ExpressionError ("MIT and ()":
# IndexError; "(,X and Y)": AssertionError); a vendor's licence field must never crash the check
PARSE_ERRORS = (ExpressionError, IndexError, AssertionError, TypeError, ValueError, RecursionError)


def _word(word: str) -> str:
    """One licence name (no operators) in SPDX spelling."""
    low = word.lower()
    if low in DEBIAN:
        return DEBIAN[low]
    m = GNU.match(word)
    if m:
        kind, major, minor, suffix = m.groups()
        family = f"{(kind or '').upper()}GPL"
        minor = minor or "0"
        suffix = "-or-later" if suffix in ("+", "-or-later") else "-only"
        return f"{family}-{major}.{minor}{suffix}"
    return word


def ready() -> None:
    """SPDX's licence list made into license-expression's matcher (a sixth of a second, built at the
    first parse), here and now: a worker does it while it waits on its target (``lab.supply.sbom.warm_up``)."""
    normalise("MIT AND GPL-2.0-or-later")


def normalise(text: str) -> str | None:
    """An SPDX expression for a declared licence, or None when nothing is declared."""
    text = " ".join((text or "").split())
    if text.lower() in NOT_FOUND:
        return None
    tokens = re.split(r"(\s+|\(|\)|,)", text)
    words = []
    for t in tokens:
        if not t or t.isspace():
            continue
        low = t.lower()
        if t == ",":
            words.append(",")   # DEP-5: "GPL-2+, or Artistic": a comma beside an operator is only punctuation
        elif low in ("and", "or", "with") or t in "()":
            words.append(low.upper() if low in ("and", "or", "with") else t)
        else:
            words.append(_word(t))
    ops = ("AND", "OR", ",")
    kept = [w for i, w in enumerate(words)
            if w != "," or not ((i + 1 < len(words) and words[i + 1] in ops) or (i and words[i - 1] in ops))]
    if len(kept) > 2 * WORDS_MOST:
        return _every_known(kept, text)
    cleaned = " ".join("OR" if w == "," else w for w in kept)
    try:
        with _MATCHER:
            expr = SPDX.parse(cleaned)
            unknown = set(SPDX.unknown_license_keys(expr)) if expr is not None else set()
    except PARSE_ERRORS:
        return _reference(text)
    if expr is None:
        return None
    rendered = expr.render()
    refs = {key: "LicenseRef-" + _in_reference(key).strip("-") for key in unknown if not key.startswith("LicenseRef-")}
    if not refs:
        return rendered
    # each unknown name wherever it stands alone, in one pass (a pass per name was quadratic: a
    # review's field of 8000 names took 43 s, now 1 s)
    names = re.compile(r"(?<![\w.+-])(?:" + "|".join(re.escape(k) for k in sorted(refs, key=len, reverse=True))
                       + r")(?![\w.+-])")
    return names.sub(lambda m: refs[m.group(0)], rendered)


def _every_known(words: list[str], text: str) -> str | None:
    """A field of more names than ``WORDS_MOST`` (license-expression's parse of so many takes
    minutes): each name SPDX knows, all taken as required, and one reference for the rest, so a
    policy still sees every licence it may forbid."""
    known = [w for w in dict.fromkeys(words) if w in SPDX.known_symbols]
    rest = _reference(text)
    return " AND ".join([*known, *([rest] if rest else [])]) or None


def _reference(text: str) -> str | None:
    ref = _in_reference(text)[:120].strip("-")
    return f"LicenseRef-{ref}" if ref else None


def _in_reference(text: str) -> str:
    """``text`` in the characters an SPDX ``LicenseRef-`` may hold."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)


def family(spdx_id: str) -> str:
    return re.sub(r"(-only|-or-later|\+)$", "", spdx_id).lower()


def forbidden_in(expression: str, forbidden: list[str]) -> list[str]:
    """The forbidden licences an expression cannot do without (empty: it is acceptable)."""
    if not expression or not forbidden:
        return []
    banned = {family(f) for f in forbidden}
    try:
        with _MATCHER:
            expr = SPDX.parse(expression)
    except PARSE_ERRORS:
        return []

    def bad(node) -> list[str]:
        if isinstance(node, LicenseWithExceptionSymbol):
            return bad(node.license_symbol)
        if isinstance(node, LicenseSymbol):
            return [node.key] if family(node.key) in banned else []
        if isinstance(node, OR):
            parts = [bad(a) for a in node.args]
            return [] if any(not p for p in parts) else [k for p in parts for k in p]
        if isinstance(node, AND):
            return [k for a in node.args for k in bad(a)]
        return []
    return list(dict.fromkeys(bad(expr)))


@dataclass
class Declared:
    """A licence as one file declares it."""

    expression: str     # SPDX
    declared_in: str    # the file (on the target, or inside an artifact) that says so


def debian_copyright(text: bytes, path: str) -> list[Declared] | None:
    """Each distinct licence of a DEP-5 ``copyright`` file (None when it is not machine-readable: its
    first paragraph names no ``Format``).

    Read with python-debian's plain deb822 parser, the licence of each ``Files`` paragraph being the
    first line of its ``License`` field, which is what ``debian.copyright.Copyright`` answers: its
    round-trip parser took a twentieth of a second a file, half a second of every target's SBOM,
    for the same licences on all 936 copyright files of this machine (tests/test_supply_licences.py).
    What that parser refused is refused here too, so ``licensecheck`` reads it as text: a clearsigned
    file, a NUL byte. (A paragraph naming ``License`` twice: the last counts here, the first there.)"""
    from debian.deb822 import Deb822

    if b"\0" in text or text.lstrip().startswith(b"-----BEGIN PGP"):
        return None  # not one python-debian's parser reads either: licensecheck reads it as text
    try:
        paragraphs = list(Deb822.iter_paragraphs(text.decode("utf-8", "replace").splitlines(), use_apt_pkg=False))
    except (ValueError, KeyError, AttributeError, TypeError):
        return None
    if not paragraphs or not any(k.lower() in ("format", "format-specification") for k in paragraphs[0]):
        return None
    found: dict[str, Declared] = {}
    for para in paragraphs[1:]:
        if "Files" not in para:
            continue
        synopsis = (para.get("License") or "").split("\n", 1)[0].strip()
        spdx = normalise(synopsis)
        if spdx and spdx not in found:
            found[spdx] = Declared(spdx, path)
    return list(found.values())


def licensecheck(texts: dict[str, bytes]) -> dict[str, str]:
    """``{path: SPDX expression}`` for each text ``licensecheck`` recognises, in one call."""
    if not texts:
        return {}
    with tempfile.TemporaryDirectory(prefix="lab-licences-") as tmp:
        names: dict[str, list[str]] = {}  # each different text once: a thousand copies of MIT, one read
        written: dict[bytes, str] = {}
        for path, data in texts.items():
            if data not in written:
                written[data] = f"{len(written):05d}.txt"
                (Path(tmp) / written[data]).write_bytes(data)
            names.setdefault(written[data], []).append(path)
        try:
            out = subprocess.run(["licensecheck", "--machine", "--deb-fmt", "--lines=0", "--recursive", "."],
                                 cwd=tmp, capture_output=True, text=True, timeout=LICENSECHECK_TIMEOUT).stdout
        except FileNotFoundError:
            raise InfrastructureError("licensecheck is needed to read licence files: install Debian's "
                                      "licensecheck package (./labw does)") from None
        except subprocess.TimeoutExpired:
            raise InfrastructureError(f"licensecheck took longer than {LICENSECHECK_TIMEOUT} s") from None
    found = {}
    for line in out.splitlines():
        name, _, licence = line.partition("\t")
        name = Path(name).name
        spdx = normalise(licence.replace(" and/or ", " or "))
        if name in names and spdx:
            found.update(dict.fromkeys(names[name], spdx))
    return found


def judge(components, forbidden: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(findings that fail, forbidden licences only in OS packages, components without a licence).

    The product's own packages and what it bundles decide; packages the install brought from the
    target's repositories are listed but not held against it (the OS distributes them to the buyer
    under its own terms, whatever the product is)."""
    bad, os_only, unknown = [], [], []
    for c in components:
        if not c.licences:
            unknown.append(f"{c.label} ({c.role}; {c.declared_in})")
            continue
        for d in c.licences:
            hits = forbidden_in(d.expression, forbidden)
            if hits:
                line = f"{c.label} ({c.role}): {', '.join(hits)} declared in {d.declared_in} ({d.expression})"
                (os_only if c.role == "dependency" else bad).append(line)
    return bad, os_only, unknown
