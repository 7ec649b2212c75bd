"""A product's life, for real: waivers over real failing runs, certificates that expire, and
``lab recertify`` after a target's image recipe changed.

Everything lives in a temporary lab: a copy of the inventory (so ``waivers.toml`` lies beside it)
with one extra target, a one-line Dockerfile layer on debian12-x86_64 (cheap to build and to
change: changing it changes its recipe hash honestly, as an engineer's edit would, without
rebuilding the lab's real images), its own catalogue, archives and signing key."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from examples.make import build_deb
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.docker]

LAYER = "lab-test-recertify"
DOCKERFILE = "ARG BASE\nFROM ${BASE}\nLABEL lab.test.generation=\"{gen}\"\n"
MANIFEST = 'schema = 1\n[product]\nname = "{name}"\nversion = "1.0"\nvendor = "Test Vendor"\n' \
           '[[artifacts]]\npath = "{deb}"\n'


def _deb_product(folder: Path, name: str, world_writable: bool) -> Path:
    folder.mkdir(parents=True)
    modes = {f"/usr/share/{name}/cache": 0o666} if world_writable else {}
    deb = build_deb({f"/usr/share/{name}/cache": b"state\n", f"/usr/share/{name}/README": b"hello\n"},
                    {"Package": name, "Version": "1.0", "Architecture": "all"}, folder, modes=modes)
    (folder / "submission.toml").write_text(MANIFEST.format(name=name, deb=deb.name))
    return folder


class Lab:
    """A temporary lab: inventory, waivers, catalogue, key; ``lab`` runs a command in it."""

    def __init__(self, root: Path):
        self.root = root
        self.inventory = root / "targets.toml"
        self.db = f"sqlite:///{root / 'catalogue.db'}"
        # the suites as they are now, frozen for this lab: their version (which a certificate names and
        # recertify compares) must not change under the test while others edit the tree's suites/
        shutil.copytree(ROOT / "suites", root / "frozen" / "suites", ignore=shutil.ignore_patterns("__pycache__"))
        self.env = os.environ | {"LAB_SIGNING_KEY": str(root / "key" / "signing-key.pem"), "LAB_CATALOGUE": self.db,
                                 "PYTHONPATH": str(root / "frozen")}
        self.runs = root / "runs"
        self.count = 0
        text = (ROOT / "targets.toml").read_text().replace('path = "images/', f'path = "{ROOT}/images/')
        text += (f'\n[[targets]]\nname = "{LAYER}"\nbackend = "docker"\ntags = ["deb", "debian"]\n'
                 'description = "debian12-x86_64 with one more layer (tests)"\n'
                 'facts = { os_family = "debian", os_id = "debian", os_version = "12", arch = "x86_64" }\n'
                 f'[targets.docker]\nimage = "lab/{LAYER}"\n'
                 f'dockerfile = {{ path = "{root / "layer.Dockerfile"}", base = "debian12-x86_64" }}\n')
        self.inventory.write_text(text)
        self.layer(1)

    def layer(self, generation: int) -> None:
        (self.root / "layer.Dockerfile").write_text(DOCKERFILE.replace("{gen}", str(generation)))

    def waivers(self, text: str) -> None:
        (self.root / "waivers.toml").write_text(text)

    def lab(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, cwd=self.root,
                              env=self.env, timeout=1800)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        return proc

    def run(self, submission: Path, targets: str, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
        self.count += 1
        out = self.runs / f"run{self.count}"
        proc = self.lab("run", str(submission), "--targets", targets, "--output", str(out), "--no-report",
                        "--inventory", str(self.inventory), "--catalogue", self.db, *extra)
        return proc, out


@pytest.fixture(scope="module")
def lab(tmp_path_factory, built):
    built("debian12-x86_64")
    the_lab = Lab(tmp_path_factory.mktemp("lifecycle"))
    from lab.images.build import build_target
    from lab.inventory import load_inventory

    inv = load_inventory(the_lab.inventory)
    build_target(inv, inv.model.get(LAYER))  # a LABEL on the existing image: seconds
    yield the_lab
    from lab.engine import client

    for image in client().images.list(name=f"lab/{LAYER}"):
        client().images.remove(image.id, force=True)


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    folder = tmp_path_factory.mktemp("products")
    return {"open": _deb_product(folder / "acme-open", "acme-open", world_writable=True),
            "fine": _deb_product(folder / "acme-fine", "acme-fine", world_writable=False)}


@pytest.fixture(scope="module")
def fine_run(lab, products) -> tuple[subprocess.CompletedProcess, Path]:
    """acme-fine on debian12-x86_64 and the layer, every suite, no waivers: the certification
    recertify renews, and the passed run an expired certificate is made from."""
    lab.waivers("")
    return lab.run(products["fine"], f"debian12-x86_64,{LAYER}")


def _waiver(check: str, product: str, targets: str = "", expires: str = "2099-12-31") -> str:
    return (f'[[waivers]]\ncheck = "{check}"\nproduct = "{product}"\n{targets}'
            f'reason = "the cache is shared by design; fixed in 1.1"\nreviewer = "Li Wei"\nexpires = {expires}\n')


def _check(out: Path, target: str, check_id: str) -> dict:
    verdicts = json.loads((out / "verdicts.json").read_text())
    return next(c for c in verdicts["targets"][target]["checks"] if c["id"] == check_id)


def _verdict(out: Path, target: str) -> str:
    return json.loads((out / "verdicts.json").read_text())["targets"][target]["verdict"]


def test_a_waiver_waives_exactly_the_named_check_on_the_named_product_and_target(lab, products):
    lab.waivers(_waiver("security.world_writable", "acme-open", 'targets = ["debian12-x86_64"]\n')
                + _waiver("security.world_writable", "acme-other")     # another product: no effect here
                + _waiver("security.setuid", "acme-open"))             # a check that passes: stays passed
    proc, out = lab.run(products["open"], f"debian12-x86_64,{LAYER}", "--suites", "install,security")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the other target still fails
    waived = _check(out, "debian12-x86_64", "security.world_writable")
    assert waived["outcome"] == "waived"
    assert waived["waiver"] == {"reason": "the cache is shared by design; fixed in 1.1", "reviewer": "Li Wei",
                                "expires": "2099-12-31"}
    assert "acme-open/cache" in waived["message"]  # the finding itself is kept as evidence
    assert _verdict(out, "debian12-x86_64") == "passed"
    assert _check(out, "debian12-x86_64", "security.setuid")["outcome"] == "passed"
    assert _check(out, LAYER, "security.world_writable")["outcome"] == "failed"
    assert _verdict(out, LAYER) == "failed"
    outcomes = [c["outcome"] for t in json.loads((out / "verdicts.json").read_text())["targets"].values()
                for c in t["checks"]]
    assert outcomes.count("waived") == 1
    assert re.search(r"waived: security\.world_writable on debian12-x86_64 until 2099-12-31", proc.stdout)
    # the certificate: signed, listing the waiver; none for the failed target
    cert = json.loads((out / "certificates" / "debian12-x86_64.json").read_text())["certificate"]
    assert cert["waived"] == [{"check": "security.world_writable", **waived["waiver"]}]
    assert cert["issued_on"]["recipe_sha256"] and cert["suites_version"]
    assert not (out / "certificates" / f"{LAYER}.json").exists()
    verify = lab.lab("certificate", "verify", str(out / "certificates" / "debian12-x86_64.json"))
    assert verify.returncode == 0 and "passed with a waiver" in verify.stdout, verify.stdout
    # the Allure result: still the failure (evidence), muted, named and tagged as waived
    results = [json.loads(p.read_text()) for p in (out / "allure-results").glob("*-result.json")]
    mine = [r for r in results if r["name"].endswith("[waived]")]
    assert len(mine) == 1 and mine[0]["statusDetails"]["muted"] is True
    assert mine[0]["statusDetails"]["message"].startswith("WAIVED until 2099-12-31 by Li Wei")
    # the buyers' matrix: a passed-with-waiver cell looks different from a clean pass
    site = lab.root / "site-waived"
    assert lab.lab("catalogue", "publish", "--out", str(site), "--inventory", str(lab.inventory),
                   "--catalogue", lab.db).returncode == 0
    page = (site / "index.html").read_text()
    cell = re.search(r'<td class="cell passed waived" data-target="debian12-x86_64".*?</td>', page, re.S)
    assert cell is not None and "security.world_writable" in cell.group(0)
    matrix = json.loads((site / "matrix.json").read_text())
    row = next(p for p in matrix["products"] if p["name"] == "acme-open")
    assert [w["check"] for w in row["results"]["debian12-x86_64"]["waived"]] == ["security.world_writable"]


def test_an_expired_waiver_no_longer_applies_and_the_run_says_so(lab, products):
    lab.waivers(_waiver("security.world_writable", "acme-open", 'targets = ["debian12-x86_64"]\n'))
    proc, out = lab.run(products["open"], "debian12-x86_64", "--suites", "install,security")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # its only failure is waived: it passed
    assert (out / "certificates" / "debian12-x86_64.json").exists()
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    lab.waivers(_waiver("security.world_writable", "acme-open", 'targets = ["debian12-x86_64"]\n', yesterday))
    proc, out = lab.run(products["open"], "debian12-x86_64", "--suites", "install,security")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert _check(out, "debian12-x86_64", "security.world_writable")["outcome"] == "failed"
    assert f"expired on {yesterday}" in proc.stdout + proc.stderr
    assert not (out / "certificates").exists()


@pytest.mark.parametrize(("entry", "field"), [
    ('check = "security.world_writable"\nproduct = "acme-open"\nreason = "r"\nreviewer = "Li Wei"\n'
     'expires = "2099-01-01"\n', "waivers[1].expires"),
    ('check = "security.world_writable"\nproduct = "acme-open"\nreason = "r"\nexpires = 2099-01-01\n',
     "waivers[1].reviewer"),
    ('check = "security.world_writable"\nproducts = "acme-open"\nproduct = "acme-open"\nreason = "r"\n'
     'reviewer = "Li Wei"\nexpires = 2099-01-01\n', "waivers[1].products"),
])
def test_a_malformed_waivers_file_is_refused_before_anything_runs(lab, products, entry, field):
    lab.waivers(_waiver("security.setuid", "acme-open") + "[[waivers]]\n" + entry)
    for proc in (lab.run(products["open"], "debian12-x86_64")[0],
                 lab.lab("validate", str(products["open"]), "--inventory", str(lab.inventory))):
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "waivers.toml" in proc.stderr and field in proc.stderr, proc.stderr
    lab.waivers("")


def test_recertify_reruns_exactly_the_certification_whose_image_recipe_changed(lab, fine_run):
    lab.waivers("")
    proc, first = fine_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    old_run = json.loads((first / "verdicts.json").read_text())["run"]
    dry = lab.lab("recertify", "--dry-run", "--inventory", str(lab.inventory), "--catalogue", lab.db)
    assert dry.returncode == 0 and "nothing to recertify" in dry.stdout, dry.stdout + dry.stderr

    lab.layer(2)  # an engineer changes the target's recipe
    dry = lab.lab("recertify", "--dry-run", "--inventory", str(lab.inventory), "--catalogue", lab.db)
    listed = [line for line in dry.stdout.splitlines() if " on " in line and "(run " in line]
    assert len(listed) == 1, dry.stdout
    assert listed[0].startswith(f"acme-fine 1.0 on {LAYER} (run {old_run}") and "recipe" in listed[0]

    proc = lab.lab("recertify", "--inventory", str(lab.inventory), "--catalogue", lab.db,
                   "--output", str(lab.root / "recertified"), "--no-report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"recertifies {old_run} on {LAYER}" in proc.stdout and "renewed" in proc.stdout
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from lab.catalogue.db import open_catalogue
    from lab.catalogue.models import Run
    from lab.catalogue.renewal import certified

    engine = open_catalogue(lab.db)
    with Session(engine) as s:
        runs = [r for r in s.scalars(select(Run)) if r.version.product.name == "acme-fine"]
        assert len(runs) == 2  # the old and the new
        new = next(r for r in runs if r.id != old_run)
        assert new.recertifies == old_run and "recipe" in new.recertify_reason
        assert [x.target for x in new.results] == [LAYER]
        assert new.archive == next(r for r in runs if r.id == old_run).archive  # the same kept submission
    latest = {c.target: c for c in certified(engine) if c.product == "acme-fine"}
    assert latest[LAYER].run == new.id and latest["debian12-x86_64"].run == old_run
    # nothing is due any more
    again = lab.lab("recertify", "--dry-run", "--inventory", str(lab.inventory), "--catalogue", lab.db)
    assert "nothing to recertify" in again.stdout, again.stdout
    site = lab.root / "site-renewed"
    lab.lab("catalogue", "publish", "--out", str(site), "--inventory", str(lab.inventory), "--catalogue", lab.db)
    row = next(p for p in json.loads((site / "matrix.json").read_text())["products"] if p["name"] == "acme-fine")
    assert row["results"][LAYER]["change"] == "renewed" and row["results"][LAYER]["run"] == new.id
    assert [h["run"] for h in row["results"][LAYER]["history"]] == [old_run]


def test_an_expired_certificate_is_shown_expired_and_verify_exits_1(lab, fine_run, tmp_path):
    """A certificate issued 400 days ago for 365 days: signed by the lab's key, recorded, published."""
    from lab.certs.certificate import issue
    from lab.certs.keys import load_or_create
    from lab.results.model import Verdicts

    proc, out = fine_run  # its debian12-x86_64 result, as if 400 days old
    assert proc.returncode == 0, proc.stdout + proc.stderr
    v = Verdicts.model_validate_json((out / "verdicts.json").read_text())
    past = datetime.now(UTC) - timedelta(days=400)
    v = v.model_copy(update={"run": v.run + "-old", "started": past.isoformat(timespec="seconds"),
                             "finished": past.isoformat(timespec="seconds"),
                             "targets": {"debian12-x86_64": v.targets["debian12-x86_64"]}})
    old = tmp_path / "old-run"
    (old / "certificates").mkdir(parents=True)
    (old / "verdicts.json").write_text(v.dump())
    key = load_or_create(Path(lab.env["LAB_SIGNING_KEY"]))
    cert = issue(v, "debian12-x86_64", v.targets["debian12-x86_64"], key, "test lab", past, days=365)
    path = old / "certificates" / "debian12-x86_64.json"
    path.write_text(json.dumps(cert))
    verify = lab.lab("certificate", "verify", str(path))
    assert verify.returncode == 1 and "expired on" in verify.stdout, verify.stdout
    db = f"sqlite:///{tmp_path / 'old.db'}"
    recorded = lab.lab("catalogue", "record", str(old), "--catalogue", db, "--inventory", str(lab.inventory))
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    site = tmp_path / "site"
    assert lab.lab("catalogue", "publish", "--out", str(site), "--catalogue", db,
                   "--inventory", str(lab.inventory)).returncode == 0
    page = (site / "index.html").read_text()
    cell = re.search(r'<td class="cell passed expired" data-target="debian12-x86_64".*?</td>', page, re.S)
    assert cell is not None, page
    assert "expired-note" in cell.group(0) and (past + timedelta(days=365)).date().isoformat() in cell.group(0)
    product = next((site / "products").glob("acme-fine*.html")).read_text()
    assert "expired-note" in product
    cert_page = next((site / "certificates").rglob("debian12-x86_64.html")).read_text()
    assert 'class="badge expired"' in cert_page and 'class="badge passed"' not in cert_page
    assert json.loads((site / "matrix.json").read_text())["products"][0]["results"]["debian12-x86_64"][
        "certificate_expired"] is True


