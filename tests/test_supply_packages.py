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


def test_the_database_is_held_to_what_the_lab_installed(tmp_path):
    """A review's postinst rewrote bc's version in the package database after apt ended, past a
    vulnerability's fix, and another took bc's entry out until the lab had read it: the SBOM keeps
    the packages as the lab fetched them, and each contradiction is said."""
    import io
    import tarfile
    from types import SimpleNamespace

    from examples.make import build_deb
    from lab.deploy.deployment import Deployment
    from lab.observe.packages import from_control
    from lab.supply.collect import _as_fetched, _unlisted

    bc = Installed("bc", "1.07.1-3+b1", "amd64", "deb", "bc", "1.07.1-3")
    rl = Installed("libreadline8", "8.2-1.3", "amd64", "deb", "readline", "8.2-1.3")
    fetched = {"bc": bc, "libreadline8": rl}
    said: list[str] = []
    forged = Installed("bc", "1.07.1-4", "amd64", "deb", "bc", "1.07.1-4")
    assert _as_fetched(forged, fetched, "t", said) == bc
    assert said == ["bc: t's package database says 1.07.1-4 (source bc 1.07.1-4); the lab installed 1.07.1-3+b1 "
                    "(source bc 1.07.1-3) from the target's repositories (the database was rewritten)"]
    ghost = _as_fetched(Installed("openssl", "9.9", "amd64", "deb"), fetched, "t", said)
    assert ghost.version == "9.9" and said[-1].startswith("openssl 9.9: in t's package database after the install, "
                                                          "but the lab installed no such package")
    assert _as_fetched(rl, fetched, "t", said) is rl and len(said) == 2
    # bc taken out of the database: kept in the SBOM, and said
    assert _unlisted({"libreadline8:amd64": rl}, fetched, {"acme"}, "t", said) == [bc]
    assert said[-1] == ("bc 1.07.1-3+b1: the lab installed it from t's repositories, but the package database "
                        "does not list it (the database was rewritten)")

    # read from the fetched packages themselves; a tarball batch beside adds nothing, a board tells nothing
    deb = build_deb({"/usr/bin/x": b"x"}, {"Package": "libx1", "Version": "1:2.0-1", "Architecture": "amd64",
                                           "Source": "x (2.0-0.1)"}, tmp_path).read_bytes()
    assert from_control(deb) == Installed("libx1", "1:2.0-1", "amd64", "deb", "x", "2.0-0.1")
    assert from_control(b"not a deb") is None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("archives/libx1_1%3a2.0-1_amd64.deb")
        info.size = len(deb)
        tar.addfile(info, io.BytesIO(deb))
    debs = SimpleNamespace(format="deb", downloaded_on_target=False, dependency_archive=buf.getvalue())
    tar_batch = SimpleNamespace(format="tar", downloaded_on_target=False, dependency_archive=b"")
    d = SimpleNamespace(batches=[(debs, []), (tar_batch, [])])
    assert Deployment.fetched(d) == {"libx1": Installed("libx1", "1:2.0-1", "amd64", "deb", "x", "2.0-0.1")}
    debs.downloaded_on_target = True
    assert Deployment.fetched(d) is None
