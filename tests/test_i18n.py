"""Chinese and English: the catalogues hold every message a person reads, the templates hard-code
none, and pages render in the language asked for (CONTRACT section 8)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment

from lab import i18n
from lab.catalogue.publish import localised, publish
from lab.catalogue.record import record_run
from lab.certs.keys import load_or_create
from lab.certs.render import ENV, certificate_html
from lab.i18n.extract import extract_catalogue
from lab.inventory.model import LabSettings
from tests.conftest import ROOT
from tests.test_catalogue import engine, target, write_run  # noqa: F401 (a fixture)

SHIPPED = [lang for lang in LabSettings.model_fields["languages"].default_factory() if lang != i18n.SOURCE]
# The templates of pages a buyer, a vendor or a reader of the report sees, checked for literal text.
TEMPLATES = sorted([*(ROOT / "lab/templates").glob("*.j2"), *(ROOT / "lab/report/templates").glob("*.j2"),
                    *(ROOT / "lab/centre/templates").glob("*.j2")])
# Literal words that are not language: commands, file names, formats, code.
TECHNICAL = {"matrix.json", "sha256", "lab", "certificate", "verify", "CERTIFICATE.json", "lab-signing-key.pub.pem",
             "key", "artifact", "FILE", "json", "nbsp", "verdicts.json"}


@pytest.fixture(scope="module")
def extracted():
    return extract_catalogue()


@pytest.mark.parametrize("lang", SHIPPED)
def test_every_message_has_a_translation(extracted, lang):
    """Every message in the sources (templates, Python, the check registry) is translated in each
    shipped catalogue, not fuzzy, with the same placeholders."""
    with i18n.catalogue_path(lang).open("rb") as fp:
        catalogue = read_po(fp, locale=i18n.locale_code(lang))
    missing, fuzzy, placeholders = [], [], []
    for message in extracted:
        if not message.id:
            continue
        found = catalogue.get(message.id, context=message.context)
        strings = [found.string] if found is not None and isinstance(found.string, str) else \
            list(found.string) if found is not None else []
        if not found or not all(strings):
            missing.append(message.id)
        elif found.fuzzy:
            fuzzy.append(message.id)
        else:
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            want = set(re.findall(r"%\(\w+\)[sd]", "".join(ids)))
            if any(set(re.findall(r"%\(\w+\)[sd]", s)) != want for s in strings):
                placeholders.append(message.id)
    hint = "run: pybabel extract -F babel.cfg -o lab/locale/messages.pot . && pybabel update -i " \
           "lab/locale/messages.pot -d lab/locale --no-wrap, then translate"
    assert not missing, f"untranslated in {lang} ({hint}): {missing}"
    assert not fuzzy, f"fuzzy (unchecked) in {lang}: {fuzzy}"
    assert not placeholders, f"placeholders differ from the English in {lang}: {placeholders}"


def test_the_extraction_finds_templates_python_and_the_registry(extracted):
    ids = {m.id for m in extracted}
    assert {"Compatibility matrix", "Software adaptation test report"} <= ids  # templates
    assert {"the product's fault", "passed with waivers"} <= ids  # Python (N_)
    assert {"Installing the package", "portability: installability", "Installing it"} <= ids  # the registry


def literal_text(source: str, env: Environment) -> list[str]:
    """Words in a template's literal text (Jinja's lexer: outside every ``{{ }}``/``{% %}``), outside
    tags, ``<style>``/``<script>``/``<pre>``/``<code>``, and in the attributes people read."""
    data = "".join(value if kind == "data" else "\x00" for _, kind, value in env.lex(source))
    words = []
    for attr in re.findall(r'\b(?:placeholder|title|alt|aria-label)="([^"\x00]*)"', data):
        words += re.findall(r"[A-Za-z]{2,}", attr)
    text = re.sub(r"<(style|script|pre|code)\b[\s\S]*?</\1>", " ", data)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"&[a-z]+;", " ", text)
    words += [w for w in re.findall(r"[A-Za-z][A-Za-z0-9.\-]+", text) if w not in TECHNICAL]
    return words


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_hard_codes_text(template):
    assert literal_text(template.read_text(), ENV) == [], \
        f"{template}: wrap the words a person reads in {{{{ _(\"...\") }}}}"


def test_the_heuristic_catches_unwrapped_text():
    assert literal_text('<p>Hello {{ _("World") }}</p><input placeholder="Search">', ENV) == ["Search", "Hello"]
    assert literal_text('<p>{{ _("Hello") }} <code>lab run</code></p>', ENV) == []


def test_one_environment_renders_each_page_in_the_language_asked_for():
    template = ENV.from_string('<html lang="{{ lang }}">{{ _("Compatibility matrix") }} {{ v | verdict }} '
                               '{{ name | verdict }} {{ when | date }}</html>')
    page = {lang: i18n.render(ENV, template, lang, v="failed", name="Acme <passed>", when="2026-11-30T08:00:00+00:00")
            for lang in ("zh-CN", "en")}
    assert page["zh-CN"] == '<html lang="zh-CN">兼容性矩阵 不通过 Acme &lt;passed&gt; 2026年11月30日</html>'
    assert page["en"] == '<html lang="en">Compatibility matrix failed Acme &lt;passed&gt; Nov 30, 2026</html>'
    assert i18n.current() == "en"  # nothing leaks out of a render


def test_numbers_and_dates_are_localised():
    with i18n.language("zh-CN"):
        assert i18n.number_words(1234567) == "1,234,567"
        assert i18n.datetime_words("2026-11-30T08:05:00+00:00") == "2026年11月30日 08:05:00"
        assert i18n.yes_no("True") == "是" and i18n.fact_label("kernel") == "内核"
        assert i18n.check_title("install.package") == "安装软件包"
        assert i18n.characteristic_words("portability: installability") == "可移植性：易安装性"  # noqa: RUF001
    with i18n.language("en"):
        assert i18n.date_words("2026-11-30") == "Nov 30, 2026" and i18n.yes_no(False) == "no"


def test_a_translated_message_still_escapes_a_vendors_words():
    page = i18n.render(ENV, ENV.from_string('{{ _("by %(vendor)s", vendor=v) }}'), "zh-CN", v="<script>x</script>")
    assert page == "厂商：&lt;script&gt;x&lt;/script&gt;"  # noqa: RUF001


VENDOR = "Acme Failed & Passed Co."  # a vendor's words are never translated, even verdict-like ones


def _site(engine, tmp_path):  # noqa: F811
    key = load_or_create(tmp_path / "key.pem")
    for run, verdicts in (("r1", {"t1": "failed", "t2": "passed"}), ("r2", {"t1": "passed"})):
        record_run(engine, write_run(tmp_path, run, verdicts, name="acme" if run == "r1" else "notes",
                                     certify_with=key, reason="install.package: needs GLIBC_2.38", vendor=VENDOR,
                                     facts={"arch": "x86_64", "emulated": "False"}))
    out = tmp_path / "site"
    publish(engine, out, "Lab", tmp_path / "key.pem", targets=[target("t1", "Debian 12"), target("t2", "Kylin")],
            languages=["zh-CN", "en"])
    return out


def test_the_static_site_is_written_in_each_language_and_links_stay_in_it(engine, tmp_path):  # noqa: F811
    out = _site(engine, tmp_path)
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html") if "reports/" not in p.as_posix())
    default = [p for p in pages if not p.endswith(".en.html")]
    assert default and sorted(localised(p, "en", "zh-CN") for p in default) == [p for p in pages if p not in default]
    for page in pages:
        english = page.endswith(".en.html")
        text = (out / page).read_text(encoding="utf-8")
        assert f'<html lang="{"en" if english else "zh-CN"}">' in text, page
        switch = dict(re.findall(r'<a class="lang" lang="([^"]+)" hreflang="[^"]+" href="([^"]+)"', text))
        assert list(switch) == (["zh-CN"] if english else ["en"]), page
        assert ((out / page).parent / switch[next(iter(switch))]).is_file(), page
        for link in re.findall(r'href="([^"#:]+\.html)"', text):
            if "reports/" in link:
                continue
            assert link.endswith(".en.html") == english or link in switch.values(), (page, link)
            assert ((out / page).parent / link).resolve().is_file(), (page, link)
    index = html.unescape((out / "index.html").read_text(encoding="utf-8"))
    assert "兼容性矩阵" in index and "不通过" in index and "产品的问题" in index and "安装软件包" in index
    assert "notes" in index and VENDOR in index and "needs GLIBC_2.38" in index  # a vendor's words as they are
    english = html.unescape((out / "index.en.html").read_text(encoding="utf-8"))
    assert "Compatibility matrix" in english and "the product's fault" in english and "兼容性矩阵" not in english
    assert '"fault": "the product\'s fault"' in (out / "matrix.json").read_text()  # one matrix.json, for machines


def test_a_certificate_page_in_a_run_folder_is_in_the_default_language(tmp_path):
    key = load_or_create(tmp_path / "key.pem")
    from lab.certs.certificate import issue
    from lab.results.model import Verdicts

    run = write_run(tmp_path, "r1", {"t1": "passed"}, certify_with=key)
    verdicts = Verdicts.model_validate_json((run / "verdicts.json").read_text())
    cert = issue(verdicts, "t1", verdicts.targets["t1"], key, "Lab")
    page = certificate_html(cert, "t1.json")
    assert '<html lang="zh-CN">' in page and "兼容性证书" in page and "安装软件包" in page
    assert "Certificate of compatibility" in certificate_html(cert, "t1.json", lang="en")


def test_the_catalogue_files_are_where_pybabel_puts_them():
    assert Path(i18n.catalogue_path("zh-CN")) == ROOT / "lab/locale/zh_CN/LC_MESSAGES/messages.po"
    assert (ROOT / "babel.cfg").is_file()


# --- the portal's pages for vendors and engineers -------------------------------------------------

def _portal(template: str, lang: str, **context) -> str:
    from lab.centre import pages

    who = {"name": VENDOR, "engineer": context.pop("engineer", False)}
    return i18n.render(pages.ENV, template, lang, lab="Lab", who=who, csrf="t", **context)


SUBMISSION = {"id": "s1", "product": "failed", "version": "1.0<b>", "state": "running", "published": False,
              "created": "2026-11-30T08:05:00+00:00",
              "cells": [{"target": "t1", "state": "done", "verdict": "failed", "reason": "queued: <i>x</i>",
                         "attempts": 2},
                        {"target": "t2", "state": "queued", "verdict": None, "reason": "", "attempts": 1}]}


def test_the_vendors_pages_are_chinese_or_english_and_a_vendors_words_stay_as_they_are():
    page = {lang: _portal("submissions.html.j2", lang, views=[{**SUBMISSION, "org": "ACME"}], unfinished=True,
                          max_bytes=512 << 20) for lang in ("zh-CN", "en")}
    zh = html.unescape(page["zh-CN"])
    assert f"{VENDOR} 的送测申请" in zh and "上传送测申请" in zh and "不超过 512 MiB" in zh
    assert "测试中" in zh and "t1: 不通过" in zh and "t2: 排队中" in zh and "2026年11月30日" in zh
    assert ">failed</a>" in page["zh-CN"] and "1.0&lt;b&gt;" in page["zh-CN"]  # the product's name, as it is
    en = html.unescape(page["en"])
    assert f"Submissions of {VENDOR}" in en and "t1: failed" in en and "t2: queued" in en and "送测" not in en

    one = _portal("submission.html.j2", "zh-CN", view=SUBMISSION, vendor=VENDOR, org="ACME", run_id="r1",
                  published_by="", any_done=True)
    assert "状态：" in one and 'data-state="running">测试中<' in one and ">不通过<" in one  # noqa: RUF001
    assert "queued: &lt;i&gt;x&lt;/i&gt;" in one  # a check's message: as it is, escaped, never translated
    assert f"厂商：{html.escape(VENDOR)}" in one and "<i>" not in one  # noqa: RUF001


def test_the_console_and_its_notices_are_translated():
    state = {"now": "2026-11-30T08:05:00+00:00", "lost_after": 120, "workers": [], "running": [], "broken": [],
             "queues": [{"target": "t1", "enabled": True, "queued": 3, "running": 0, "workers": [], "unserved": 3}],
             "to_publish": [{**SUBMISSION, "state": "finished", "org": "ACME"}]}
    notice = {"did": "requeued", "product": "acme", "version": "1.0", "target": "t1", "attempt": 2}
    zh = _portal("console.html.j2", "zh-CN", engineer=True, notice=notice, **state)
    assert "3 个测试任务：没有在线执行节点服务于 t1" in zh and "acme 1.0 在 t1 上的第 2 次尝试已排队" in zh  # noqa: RUF001
    assert ">发布</button>" in zh and "尚无执行节点报到" in zh and "t1: 不通过" in zh
    en = _portal("console.html.j2", "en", engineer=True, notice={**notice, "did": "published"}, **state)
    assert "3 cells: no live worker serves t1" in en and "acme 1.0 published" in en and ">Publish</button>" in en


def test_only_the_portals_own_refusals_are_translated_on_an_error_page():
    from lab.centre import pages

    said = {m: _portal("error.html.j2", "zh-CN", code=404, title="Not found", message=m)
            for m in (pages.NO_SUCH_SUBMISSION, "passed", "upload: a.tar.gz: <x>")}
    assert "送测申请不存在" in said[pages.NO_SUCH_SUBMISSION] and "<h1>未找到</h1>" in said["passed"]
    assert '"problems">passed<' in said["passed"]  # not one of them: as it is (a verdict word too)
    assert "upload: a.tar.gz: &lt;x&gt;" in said["upload: a.tar.gz: <x>"]
