"""Fair verdicts (issues 9 and 17): what the lab or the OS did is never held against the product,
and a real incompatibility still fails, naming what is missing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from examples.make import build_deb
from lab.engine import LABEL_RUN, client
from tests.conftest import ROOT
from tests.integration.packages import MANIFEST, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"


def pair(folder, needs: str):
    """A server and its tools, the server needing an exact version of the tools that no Debian
    archive has: only installing both together works."""
    tools = build_deb({"/usr/bin/acme-tools": b"#!/bin/sh\necho tools\n"},
                      {"Package": "acme-tools", "Version": "1.0-lab1", "Architecture": "all"}, folder)
    server = build_deb({"/usr/sbin/acme-server": b"#!/bin/sh\nacme-tools\n"},
                       {"Package": "acme-server", "Version": "1.0-lab1", "Architecture": "all",
                        "Depends": f"acme-tools (= {needs}), bc"}, folder)
    (folder / "submission.toml").write_text(MANIFEST.format(name="acme-server")
                                            + f'[[artifacts]]\npath = "{server.name}"\n'
                                            + f'[[artifacts]]\npath = "{tools.name}"\n')
    return folder


def test_two_packages_with_an_exact_inner_dependency_install_together(tmp_path, lab_run):
    run = lab_run(pair(tmp_path / "sub", "1.0-lab1"), "--targets", "debian12-x86_64,debian13-x86_64",
                  "--suites", "install")
    assert run.proc.returncode == 0, run.proc.stdout
    for target in ("debian12-x86_64", "debian13-x86_64"):
        install = run.check(target, "install.package")
        assert install["outcome"] == "passed", install["message"]
        assert run.check(target, "install.leftovers")["outcome"] == "passed"


def test_a_real_incompatibility_still_fails_naming_the_dependency(tmp_path, lab_run):
    run = lab_run(pair(tmp_path / "sub", "2.0"), "--targets", T, "--suites", "install")
    assert run.proc.returncode == 1, run.proc.stdout
    install = run.check(T, "install.package")
    assert install["outcome"] == "failed"
    assert "acme-tools (= 2.0)" in install["message"]
    assert f"{T} offers: " in install["message"]


def test_a_real_debian_server_with_vendor_tests_against_its_service_passes(shared_run):
    run = shared_run("debian-memcached-off")  # test_cache compares its runs with the cache to this one
    assert run.proc.returncode == 0, json.dumps(run.target(T), indent=1)[:3000]
    checks = {c["id"]: c for c in run.target(T)["checks"]}
    assert checks["vendor.tests"]["outcome"] == "passed"
    assert checks["service.ready"]["outcome"] == "passed"
    assert [c for c in checks if c.startswith("vendor.") and c != "vendor.tests"]
    # perl came with the server and stays installed: shown as the OS's, not a leftover of the product
    assert "OS package perl" in checks["install.leftovers"]["message"] or \
        "perl" not in checks["install.leftovers"]["message"]


def test_a_library_and_its_program_at_the_current_version_pass(shared_run):
    run = shared_run("debian-curl")  # test_run_supply reads its SBOM
    assert run.proc.returncode == 0, json.dumps(run.target(T), indent=1)[:3000]
    assert run.target(T)["facts"].get("snapshot")  # the image's update date is in the facts


def installing(out, command: str) -> bool:
    """The install is under way: ``command`` (the install script's) runs inside the run's target."""
    if not (out / "plan.json").exists():
        return False
    run_id = json.loads((out / "plan.json").read_text())["run"]
    pattern = command.replace(" ", "[ ]", 1)  # a pattern that does not match the probe's own command line
    probe = ["sh", "-c", f"cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -q '{pattern}'"]
    return any(c.exec_run(probe).exit_code == 0
               for c in client().containers.list(filters={"label": f"{LABEL_RUN}={run_id}"}))


def test_a_background_run_stops_on_sigterm_with_its_workers(tmp_path):
    sub = tarball(tmp_path / "sub", "sleepy", "#!/bin/sh\nsleep 600\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lab", "run", str(sub), "--targets", T, "--output", str(out), "--no-report",
           "--catalogue", f"sqlite:///{tmp_path / 'c.db'}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not installing(out, "sleep 600"):
        time.sleep(0.5)
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=150)
    assert time.monotonic() - stopped < 60
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["interrupted"] is True
    assert verdicts["targets"][T]["verdict"] == "broken"


def test_a_sigterm_as_the_first_worker_starts_leaves_no_worker_behind(tmp_path):
    """A review's SIGTERM while the workers' server still imported: the fork request stayed queued,
    and a worker the controller never knew of ran after verdicts.json, its container removed under
    it. Now the run stops whole: nothing of it runs or remains once ``lab run`` has exited."""
    sub = tarball(tmp_path / "sub", "sleepy", "#!/bin/sh\nsleep 600\n")
    proc, out = background_run(tmp_path, sub)
    log = out / "logs" / T / "pytest.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=150)
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["interrupted"] is True and verdicts["targets"][T]["verdict"] == "broken"
    time.sleep(5)  # what a worker left running would do meanwhile
    assert not run_containers(out)
    alive = subprocess.run(["pgrep", "-f", verdicts["run"]], capture_output=True, text=True).stdout.split()
    assert not alive, alive
    results = out / "targets" / f"{T}.json"
    assert not results.exists() or results.stat().st_mtime <= (out / "verdicts.json").stat().st_mtime


def background_run(tmp_path, sub, *extra):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lab", "run", str(sub), "--targets", T, "--output", str(out), "--no-report",
           "--catalogue", f"sqlite:///{tmp_path / 'c.db'}", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    return proc, out


def wait_installing(out, command: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not installing(out, command):
        time.sleep(0.5)


def run_containers(out) -> list[str]:
    run_id = json.loads((out / "plan.json").read_text())["run"]
    return [c.name for c in client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})]


def test_a_second_interrupt_hurries_the_end_and_still_writes_the_verdicts(tmp_path):
    """A review's second Ctrl-C, during the workers' teardown, ended in a traceback, exit 1 and no
    verdicts.json: it now kills the workers at once, and the run ends as an interrupted one."""
    proc, out = background_run(tmp_path, tarball(tmp_path / "sub", "sleepy", "#!/bin/sh\nsleep 600\n"))
    wait_installing(out, "sleep 600")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    said = proc.communicate(timeout=150)[0].decode()
    assert proc.returncode == 3, said
    assert "Traceback" not in said, said
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["interrupted"] is True and verdicts["targets"][T]["verdict"] == "broken"
    assert run_containers(out) == []


def test_a_hang_up_does_not_stop_the_run(tmp_path):
    """A closed terminal (SIGHUP) killed the controller: the workers went on, and nothing was
    written or recorded. The run now goes on to its end, printing nowhere."""
    proc, out = background_run(tmp_path, tarball(tmp_path / "sub", "slow", "#!/bin/sh\nsleep 4\n"),
                               "--suites", "install")
    wait_installing(out, "sleep 4")
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=150)
    assert proc.returncode == 0
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["interrupted"] is False and verdicts["targets"][T]["verdict"] == "passed"
    assert list((out / "certificates").glob("*.json")), "the run's end (certificates) was done"
    assert run_containers(out) == []


def test_declared_facts_that_contradict_the_target_make_it_broken(tmp_path, lab_run):
    inventory = tmp_path / "targets.toml"
    text = (ROOT / "targets.toml").read_text()
    inventory.write_text(text.replace('os_id = "debian", os_version = "13"', 'os_id = "debian", os_version = "12"'))
    sub = tarball(tmp_path / "sub", "plain", "#!/bin/sh\nexit 0\n")
    run = lab_run(sub, "--targets", "debian13-x86_64", "--suites", "install", inventory=inventory)
    assert run.proc.returncode == 3
    reason = run.target("debian13-x86_64")["reason"]
    assert "declares os_version 12 but the target is debian 13" in reason


def test_what_an_os_dependencys_own_scripts_write_is_not_the_products_leftover(tmp_path, lab_run):
    """Found by a new vendor: any .deb depending on python3 failed install.leftovers on Debian 12 for
    /etc/inputrc, /etc/python3, /usr/local/lib/python3.11 (the postinst scripts of readline-common and
    python3.11-minimal write them). The OS packages now go in first, in a transaction of their own,
    and the install is judged from there; the product's own postinst is still its own."""
    sub = tmp_path / "sub"
    deb = build_deb({"/usr/bin/acme-rl": b"#!/bin/sh\necho rl\n"},
                    {"Package": "acme-rl", "Version": "1.0", "Architecture": "all", "Depends": "readline-common"},
                    sub, scripts={"postinst": "#!/bin/sh\ntouch /etc/acme-rl.state\n"})
    (sub / "submission.toml").write_text(MANIFEST.format(name="acme-rl") + f'[[artifacts]]\npath = "{deb.name}"\n')
    run = lab_run(sub, "--targets", T, "--suites", "install,security")
    assert run.check(T, "install.package")["outcome"] == "passed"
    left = run.check(T, "install.leftovers")
    assert left["outcome"] == "failed" and "/etc/acme-rl.state" in left["message"]
    assert "/etc/inputrc" not in left["message"], left["message"]
    assert run.check(T, "security.system_files")["outcome"] == "passed"
    commands = (run.out / "logs" / T / "commands.log").read_text()
    assert "--mark-auto install /var/cache/apt/archives/readline-common_" in commands


def test_a_product_depending_on_sudo_is_uninstalled_and_sudo_shown_not_held(tmp_path, lab_run):
    """sudo's prerm refuses its removal without a root password: the product is purged alone and
    the uninstall passes (a hostile review's product was blamed for sudo). sudo's setuid binary went
    in before the product's install, so no diff holds it: security.setuid names it as the OS's."""
    sub = tmp_path / "sub"
    deb = build_deb({"/usr/bin/acme-su": b"#!/bin/sh\necho su\n"},
                    {"Package": "acme-su", "Version": "1.0", "Architecture": "all", "Depends": "sudo"}, sub)
    (sub / "submission.toml").write_text(MANIFEST.format(name="acme-su") + f'[[artifacts]]\npath = "{deb.name}"\n')
    run = lab_run(sub, "--targets", T, "--suites", "install,security")
    setuid = run.check(T, "security.setuid")
    assert setuid["outcome"] == "passed", setuid["message"]
    assert "/usr/bin/sudo (from OS package sudo, a dependency installed before the product) mode 4755" in \
        setuid["message"], setuid["message"]
    for check in ("install.package", "install.uninstall", "install.leftovers"):
        assert run.check(T, check)["outcome"] == "passed", run.check(T, check)["message"]
