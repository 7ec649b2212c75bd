"""The upgrade suite's sums of the ``[upgrade] keep`` paths, run by the lab's own shell protocol
through a real ``sh`` (find, sha256sum, GNU timeout): bounded, and the vendor's fault past the bounds."""

from __future__ import annotations

import hashlib

import pytest

from lab.deploy.upgrade import checksums
from lab.errors import ProductFailure
from lab.transport.base import CommandResult, Transport
from lab.transport.shell import PersistentShell
from tests.local_shell import LocalChannel


class LocalShellTransport(Transport):
    """This machine's ``sh`` behind the lab's framing (the part under test is the command and its parsing)."""

    def __init__(self):
        super().__init__("local")
        self.shell = PersistentShell(LocalChannel(), "local")

    def _run(self, command: str, timeout: float) -> CommandResult:
        return self.shell.run(command, timeout, self.output_max_bytes)

    def put_bytes(self, data, path, mode=0o644):
        raise NotImplementedError

    def get_bytes(self, path):
        raise NotImplementedError

    def get_tar(self, path):
        raise NotImplementedError

    def put_tar(self, folder, data):
        raise NotImplementedError

    def close(self):
        self.shell.close()


@pytest.fixture
def transport():
    t = LocalShellTransport()
    yield t
    t.close()


def test_long_paths_are_all_summed_not_cut_out_of_the_middle(tmp_path, transport):
    """Review: 300 files with ~3,900-byte paths print more than the 1 MiB output cap; before, the
    middle of the list was cut and read as files the upgrade lost."""
    deep = tmp_path / "data"
    for i in range(15):
        deep = deep / (f"{i:02d}" + "d" * 240)
    deep.mkdir(parents=True)
    expected = {}
    for i in range(300):
        f = deep / f"f{i:03d}"
        f.write_bytes(str(i).encode())
        expected[str(f)] = hashlib.sha256(str(i).encode()).hexdigest()
    assert len(str(deep / "f000")) > 3600
    got = checksums(transport, [str(tmp_path / "data"), str(tmp_path / "gone")])
    assert got.files == expected
    assert got.absent == [str(tmp_path / "gone")]
    assert transport.output_max_bytes == 1 << 20  # the cap raised for that command only


def test_a_keep_path_too_big_to_sum_in_time_is_the_products_failure(tmp_path, transport):
    """Review: a keep path holding a file of unbounded size (here 1 TiB, sparse) ran to the
    transport's timeout, which made upgrade.previous *broken*; it is the vendor's declaration."""
    data = tmp_path / "data"
    data.mkdir()
    with (data / "huge.img").open("wb") as f:
        f.truncate(1 << 40)
    with pytest.raises(ProductFailure) as exc:
        checksums(transport, [str(data)], timeout=2)
    assert f"summing the files under [upgrade] keep ({data}) took longer than 2 s" in str(exc.value)


def test_the_administrators_change_is_made_or_the_lab_says_it_could_not(tmp_path, transport):
    """Review: a failed append was ignored, and upgrade.config then judged a file nobody changed.
    Now the change is checked: made (and found again), or the lab's fault (InfrastructureError)."""
    from lab.deploy.upgrade import administer, config_kept
    from lab.errors import InfrastructureError

    conf = tmp_path / "acme.conf"
    conf.write_text("port = 8080\n")
    line = administer(transport, str(conf))
    assert conf.read_text().splitlines()[-1] == line
    assert config_kept(transport, str(conf), line, "deb")[0]
    with pytest.raises(InfrastructureError) as exc:
        administer(transport, str(tmp_path / "gone" / "acme.conf"))
    assert f"the lab could not change {tmp_path / 'gone' / 'acme.conf'}" in str(exc.value)
    # there, but not a file root can append to (a hostile earlier release pointed it at /proc): the product's
    from lab.errors import ProductFailure

    pointed = tmp_path / "pointed.conf"
    pointed.mkdir()
    with pytest.raises(ProductFailure) as exc:
        administer(transport, str(pointed))
    assert f"{pointed}, a configuration file of the earlier release, cannot be edited by an administrator" in \
        str(exc.value)
