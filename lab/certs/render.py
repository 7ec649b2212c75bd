"""Certificates for people: an HTML page beside the signed JSON (which alone is authoritative)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape

ENV = Environment(loader=PackageLoader("lab", "templates"), autoescape=select_autoescape(default=True))


def certificate_html(cert: dict, json_name: str, root: str = "") -> str:
    return ENV.get_template("certificate.html.j2").render(
        c=cert["certificate"], s=cert["signature"], json_name=json_name, lab=cert["certificate"]["lab"], root=root)
