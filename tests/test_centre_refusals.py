"""The portal's refusal pages in the page's language (zh-CN by default, English with ``?lang=en``):
a refused upload's problems, the ledger's refusal of a requeue, a 503 when cells cannot be queued.
The API answers the same refusals in its English words, unchanged; a vendor's words (a file's name,
anything said into a refusal) stay as they are, escaped, in both languages.

In process (FastAPI's TestClient, SQLite, no broker), like tests/test_centre_api.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lab import i18n
from lab.centre import pages
from lab.centre.intake import NOT_QUEUED
from lab.centre.models import Cell
from lab.centre.upload import NOT_AN_ARCHIVE, TOO_MANY_FIELDS
from lab.i18n import words
from lab.wording import Wording, known
from tests.centre_app import Centre

pytestmark = pytest.mark.usefixtures("quick_hashes")  # argon2 at its lowest cost

NOT_AN_ARCHIVE_ZH = "不是 .tar.gz 或 .zip 压缩包（根据文件名和开头的字节判断）"  # noqa: RUF001
VENDOR_FILE = "passed <b>1.pdf"  # a vendor's name for a file: a verdict word and markup
VENDOR_FILE_SHOWN = "passed &lt;b&gt;1.pdf"


def problems_of(page: str) -> str:
    """The text of the page's refusal, its tags taken out (entities kept: escaping is checked)."""
    found = re.search(r'class="problems"[^>]*>([\s\S]*?)</(?:div|p)>', page)
    assert found, page[-2000:]
    return re.sub(r"<[^>]+>", "", found.group(1))


def post_upload(centre, csrf: str, name: str, data: bytes, lang: str = ""):
    return centre.client.post(f"/submissions{lang}", files={"submission": (name, data)}, data={"csrf": csrf},
                              follow_redirects=False)


def test_a_refused_uploads_page_is_chinese_by_default_and_english_with_lang_en(centre):
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    r = post_upload(centre, csrf, VENDOR_FILE, b"%PDF-1.4 not an archive at all")
    assert r.status_code == 422 and r.headers["content-language"] == "zh-CN"
    said = problems_of(r.text)
    assert NOT_AN_ARCHIVE_ZH in said and "not a .tar.gz" not in said
    assert VENDOR_FILE_SHOWN in said and "通过" not in said  # the vendor's words: as they are, escaped
    assert "<b>1" not in r.text

    r = post_upload(centre, csrf, VENDOR_FILE, b"%PDF-1.4 not an archive at all", "?lang=en")
    assert r.status_code == 422 and r.headers["content-language"] == "en"
    said = problems_of(r.text)
    assert f"{VENDOR_FILE_SHOWN} archive: not a .tar.gz or .zip archive (by its name and its first bytes)" in said
    assert "<b>1" not in r.text

    r = centre.upload(b"%PDF-1.4 not an archive at all", name=VENDOR_FILE)  # the API: its words, unchanged
    assert r.status_code == 422
    assert r.json() == {"problems": [{"file": VENDOR_FILE, "field": "archive",
                                      "message": "not a .tar.gz or .zip archive (by its name and its first bytes)"}]}
    assert centre.submissions() == 0 and centre.stored() == []


def test_a_vendors_field_in_a_refused_form_stays_literal(centre):
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    fields = {"csrf": csrf, **{f"<i>failed</i>{i}": "x" for i in range(20)}}
    for lang, says in (("", "表单字段超过 16 个"), ("?lang=en", "more than 16 form fields")):
        r = centre.client.post(f"/submissions{lang}", files={"submission": ("a.tar.gz", b"\x1f\x8b")}, data=fields)
        assert r.status_code == 422, r.text
        said = problems_of(r.text)
        assert says in said and "&lt;i&gt;failed&lt;/i&gt;" in said and "不通过" not in said, said


def test_the_ledgers_refusal_of_a_requeue_is_in_the_pages_language(centre, acme):
    sub = centre.upload(acme).json()["id"]
    with Session(centre.engine) as s:
        cell = s.scalars(select(Cell).where(Cell.submission_id == sub)).first().id
    csrf = centre.sign_in("eng@lab.example", "battery staple")
    r = centre.client.post("/console/requeue", data={"cell": str(cell), "csrf": csrf})
    assert r.status_code == 409
    assert problems_of(r.text) == "状态：只有出错的测试任务才能重新排队；该任务当前为排队中"  # noqa: RUF001
    r = centre.client.post("/console/requeue?lang=en", data={"cell": str(cell), "csrf": csrf})
    assert r.status_code == 409 and problems_of(r.text) == "state: only a broken cell can be requeued; it is queued"


def test_a_broker_away_is_a_503_page_in_the_pages_language(tmp_path, template, acme):
    service = Centre(tmp_path, template, fail_enqueue=True)
    english = "cells cannot be queued (is the broker up?): ConnectionRefusedError: no broker here"
    assert service.upload(acme).json() == {"detail": english}  # the API: its words, unchanged
    csrf = service.sign_in("vendor@acme.example", "correct horse")
    r = post_upload(service, csrf, "acme.tar.gz", acme)
    assert r.status_code == 503 and "<h1>服务不可用</h1>" in r.text
    assert problems_of(r.text) == "无法将测试任务排队（消息代理是否已启动？）：ConnectionRefusedError: no broker here"  # noqa: RUF001
    r = post_upload(service, csrf, "acme.tar.gz", acme, "?lang=en")
    assert r.status_code == 503 and problems_of(r.text) == english
    assert service.submissions() == 0 and service.stored() == []


