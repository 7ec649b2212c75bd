"""Who a submission says it is from, and how much one organisation may queue, in process (SQLite,
no broker). Review: another organisation's token uploaded ``vendor = "ACME Software Co., Ltd."``
and the lab would have signed "by ACME" for its files; one token queued the same archive 20 times."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from lab.centre import auth
from lab.centre.models import Submission
from lab.errors import InputError
from tests.centre_app import Centre, folder_like_acme, race_for_the_last_place, tar_gz

pytestmark = pytest.mark.usefixtures("quick_hashes")  # argon2 at its lowest cost


def test_a_submission_must_name_its_uploaders_vendor(centre, tmp_path):
    impostor = centre.upload(tar_gz(folder_like_acme(tmp_path, "acme-calc")), centre.other)
    assert impostor.status_code == 422, impostor.text
    assert impostor.json()["problems"] == [{
        "file": "acme-calc/submission.toml", "field": "product.vendor",
        "message": "'ACME Software Co., Ltd.' is not your organisation's vendor name, 'Other Vendor': "
                   "a certificate names the vendor that uploaded it"}]
    assert centre.submissions() == 0
    own = centre.upload(tar_gz(folder_like_acme(tmp_path, "other-calc", vendor="Other Vendor")), centre.other)
    assert own.status_code == 201, own.text
    assert centre.upload(tar_gz(folder_like_acme(tmp_path, "acme-calc"))).status_code == 201  # ACME's own


def test_no_two_organisations_certify_under_one_vendor_name(centre):
    with centre.session() as s:
        for name, vendor in (("Mallory", "ACME Software Co., Ltd."), ("ACME Software Co., Ltd.", None),
                             ("Mallory", "Other Vendor")):
            with pytest.raises(InputError, match="is already organisation"):
                auth.create_org(s, name, vendor)
        assert auth.create_org(s, "Mallory", "Mallory Inc.").vendor_name == "Mallory Inc."


def test_an_archive_already_queued_is_not_queued_twice_and_an_organisation_is_capped(tmp_path, template):
    centre = Centre(tmp_path, template)
    centre.settings.max_pending_per_org = 2
    first = tar_gz(folder_like_acme(tmp_path, "acme-calc"))
    assert centre.upload(first).status_code == 201
    again = centre.upload(first)
    assert again.status_code == 409 and "is already submission" in again.json()["detail"], again.text
    assert centre.upload(tar_gz(folder_like_acme(tmp_path, "acme-two"))).status_code == 201
    third = centre.upload(tar_gz(folder_like_acme(tmp_path, "acme-three")))
    assert third.status_code == 429, third.text
    assert "2 submissions queued or running, this centre's most (2)" in third.json()["detail"]
    assert centre.submissions() == 2
    with centre.session() as s:  # one finishes: room again, and the same archive may be tested again
        s.execute(update(Submission).where(Submission.product == "acme-calc").values(state="finished"))
    assert centre.upload(first).status_code == 201


def test_each_organisations_reports_keep_their_own_history(tmp_path, monkeypatch):
    """Review: one history file per product name across organisations put another vendor's earlier
    runs (messages and traces) into this one's Allure report."""
    from lab.centre import review
    from lab.report import render as rendering

    used = []
    monkeypatch.setattr(rendering, "render", lambda run, history, *a, **k: used.append(history))
    monkeypatch.setattr(review.Verdicts, "model_validate_json", classmethod(lambda cls, data: None))
    monkeypatch.setattr(review, "run_folder", lambda storage, sub: tmp_path / sub.id)
    for org_id in (1, 2):
        sub = Submission(id=f"s{org_id}", org_id=org_id, product="acme-calc", run_id=f"r{org_id}")
        (tmp_path / sub.id / "allure-results").mkdir(parents=True)
        (tmp_path / sub.id / "allure-results" / "x-result.json").write_text("{}")
        (tmp_path / sub.id / "verdicts.json").write_text("{}")
        review.report(tmp_path, sub)
    assert used == [tmp_path / "history" / "org-1", tmp_path / "history" / "org-2"]


def test_an_organisations_vendor_name_can_change_but_not_to_anothers(centre, tmp_path):
    with centre.session() as s:
        with pytest.raises(InputError, match="already organisation 'ACME Software'"):
            auth.set_vendor(s, "Other Vendor", "ACME Software Co., Ltd.")
        with pytest.raises(InputError, match="no organisation named"):
            auth.set_vendor(s, "Nobody", "Nobody Ltd")
        assert auth.set_vendor(s, "Other Vendor", "Other Vendor GmbH").vendor_name == "Other Vendor GmbH"
    renamed = tar_gz(folder_like_acme(tmp_path, "other-calc", vendor="Other Vendor GmbH"))
    assert centre.upload(renamed, centre.other).status_code == 201


