"""The catalogue: recording (idempotent), who owns a product, and the published site with escaping,
described columns and reasons a buyer reads (its schema and migrations: test_catalogue_schema.py)."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lab.catalogue.db import open_catalogue
from lab.catalogue.models import Product, ProductTransfer, Result, Run
from lab.catalogue.publish import plain_reason, publish
from lab.catalogue.record import artifact_arch, check_owner, record_run, transfer_product
from lab.certs.certificate import issue
from lab.certs.keys import key_id, load_or_create
from lab.certs.render import ENV, OPENSSL_RECIPE
from lab.errors import InputError
from lab.inventory.model import Target
from lab.results.model import ArtifactRef, Check, SubmissionRef, TargetResult, Verdicts
from tests.conftest import ROOT

EVIL = "<script>alert('x')</script>"


def write_run(folder, run_id, verdict_by_target, vendor="ACME", version="1.0", finished="2026-11-29T12:00:00",
              name="acme", artifact="a.deb", facts=None, reason=None, certify_with=None):
    """A run folder as ``lab run`` leaves it; ``certify_with`` (a key) adds the passed targets' certificates."""
    targets = {t: TargetResult(verdict=v, reason="" if v == "passed" else (reason or f"install.package: {EVIL}"),
                               facts=facts or {}, checks=[Check(id="install.package", outcome=v, message=EVIL)])
               for t, v in verdict_by_target.items()}
    v = Verdicts(run=run_id, started=finished, finished=finished, submission=SubmissionRef(
        name=name, version=version, vendor=vendor, artifacts=[ArtifactRef(path=artifact, sha256="0" * 64)]),
        targets=targets)
    (folder / run_id).mkdir(parents=True)
    (folder / run_id / "verdicts.json").write_text(v.dump())
    if certify_with is not None:
        for t, r in targets.items():
            if r.verdict == "passed":
                cert = issue(v, t, r, certify_with, "Test Lab")
                (folder / run_id / "certificates").mkdir(exist_ok=True)
                (folder / run_id / "certificates" / f"{t}.json").write_text(json.dumps(cert))
    return folder / run_id


def target(name, description, arch="x86_64", database=None, os_family="debian"):
    """An inventory target, as ``targets.toml`` describes it."""
    spec = {"name": name, "backend": "docker", "description": description, "docker": {"image": f"lab/{name}"},
            "facts": {"os_family": os_family, "os_id": os_family, "os_version": "12", "arch": arch}}
    if database:
        spec["database"] = database
    return Target.model_validate(spec)


@pytest.fixture
def engine(tmp_path):
    return open_catalogue(None, tmp_path / "catalogue.db")


def test_recording_twice_keeps_one_run(engine, tmp_path):
    run = write_run(tmp_path, "r1", {"debian12-x86_64": "passed"})
    record_run(engine, run)
    record_run(engine, run)
    with Session(engine) as s:
        assert len(s.scalars(select(Run)).all()) == 1
        assert [r.verdict for r in s.scalars(select(Result)).all()] == ["passed"]