def test_what_is_said_into_a_refusal_is_never_translated_nor_markup():
    said = NOT_QUEUED.say(why="failed <script>x</script>")
    page = i18n.render(pages.ENV, "error.html.j2", "zh-CN", lab="Lab", who=None, code=503,
                       title=pages.TITLES[503], message=[said, "passed", TOO_MANY_FIELDS.say(most="<16>")])
    assert "无法将测试任务排队（消息代理是否已启动？）：failed &lt;script&gt;x&lt;/script&gt;" in page  # noqa: RUF001
    assert '"problems">passed<' in page  # not a refusal of the lab's: as it is, though a verdict word
    assert "表单字段超过 &lt;16&gt; 个" in page and "<script>" not in page


def test_a_wording_is_read_back_from_what_it_said():
    assert NOT_AN_ARCHIVE.say() == "not a .tar.gz or .zip archive (by its name and its first bytes)"
    assert known(TOO_MANY_FIELDS.say(most=16)) == (TOO_MANY_FIELDS, {"most": "16"})
    assert known("more than 16 form fields, and more") is None  # the whole text, or nothing
    odd = Wording("a (b) %(x)s [c] %(y)s.")  # regex characters in the text are only text
    assert odd.read(odd.say(x="1.*", y="?")) == {"x": "1.*", "y": "?"}
    assert known("something a vendor wrote: no such cell") is None
    with i18n.language("zh-CN"):
        assert words(pages.NO_SUCH_CELL) == "测试任务不存在"
        assert words("no such cell, really") == "no such cell, really"
        assert words(None) == ""


def test_a_text_shaped_like_a_wordings_template_is_shown_as_it_is():
    """Review: an upload's problem equal to a wording's own template (``%(most)s`` left in) made the
    page fail with a KeyError: a 500, the lab's fault, from a vendor's text."""
    from lab.centre.upload import TOO_MANY_FIELDS
    from lab.i18n import language, words

    with language("zh-CN"):
        assert "%(most)s" in words(str(TOO_MANY_FIELDS))  # no error; the "parameter" kept literally
        assert words(TOO_MANY_FIELDS.say(most=16)) != TOO_MANY_FIELDS.say(most=16)  # a real one is translated


def test_a_submissions_mistakes_are_said_in_the_pages_language_with_what_was_given(centre, tmp_path):
    """A typo, a value of the wrong type and a missing file: in Chinese on the page (what is wanted,
    the near key, the value as the vendor wrote it, escaped), in English from the API as before."""
    from tests.centre_app import folder_like_acme, tar_gz

    typos = folder_like_acme(tmp_path, "acme-calc")
    manifest = typos / "submission.toml"
    manifest.write_text(manifest.read_text().replace("[product]", '[product]\nnmae = "x"')
                        .replace('version = "', 'version = 12 # "'))
    missing = folder_like_acme(tmp_path / "missing", "acme-calc")
    next(missing.glob("*.deb")).unlink()
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    said = problems_of(post_upload(centre, csrf, "acme.tar.gz", tar_gz(typos)).text)
    assert "product.nmae: 未知的键（是否想写 &#39;name&#39;？）" in said, said  # noqa: RUF001
    assert "product.version: 应为加引号的文本，实际给出 12" in said, said  # noqa: RUF001
    said = problems_of(post_upload(centre, csrf, "acme.tar.gz", tar_gz(missing)).text)
    assert "artifacts[0].path: 提交中没有 acme-calc_0.9.0_all.deb" in said, said
    api = centre.upload(tar_gz(typos)).json()["problems"] + centre.upload(tar_gz(missing)).json()["problems"]
    assert {p["field"]: p["message"] for p in api} == {
        "product.nmae": "unknown key (did you mean 'name'?)", "product.version": "must be text in quotes, given 12",
        "artifacts[0].path": "acme-calc_0.9.0_all.deb not found in the submission"}



def test_a_vendors_hidden_characters_are_written_out_on_the_portals_pages():
    """Review: a right-to-left override in a vendor's words (a reason, a window title shown on the
    portal's matrix and product pages) was obeyed there; the PDF, the certificates and the buyers'
    site already wrote it out. The portal's environment does the same for every value it shows."""
    page = pages.ENV.from_string("<td>{{ reason }}</td><td>{{ _('Run %(id)s', id=run) }}</td>")
    shown = page.render(reason="\u202edessap <b>", run="\u200b1")
    assert shown == "<td>\\u202edessap &lt;b&gt;</td><td>Run \\u200b1</td>", shown


def test_the_manifests_own_rules_are_said_in_the_pages_language_too(centre, tmp_path):
    """The submission model's own refusals (a path, ports, the tar-only keys): Chinese on the page."""
    from tests.centre_app import folder_like_acme, tar_gz

    folder = folder_like_acme(tmp_path, "acme-calc")
    manifest = folder / "submission.toml"
    manifest.write_text(manifest.read_text() + '\n[service]\ncommand = "x"\nports = [70000]\n')
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    said = problems_of(post_upload(centre, csrf, "acme.tar.gz", tar_gz(folder)).text)
    assert "service.ports: 不是 TCP 端口：[70000]" in said, said  # noqa: RUF001