BOARD = "board-debian12-x86_64"


def test_recertify_finds_the_board_whose_os_was_upgraded_since(lab, products, inventory):
    """A board certificate names the OS the board ran; an engineer upgrades the board (here its
    /etc/os-release says a newer point release): recertify asks the board and lists exactly that one."""
    from lab.engine import client
    from lab.inventory import load_inventory
    from lab.provision import board as boards
    from lab.provision import simulated

    lab.waivers("")
    with boards.board_lock(BOARD, wait_s=600):
        simulated.up(inventory, inventory.model.get(BOARD))  # kept when already up
    proc, out = lab.run(products["fine"], BOARD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_id = json.loads((out / "verdicts.json").read_text())["run"]
    target = load_inventory(lab.inventory).model.get(BOARD)
    with boards.board_lock(BOARD, wait_s=600):  # no run recreates the board under the test
        dry = lab.lab("recertify", "--dry-run", "--inventory", str(lab.inventory), "--catalogue", lab.db)
        assert BOARD not in dry.stdout, dry.stdout
        container = client().containers.get(simulated.container_name(target))
        try:
            code, said = container.exec_run(["sh", "-c", "sed -i 's/^VERSION_ID=.*/VERSION_ID=\"12.99\"/' "
                                                         "$(readlink -f /etc/os-release)"])
            assert code == 0, said
            dry = lab.lab("recertify", "--dry-run", "--inventory", str(lab.inventory), "--catalogue", lab.db)
        finally:
            simulated.recreate(target)  # the board as its image made it
    listed = [line for line in dry.stdout.splitlines() if f" on {BOARD} " in line]
    assert len(listed) == 1, dry.stdout + dry.stderr
    assert listed[0].startswith(f"acme-fine 1.0 on {BOARD} (run {run_id}")
    assert f"the OS of board {BOARD} changed since: os_version 12 -> 12.99" in listed[0], listed[0]
