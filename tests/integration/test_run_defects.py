"""Each suite with a failing real package: the check fails and its message names the culprit."""

from __future__ import annotations

import pytest

from tests.integration.packages import bad_deb, service_table, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]
T = "debian12-x86_64"
OK_INSTALL = "#!/bin/sh\nexit 0\n"


def test_a_defective_deb_fails_each_check_by_name(tmp_path, lab_run):
    run = lab_run(bad_deb(tmp_path / "sub"), "--targets", T)
    assert run.proc.returncode == 1
    check = lambda cid: run.check(T, cid)  # noqa: E731
    assert check("install.package")["outcome"] == "passed"
    needed = check("package.needed_libraries")
    assert needed["outcome"] == "failed" and "/usr/bin/acme-bad needs libacmemissing.so.1" in needed["message"]
    runpath = check("package.runpath")
    assert runpath["outcome"] == "failed" and "RUNPATH /home/build/acme/lib" in runpath["message"]
    assert "/usr/share/acme-bad/data" in check("security.world_writable")["message"]
    assert "/usr/bin/acme-suid (in the product's package acme-bad) mode 4755" in check("security.setuid")["message"]
    hardening = check("security.elf_hardening")
    assert hardening["outcome"] == "failed" and hardening["required"] is False
    assert "no PIE" in hardening["message"] or "no full RELRO" in hardening["message"]
    leftovers = check("install.leftovers")
    assert leftovers["outcome"] == "failed" and "/etc/acme-bad.state" in leftovers["message"]
    assert check("package.elf_machine")["outcome"] == "passed"


def test_a_hanging_installer_is_killed_at_the_limit(tmp_path, lab_run):
    sub = tarball(tmp_path / "sub", "hang", "#!/bin/sh\nsleep 600\n", limits="[limits]\ninstall_timeout = 3\n")
    run = lab_run(sub, "--targets", T)
    assert run.proc.returncode == 1
    install = run.check(T, "install.package")
    assert install["outcome"] == "failed" and "timed out after 3 s" in install["message"]
    assert install["duration_s"] < 60


def test_an_installer_that_adds_files_each_time_is_not_idempotent(tmp_path, lab_run):
    sub = tarball(tmp_path / "sub", "counter", "#!/bin/sh\ntouch /opt/counter/state.$(date +%s%N)\n")
    run = lab_run(sub, "--targets", T)
    assert run.proc.returncode == 1
    idem = run.check(T, "install.idempotent")
    assert idem["outcome"] == "failed" and "+ /opt/counter/state." in idem["message"]


def test_a_fork_bomb_and_a_memory_hog_stay_inside_the_target(tmp_path, lab_run):
    bomb = tarball(tmp_path / "bomb", "bomb", "#!/bin/sh\nb() { b | b & }; b\nsleep 30\n",
                   limits="[limits]\ninstall_timeout = 6\n")
    run = lab_run(bomb, "--targets", T)
    assert run.proc.returncode == 1
    assert run.target(T)["verdict"] == "failed"
    assert "timed out after 6 s" in run.check(T, "install.package")["message"]
    hog = tarball(tmp_path / "hog", "hog", "#!/bin/sh\ndd if=/dev/zero of=/dev/null bs=3000M count=1\n")
    run = lab_run(hog, "--targets", T)
    assert run.proc.returncode == 1
    install = run.check(T, "install.package")
    assert install["outcome"] == "failed" and "running install.sh" in install["message"]


def test_a_service_on_an_undeclared_port_fails_service_ports(tmp_path, lab_run):
    sub = tarball(tmp_path / "sub", "svc", OK_INSTALL,
                  service=service_table("/opt/svc/bin/acme-web --port 8080 --extra-port 9090"))
    run = lab_run(sub, "--targets", T, "--suites", "service")  # not the stability watch: it says nothing of ports
    assert run.proc.returncode == 1
    ports = run.check(T, "service.ports")
    assert ports["outcome"] == "failed" and "undeclared port(s) 9090 (declared: 8080)" in ports["message"]
    assert run.check(T, "service.restart")["outcome"] == "passed"


def test_a_worker_that_leaves_the_services_session_and_environment_fails_service_stop(tmp_path, lab_run):
    """A review's service started a worker in a new session with an empty environment: the lab's
    SIGTERM to the service's tree never reached it, and service.stop passed. Seen from outside."""
    command = ("sh -c 'setsid env -i bash -c \\\"(exec -a acme-esc-worker sleep 600 &)\\\"; "
               "exec /opt/svc/bin/acme-web --port 8080'")  # a second fork: its parent gone at once
    sub = tarball(tmp_path / "sub", "svc", OK_INSTALL, service=service_table(command))
    run = lab_run(sub, "--targets", T, "--suites", "service")
    assert run.proc.returncode == 1, run.proc.stdout + run.proc.stderr
    stop = run.check(T, "service.stop")
    assert stop["outcome"] == "failed", stop["message"]
    # one per start: the service was started again after each of service.restart's SIGKILLs
    assert "4 process(es) started since the service did outlived its stop: acme-esc-worker 600 (pid" \
        in stop["message"], stop["message"]
    assert run.check(T, "service.ready")["outcome"] == "passed"


def test_a_service_that_never_opens_its_port_fails_service_ready(tmp_path, lab_run):
    sub = tarball(tmp_path / "sub", "svc", OK_INSTALL,
                  service=service_table("/opt/svc/bin/acme-web --port 8081", ready_timeout=2))
    run = lab_run(sub, "--targets", T)
    assert run.proc.returncode == 1
    ready = run.check(T, "service.ready")
    assert ready["outcome"] == "failed" and "port 8080 never opened within 2 s" in ready["message"]
    assert "acme-web listening on 8081" in ready["message"]  # the service's log, for the vendor
    assert run.check(T, "service.restart")["outcome"] == "skipped"