def test_the_site_shows_the_latest_verdict_and_escapes_vendor_strings(engine, tmp_path):
    record_run(engine, write_run(tmp_path, "r1", {"t1": "failed", "t2": "passed"}, vendor=EVIL, version=EVIL,
                                 finished="2026-11-29T10:00:00", certify_with=load_or_create(tmp_path / "key.pem"),
                                 facts={"arch": EVIL}))
    record_run(engine, write_run(tmp_path, "r2", {"t1": "passed"}, vendor=EVIL, version=EVIL,
                                 finished="2026-11-29T11:00:00"))
    site = tmp_path / "site"
    index = publish(engine, site, "Lab <b>", tmp_path / "key.pem").read_text()
    assert "<script>alert" not in index and "&lt;script&gt;alert" in index
    assert "Lab &lt;b&gt;" in index
    product = (site / "products/acme.html").read_text()
    assert "<script>alert" not in product
    matrix = json.loads((site / "matrix.json").read_text())
    results = matrix["products"][0]["results"]
    assert results["t1"]["verdict"] == "passed" and results["t1"]["run"] == "r2"  # the latest run wins
    assert results["t2"]["verdict"] == "passed" and results["t2"]["run"] == "r1"
    assert matrix["targets"] == ["t1", "t2"]
    assert (site / "keys/lab-signing-key.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    pages = list(site.rglob("*.html"))
    assert {p.name for p in pages} >= {"index.html", "acme.html", "t2.html"}  # matrix, product, certificate, keys
    for page in pages:
        assert "<script>alert" not in page.read_text(), page





# --- Who owns a product (issue 16, case 5) --------------------------------------------------------


def test_another_vendor_cannot_take_over_a_product(engine, tmp_path):
    record_run(engine, write_run(tmp_path, "r1", {"t1": "passed"}, vendor="ACME Software"))
    hijack = write_run(tmp_path, "r2", {"t1": "broken"}, vendor="Mallory Inc", finished="2026-11-29T13:00:00")
    with pytest.raises(InputError) as info:
        record_run(engine, hijack)
    assert '"ACME Software"' in info.value.problems[0] and '"Mallory Inc"' in info.value.problems[0]
    assert "lab catalogue transfer acme --to 'Mallory Inc'" in info.value.problems[0]
    with Session(engine) as s:
        assert s.scalar(select(Product)).vendor == "ACME Software"
        assert [(r.run_id, r.verdict) for r in s.scalars(select(Result))] == [("r1", "passed")]
    matrix = json.loads((publish(engine, tmp_path / "site", "Lab", tmp_path / "key.pem").parent
                         / "matrix.json").read_text())
    assert matrix["products"][0]["vendor"] == "ACME Software"
    assert matrix["products"][0]["results"]["t1"]["verdict"] == "passed"


def test_check_owner_says_so_before_a_run(engine, tmp_path):
    check_owner(engine, "acme", "Mallory Inc")  # nobody owns it yet: fine
    record_run(engine, write_run(tmp_path, "r1", {"t1": "passed"}, vendor="ACME"))
    check_owner(engine, "acme", "ACME")
    check_owner(engine, "other", "Mallory Inc")
    with pytest.raises(InputError) as info:
        check_owner(engine, "acme", "Mallory Inc", source="examples/x")
    assert info.value.source == "examples/x"
    assert '"ACME"' in info.value.problems[0] and '"Mallory Inc"' in info.value.problems[0]
    with pytest.raises(InputError):
        check_owner(engine, "acme", "ACME ")  # vendors are compared exactly


def test_a_new_product_cannot_come_from_a_vendor_that_draws_like_a_recorded_one(engine, tmp_path):
    """Review: a vendor name written wholly in Cyrillic look-alikes ("ACME" with U+0410 U+0421 U+041C
    U+0415) passed every check, and its certificates would read "by ACME Software" to a buyer."""
    record_run(engine, write_run(tmp_path, "r1", {"t1": "passed"}, vendor="ACME Software"))
    for posing in ("\u0410\u0421\u041c\u0415 Software", "ACME  software", "AСME Software"):  # noqa: RUF001
        with pytest.raises(InputError) as info:
            check_owner(engine, "acme-new", posing)
        assert "draws like \"ACME Software\", a vendor already in this lab's catalogue" in info.value.problems[0]
    check_owner(engine, "acme-new", "ACME Software")  # the same vendor, a new product: fine
    check_owner(engine, "other-new", "\u041e\u041e\u041e \u042f\u043d\u0434\u0435\u043a\u0441")  # its own name


def test_a_transfer_is_recorded_and_moves_the_product(engine, tmp_path):
    record_run(engine, write_run(tmp_path, "r1", {"t1": "passed"}, vendor="ACME"))
    t = transfer_product(engine, "acme", "NewCo", by="engineer")
    assert (t.from_vendor, t.to_vendor, t.by) == ("ACME", "NewCo", "engineer") and t.at.startswith("20")
    with pytest.raises(InputError, match="belongs to"):
        record_run(engine, write_run(tmp_path, "r2", {"t1": "passed"}, vendor="ACME"))
    record_run(engine, write_run(tmp_path, "r3", {"t1": "failed"}, vendor="NewCo", finished="2026-11-30T00:00:00"))
    with Session(engine) as s:
        product = s.scalar(select(Product))
        assert product.vendor == "NewCo"
        assert [(x.from_vendor, x.to_vendor) for x in s.scalars(select(ProductTransfer))] == [("ACME", "NewCo")]
        assert {r.id: r.vendor for r in s.scalars(select(Run))} == {"r1": "ACME", "r3": "NewCo"}
    site = publish(engine, tmp_path / "site", "Lab", tmp_path / "key.pem").parent
    page = (site / "products/acme.en.html").read_text()
    assert "Transferred from ACME to NewCo on" in page  # the English page; products/acme.html is in zh-CN
    for bad, match in (("nothing", "no such product"), ("acme", "already belongs")):
        with pytest.raises(InputError, match=match):
            transfer_product(engine, bad, "NewCo")
    for vendor in ("", "x" * 401, "line\nbreak"):
        with pytest.raises(InputError, match="--to"):
            transfer_product(engine, "acme", vendor)


def test_a_run_id_is_not_taken_over_and_re_recording_stays_idempotent(engine, tmp_path):
    mine = write_run(tmp_path / "acme", "r1", {"t1": "passed"}, vendor="ACME")
    record_run(engine, mine)
    for folder, kwargs in (("mallory", {"vendor": "Mallory", "name": "mallory-tool"}),
                           ("other", {"vendor": "ACME", "name": "acme-other"}),
                           ("version", {"vendor": "ACME", "version": "2.0"})):
        with pytest.raises(InputError, match=r'r1 is already recorded for acme 1\.0 by "ACME"'):
            record_run(engine, write_run(tmp_path / folder, "r1", {"t1": "failed"}, **kwargs))
    record_run(engine, mine)
    with Session(engine) as s:
        assert [(r.id, r.vendor, r.version.product.name) for r in s.scalars(select(Run))] == [("r1", "ACME", "acme")]
        assert [r.verdict for r in s.scalars(select(Result))] == ["passed"]


def test_what_the_catalogue_will_not_store(engine, tmp_path):
    cases = {"long-version": {"version": "1" * 129}, "long-vendor": {"vendor": "v" * 401},
             "bad-name": {"name": "../etc"}, "control": {"vendor": "ACME\x1b[31m"}}
    for run_id, kwargs in cases.items():
        with pytest.raises(InputError) as info:
            record_run(engine, write_run(tmp_path, run_id, {"t1": "passed"}, **kwargs))
        assert info.value.problems[0].startswith("submission."), info.value.problems
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "verdicts.json").write_text('{"run": 1}')
    with pytest.raises(InputError, match="submission: field required"):
        record_run(engine, tmp_path / "junk")
    with pytest.raises(InputError, match=r"no verdicts\.json"):
        record_run(engine, tmp_path / "nothing")
    with Session(engine) as s:
        assert s.scalars(select(Run)).all() == []


