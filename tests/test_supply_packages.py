"""The package database read before and after an install: what the install brought in."""

from __future__ import annotations

from lab.observe.packages import Installed, added, parse_dpkg, parse_rpm

BEFORE = ("ii \tlibc6\t2.36-9+deb12u9\tamd64\tglibc\t2.36-9+deb12u9\n"
          "ii \tzlib1g\t1:1.2.13.dfsg-1\tamd64\tzlib\t1:1.2.13.dfsg-1\n"
          "rc \told-thing\t1.0\tamd64\told-thing\t1.0\n")
AFTER = BEFORE.replace("deb12u9", "deb12u10") \
    + "ii \tlibcurl4\t7.88.1-10+deb12u8\tamd64\tcurl\t7.88.1-10+deb12u8\n" \
    + "ii \tca-certificates\t20230311\tall\t\t\n" + "iU \thalf-installed\t1\tamd64\thalf\t1\n"


def test_new_and_upgraded_packages_with_their_source():
    new = added(parse_dpkg(BEFORE), parse_dpkg(AFTER))
    assert set(new) == {"libc6:amd64", "libcurl4:amd64", "ca-certificates"}  # upgraded, new, new; not half-installed
    curl = "7.88.1-10+deb12u8"
    assert new["libcurl4:amd64"] == Installed("libcurl4", curl, "amd64", "deb", "curl", curl)
    assert new["ca-certificates"].source == "ca-certificates"  # no Source field: the package is its own source
    assert "old-thing:amd64" not in parse_dpkg(BEFORE)  # removed, config files left: not installed


def test_rpm_names_epochs_and_licences():
    rows = parse_rpm("bash\t0:5.1.8-6.oe2203\tx86_64\tbash-5.1.8-6.oe2203.src.rpm\tGPLv3+\n"
                     "openssl\t1:1.1.1m-2\tx86_64\topenssl-1.1.1m-2.src.rpm\tOpenSSL and SSLeay\n")
    assert rows["bash.x86_64"].version == "5.1.8-6.oe2203" and rows["bash.x86_64"].licence == "GPLv3+"
    assert rows["openssl.x86_64"].version == "1:1.1.1m-2" and rows["openssl.x86_64"].source == "openssl"


def test_the_database_is_held_to_what_the_lab_installed():
    """A review's postinst rewrote bc's version in the package database after apt ended, past a
    vulnerability's fix: the SBOM keeps the version the lab fetched, and the contradiction is said."""
    from types import SimpleNamespace

    from lab.deploy.deployment import Deployment
    from lab.supply.collect import _as_fetched

    fetched = {"bc": "1.07.1-3", "libevent-2.1-7": "2.1.12-stable-8"}
    said: list[str] = []
    bc = _as_fetched(Installed("bc", "1.07.1-4", "amd64", "deb", "bc", "1.07.1-4"), fetched, "t", said)
    assert (bc.version, bc.source_version) == ("1.07.1-3", "")
    assert said == ["bc: t's package database says 1.07.1-4; the lab installed 1.07.1-3 from the target's "
                    "repositories (the database was rewritten)"]
    ghost = _as_fetched(Installed("openssl", "9.9", "amd64", "deb"), fetched, "t", said)
    assert ghost.version == "9.9" and said[-1].startswith("openssl 9.9: in t's package database after the install, "
                                                          "but the lab installed no such package")
    ok = Installed("libevent-2.1-7", "2.1.12-stable-8", "amd64", "deb")
    assert _as_fetched(ok, fetched, "t", said) is ok and len(said) == 2

    # the archive's file names, an epoch's colon written %3a by apt
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("archives/zlib1g_1%3a1.2.13.dfsg-1_amd64.deb", "archives/bc_1.07.1-3_amd64.deb"):
            tar.addfile(tarfile.TarInfo(name))
    installer = SimpleNamespace(format="deb", downloaded_on_target=False, dependency_archive=buf.getvalue())
    d = SimpleNamespace(batches=[(installer, [])])
    assert Deployment.fetched(d) == {"zlib1g": "1:1.2.13.dfsg-1", "bc": "1.07.1-3"}
    installer.downloaded_on_target = True  # a board: nothing tells
    assert Deployment.fetched(d) is None
