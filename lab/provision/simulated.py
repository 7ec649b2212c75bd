"""``lab boards up`` / ``lab boards down``: boards simulated on this machine, for a lab without
hardware. Each is a container of a target's image plus sshd, published on 127.0.0.1 only, with a
user ``lab`` (sudo without password) and root, both reached by a key generated locally; its host key is written
to the known_hosts file the inventory pins."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from docker.errors import NotFound

from lab.engine import LABEL_RECIPE, LABEL_ROLE, LABEL_TARGET, client
from lab.errors import InfrastructureError, InputError
from lab.images.build import current_recipe, layer_on
from lab.inventory.load import LoadedInventory
from lab.inventory.model import Target

BOARD_LAYER = """\
ARG BASE
FROM ${BASE}
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server sudo \\
 && apt-get clean && mkdir -p /run/sshd && rm -f /etc/ssh/ssh_host_* \\
 && useradd -m -s /bin/sh lab && echo 'lab ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/lab \\
 && chmod 440 /etc/sudoers.d/lab
"""
Say = Callable[[str], None]


def simulated(inv: LoadedInventory, names: list[str] | None) -> list[Target]:
    boards = [t for t in inv.model.targets if t.ssh and t.ssh.simulated_from]
    if names:
        unknown = [n for n in names if n not in {b.name for b in boards}]
        if unknown:
            raise InputError(str(inv.path), [f"targets: {n!r} is not a simulated board (ssh.simulated_from)"
                                             for n in unknown])
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


def _pin_host_key(board: Target, host_key: str) -> None:
    path = Path(board.ssh.known_hosts).expanduser()
    name = f"[{board.ssh.host}]:{board.ssh.port}"
    lines = [ln for ln in (path.read_text().splitlines() if path.exists() else []) if not ln.startswith(name + " ")]
    kind, blob = host_key.split()[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, f"{name} {kind} {blob}"]) + "\n")


def up(inv: LoadedInventory, board: Target, say: Say = lambda _m: None, force: bool = False) -> str:
    spec = board.ssh
    if spec.host not in ("127.0.0.1", "localhost"):
        raise InputError(str(inv.path), [f"targets.{board.name}.ssh.host: a simulated board is published on "
                                         "127.0.0.1 only"])
    image = board_image(inv, board, say)
    name = container_name(board)
    try:
        existing = client().containers.get(name)
        if not force and existing.status == "running" and existing.labels.get(LABEL_RECIPE) == current_recipe(image):
            return "already up"
        existing.remove(force=True)
    except NotFound:
        pass
    public = ensure_key(Path(spec.key_file))
    base = inv.model.get(spec.simulated_from)
    limits = base.docker.limits
    container = client().containers.run(
        image, ["sh", "-c", "ssh-keygen -A >/dev/null 2>&1 && exec /usr/sbin/sshd -D -e"], detach=True, name=name,
        hostname=board.name[:63], ports={"22/tcp": ("127.0.0.1", spec.port)},
        labels={LABEL_ROLE: "board", LABEL_TARGET: board.name, LABEL_RECIPE: current_recipe(image) or ""},
        mem_limit=limits.memory, pids_limit=limits.pids, nano_cpus=int(limits.cpus * 1e9), init=True)
    setup = (f"for h in /home/lab /root; do mkdir -p $h/.ssh && echo '{public}' > $h/.ssh/authorized_keys && "
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


def down(board: Target) -> str:
    try:
        client().containers.get(container_name(board)).remove(force=True)
    except NotFound:
        return "already down"
    return "down"
