"""Container targets for real: the fast command path, files, hardening, facts and teardown."""

from __future__ import annotations

import threading
import time

import pytest

from lab.engine import LABEL_RUN, client
from lab.errors import CommandTimeout, ConnectionLost, InfrastructureError
from lab.provision import provision
from lab.provision.container import written_bytes
from lab.runid import new_run_id

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def test_commands_quoting_stderr_and_exit_codes(bookworm):
    t = bookworm.transport
    r = t.run("echo \"a b\" 'c  d' $((6*7)); echo oops >&2; exit 3")
    assert (r.exit_status, r.stdout, r.stderr) == (3, "a b c  d 42\n", "oops\n")
    assert t.run("definitely-not-here").exit_status == 127
    assert t.run("ls /nonexistent").exit_status == 2


def test_timeout_kills_inside_the_container_and_recovers(bookworm):
    t = bookworm.transport
    with pytest.raises(CommandTimeout):
        t.run("sleep 300 & sleep 301", timeout=1)
    time.sleep(0.5)
    assert "sleep 30" not in t.run("ps -eo args").stdout
    assert t.run("echo again").stdout == "again\n"


def test_files_in_and_out(bookworm):
    t = bookworm.transport
    payload = bytes(range(256)) * 1000
    t.put_bytes(payload, "/opt/lab-test/deep/blob.bin", mode=0o600)
    assert t.get_bytes("/opt/lab-test/deep/blob.bin") == payload
    assert t.run("stat -c %a /opt/lab-test/deep/blob.bin").stdout.strip() == "600"
    with pytest.raises(FileNotFoundError):
        t.get_bytes("/opt/lab-test/absent")


def test_two_callers_at_once_each_get_their_own_shell(bookworm):
    t = bookworm.transport
    results = {}

    def work(i):
        results[i] = [t.run(f"echo {i}-{n}; sleep 0.2").stdout for n in range(3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == {i: [f"{i}-{n}\n" for n in range(3)] for i in range(2)}
    assert time.monotonic() - started < 1.1  # 6 x 0.2 s serialised would take 1.2 s


def test_process_1_ignores_signals_from_inside_and_reaps_orphans(bookworm):
    """The lab's keeper, not Docker's init: a review's vendor test ran `kill -TERM 1` and the target
    stopped, which made the vendor's doing the lab's fault (broken)."""
    t = bookworm.transport
    t.run("kill -TERM 1; kill -KILL 1; kill -INT 1; kill -HUP 1; kill -QUIT 1")
    t.run("(sleep 0.2 &); (sleep 0.2 &)")  # orphans, reparented to process 1
    time.sleep(0.6)
    assert client().containers.get(bookworm.handle.id).status == "running"
    assert t.run("echo up").stdout == "up\n"
    states = t.run("cat /proc/[0-9]*/stat 2>/dev/null").stdout
    assert not [line for line in states.splitlines() if line.rsplit(")", 1)[1].split()[0] == "Z"], states


def test_hardening_no_network_limits_and_capabilities(bookworm):
    t = bookworm.transport
    links = t.run("ip -o link show").stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    attrs = client().containers.get(bookworm.handle.id).attrs["HostConfig"]
    assert attrs["PidsLimit"] == 512 and attrs["Memory"] == 1024**3 and not attrs["Privileged"]
    assert "no-new-privileges" in attrs["SecurityOpt"][0]
    status = t.run("grep CapEff /proc/self/status").stdout.split()[1]
    assert int(status, 16) & (1 << 21) == 0  # CAP_SYS_ADMIN is dropped
    assert t.run("mount -t tmpfs x /mnt").exit_status != 0
    attrs = client().containers.get(bookworm.handle.id).attrs
    assert attrs["Mounts"] == [] and not attrs["HostConfig"].get("Binds")  # no host path
    assert attrs["HostConfig"]["MemorySwap"] == attrs["HostConfig"]["Memory"]  # no swap
    assert t.run("test -e /var/run/docker.sock || test -e /run/docker.sock").exit_status == 1
    assert t.run("grep NoNewPrivs /proc/self/status").stdout.split() == ["NoNewPrivs:", "1"]


def test_a_command_printing_32_mib_comes_back_capped_with_the_cut_stated(bookworm):
    t = bookworm.transport
    assert t.output_max_bytes == 1 << 20
    r = t.run("head -c 33554432 /dev/zero | tr '\\0' a; echo end >&2", timeout=60)
    assert r.ok and len(r.stdout_bytes) < (1 << 20) + 200 and r.stderr == "end\n"
    assert "[... 32505856 bytes cut by the lab: the command printed 33554432 bytes ...]" in r.stdout
    assert r.stdout.startswith("a" * 1000) and r.stdout.endswith("a" * 1000)
    assert t.run("echo next").stdout == "next\n"


def test_written_bytes_is_what_the_container_wrote_beyond_its_image(bookworm):
    t = bookworm.transport
    before = written_bytes(bookworm.handle)
    assert t.run("head -c 8388608 /dev/urandom > /var/tmp/lab-written").ok
    assert written_bytes(bookworm.handle) >= before + (8 << 20) - 4096
    t.run("rm -f /var/tmp/lab-written")


def test_facts_are_the_real_ones(bookworm):
    f = bookworm.facts
    assert (f.arch, f.emulated, f.os_id, f.os_version, f.glibc, f.package_manager) == (
        "x86_64", False, "debian", "12", "2.36", "apt")


def test_container_killed_mid_run_is_connection_lost(inventory, built):
    target = built("debian12-x86_64")
    with provision(target, new_run_id("test"), inventory.model.lab) as p:
        assert p.transport.run("true").ok
        p.handle.kill()
        with pytest.raises(ConnectionLost, match="connection to debian12-x86_64 lost"):
            p.transport.run("echo hi")


def test_teardown_on_error_leaves_no_container(inventory, built):
    target = built("debian12-x86_64")
    run_id = new_run_id("teardown")
    seen = []

    def fail_inside():
        with provision(target, run_id, inventory.model.lab):
            seen.extend(client().containers.list(filters={"label": f"{LABEL_RUN}={run_id}"}))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_inside()
    assert len(seen) == 1
    assert client().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}) == []


def test_unbuilt_and_registry_images_are_broken_with_the_reason(inventory):
    target = inventory.model.get("openeuler2203-x86_64")
    with pytest.raises(InfrastructureError, match="absent and this lab has no registry"), \
            provision(target, new_run_id("test"), inventory.model.lab):
        pass