def test_a_certificate_of_another_run_is_not_recorded(engine, tmp_path):
    key = load_or_create(tmp_path / "key.pem")
    run = write_run(tmp_path, "r1", {"t1": "passed"}, certify_with=key)
    other = write_run(tmp_path, "r2", {"t1": "passed"}, certify_with=key)
    (run / "certificates" / "t1.json").write_text((other / "certificates" / "t1.json").read_text())
    with pytest.raises(InputError, match="is not the certificate of r1 on t1"):
        record_run(engine, run)
    (run / "certificates" / "t1.json").write_text("[]")
    with pytest.raises(InputError, match="top level"):
        record_run(engine, run)


def _lab(*args):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, cwd=ROOT)


def test_the_cli_transfers_and_refuses_a_hijack_with_exit_2(tmp_path):
    db = f"sqlite:///{tmp_path / 'catalogue.db'}"
    engine = open_catalogue(db)
    record_run(engine, write_run(tmp_path, "r1", {"t1": "passed"}, vendor="ACME [/b]", version="1[/bogus]"))
    hijack = write_run(tmp_path, "r2", {"t1": "passed"}, vendor="Mallory [red]Inc")
    proc = _lab("catalogue", "record", str(hijack), "--catalogue", db)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert '"ACME [/b]"' in proc.stderr and '"Mallory [red]Inc"' in proc.stderr and "Traceback" not in proc.stderr
    assert _lab("catalogue", "transfer", "nothing", "--to", "X", "--catalogue", db).returncode == 2
    proc = _lab("catalogue", "transfer", "acme", "--to", "Mallory [red]Inc", "--catalogue", db)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "acme: transferred from ACME [/b] to Mallory [red]Inc at " in proc.stdout
    proc = _lab("catalogue", "record", str(hijack), "--catalogue", db)
    assert proc.returncode == 0 and "recorded r2" in proc.stdout, proc.stdout + proc.stderr


