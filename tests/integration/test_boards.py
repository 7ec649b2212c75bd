"""Boards over SSH against real sshd (the simulated boards): authentication, pinned host keys,
sudo (for real boards), a board lost mid-run, secrets kept out of results, the same verdicts as a
container; the hardening and isolation of a simulated board, its output cap, and its recreation
between runs so two vendors never meet."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.engine import client
from lab.errors import CommandTimeout, ConnectionLost, InfrastructureError
from lab.inventory import load_inventory
from lab.provision import board as boards
from lab.provision import simulated
from lab.provision.container import CAPABILITIES
from lab.runid import new_run_id
from lab.transport.ssh import SshTransport
from tests.conftest import ROOT
from tests.integration.packages import service_table, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]
BOARD = "board-debian12-x86_64"
# Linux capability numbers of what target containers keep (and nothing else may be effective).
CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7,
            "NET_BIND_SERVICE": 10, "SYS_CHROOT": 18, "AUDIT_WRITE": 29, "SETFCAP": 31}


@pytest.fixture(scope="module")
def board(inventory, built):
    built("debian12-x86_64")
    target = inventory.model.get(BOARD)
    with boards.board_lock(BOARD, wait_s=600):  # not in the middle of someone's run
        simulated.up(inventory, target)
    return target


@contextlib.contextmanager
def ssh_to(board, **changes):
    """A link to the board while holding its lock: a run elsewhere recreates it when it ends."""
    spec = board.ssh.model_copy(update=changes)
    with boards.board_lock(board.name, wait_s=600):
        t = SshTransport(board.name, spec, ["127.0.0.0/8"])
        try:
            yield t
        finally:
            t.close()


def in_board(board, command: str) -> tuple[int, str]:
    return in_container(client().containers.get(simulated.container_name(board)), command)


def in_container(container, command: str) -> tuple[int, str]:
    code, out = container.exec_run(["sh", "-c", command])
    return code, out.decode(errors="replace")


def test_key_auth_as_root_and_files(board):
    with ssh_to(board) as t:
        assert t.run("id -u").stdout == "0\n"  # root: sudo cannot work under no-new-privileges
        r = t.run("echo out; echo err >&2; exit 4")
        assert (r.exit_status, r.stdout, r.stderr) == (4, "out\n", "err\n")
        t.put_bytes(b"\x00\x01binary", "/opt/lab-test/f.bin", 0o600)
        assert t.get_bytes("/opt/lab-test/f.bin") == b"\x00\x01binary"
        assert t.run("stat -c '%a %U' /opt/lab-test/f.bin").stdout == "600 root\n"
        name = "/opt/lab-test/it's $(touch /opt/lab-test/PWNED)\n;x.bin"
        t.put_bytes(b"q", name)
        assert t.get_bytes(name) == b"q"
        assert t.run("ls /opt/lab-test").stdout.count("PWNED") == 0


def test_sudo_cannot_gain_root_on_a_simulated_board_and_says_why(board):
    with pytest.raises(ConnectionLost, match="no new privileges"), ssh_to(board, user="lab") as t:
        t.run("id -u")


@pytest.fixture
def sudo_board(board):
    """A board the way a real one may be: login as ``lab``, root through sudo (so without
    no-new-privileges), on the boards' bridge, published on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    image = client().containers.get(simulated.container_name(board)).attrs["Config"]["Image"]
    container = client().containers.run(
        image, ["sh", "-c", simulated.SSHD], detach=True, network=simulated.BOARDS_NETWORK,
        ports={"22/tcp": ("127.0.0.1", port)}, cap_drop=["ALL"], cap_add=CAPABILITIES, init=True,
        mem_limit="512m", memswap_limit="512m", pids_limit=256, labels={"lab.role": "test-sudo-board"})
    try:
        public = simulated.ensure_key(Path(board.ssh.key_file))
        keys = "/home/lab/.ssh/authorized_keys"
        container.exec_run(["sh", "-c", f"mkdir -p /home/lab/.ssh && echo '{public}' > {keys} && "
                                        f"chown -R lab:lab /home/lab/.ssh && chmod 600 {keys}"])
        simulated._wait_for_sshd(port)
        code, key = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        assert code == 0
        spec = board.ssh.model_copy(update={"port": port, "user": "lab", "known_hosts": None,
                                            "host_key": " ".join(key.decode().split()[:2])})
        yield spec
    finally:
        container.remove(force=True)


