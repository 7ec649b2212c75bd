"""The centre's "done when", end to end: a vendor made with the admin commands uploads
examples/acme-calc with a real curl, a worker runs it, the vendor reads the verdicts, an engineer
publishes, the buyers' matrix shows it. Subprocesses as an operator types them
(tests/integration/centre_cli.py), against the session's real PostgreSQL and RabbitMQ.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from lab.centre.engines import free_port
from tests.conftest import ROOT
from tests.integration.centre_cli import Background, base_env, fresh_database, fresh_vhost, lab, ok, wait_health

# --- the "done when", end to end --------------------------------------------------------

SERVICE_MODULES = ("lab.centre.api", "lab.centre.tasks", "lab.cli.worker")
MISSING = [m for m in SERVICE_MODULES if importlib.util.find_spec(m) is None]


def acme_calc_archive(folder: Path) -> Path:
    """examples/acme-calc as the vendor hands it in: a .tar.gz of the submission folder."""
    src = ROOT / "examples" / "acme-calc"
    archive = folder / "acme-calc-0.9.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if "build" in rel.parts or "__pycache__" in rel.parts or path.suffix == ".pyc":
                continue
            tar.add(path, arcname=str(rel), recursive=False)
    return archive


def curl(*args: str) -> tuple[int, str]:
    """A real curl: the HTTP status and the body."""
    proc = subprocess.run(["curl", "-sS", "--max-time", "120", "-w", "\n%{http_code}", *args], capture_output=True,
                          text=True, timeout=150)
    assert proc.returncode == 0, proc.stderr
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), body


E2E_TARGETS = ("debian12-x86_64", "debian12-aarch64")


def small_inventory(folder: Path) -> Path:
    """The lab's inventory with only two Docker targets enabled (x86_64 and arm64 under qemu): the
    same [lab] section and target entries, so the end-to-end run stays short."""
    text_ = (ROOT / "targets.toml").read_text()
    head, *blocks = re.split(r"(?m)^(?=\[\[targets\]\]\s*$)", text_)
    kept = [b for b in blocks if re.search(r'(?m)^name = "([^"]+)"', b).group(1) in E2E_TARGETS]
    assert len(kept) == len(E2E_TARGETS)
    path = folder / "targets.toml"
    path.write_text(head + "".join(kept))
    for sub in ("images",):  # the image recipes the entries name, relative to the inventory
        if (ROOT / sub).exists():
            (folder / sub).symlink_to(ROOT / sub)
    return path


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(bool(MISSING), reason=f"the service is not all there yet: {', '.join(MISSING)} missing")
def test_a_vendor_uploads_acme_calc_with_curl_and_an_engineer_publishes_it(engines, examples, built, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed (Debian's curl): the test uploads with a real curl")
    for name in E2E_TARGETS:
        built(name)
    pg, rabbit = engines
    folder = tmp_path / "centre"
    folder.mkdir()
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    settings = {"LAB_DATABASE_URL": fresh_database(pg), "LAB_BROKER_URL": fresh_vhost(rabbit),
                "LAB_STORAGE": str(folder / "storage"), "LAB_SERVICE_URL": url,
                "LAB_INVENTORY": str(small_inventory(folder)), "LAB_WORKER_TOKEN": uuid.uuid4().hex}
    (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = base_env()

    ok(lab("admin", "org", "create", "ACME Software Co., Ltd.", cwd=folder, env=env))
    ok(lab("admin", "user", "create", "vendor@acme.example", "--org", "ACME Software Co., Ltd.", cwd=folder,
           env=env, stdin="vendor's passphrase\n"))
    ok(lab("admin", "user", "create", "engineer@lab.example", "--engineer", cwd=folder, env=env,
           stdin="engineer's passphrase\n"))
    vendor = ok(lab("admin", "token", "create", "--org", "ACME Software Co., Ltd.", cwd=folder,
                    env=env)).stdout.splitlines()[-1]
    engineer = ok(lab("admin", "token", "create", "--engineer", "engineer@lab.example", cwd=folder,
                      env=env)).stdout.splitlines()[-1]

    api = Background(["serve", "--port", str(api_port)], folder, env, tmp_path / "api.log")
    worker = Background(["worker", "--name", "ops-host-1", "--targets", ",".join(E2E_TARGETS), "--slots", "2",
                         "--inventory", settings["LAB_INVENTORY"]], folder, env, tmp_path / "worker.log")
    try:
        wait_health(url, api.proc)
        status, body = curl("-H", f"Authorization: Bearer {vendor}",
                            "-F", f"submission=@{acme_calc_archive(tmp_path)}", f"{url}/api/v1/submissions")
        assert status == 201, body
        created = json.loads(body)
        sid = created["id"]
        assert created["state"] in ("queued", "running")

        deadline = time.monotonic() + 900
        while True:
            status, body = curl("-H", f"Authorization: Bearer {vendor}", f"{url}/api/v1/submissions/{sid}")
            assert status == 200, body
            sub = json.loads(body)
            if sub["state"] == "finished":
                break
            assert worker.proc.poll() is None, f"the worker exited:\n{worker.text()[-3000:]}"
            assert time.monotonic() < deadline, f"not finished in 15 minutes: {sub}\n{worker.text()[-3000:]}"
            time.sleep(2)
        assert sub["product"] == "acme-calc" and sub["version"] == "0.9.0" and sub["published"] is False
        assert {c["target"] for c in sub["cells"]} == set(E2E_TARGETS)
        assert all(c["state"] == "done" for c in sub["cells"]), sub
        assert {c["verdict"] for c in sub["cells"]} == {"passed"}, sub

        status, body = curl("-H", f"Authorization: Bearer {vendor}", f"{url}/api/v1/submissions/{sid}/verdicts")
        assert status == 200, body
        verdicts = json.loads(body)
        assert {t: v["verdict"] for t, v in verdicts["targets"].items()} == dict.fromkeys(E2E_TARGETS, "passed")

        status, body = curl(f"{url}/api/v1/catalogue/matrix.json")
        assert status == 200 and "acme-calc" not in body  # nothing public before an engineer publishes

        status, body = curl("-X", "POST", "-H", f"Authorization: Bearer {vendor}",
                            f"{url}/api/v1/submissions/{sid}/publish")
        assert status in (403, 404), body  # a vendor cannot publish its own results
        status, body = curl("-X", "POST", "-H", f"Authorization: Bearer {engineer}",
                            f"{url}/api/v1/submissions/{sid}/publish")
        assert status == 200, body

        status, body = curl(f"{url}/api/v1/catalogue/matrix.json")
        assert status == 200, body
        assert "acme-calc" in body and "0.9.0" in body
        status, page = curl(f"{url}/")
        assert status == 200 and "acme-calc" in page  # the buyers' page
        pdf = re.search(r'href="(reports/[^"]+\.pdf)"', page)  # the PDF report, beside Allure's
        assert pdf is not None, page[-2000:]
        status, _ = curl("-o", "/dev/null", f"{url}/{pdf.group(1)}")
        assert status == 200
    finally:
        worker.stop()
        api.stop()
    for proc in (api, worker):
        assert "Traceback" not in proc.text(), proc.text()[-3000:]