def test_artifact_architectures_from_names():
    assert artifact_arch("acme-hello_1.2.0_amd64.deb") == "amd64"
    assert artifact_arch("acme-calc_0.9.0_all.deb") == "all"
    assert artifact_arch("hello_2.10-3_arm64.deb") == "arm64"
    assert artifact_arch("pkg-1.0-1.el9.aarch64.rpm") == "aarch64"
    assert artifact_arch("acme-web-1.0.0-x86_64.tar.gz") == "x86_64"
    assert artifact_arch("acme-web.tar.gz") is None
    assert artifact_arch("acme-web.tar.gz", "riscv64") == "riscv64"


# --- The buyers' site (issue 17) -------------------------------------------------------------------

INVENTORY = [
    target("debian12-x86_64", "Debian 12 (bookworm) on x86_64: the reference for Hygon x86 and UOS-like stacks"),
    target("debian12-aarch64", "Debian 12 on arm64 (Kunpeng/Phytium class), run here under qemu-user",
           arch="aarch64"),
    target("debian12-postgresql", "Debian 12 with PostgreSQL 15: the PostgreSQL family",
           database={"engine": "postgresql", "server": "PostgreSQL 15", "stands_for": ["openGauss", "KingbaseES"]}),
    target("never-used", "A target no run was made on"),
    target("openeuler-x86_64", "openEuler 22.03 LTS SP4", os_family="rhel"),
]
FACTS = {"arch": "x86_64", "emulated": "False", "os_name": "Debian GNU/Linux 12 (bookworm)", "glibc": "2.36",
         "package_manager": "apt", "db_server": "None"}


@pytest.fixture
def site(engine, tmp_path):
    key = load_or_create(tmp_path / "key.pem")
    record_run(engine, write_run(tmp_path, "r1", {"debian12-x86_64": "failed", "debian12-postgresql": "passed"},
                                 artifact="hello_2.10-5_amd64.deb", facts=FACTS, certify_with=key, name="gnu-hello",
                                 reason="install.package: hello needs GLIBC_2.38, debian12-x86_64 has glibc 2.36"))
    record_run(engine, write_run(tmp_path, "r2", {"debian12-aarch64": "broken", "other-lab-target": "passed"},
                                 artifact="acme-calc_0.9.0_all.deb", name="acme-calc", certify_with=key,
                                 facts=FACTS | {"arch": "aarch64", "emulated": "True"},
                                 reason="lab.worker: the container died"))
    record_run(engine, write_run(tmp_path, "r3", {"other-lab-target": "passed"}, name="elsewhere"))
    record_run(engine, write_run(tmp_path, "r4", {"openeuler-x86_64": "broken"}, name="gnu-hello",
                                 artifact="hello_2.10-5_amd64.deb", reason="lab.provision: no image here"))
    out = tmp_path / "site"
    publish(engine, out, "Lab", tmp_path / "key.pem", targets=INVENTORY)
    return out, key