def test_sudo_still_works_for_a_board_that_allows_it(board, sudo_board):
    t = SshTransport("sudo-board", sudo_board, ["127.0.0.0/8"])
    try:
        assert t.sudo and t.run("id -u; whoami").stdout == "0\nroot\n"
        t.put_bytes(b"via sudo", "/opt/lab-test/s.txt", 0o640)
        assert t.get_bytes("/opt/lab-test/s.txt") == b"via sudo"
    finally:
        t.close()


def test_timeouts_fire_and_large_output_cannot_deadlock(board):
    with ssh_to(board) as t:
        started = time.monotonic()
        with pytest.raises(CommandTimeout):
            t.run("sleep 60", timeout=1)
        assert time.monotonic() - started < 15
        assert t.run("echo still here").stdout == "still here\n"
        t.output_max_bytes = 4 << 20  # under the cap: every byte, exact
        r = t.run("head -c 3000000 /dev/zero | tr '\\0' o; head -c 2000000 /dev/zero | tr '\\0' e >&2")
        assert (len(r.stdout_bytes), len(r.stderr_bytes)) == (3_000_000, 2_000_000)


def test_a_command_printing_32_mib_comes_back_capped_with_the_cut_stated(board):
    with ssh_to(board) as t:
        assert t.output_max_bytes == 1 << 20
        r = t.run("head -c 33554432 /dev/zero | tr '\\0' a; echo end", timeout=60)
        assert r.ok and len(r.stdout_bytes) < (1 << 20) + 200
        assert "[... 32505860 bytes cut by the lab: the command printed 33554436 bytes ...]" in r.stdout
        assert r.stdout.startswith("a" * 1000) and r.stdout.endswith("a" * 1000 + "end\n")
        assert t.run("echo next").stdout == "next\n"


def test_password_auth_from_the_environment(board, monkeypatch):
    password = secrets.token_urlsafe(12)
    monkeypatch.setenv("LAB_TEST_BOARD_PASSWORD", password)
    with boards.board_lock(BOARD, wait_s=600):
        assert in_board(board, f"echo 'root:{password}' | chpasswd")[0] == 0
        t = SshTransport(board.name, board.ssh.model_copy(update={"key_file": None,
                                                                  "password_env": "LAB_TEST_BOARD_PASSWORD"}),
                         ["127.0.0.0/8"])
        try:
            assert t.run("whoami").stdout == "root\n"
        finally:
            t.close()
        monkeypatch.setenv("LAB_TEST_BOARD_PASSWORD", "wrong")
        with pytest.raises(InfrastructureError, match="authentication to board-debian12-x86_64 as root failed"):
            SshTransport(board.name, board.ssh.model_copy(update={"key_file": None,
                                                                  "password_env": "LAB_TEST_BOARD_PASSWORD"}),
                         ["127.0.0.0/8"])
        in_board(board, "usermod -p '*' root")


def test_a_wrong_or_unknown_host_key_is_refused(board, tmp_path):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrtPmPnGyLHuIUdAD4a3VCfjAwQhqmL2qIQXwJNAv2C"
    with pytest.raises(InfrastructureError, match=r"host key of board-debian12-x86_64 .* changed"), \
            ssh_to(board, known_hosts=None, host_key=other):
        pass
    with pytest.raises(InfrastructureError, match="unknown host key"), \
            ssh_to(board, known_hosts=str(tmp_path / "empty")):
        pass
    with ssh_to(board, known_hosts=str(tmp_path / "tofu"), trust_on_first_use=True):
        pass
    assert "[127.0.0.1]:2222 ssh-ed25519" in (tmp_path / "tofu").read_text()


def test_only_allowed_networks_are_reached(board):
    with pytest.raises(InfrastructureError, match=r"not in \[lab\]\.allowed_networks"):
        SshTransport(board.name, board.ssh.model_copy(update={"host": "192.0.2.1"}), ["127.0.0.0/8"])


