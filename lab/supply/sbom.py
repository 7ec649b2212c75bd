"""The SBOM of one install, in CycloneDX JSON (1.6), built with cyclonedx-python-lib.

What it lists (``DIR/sbom/<target>.cdx.json``): the product itself (``metadata.component``), its own
packages, every package the install brought in from the target's repositories at the exact version
the target resolved (``lab:role`` ``product`` / ``dependency``), the components the lab found bundled
inside its artifacts (``lab:role`` ``bundled``, ``lab:best-effort`` ``true``: identified from their
metadata, so a component without metadata is missing), and every file the product installed with its
sha256 (``type: file``). Licences are SPDX expressions, each with the file that declares it
(``lab:licence-declared-in``). The lab's own properties are ``lab:*`` (CycloneDX's property names).

Example::

    text = build(Product("acme-web", "1.0.0", "ACME"), "debian12-x86_64", components, files)
    validate(text)   # raises ValueError when the schema refuses it
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

try:  # where 11.x keeps them; the older location warns
    from cyclonedx.contrib.license.exceptions import InvalidLicenseExpressionException
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # pragma: no cover
    from cyclonedx.exception.factory import InvalidLicenseExpressionException
    from cyclonedx.factory.license import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.license import DisjunctiveLicense
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from packageurl import PackageURL

from lab.supply.licences import Declared

SCHEMA = SchemaVersion.V1_6


@dataclass
class Product:
    name: str
    version: str
    vendor: str


@dataclass
class Component:
    """One component, whichever way the lab found it."""

    role: str                 # product | dependency | bundled
    name: str
    version: str
    purl: str | None = None
    ecosystem: str = ""       # as OSV names it: Debian:12, PyPI, npm, Maven, Go
    match_name: str = ""      # as OSV records name it (Debian: the source package)
    match_version: str = ""
    declared_in: str = ""     # where the lab read it (the package database, a METADATA file...)
    licences: list[Declared] = field(default_factory=list)
    arch: str = ""

    @property
    def ref(self) -> str:
        return self.purl or f"{self.role}:{self.ecosystem}:{self.name}@{self.version}"

    @property
    def who(self) -> str:
        """``libcurl4 (source curl)``: the name a finding gives, its version said beside it."""
        return self.name + (f" (source {self.match_name})" if self.match_name and self.match_name != self.name else "")

    @property
    def label(self) -> str:
        extra = f" (source {self.match_name})" if self.match_name and self.match_name != self.name else ""
        return f"{self.name} {self.version}{extra}"


def deb_purl(name: str, version: str, arch: str, distro: str) -> str:
    return PackageURL("deb", "debian", name, version, {"arch": arch, "distro": distro}).to_string()


def generic_purl(name: str, version: str) -> str:
    """The product itself (a tarball): built, never formatted, since its version is the vendor's
    text (``1.0?arch=x#y`` would otherwise read as qualifiers and a subpath)."""
    return PackageURL("generic", None, name, version).to_string()


def rpm_purl(name: str, version: str, arch: str, namespace: str) -> str:
    return PackageURL("rpm", namespace or None, name, version, {"arch": arch}).to_string()


BUNDLED_TYPES = {"PyPI": "pypi", "npm": "npm", "Go": "golang", "Maven": "maven"}


def bundled_purl(ecosystem: str, name: str, version: str) -> str | None:
    kind = BUNDLED_TYPES.get(ecosystem)
    if kind is None:
        return None
    namespace = None
    if kind == "maven" and ":" in name:
        namespace, name = name.split(":", 1)
    elif kind in ("npm", "golang") and "/" in name:
        namespace, name = name.rsplit("/", 1)
    try:
        return PackageURL(kind, namespace, name, version).to_string()
    except ValueError:
        return None


def _cdx(c: Component, factory: LicenseFactory) -> CdxComponent:
    props = [Property(name="lab:role", value=c.role)]
    if c.role == "bundled":
        props.append(Property(name="lab:best-effort", value="true"))
    if c.declared_in:
        props.append(Property(name="lab:declared-in", value=c.declared_in))
    if c.ecosystem:
        props.append(Property(name="lab:osv-ecosystem", value=c.ecosystem))
    if c.match_name and c.match_name != c.name:
        props.append(Property(name="lab:source-package", value=c.match_name))
    if c.match_version and c.match_version != c.version:
        props.append(Property(name="lab:source-version", value=c.match_version))
    for d in c.licences:
        props.append(Property(name="lab:licence-declared-in", value=f"{d.expression}: {d.declared_in}"))
    return CdxComponent(name=c.name, version=c.version or None, bom_ref=c.ref,
                        type=ComponentType.APPLICATION if c.role == "product" else ComponentType.LIBRARY,
                        purl=PackageURL.from_string(c.purl) if c.purl else None, licenses=_licences(c, factory),
                        properties=props)


def _licences(c: Component, factory: LicenseFactory) -> list:
    """One SPDX expression of all its licences (every DEP-5 paragraph applies: AND); where CycloneDX's
    checker refuses it (an exception SPDX does not know after WITH), each licence by its name."""
    expressions = list(dict.fromkeys(d.expression for d in c.licences))
    if not expressions:
        return []
    joined = " AND ".join(f"({e})" if " " in e else e for e in expressions)
    try:
        return [factory.make_with_expression(joined) if " " in joined else factory.make_from_string(joined)]
    except (InvalidLicenseExpressionException, ValueError):
        return [_one_licence(e, factory) for e in expressions]


def _one_licence(expression: str, factory: LicenseFactory) -> DisjunctiveLicense:
    """A licence entry that may stand beside others: CycloneDX refuses an expression among several
    entries, so anything that is not a plain SPDX id (``LicenseRef-...``, ``A WITH B``) goes by name."""
    made = factory.make_from_string(expression) if " " not in expression else None
    return made if isinstance(made, DisjunctiveLicense) else DisjunctiveLicense(name=expression[:500])


def build(product: Product, target: str, components: list[Component], files: dict[str, str],
          notes: list[str] | None = None) -> str:
    """The SBOM as CycloneDX JSON text. ``files``: installed path -> sha256 (or "" if unread)."""
    factory = LicenseFactory()
    bom = Bom()
    root = CdxComponent(name=product.name, version=product.version, type=ComponentType.APPLICATION,
                        bom_ref=f"product:{product.name}@{product.version}",
                        properties=[Property(name="lab:vendor", value=product.vendor),
                                    Property(name="lab:target", value=target)])
    bom.metadata.component = root
    for note in notes or []:
        bom.metadata.properties.add(Property(name="lab:note", value=note))
    seen: set[str] = set()
    made = []
    for c in components:
        if c.ref in seen:
            continue
        seen.add(c.ref)
        made.append(_cdx(c, factory))
    for cdx in made:
        bom.components.add(cdx)
    for path, digest in sorted(files.items()):
        ref = f"file:{path}"
        if ref in seen:
            continue
        seen.add(ref)
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=digest)] if digest else []
        bom.components.add(CdxComponent(name=path, type=ComponentType.FILE, bom_ref=ref, hashes=hashes,
                                        properties=[Property(name="lab:role", value="file")]))
    bom.register_dependency(root, made)  # what the install brought; their own graph is the OS's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "dependency graph incomplete": it says so above
        return JsonV1Dot6(bom).output_as_string(indent=2)


