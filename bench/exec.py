"""Milliseconds per command: the lab's persistent shell against stock paths, on one container and
on one board over SSH.

    .venv/bin/python bench/exec.py [--target debian12-x86_64] [--board board-debian12-x86_64] [-n 200]

Prints each path's mean and median ms per command and its ratio to that transport's fast path,
in one run on the same container and the same board, so the figures compare like with like. The
last row of each table is the floor: a bare round trip through a shell's pipe (one `printf`, no
framing, no fork), what the persistent shell adds to it is its own cost. The board must be up
(`lab boards up`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

import testinfra

from lab.engine import client
from lab.inventory import load_inventory
from lab.provision import provision
from lab.runid import new_run_id
from lab.transport.channel import Channel, PipeChannel
from lab.transport.shell import FramedStream, read_frame

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, n: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="debian12-x86_64")
    ap.add_argument("-n", type=int, default=200, help="commands through the fast path")
    ap.add_argument("--board", default="board-debian12-x86_64", help="'' to skip the SSH figures")
    ap.add_argument("--inventory", default=str(ROOT / "targets.toml"))
    args = ap.parse_args()
    inv = load_inventory(args.inventory)
    slow_n = max(10, args.n // 10)
    with provision(inv.model.get(args.target), new_run_id("bench"), inv.model.lab) as p:
        cid = p.handle.id
        container = client().containers.get(cid)
        stock_host = testinfra.get_host(f"docker://{cid}")
        paths = {
            "lab persistent shell": (lambda: p.transport.run("echo x"), args.n),
            "docker exec (CLI)": (lambda: subprocess.run(["docker", "exec", cid, "sh", "-c", "echo x"],
                                                         capture_output=True, check=True), slow_n),
            "docker SDK exec_run": (lambda: container.exec_run(["sh", "-c", "echo x"]), slow_n),
            "testinfra docker://": (lambda: stock_host.run("echo x"), slow_n),
        }
        results = {name: timed(fn, n) for name, (fn, n) in paths.items()}
        bare = PipeChannel(["docker", "exec", "-i", cid, "sh"])
        try:
            results["bare pipe round trip"] = timed(lambda: round_trip(bare), args.n)
        finally:
            bare.close()
    show(f"container target {args.target}, command 'echo x'", results)
    if args.board:
        show(f"board {args.board} over SSH, command 'echo x'", ssh_paths(inv, args.board, args.n, slow_n))


def round_trip(channel: Channel) -> None:
    channel.send(b"printf 'DONE\\n'\n")
    read_frame(channel, "bench", FramedStream(b"DONE\n", 64, False), None, time.monotonic() + 10)


def ssh_paths(inv, board_name: str, n: int, slow_n: int) -> dict[str, list[float]]:
    """The lab's SSH transport (TCP_NODELAY, persistent shell) against stock paramiko exec_command."""
    import paramiko

    from lab.transport.ssh import SshChannel, SshTransport

    board = inv.model.get(board_name)
    fast = SshTransport(board.name, board.ssh, inv.model.lab.allowed_networks)
    stock = paramiko.SSHClient()
    stock.load_host_keys(str(Path(board.ssh.known_hosts).expanduser()))
    stock.connect(board.ssh.host, board.ssh.port, username=board.ssh.user,
                  key_filename=str(Path(board.ssh.key_file).expanduser()), allow_agent=False, look_for_keys=False)

    def stock_run():
        _, out, _ = stock.exec_command("sudo -n sh -c 'echo x'")
        out.read()
        out.channel.recv_exit_status()

    bare = SshChannel(fast.client, fast.sudo)
    try:
        return {"lab SSH persistent shell": timed(lambda: fast.run("echo x"), n),
                "paramiko exec_command": timed(stock_run, slow_n),
                "bare channel round trip": timed(lambda: round_trip(bare), n)}
    finally:
        bare.close()
        fast.close()
        stock.close()


def show(title: str, results: dict[str, list[float]]) -> None:
    fast = statistics.mean(next(iter(results.values())))
    print(title)
    print(f"  {'path':26} {'n':>5} {'mean ms':>9} {'median ms':>10} {'x fast path':>12}")
    for name, samples in results.items():
        mean = statistics.mean(samples)
        median = statistics.median(samples)
        print(f"  {name:26} {len(samples):5d} {mean:9.2f} {median:10.2f} {mean / fast:12.1f}")


if __name__ == "__main__":
    main()