def test_same_verdicts_on_a_board_as_in_a_container(board, examples, lab_run):
    for example in ("trixie-hello", "acme-web"):
        run = lab_run(examples / example, "--targets", f"debian12-x86_64,{BOARD}")
        container, on_board = run.target("debian12-x86_64"), run.target(BOARD)
        assert on_board["verdict"] == container["verdict"], on_board["reason"]
        assert [(c["id"], c["outcome"]) for c in on_board["checks"]] == \
               [(c["id"], c["outcome"]) for c in container["checks"]]
        if example == "trixie-hello":
            assert "GLIBC_2.38" in run.check(BOARD, "package.symbol_versions")["message"]


def test_no_secret_reaches_the_run_folder(board, examples, lab_run, tmp_path, monkeypatch):
    password = "s3cret-" + secrets.token_hex(8)
    monkeypatch.setenv("LAB_TEST_BOARD_PASSWORD", password)
    inv = tmp_path / "targets.toml"
    text = (ROOT / "targets.toml").read_text()
    key_line = 'key_file = "~/.local/share/adaptation-lab/boards/id_ed25519"\nknown_hosts'
    start = text.index("port = 2222\n")
    assert key_line in text[start:]
    by_password = 'password_env = "LAB_TEST_BOARD_PASSWORD"\nknown_hosts'
    inv.write_text(text[:start] + text[start:].replace(key_line, by_password, 1))
    assert load_inventory(inv).model.get(BOARD).ssh.password_env == "LAB_TEST_BOARD_PASSWORD"
    with boards.board_lock(BOARD, wait_s=600):  # the password holds until the run's own end
        assert in_board(board, f"echo 'root:{password}' | chpasswd")[0] == 0
    run = lab_run(examples / "acme-hello", "--targets", BOARD, inventory=inv)
    assert run.target(BOARD)["verdict"] == "passed", run.target(BOARD)["reason"]
    found = subprocess.run(["grep", "-rl", password, str(run.out)], capture_output=True, text=True).stdout
    assert found == ""