def validate(text: str) -> None:
    """Raise ``ValueError`` naming the problem when the CycloneDX 1.6 schema refuses ``text``."""
    error = _validator().validate_str(text)
    if error is not None:
        raise ValueError(f"the SBOM does not validate against CycloneDX {SCHEMA.to_version()}: {error}")


def warm_up() -> None:
    """Load the validator in the background (jsonschema, the schema with SPDX's licence list: a third of
    a second or more), and SPDX's licence matcher (``lab.supply.licences.ready``), while the worker
    waits on its target, so ``supply.sbom`` and ``supply.licences`` do not. A failure here is left for
    ``validate`` to raise."""
    def work() -> None:
        with contextlib.suppress(Exception), _LOADING:  # validate() meets a failure again, and says it
            _load_validator().validate_str('{"bomFormat": "CycloneDX", "specVersion": "1.6"}')  # the schema read
        with contextlib.suppress(Exception):
            from lab.supply.licences import ready

            ready()

    threading.Thread(target=work, name="sbom-validator", daemon=True).start()


_LOADING = threading.Lock()


def _validator():
    with _LOADING:
        return _load_validator()


@cache
def _load_validator():
    """One per process: it holds the parsed schema (with SPDX's licence list) and its format checkers."""
    _one_iri_parser()
    from cyclonedx.validation.json import JsonStrictValidator

    return JsonStrictValidator(SCHEMA)


IRI_SYNTAX = ("rfc3987-syntax", "1.1.0")  # the release whose ``is_valid_syntax`` the stand-in repeats


def _one_iri_parser() -> None:
    """jsonschema checks the schema's ``iri-reference`` fields with ``rfc3987_syntax.is_valid_syntax``, one
    Lark parser; importing that package also builds 38 more, one per grammar rule, that nothing calls:
    about 3 s of a worker's CPU. Before jsonschema first imports it, a module with that one function
    stands in: the package's own grammar file, the same parser and start rules, so the same answers
    (tests/test_sbom_iri.py compares them), built at the first IRI checked. Any other name asked of it
    loads the real package. Another release of it, or jsonschema already loaded, is left alone."""
    if "rfc3987_syntax" in sys.modules or "jsonschema" in sys.modules:
        return
    from importlib import metadata, util

    try:
        spec = util.find_spec(IRI_SYNTAX[0].replace("-", "_"))
        version = metadata.version(IRI_SYNTAX[0])
    except (ImportError, ValueError, metadata.PackageNotFoundError):
        return
    if spec is None or not spec.submodule_search_locations or version != IRI_SYNTAX[1]:
        return
    grammar = Path(next(iter(spec.submodule_search_locations))) / "syntax_rfc3987.lark"
    if grammar.is_file():
        sys.modules[spec.name] = _iri_module(spec.name, grammar)


def _iri_module(name: str, grammar: Path) -> types.ModuleType:
    module = types.ModuleType(name, "rfc3987_syntax's is_valid_syntax alone (lab.supply.sbom._one_iri_parser)")

    @cache
    def parser():
        from lark import Lark

        return Lark(grammar.read_text(encoding="utf-8"), start=["iri", "iri_reference", "absolute_iri"],
                    parser="earley")

    def is_valid_syntax(term: str, value: str) -> bool:
        from lark import exceptions

        try:
            parser().parse(value, start=term)
            return True
        except exceptions.LarkError:
            return False

    def __getattr__(attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        import importlib

        if sys.modules.get(name) is module:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)

    module.is_valid_syntax, module.__getattr__ = is_valid_syntax, __getattr__
    return module