def test_the_portal_says_a_wrong_vendor_and_a_full_queue_in_the_pages_language(tmp_path, template):
    from tests.centre_app import Centre as InProcess
    from tests.test_centre_refusals import post_upload, problems_of

    centre = InProcess(tmp_path, template)
    centre.settings.max_pending_per_org = 1
    csrf = centre.sign_in("vendor@acme.example", "correct horse")
    posing = tar_gz(folder_like_acme(tmp_path, "acme-calc", vendor="Other Vendor"))
    r = post_upload(centre, csrf, "acme.tar.gz", posing)
    assert r.status_code == 422
    assert ("product.vendor: &#39;Other Vendor&#39; 不是贵单位登记的厂商名称 &#39;ACME Software Co., Ltd.&#39;："  # noqa: RUF001
            "证书上写明的厂商就是上传它的单位" in problems_of(r.text)), problems_of(r.text)
    assert post_upload(centre, csrf, "acme.tar.gz", tar_gz(folder_like_acme(tmp_path))).status_code == 303
    r = post_upload(centre, csrf, "two.tar.gz", tar_gz(folder_like_acme(tmp_path, "acme-two")), "?lang=en")
    assert r.status_code == 429 and "<h1>Too many queued</h1>" in r.text
    assert "your organisation has 1 submissions queued or running, this centre&#39;s most (1)" in r.text
    r = post_upload(centre, csrf, "two.tar.gz", tar_gz(folder_like_acme(tmp_path, "acme-two")), "?lang=zh-CN")
    assert r.status_code == 429 and "<h1>排队过多</h1>" in r.text and "贵单位已有 1 个提交在排队或运行" in r.text



def test_two_uploads_at_once_cannot_both_take_an_organisations_last_place(tmp_path, template, monkeypatch):
    """The count is made again inside the insert's transaction after taking the organisation's row
    for writing: on SQLite too (where FOR UPDATE is ignored) the second upload waits for the first
    to commit, then counts it (tests/integration/test_centre_portal.py: the same on PostgreSQL)."""
    centre = Centre(tmp_path, template)
    assert race_for_the_last_place(centre, tmp_path, monkeypatch) == [201, 429]
    assert centre.submissions() == 1


def test_an_organisations_names_cannot_be_drawn_like_another_ones(centre):
    """The look-alike rule of a submission's vendor (lab.lookalike.look_alike) holds for the
    names an engineer gives an organisation too: each of these draws like "ACME Software"."""
    with centre.session() as s:
        for vendor, why in (("ACME  Software", "two spaces in a row"), ("ACME\u3164Software", "U+3164"),
                            ("AC\u041cE Software", "mixes Cyrillic and Latin letters")):
            with pytest.raises(InputError) as refused:
                auth.create_org(s, "Mallory", vendor)
            assert refused.value.source == "--vendor" and why in refused.value.problems[0], refused.value
        with pytest.raises(InputError, match="mixes Cyrillic and Latin"):
            auth.set_vendor(s, "Other Vendor", "AC\u041cE Software")


def test_an_organisations_vendor_name_cannot_draw_like_anothers_in_any_script(centre):
    """The same rule for the names an engineer gives organisations (Unicode's confusables): a name
    wholly in Cyrillic look-alikes of another organisation's is refused."""
    with centre.session() as s:
        with pytest.raises(InputError, match="draws like organisation 'ACME Software'"):
            auth.create_org(s, "Mallory", "\u0410\u0421\u041c\u0415 Software Co., Ltd.")
        assert auth.create_org(s, "Yandex", "\u041e\u041e\u041e \u042f\u043d\u0434\u0435\u043a\u0441").vendor


def test_a_product_name_is_its_first_uploaders_until_the_catalogue_knows_it(centre, tmp_path):
    """A hostile review: EVIL uploaded ACME's unpublished acme-calc under its own vendor name; an
    engineer's waiver for ACME's product then passed EVIL's failure with a signed certificate."""
    first = centre.upload(tar_gz(folder_like_acme(tmp_path)))
    assert first.status_code == 201, first.text
    r = centre.upload(tar_gz(folder_like_acme(tmp_path, vendor="Other Vendor")), centre.other)
    assert r.status_code == 422
    said = r.json()["problems"][0]
    assert said["field"] == "product.name"
    assert "is submitted to this centre by 'ACME Software Co., Ltd.'" in said["message"]
    again = centre.upload(tar_gz(folder_like_acme(tmp_path, summary="again")))  # its owner: fine
    assert again.status_code == 201, again.text


def test_a_squatted_name_is_given_to_its_vendor_by_a_transfer(centre, tmp_path):
    """A hostile review: a squatter's unpublished upload held the name for good; the transfer the
    refusal tells the vendor to ask for said "no such product in the catalogue"."""
    from lab.catalogue.record import transfer_product

    squat = centre.upload(tar_gz(folder_like_acme(tmp_path, vendor="Other Vendor")), centre.other)
    assert squat.status_code == 201, squat.text
    mine = centre.upload(tar_gz(folder_like_acme(tmp_path)))
    assert mine.status_code == 422 and "ask the lab to transfer it" in mine.json()["problems"][0]["message"]
    with pytest.raises(InputError, match="add --new"):  # a misspelt name is never given away silently
        transfer_product(centre.engine, "acme-calc", "ACME Software Co., Ltd.", by="eng")
    transfer_product(centre.engine, "acme-calc", "ACME Software Co., Ltd.", by="eng", new=True)
    assert centre.upload(tar_gz(folder_like_acme(tmp_path, summary="after the transfer"))).status_code == 201
    again = centre.upload(tar_gz(folder_like_acme(tmp_path, vendor="Other Vendor", summary="x")), centre.other)
    assert (again.status_code == 422 and "product.name" in again.text) or "belongs to" in again.text
