"""Certificates for people: an HTML page beside the signed JSON (which alone is authoritative).

Every template is rendered with autoescape on, whatever its name: every string in a certificate
or the catalogue may come from a vendor.
"""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import Environment, PackageLoader

from lab import i18n
from lab.text import finalize

DEFAULT_LANGUAGE = "zh-CN"  # the first of [lab] languages unless the inventory says otherwise
# finalize: hidden characters (a bidi override in a file name, a window title) written out, not obeyed
ENV = i18n.install(Environment(loader=PackageLoader("lab", "templates"), autoescape=True, finalize=finalize))

# How a buyer checks a certificate without the lab: OpenSSL 3 and python3's standard library, in a
# folder holding certificate.json, the lab's lab-signing-key.pub.pem and the file received.
# docs/buyers.md and the keys page show exactly this; tests run it.
OPENSSL_RECIPE = r"""# 1. the key's fingerprint: "ed25519:" + these 16 digits must be the key id on the lab's keys page
openssl pkey -pubin -in lab-signing-key.pub.pem -outform DER | tail -c 32 | sha256sum | cut -c1-16
# 2. the signed bytes (the "certificate" object: keys sorted, no spaces, UTF-8) and the signature
python3 - certificate.json <<'EOF'
import base64, json, sys
cert = json.load(open(sys.argv[1], encoding="utf-8"))
content = json.dumps(cert["certificate"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
open("content.bin", "wb").write(content.encode("utf-8"))
open("signature.bin", "wb").write(base64.b64decode(cert["signature"]["value"]))
print("signed by key", cert["signature"]["key_id"], "; expires", cert["certificate"]["expires"])
for artifact in cert["certificate"]["artifacts"]:
    print(artifact["sha256"], artifact["path"])
EOF
# 3. the signature: "Signature Verified Successfully" and exit 0, else the certificate was altered
openssl pkeyutl -verify -pubin -inkey lab-signing-key.pub.pem -rawin -in content.bin -sigfile signature.bin
# 4. your file: its sha256 must be one of the certified ones printed in step 2
sha256sum acme-hello_1.2.0_amd64.deb"""

PYTHON_RECIPE = r"""import base64, hashlib, json
from datetime import datetime, timezone
from cryptography.hazmat.primitives.serialization import load_pem_public_key

cert = json.load(open("certificate.json", encoding="utf-8"))
key = load_pem_public_key(open("lab-signing-key.pub.pem", "rb").read())
content = json.dumps(cert["certificate"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
key.verify(base64.b64decode(cert["signature"]["value"]), content.encode("utf-8"))  # InvalidSignature: altered
assert datetime.fromisoformat(cert["certificate"]["expires"]) > datetime.now(timezone.utc), "expired"
digest = hashlib.sha256(open("acme-hello_1.2.0_amd64.deb", "rb").read()).hexdigest()
assert digest in {a["sha256"] for a in cert["certificate"]["artifacts"]}, "not a certified artifact"
print("valid:", cert["certificate"]["id"])"""


def yes_no(value: object) -> str:
    """A fact as a buyer reads it: ``yes``/``no`` for booleans (also ``"True"``), nothing for none."""
    if value is None or value == "" or value == "None":
        return ""
    if value is True or value in ("True", "true"):
        return "yes"
    if value is False or value in ("False", "false"):
        return "no"
    return str(value)


ENV.filters["yes_no"] = i18n.yes_no  # on a page: yes/no in the page's language


def is_expired(expires: object) -> bool:
    """Whether a certificate's expiry has passed as the page is rendered: an expiry that cannot be
    read counts as passed (a page never shows such a certificate as valid)."""
    from datetime import UTC, datetime

    from lab.certs.certificate import when

    try:
        return when(str(expires)) < datetime.now(UTC)
    except ValueError:
        return True


ENV.globals["is_expired"] = is_expired


def _localised(name: str, lang: str, default: str) -> str:
    return name if lang == default or not name.endswith(".html") else f"{name[:-5]}.{lang}.html"


def certificate_html(cert: dict, json_name: str, root: str | None = None, lang: str = DEFAULT_LANGUAGE) -> str:
    """The page beside ``json_name`` in ``lang``; ``root`` is the way to the site's top when it is on
    the site (then the page has the site's header), ``None`` in a run folder."""
    return certificate_pages(cert, json_name, root, [lang])[lang]


def certificate_pages(cert: dict, json_name: str, root: str | None, languages: Sequence[str]) -> dict[str, str]:
    """The page in each language (language -> page), each with a switch to the others, named as the
    site names them (``debian12.html`` in the first language, ``debian12.en.html`` beside it)."""
    default = languages[0]
    page = json_name.rsplit("/", 1)[-1].removesuffix(".json") + ".html"
    switch = {code: _localised(page, code, default) for code in languages} if len(languages) > 1 else None
    pages = {}
    for code in languages:
        def link(url: str, code: str = code) -> str:
            return _localised(url, code, default)
        pages[code] = i18n.render(ENV, "certificate.html.j2", code, c=cert["certificate"], s=cert["signature"],
                                  json_name=json_name, lab=cert["certificate"].get("lab", ""), root=root,
                                  switch=switch, link=link)
    return pages