def test_a_board_lost_mid_run_is_broken_and_a_rerun_completes_the_matrix(board, tmp_path):
    sub = tarball(tmp_path / "slow", "svc", "#!/bin/sh\nsleep 8\n", service=service_table("/opt/svc/bin/acme-web "
                                                                                          "--port 8080"))
    out = tmp_path / "out"
    catalogue = ["--catalogue", f"sqlite:///{tmp_path / 'catalogue.db'}"]  # never the lab's own
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", str(sub), "--output", str(out), "--no-report",
                             "--targets", f"debian12-x86_64,{BOARD}", *catalogue], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    events = out / f"logs/{BOARD}/events.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (events.exists() and "provisioned" in events.read_text()):
        time.sleep(0.2)
    time.sleep(2)  # inside the 8 s install
    client().containers.get(simulated.container_name(board)).kill(signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 3, stdout + stderr
    verdicts = json.loads((out / "verdicts.json").read_text())
    lost = verdicts["targets"][BOARD]
    assert lost["verdict"] == "broken" and f"connection to {BOARD} lost" in lost["reason"]
    assert verdicts["targets"]["debian12-x86_64"]["verdict"] == "passed"
    # The board is back without anyone's help: the run recreated it from its image when it ended.
    assert client().containers.get(simulated.container_name(board)).status == "running"
    assert not boards.dirty_marker(board).exists()
    rerun = subprocess.run([sys.executable, "-m", "lab", "run", "--rerun-broken", str(out), "--no-report", *catalogue],
                           capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    merged = json.loads((out / "verdicts.json").read_text())
    assert {n: t["verdict"] for n, t in merged["targets"].items()} == {"debian12-x86_64": "passed", BOARD: "passed"}
    assert merged["run"] == verdicts["run"] and (out / f"logs/{BOARD}.attempt-1").is_dir()
    assert (out / f"certificates/{BOARD}.json").exists()


# -- a simulated board is hardened like a target container, isolated, and recreated between runs ---
@pytest.fixture
def board_held(board):
    """The board, locked for the test: a run elsewhere recreates it when it ends."""
    with boards.board_lock(BOARD, wait_s=600):
        yield board


def test_a_simulated_board_is_hardened_like_a_target_container(board_held):
    board = board_held
    attrs = client().containers.get(simulated.container_name(board)).attrs
    host = attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and sorted(host["CapAdd"]) == sorted(CAPABILITIES)
    assert host["SecurityOpt"] == ["no-new-privileges"] and host["Init"] is True and not host["Privileged"]
    assert host["Memory"] == host["MemorySwap"] == 1024**3 and host["PidsLimit"] == 512
    assert host["NanoCpus"] == 10**9
    assert attrs["Mounts"] == [] and not host.get("Binds")  # no host path, no docker socket
    assert [b["HostIp"] for b in host["PortBindings"]["22/tcp"]] == ["127.0.0.1"]
    assert list(attrs["NetworkSettings"]["Networks"]) == [simulated.BOARDS_NETWORK]
    code, status = in_board(board, "grep -E '^(CapEff|NoNewPrivs)' /proc/1/status; test ! -e /var/run/docker.sock "
                                   "&& test ! -e /run/docker.sock && echo no-socket")
    assert code == 0, status
    fields = dict(line.split(":\t") for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == sum(1 << CAP_BITS[c] for c in CAPABILITIES)
    assert fields["NoNewPrivs"] == "1" and "no-socket" in status
    t = SshTransport(board.name, board.ssh, ["127.0.0.0/8"])  # what vendor code gets: root, not the machine's
    try:
        assert int(t.run("grep CapEff /proc/self/status").stdout.split()[1], 16) & (1 << 21) == 0  # no SYS_ADMIN
        assert t.run("mount -t tmpfs x /mnt").exit_status != 0
        assert t.run("echo 1 > /proc/sys/kernel/sysrq").exit_status != 0  # /proc/sys is read-only
    finally:
        t.close()


def test_the_boards_bridge_is_isolated(board_held):
    board = board_held
    net = client().networks.get(simulated.BOARDS_NETWORK)
    assert net.attrs["Options"] == simulated.NETWORK_OPTIONS
    assert net.attrs["Options"]["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert net.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    for chain, rule in simulated.FIREWALL:  # no forwarding out of the bridge, no new link to this machine
        assert subprocess.run(["iptables", "-w", "-C", chain, *rule]).returncode == 0, (chain, rule)
    gateway = net.attrs["IPAM"]["Config"][0]["Gateway"]
    # A neighbour on the same bridge, with sshd listening: the board must not reach it.
    neighbour = client().containers.run(
        client().containers.get(simulated.container_name(board)).attrs["Config"]["Image"],
        ["sh", "-c", simulated.SSHD], detach=True, network=simulated.BOARDS_NETWORK, cap_drop=["ALL"],
        cap_add=CAPABILITIES, security_opt=["no-new-privileges"], labels={"lab.role": "test-neighbour"})
    listener = socket.socket()
    try:
        listener.bind((gateway, 0))  # a service of this machine, on the bridge's side
        listener.listen()
        neighbour.reload()
        ip = neighbour.attrs["NetworkSettings"]["Networks"][simulated.BOARDS_NETWORK]["IPAddress"]
        probe = "timeout 5 bash -c 'exec 3<>/dev/tcp/{}/{}' 2>/dev/null && echo open || echo closed"
        assert in_board(board, probe.format("127.0.0.1", 22))[1].strip() == "open"  # the probe itself works
        assert in_container(neighbour, "sleep 2; " + probe.format("127.0.0.1", 22))[1].strip() == "open"
        assert in_board(board, probe.format(ip, 22))[1].strip() == "closed"
        assert in_board(board, probe.format(gateway, listener.getsockname()[1]))[1].strip() == "closed"
    finally:
        listener.close()
        neighbour.remove(force=True)


def planting_vendor(folder: Path) -> Path:
    """Plants a file in /etc and prints 32 MiB from its install script."""
    return tarball(folder, "planter", "#!/bin/sh\necho planted > /etc/planted\n"
                                      "head -c 33554432 /dev/zero | tr '\\0' p\necho\n")


def checking_vendor(folder: Path) -> Path:
    """Fails its install if anything the previous vendor left is there."""
    return tarball(folder, "checker", "#!/bin/sh\nif [ -e /etc/planted ]; then echo 'found /etc/planted' >&2; "
                                      "exit 3; fi\n")


def test_two_vendors_in_a_row_never_meet_on_a_simulated_board(board, lab_run, tmp_path):
    before = client().containers.get(simulated.container_name(board)).id
    first = lab_run(planting_vendor(tmp_path / "a"), "--targets", BOARD, "--suites", "install")
    install = first.check(BOARD, "install.package")
    assert install["outcome"] == "passed", install["message"]
    between = client().containers.get(simulated.container_name(board))
    assert between.id != before and between.status == "running"  # recreated from its image after the run
    assert in_board(board, "test -e /etc/planted")[0] == 1
    assert not boards.dirty_marker(board).exists()
    second = lab_run(checking_vendor(tmp_path / "b"), "--targets", BOARD, "--suites", "install")
    install = second.check(BOARD, "install.package")
    assert install["outcome"] == "passed", install["message"]
    assert second.proc.returncode == 0, second.proc.stdout + second.proc.stderr


def test_a_board_whose_reset_fails_is_taken_out_with_the_reason(board, inventory, tmp_path, monkeypatch):
    """A real board's `ssh.reset` (here: a board that is not simulated, on the simulated one's sshd)."""
    lab = inventory.model.lab
    real = board.model_copy(update={"name": "board-reset-test", "ssh": board.ssh.model_copy(
        update={"simulated_from": None, "reset": "echo cannot reimage >&2; exit 7"})})
    with boards.board_lock(BOARD, wait_s=600):  # its sshd is the simulated board's: nobody else on it now
        monkeypatch.setattr(boards, "STATE", tmp_path / "state")
        monkeypatch.setattr(boards, "LOCKS", tmp_path / "locks")
        with boards.provision_board(real, new_run_id("reset"), lab) as p:
            assert p.transport.output_max_bytes == lab.limits.output_max_bytes
            p.transport.run("mkdir -p /var/tmp/lab-staging && touch /var/tmp/lab-staging/x")
        marker = boards.dirty_marker(real)
        assert "the reset of board-reset-test failed" in marker.read_text()
        assert "cannot reimage" in marker.read_text() and "[exit 7]" in marker.read_text()
        with pytest.raises(InfrastructureError, match="board-reset-test is taken out of this run") as taken:
            with boards.provision_board(real, new_run_id("reset"), lab):
                pytest.fail("a board whose reset fails must not be used")
        assert "its reset before this run failed too" in str(taken.value)
        fixed = real.model_copy(update={"ssh": real.ssh.model_copy(update={"reset": "test ! -e /var/tmp/lab-staging"})})
        with boards.provision_board(fixed, new_run_id("reset"), lab):  # a reset that works: back in
            assert "used it" in marker.read_text()  # dirty again while this run uses it
        assert not marker.exists()


def test_a_file_shaped_like_the_labs_transfer_spool_is_the_vendors_on_a_board(board, lab_run, tmp_path):
    """A board's transfer spool (/tmp/.lab-xfer- and 12 hex) is the lab's by the exact names its
    transport made this run: a postinst's file of the same shape is a leftover like any other."""
    from examples.make import build_deb
    from tests.integration.packages import MANIFEST

    spool_like = "/tmp/.lab-xfer-0123456789ab"
    sub = tmp_path / "sub"
    deb = build_deb({"/usr/share/acme-spool/README": b"nothing to see\n"},
                    {"Package": "acme-spool", "Version": "1.0", "Architecture": "all"}, sub,
                    scripts={"postinst": f"#!/bin/sh\necho planted > {spool_like}\nexit 0\n"})
    (sub / "submission.toml").write_text(MANIFEST.format(name="acme-spool") + f'[[artifacts]]\npath = "{deb.name}"\n')
    run = lab_run(sub, "--targets", BOARD, "--suites", "install")
    assert run.check(BOARD, "install.package")["outcome"] == "passed"
    left = run.check(BOARD, "install.leftovers")
    assert left["outcome"] == "failed", left["message"]
    assert f"{spool_like} (created by a script during the install)" in left["message"]
