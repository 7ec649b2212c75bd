"""``lab boards up`` / ``lab boards down``: boards simulated on this machine, for a lab without
hardware. Each is a container of a target's image plus sshd, published on 127.0.0.1 only, with a
user ``lab`` (sudo without password) and root, both reached by a key generated locally; its host key is written
to the known_hosts file the inventory pins.

A simulated board runs vendor code as root, so it is hardened like a target container: every
capability dropped but those package installation needs, no new privileges (so ``sudo`` cannot work
and the lab logs in as root), an init, memory (no swap), pids and CPU limits. Its network is the
``lab-boards`` bridge: no traffic between containers (icc off), no masquerade, and two host
firewall rules: nothing is forwarded out of the bridge and nothing on it can open a connection to
this machine; the controller's own connections to sshd, through the port published on 127.0.0.1,
are the only traffic. After each run the board is recreated from its image (``recreate``), so one
vendor's leftovers never meet the next vendor's product.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import shlex
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from docker.errors import APIError, ImageNotFound, NotFound

from lab.engine import LABEL_RECIPE, LABEL_ROLE, LABEL_TARGET, client
from lab.errors import InfrastructureError, InputError
from lab.images.build import current_recipe, layer_on
from lab.inventory.load import LoadedInventory
from lab.inventory.model import Target, size_bytes
from lab.provision.container import CAPABILITIES

BOARD_LAYER = """\
ARG BASE
FROM ${BASE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server sudo \\
 && apt-get clean && apt-cache gencaches >/dev/null && mkdir -p /run/sshd && rm -f /etc/ssh/ssh_host_* \\
 && useradd -m -s /bin/sh lab && echo 'lab ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/lab \\
 && chmod 440 /etc/sudoers.d/lab
"""
Say = Callable[[str], None]
LABEL_KEY = "lab.board-key"  # the public key installed for root and lab, reinstalled when recreated

BOARDS_NETWORK = "lab-boards"
BOARDS_BRIDGE = "lab-boards0"  # the host's interface, named so the firewall rules can say it
NETWORK_OPTIONS = {
    "com.docker.network.bridge.name": BOARDS_BRIDGE,
    "com.docker.network.bridge.enable_icc": "false",
    "com.docker.network.bridge.enable_ip_masquerade": "false",
}
# Without masquerade, docker still forwards a board's packets out un-NATed, and the host's own
# services answer on the bridge's gateway: both closed here (DOCKER-USER is docker's chain for
# rules of its users). The controller's connections to the published port are host-initiated, so
# their replies are ESTABLISHED and pass.
FIREWALL = [
    ("DOCKER-USER", ["-i", BOARDS_BRIDGE, "!", "-o", BOARDS_BRIDGE, "-j", "DROP"]),
    ("INPUT", ["-i", BOARDS_BRIDGE, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"]),
]
# A fresh host key per container (ed25519 only: fast even under qemu), pinned by the lab. Root
# logs in: under no-new-privileges sudo cannot gain root; a password only if someone sets one.
SSHD = ("ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && exec /usr/sbin/sshd -D -e "
        "-o HostKey=/etc/ssh/ssh_host_ed25519_key -o PermitRootLogin=yes")


def _not_simulated(name: str, simulated: list[str]) -> str:
    near = difflib.get_close_matches(name, simulated, n=2, cutoff=0.5)
    hint = (f"; did you mean {' or '.join(near)}?" if near
            else f" (the simulated boards: {', '.join(simulated) or 'none'})")
    return f"targets: {name!r} is not a simulated board (ssh.simulated_from){hint}"


def simulated(inv: LoadedInventory, names: list[str] | None) -> list[Target]:
    boards = [t for t in inv.model.targets if t.ssh and t.ssh.simulated_from]
    if names:
        unknown = [n for n in names if n not in {b.name for b in boards}]
        if unknown:
            simulated = [b.name for b in boards]
            raise InputError(str(inv.path), [_not_simulated(n, simulated) for n in unknown])
        boards = [b for b in boards if b.name in names]
    return boards


def container_name(board: Target) -> str:
    return f"lab-board-{board.name}"


def ensure_key(path: Path) -> str:
    """The lab's key for its simulated boards; returns the public key line."""
    path = path.expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def board_image(inv: LoadedInventory, board: Target, say: Say) -> str:
    base = inv.model.get(board.ssh.simulated_from)
    image = f"{base.docker.image}-board"
    layer_on(inv, base, image, BOARD_LAYER, board.name, say=say)
    return image


def _wait_for_sshd(port: int, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise InfrastructureError(f"sshd on 127.0.0.1:{port} did not answer within {deadline_s:g} s")


def _firewall() -> None:
    for chain, rule in FIREWALL:
        try:
            if subprocess.run(["iptables", "-w", "-C", chain, *rule], capture_output=True).returncode == 0:
                continue
            added = subprocess.run(["iptables", "-w", "-I", chain, "1", *rule], capture_output=True, text=True)
        except FileNotFoundError:
            raise InfrastructureError("iptables is missing: the simulated boards' bridge cannot be closed, so "
                                      "no board is started") from None
        if added.returncode != 0:
            raise InfrastructureError(f"cannot close the simulated boards' bridge ({chain} {' '.join(rule)}): "
                                      f"{added.stderr.strip()}; no board is started")


def boards_network():
    """The bridge of the simulated boards (created once), with this machine's firewall closed on it."""
    try:
        net = client().networks.get(BOARDS_NETWORK)
    except NotFound:
        try:
            net = client().networks.create(BOARDS_NETWORK, driver="bridge", options=NETWORK_OPTIONS,
                                           labels={LABEL_ROLE: "boards"})
        except APIError:  # created meanwhile by another lab process
            net = client().networks.get(BOARDS_NETWORK)
    options = net.attrs.get("Options") or {}
    wrong = {k: options.get(k) for k, v in NETWORK_OPTIONS.items() if options.get(k) != v}
    if wrong:
        raise InfrastructureError(f"docker network {BOARDS_NETWORK} exists with other options {wrong}: remove it "
                                  f"(`lab boards down`, then `docker network rm {BOARDS_NETWORK}`) and retry")
    _firewall()
    return net


def _pin_host_key(board: Target, host_key: str) -> None:
    """Replace the board's line in known_hosts: under a lock, written whole (two boards may be
    recreated at once by two runs, and a reader must never see half a file)."""
    path = Path(board.ssh.known_hosts).expanduser()
    name = f"[{board.ssh.host}]:{board.ssh.port}"
    kind, blob = host_key.split()[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = [ln for ln in (path.read_text().splitlines() if path.exists() else []) if not ln.startswith(name + " ")]
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".known_hosts-")
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join([*lines, f"{name} {kind} {blob}"]) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


@dataclass(frozen=True)
class BoardLimits:
    memory: int  # bytes; swap none (memswap = memory)
    pids: int
    nano_cpus: int


def _hardened(container) -> bool:
    """Does a running board have today's hardening (a board started by an older lab may not)?"""
    host = container.attrs["HostConfig"]
    return ("ALL" in (host.get("CapDrop") or []) and "no-new-privileges" in " ".join(host.get("SecurityOpt") or [])
            and host.get("NetworkMode") == BOARDS_NETWORK and host.get("MemorySwap") == host.get("Memory")
            and bool(container.labels.get(LABEL_KEY)))


def _start(board: Target, image: str, limits: BoardLimits, public: str) -> str:
    spec = board.ssh
    network = boards_network()
    try:
        container = client().containers.run(
            image, ["sh", "-c", SSHD], detach=True, name=container_name(board), hostname=board.name[:63],
            ports={"22/tcp": ("127.0.0.1", spec.port)}, network=network.name,
            labels={LABEL_ROLE: "board", LABEL_TARGET: board.name, LABEL_RECIPE: current_recipe(image) or "",
                    LABEL_KEY: public},
            mem_limit=limits.memory, memswap_limit=limits.memory, pids_limit=limits.pids,
            nano_cpus=limits.nano_cpus, init=True, privileged=False,
            cap_drop=["ALL"], cap_add=CAPABILITIES, security_opt=["no-new-privileges"])
    except APIError as exc:
        raise InfrastructureError(f"cannot start the simulated board {board.name} from {image}: "
                                  f"{exc.explanation}") from None
    key = shlex.quote(public)
    setup = (f"for h in /home/lab /root; do mkdir -p $h/.ssh && echo {key} > $h/.ssh/authorized_keys && "
             "chmod 700 $h/.ssh && chmod 600 $h/.ssh/authorized_keys; done; chown -R lab:lab /home/lab/.ssh")
    code, output = container.exec_run(["sh", "-c", setup])
    if code != 0:
        raise InfrastructureError(f"preparing {board.name} failed: {output.decode(errors='replace')}")
    _wait_for_sshd(spec.port)
    code, host_key = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
    if code != 0:
        raise InfrastructureError(f"{board.name} has no ed25519 host key")
    _pin_host_key(board, host_key.decode())
    return f"up on 127.0.0.1:{spec.port}"


def up(inv: LoadedInventory, board: Target, say: Say = lambda _m: None, force: bool = False) -> str:
    spec = board.ssh
    if spec.host not in ("127.0.0.1", "localhost"):
        raise InputError(str(inv.path), [f"targets.{board.name}.ssh.host: a simulated board is published on "
                                         "127.0.0.1 only"])
    if not spec.key_file:
        raise InputError(str(inv.path), [f"targets.{board.name}.ssh.key_file: a simulated board is reached with the "
                                         "lab's own key"])
    public = ensure_key(Path(spec.key_file))
    image = board_image(inv, board, say)
    name = container_name(board)
    try:
        existing = client().containers.get(name)
        if (not force and existing.status == "running" and _hardened(existing)
                and existing.labels.get(LABEL_RECIPE) == current_recipe(image)):
            boards_network()  # the firewall rules are lost when the machine restarts
            return "already up"
        existing.remove(force=True)
    except NotFound:
        pass
    limits = inv.model.get(spec.simulated_from).docker.limits
    memory = size_bytes(limits.memory)
    return _start(board, image, BoardLimits(memory, limits.pids, int(limits.cpus * 1e9)), public)


def recreate(board: Target) -> str:
    """A new container for the board from its image, with the same limits, its new host key
    pinned: what one run did on the board is gone before the next. Raises
    ``InfrastructureError`` with the reason when it cannot be done."""
    try:
        old = client().containers.get(container_name(board))
    except NotFound:
        raise InfrastructureError(f"the simulated board {board.name} is not there: start it with "
                                  f"`lab boards up {board.name}`") from None
    image = old.attrs["Config"]["Image"]
    try:
        client().images.get(image)
    except ImageNotFound:
        image = old.attrs["Image"]  # the tag moved away: the image the board ran
    host = old.attrs["HostConfig"]
    limits = BoardLimits(host["Memory"], host["PidsLimit"], host["NanoCpus"])
    public = old.labels.get(LABEL_KEY)  # the key `lab boards up` installed, whatever this run logged in with
    if not (limits.memory and limits.pids and limits.nano_cpus and public):
        raise InfrastructureError(f"the simulated board {board.name} was started by an older lab: run "
                                  f"`lab boards up --force {board.name}`")
    with contextlib.suppress(NotFound):
        old.remove(force=True)
    return _start(board, image, limits, public)


def down(board: Target) -> str:
    try:
        client().containers.get(container_name(board)).remove(force=True)
    except NotFound:
        return "already down"
    return "down"