def test_columns_say_what_each_target_stands_for_and_only_this_inventorys(site):
    out, _ = site
    index = (out / "index.en.html").read_text()  # English; index.html is in the default language (zh-CN)
    heads = dict(re.findall(r'<th class="target" data-target="([^"]+)">([\s\S]*?)</th>', index))
    assert list(heads) == ["debian12-x86_64", "debian12-aarch64", "debian12-postgresql",
                           "openeuler-x86_64"]  # the inventory's order
    assert "other-lab-target" not in index and "never-used" not in index and "elsewhere" not in index
    assert "Kunpeng/Phytium class" in heads["debian12-aarch64"]
    assert "CPU: aarch64, emulated: yes" in heads["debian12-aarch64"]
    assert "CPU: x86_64, emulated: no" in heads["debian12-x86_64"]
    assert "database: PostgreSQL 15, standing for openGauss, KingbaseES" in heads["debian12-postgresql"]
    matrix = json.loads((out / "matrix.json").read_text())
    assert matrix["targets"] == list(heads)
    assert matrix["columns"]["debian12-aarch64"]["emulated"] == "yes"
    assert {p["name"] for p in matrix["products"]} == {"gnu-hello", "acme-calc"}


def test_cells_say_why_whose_fault_and_which_build_in_words(site):
    out, _ = site
    index = (out / "index.en.html").read_text()  # English; index.html is in the default language (zh-CN)
    cells = dict(re.findall(r'<td class="cell [a-z]+" data-target="([^"]+)"[^>]*>([\s\S]*?)</td>', index))
    failed = html.unescape(re.sub(r"<[^>]+>", " ", cells["debian12-x86_64"]))
    assert "the product's fault" in failed
    assert "Installing the package (install.package): hello needs GLIBC_2.38, debian12-x86_64 has glibc 2.36" \
        in failed
    assert "artifact: x86_64 (amd64)" in failed
    broken = html.unescape(re.sub(r"<[^>]+>", " ", cells["debian12-aarch64"]))
    assert "the lab's fault" in broken and "the container died" in broken and "artifact: any CPU (all)" in broken
    nothing_for_it = html.unescape(re.sub(r"<[^>]+>", " ", cells["openeuler-x86_64"]))  # a .deb, an rpm system
    assert "lab.provision: no image here" in nothing_for_it and "artifact:" not in nothing_for_it
    product = (out / "products/gnu-hello.en.html").read_text()
    assert "emulated: no" in product and "CPU: x86_64" in product and "glibc: 2.36" in product
    for page in (index, product, *(p.read_text() for p in (out / "certificates").rglob("*.html"))):
        assert not re.search(r">[^<]*\b(False|True|None)\b", page.replace("db_server", "")), page


def test_certificates_are_linked_as_signed_json_and_the_keys_page_explains(site):
    out, key = site
    matrix = json.loads((out / "matrix.json").read_text())
    cell = next(p for p in matrix["products"] if p["name"] == "gnu-hello")["results"]["debian12-postgresql"]
    assert cell["certificate"].endswith(".json") and cell["certificate_page"].endswith(".html")
    assert json.loads((out / cell["certificate"]).read_text())["signature"]["key_id"] == key_id(key.public_key())
    page = (out / cell["certificate_page"]).read_text()
    link = re.search(r'<a class="signed-json" href="([^"]+)"', page).group(1)
    assert (out / cell["certificate_page"]).parent.joinpath(link).resolve() == (out / cell["certificate"]).resolve()
    index = (out / "index.html").read_text()
    assert 'href="keys/index.html"' in index and 'href="keys/"' not in index
    keys = (out / "keys/index.html").read_text()
    assert key_id(key.public_key()) in keys and "-----BEGIN PUBLIC KEY-----" in keys
    assert OPENSSL_RECIPE in html.unescape(keys)
    assert 'href="lab-signing-key.pub.pem"' in keys


