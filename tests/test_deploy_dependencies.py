"""A .deb's OS dependencies go in apart only when apt installs them exactly as resolved; otherwise
with the product, as one transaction (found by a hostile review: an upgrade turned into "remove,
then install", and a product providing a mail-transport-agent was called broken)."""

from __future__ import annotations

from types import SimpleNamespace

from lab.deploy.deb import DebInstaller
from lab.transport.base import CommandResult

SIMULATED = b"""NOTE: This is only a simulation!
Inst readline-common (8.2-1.3 Debian:12.5/stable [all])
Inst libfoo1:amd64 [1.0-1] (1.2-1 Debian:12.5/stable [amd64])
Inst acme-kv (1.0.0 local-deb [all])
Conf readline-common (8.2-1.3 Debian:12.5/stable [all])
"""


class Board:
    """A target that answers apt's simulation and records what it was asked."""

    def __init__(self, apt_exit: int = 0, apt_out: bytes = b"Unpacking readline-common ...\n"):
        self.ran, self.apt_exit, self.apt_out = [], apt_exit, apt_out

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        self.ran.append(command)
        if " -s install " in command:
            return CommandResult(command, 0, SIMULATED, b"", 0.1)
        return CommandResult(command, self.apt_exit, self.apt_out, b"", 0.1)


def board_and_batch(transport):
    p = SimpleNamespace(transport=transport, handle=None, target=SimpleNamespace(name="board", docker=None),
                        layer_pending=False)
    staged = SimpleNamespace(contents=SimpleNamespace(package="acme-kv"), target_path="/var/tmp/lab-staging/k.deb",
                             name="k.deb")
    return p, [staged]


def test_a_board_that_downloads_for_itself_installs_them_apart_by_name_and_version():
    board = Board()
    p, batch = board_and_batch(board)
    installer = DebInstaller()
    installer.downloaded_on_target = True
    assert installer.install_dependencies(p, batch, 60) is not None
    apart = board.ran[-1]
    assert "--no-download --no-remove --mark-auto install readline-common=8.2-1.3 libfoo1:amd64=1.2-1" in apart
    assert "acme-kv" not in apart  # the product's own package goes in with the product


def test_when_apt_declines_them_apart_they_go_in_with_the_product():
    declined = Board(apt_exit=100, apt_out=b"E: Unable to fetch some archives, maybe run apt-get update\n")
    p, batch = board_and_batch(declined)
    installer = DebInstaller()
    installer.downloaded_on_target = True
    assert installer.install_dependencies(p, batch, 60) is None  # not raised: the one transaction follows


def test_never_apart_over_an_earlier_release():
    board = Board()
    p, batch = board_and_batch(board)
    installer = DebInstaller()
    installer.downloaded_on_target, installer.upgrading = True, True
    assert installer.install_dependencies(p, batch, 60) is None and board.ran == []


class Purging:
    """A target whose first purge (with --autoremove) fails on an OS package's prerm."""

    def __init__(self, refusing: str):
        self.ran, self.refusing = [], refusing

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        self.ran.append(command)
        if "--autoremove" in command:
            out = (f"Removing acme-kv (1.0.0) ...\nRefusing to remove {self.refusing}.\n"
                   f"dpkg: error processing package {self.refusing} (--remove):\n"
                   f" installed {self.refusing} package pre-removal script subprocess returned error exit status 1\n")
            return CommandResult(command, 100, out.encode(), b"", 0.1)
        return CommandResult(command, 0, b"Purging configuration files for acme-kv ...\n", b"", 0.1)


def test_an_os_package_refusing_its_own_removal_is_not_the_products_failure():
    """A hostile review: a product depending on sudo failed install.uninstall for sudo's prerm."""
    target = Purging("sudo")
    p, batch = board_and_batch(target)
    assert DebInstaller().uninstall(p, batch, 60).ok
    assert "purge $(dpkg-query -W -f='${Package} ' acme-kv 2>/dev/null)" in target.ran[-1]
    assert "--autoremove" not in target.ran[-1]


def test_the_products_own_refusal_stays_its_failure():
    import pytest

    from lab.errors import ProductFailure

    target = Purging("acme-kv")
    p, batch = board_and_batch(target)
    with pytest.raises(ProductFailure, match="purging acme-kv failed"):
        DebInstaller().uninstall(p, batch, 60)
    assert len(target.ran) == 1
