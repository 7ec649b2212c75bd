"""The SBOM check's stand-in for rfc3987_syntax answers as the real package does (lab.supply.sbom)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from lab.supply import sbom

IRIS = ["http://example.com/a?b#c", "https://exämple.com/ä?ö#ü", "http://a:b@c:80/d?e#f", "http://[::1]:80/",
        "http://example.com/a b", "../x?y#z", "rel", "", "%zz", "mailto:a@b", "urn:isbn:0451450523",
        "pkg:deb/debian/libcurl4@7.88.1-10%2Bdeb12u8?arch=amd64", "http://%41/", "a:\u0007", "//host/p"]


@pytest.mark.skipif(metadata.version(sbom.IRI_SYNTAX[0]) != sbom.IRI_SYNTAX[1],
                    reason="another rfc3987-syntax: the stand-in is not used")
def test_the_stand_in_gives_the_real_packages_answers():
    import rfc3987_syntax

    grammar = Path(rfc3987_syntax.__file__).parent / "syntax_rfc3987.lark"
    stand_in = sbom._iri_module("rfc3987_syntax_stand_in", grammar)
    for term in ("iri", "iri_reference"):
        for value in IRIS:
            assert stand_in.is_valid_syntax(term, value) == rfc3987_syntax.is_valid_syntax(term, value), (term, value)


def test_a_fresh_process_validates_with_the_stand_in_and_still_checks_iris():
    """In a process where jsonschema is not loaded yet (a worker's), the stand-in serves jsonschema; a bad
    IRI in an ``iri-reference`` field is still refused; any other name loads the real package."""
    probe = """
import json, sys
from lab.supply.sbom import Product, build, validate
text = build(Product("acme", "1.0", "ACME"), "debian12-x86_64", [], {})
validate(text)
stand_in = sys.modules["rfc3987_syntax"]
doc = json.loads(text)
doc["externalReferences"] = [{"type": "website", "url": "http://example.com/a b"}]
try:
    validate(json.dumps(doc))
except ValueError as exc:
    print("refused", "'http://example.com/a b' is not valid" in str(exc))
doc["externalReferences"] = [{"type": "website", "url": "http://example.com/a"}]
validate(json.dumps(doc))
print("stand-in", sys.modules["rfc3987_syntax"] is stand_in)
print("real", len(stand_in.RFC3987_SYNTAX_TERMS) > 30, sys.modules["rfc3987_syntax"] is not stand_in)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["refused True", "stand-in True", "real True True"]