def test_every_template_escapes(engine, tmp_path):
    """Autoescape is on for every template whatever its name; the site test renders each with EVIL."""
    assert ENV.autoescape is True
    assert set(ENV.list_templates()) == {"base.html.j2", "certificate.html.j2", "keys.html.j2", "matrix.html.j2",
                                         "product.html.j2"}
    assert "&lt;script&gt;" in ENV.from_string("{{ x }}").render(x=EVIL)


def test_plain_reasons():
    assert plain_reason("install.package: needs GLIBC_2.38\nmore") == "Installing the package (install.package): " \
                                                                     "needs GLIBC_2.38"
    assert plain_reason("vendor.test_answers: 2 != 3") == "The vendor's own tests (vendor.test_answers): 2 != 3"
    assert plain_reason("the container died") == "the container died"
    assert plain_reason("") == ""


def test_the_suggested_transfer_keeps_the_refused_commands_inventory_and_catalogue(tmp_path):
    """A new engineer: `lab run ... --catalogue sqlite:////tmp/cat.db --inventory w5/targets.toml` was told
    to run `lab catalogue transfer acme-calc --to ...` with neither: typed as shown, it would have
    given the product away in the lab's own catalogue."""
    from lab.catalogue.record import transfer_command
    from lab.inventory import load_inventory

    (tmp_path / "w5").mkdir()
    (tmp_path / "w5" / "targets.toml").write_text((ROOT / "targets.toml").read_text())
    load_inventory(tmp_path / "w5" / "targets.toml")
    command = transfer_command("acme-calc", "ACME Software Co., Ltd.", "postgresql+psycopg://lab:s3cret@127.0.0.1/cat")
    assert command == ("lab catalogue transfer acme-calc --to 'ACME Software Co., Ltd.' --catalogue "
                       f"'postgresql+psycopg://lab:***@127.0.0.1/cat' --inventory {tmp_path / 'w5' / 'targets.toml'}")
    load_inventory(ROOT / "targets.toml")


def test_no_two_product_names_share_a_page():
    """A hostile review: ACME's `acme+calc` and EVIL's `acme_calc` had one slug, so both matrix rows
    led to the page of the one published last."""
    from lab.catalogue.publish import slug_of

    names = ["acme+calc", "acme_calc", "acme calc", "办公套件", "办公套件2", "x" * 128, "x" * 127 + "y", ".", "..",
             "acme-calc"]
    slugs = [slug_of(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert slug_of("acme-calc") == "acme-calc" and slug_of("acme_calc") == "acme_calc"  # plain names as ever
    # a second review: `acme.en`'s page was products/acme.en.html, which is acme's English page
    assert slug_of("acme.en") != "acme.en" and slug_of("acme.zh-cn") != "acme.zh-cn"
    assert slug_of("python3.11-tools") == "python3.11-tools"
    assert all(len(s.encode()) < 100 and "/" not in s and s not in (".", "..") for s in slugs)


def test_the_pdf_report_is_published_and_linked_beside_the_detailed_one(engine, tmp_path):
    """A buyer reading Chinese found only Allure's report (English) behind every "report" link; the
    PDF report, in the lab's first language, was not published."""
    run = write_run(tmp_path, "r1", {"t1": "passed"})
    (run / "report").mkdir(exist_ok=True)
    (run / "report" / "index.html").write_text("<html>allure</html>")
    (run / "report" / "report.pdf").write_bytes(b"%PDF-1.7 the report")
    record_run(engine, run)
    site = tmp_path / "site"
    index = publish(engine, site, "Lab", tmp_path / "key.pem").read_text()
    assert (site / "reports" / "r1.pdf").read_bytes() == b"%PDF-1.7 the report"
    assert 'href="reports/r1.pdf"' in index and "测试报告" in index and "详细结果" in index
    assert 'href="../reports/r1.pdf"' in (site / "products/acme.html").read_text()
