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
