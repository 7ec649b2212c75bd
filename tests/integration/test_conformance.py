"""The same ``host.*`` checks through the fast backend and testinfra's stock ``docker://`` give
the same answers (testinfra's own backend conformance idea, on one container)."""

from __future__ import annotations

import pytest
import testinfra

from lab.transport.testinfra import as_testinfra_host

pytestmark = [pytest.mark.slow, pytest.mark.docker]

CHECKS = {
    "os-release exists": lambda h: h.file("/etc/os-release").exists,
    "os-release says bookworm": lambda h: h.file("/etc/os-release").contains("bookworm"),
    "passwd mode": lambda h: h.file("/etc/passwd").mode,
    "passwd sha256": lambda h: h.file("/etc/passwd").sha256sum,
    "libc6 installed": lambda h: h.package("libc6").is_installed,
    "libc6 version": lambda h: h.package("libc6").version,
    "absent package": lambda h: h.package("nginx").is_installed,
    "root uid": lambda h: h.user("root").uid,
    "root home": lambda h: h.user("root").home,
    "nobody group": lambda h: h.group("nogroup").exists,
    "distribution": lambda h: (h.system_info.distribution, h.system_info.release,
                               h.system_info.codename, h.system_info.arch),
    "uname": lambda h: h.run("uname -m").stdout,
    "exit status": lambda h: h.run("exit 5").rc,
    "stderr": lambda h: h.run("echo e >&2").stderr,
    "quoted args": lambda h: h.run("echo %s %s", "a b", "$HOME;x").stdout,
    "find command": lambda h: h.exists("apt-get"),
    "listening sockets": lambda h: h.socket.get_listening_sockets(),
    "init process": lambda h: [p.comm for p in h.process.filter(pid=1)],
}


@pytest.fixture(scope="module")
def hosts(bookworm):
    fast = as_testinfra_host(bookworm.transport)
    stock = testinfra.get_host(f"docker://{bookworm.handle.id}")
    return fast, stock


@pytest.mark.parametrize("name", list(CHECKS))
def test_same_answer_through_both_backends(hosts, name):
    fast, stock = hosts
    assert CHECKS[name](fast) == CHECKS[name](stock)
