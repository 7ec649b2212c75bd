"""Boards over SSH against real sshd (the simulated boards): authentication, pinned host keys,
sudo, a board lost mid-run, secrets kept out of results, and the same verdicts as a container."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from lab.engine import client
from lab.errors import CommandTimeout, InfrastructureError
from lab.inventory import load_inventory
from lab.provision import simulated
from lab.transport.ssh import SshTransport
from tests.conftest import ROOT
from tests.integration.packages import service_table, tarball

pytestmark = [pytest.mark.slow, pytest.mark.docker]
BOARD = "board-debian12-x86_64"


@pytest.fixture(scope="module")
def board(inventory, built):
    built("debian12-x86_64")
    target = inventory.model.get(BOARD)
    simulated.up(inventory, target)
    return target


def ssh_to(board, **changes):
    spec = board.ssh.model_copy(update=changes)
    return SshTransport(board.name, spec, ["127.0.0.0/8"])


def test_key_auth_sudo_and_files(board):
    t = ssh_to(board)
    try:
        assert t.run("id -u").stdout == "0\n"  # user lab, every command through sudo -n
        r = t.run("echo out; echo err >&2; exit 4")
        assert (r.exit_status, r.stdout, r.stderr) == (4, "out\n", "err\n")
        t.put_bytes(b"\x00\x01binary", "/opt/lab-test/f.bin", 0o600)
        assert t.get_bytes("/opt/lab-test/f.bin") == b"\x00\x01binary"
        assert t.run("stat -c '%a %U' /opt/lab-test/f.bin").stdout == "600 root\n"
    finally:
        t.close()


def test_timeouts_fire_and_large_output_cannot_deadlock(board):
    t = ssh_to(board)
    try:
        started = time.monotonic()
        with pytest.raises(CommandTimeout):
            t.run("sleep 60", timeout=1)
        assert time.monotonic() - started < 15
        assert t.run("echo still here").stdout == "still here\n"
        r = t.run("head -c 3000000 /dev/zero | tr '\\0' o; head -c 2000000 /dev/zero | tr '\\0' e >&2")
        assert (len(r.stdout_bytes), len(r.stderr_bytes)) == (3_000_000, 2_000_000)
    finally:
        t.close()


def test_password_auth_from_the_environment(board, monkeypatch):
    password = secrets.token_urlsafe(12)
    client().containers.get(simulated.container_name(board)).exec_run(["sh", "-c", f"echo 'lab:{password}' | chpasswd"])
    monkeypatch.setenv("LAB_TEST_BOARD_PASSWORD", password)
    t = ssh_to(board, key_file=None, password_env="LAB_TEST_BOARD_PASSWORD")
    try:
        assert t.run("whoami").stdout == "root\n"
    finally:
        t.close()
    monkeypatch.setenv("LAB_TEST_BOARD_PASSWORD", "wrong")
    with pytest.raises(InfrastructureError, match="authentication to board-debian12-x86_64 as lab failed"):
        ssh_to(board, key_file=None, password_env="LAB_TEST_BOARD_PASSWORD")


def test_a_wrong_or_unknown_host_key_is_refused(board, tmp_path):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrtPmPnGyLHuIUdAD4a3VCfjAwQhqmL2qIQXwJNAv2C"
    with pytest.raises(InfrastructureError, match=r"host key of board-debian12-x86_64 .* changed"):
        ssh_to(board, known_hosts=None, host_key=other)
    with pytest.raises(InfrastructureError, match="unknown host key"):
        ssh_to(board, known_hosts=str(tmp_path / "empty"))
    t = ssh_to(board, known_hosts=str(tmp_path / "tofu"), trust_on_first_use=True)
    t.close()
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
    client().containers.get(simulated.container_name(board)).exec_run(["sh", "-c", f"echo 'lab:{password}' | chpasswd"])
    monkeypatch.setenv("LAB_TEST_BOARD_PASSWORD", password)
    inv = tmp_path / "targets.toml"
    inv.write_text((ROOT / "targets.toml").read_text().replace(
        'port = 2222\nuser = "lab"\nkey_file = "~/.local/share/adaptation-lab/boards/id_ed25519"',
        'port = 2222\nuser = "lab"\npassword_env = "LAB_TEST_BOARD_PASSWORD"'))
    assert load_inventory(inv).model.get(BOARD).ssh.password_env == "LAB_TEST_BOARD_PASSWORD"
    run = lab_run(examples / "acme-hello", "--targets", BOARD, inventory=inv)
    assert run.target(BOARD)["verdict"] == "passed", run.target(BOARD)["reason"]
    found = subprocess.run(["grep", "-rl", password, str(run.out)], capture_output=True, text=True).stdout
    assert found == ""


def test_a_board_lost_mid_run_is_broken_and_a_rerun_completes_the_matrix(board, inventory, tmp_path):
    sub = tarball(tmp_path / "slow", "svc", "#!/bin/sh\nsleep 8\n", service=service_table("/opt/svc/bin/acme-web "
                                                                                          "--port 8080"))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "lab", "run", str(sub), "--output", str(out), "--no-report",
                             "--targets", f"debian12-x86_64,{BOARD}"], cwd=ROOT, stdout=subprocess.PIPE,
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
    simulated.up(inventory, board, force=True)
    rerun = subprocess.run([sys.executable, "-m", "lab", "run", "--rerun-broken", str(out), "--no-report"],
                           capture_output=True, text=True, cwd=ROOT, env={**os.environ})
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    merged = json.loads((out / "verdicts.json").read_text())
    assert {n: t["verdict"] for n, t in merged["targets"].items()} == {"debian12-x86_64": "passed", BOARD: "passed"}
    assert merged["run"] == verdicts["run"] and (out / f"logs/{BOARD}.attempt-1").is_dir()
    assert (out / f"certificates/{BOARD}.json").exists()
