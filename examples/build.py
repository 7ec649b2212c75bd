"""Build the example submissions' packages (idempotent): ``python examples/build.py [--force]``.

- acme-hello:  a hardened C program in a .deb; passes on Debian 12 and 13 (x86_64).
- trixie-hello: GNU hello from Debian 13; needs GLIBC_2.38, so it fails on Debian 12.
- arm64-hello: GNU hello for arm64; fails on x86_64 naming the architecture, passes on aarch64.
- acme-web:    a tarball with a supervised service (ports, health, restarts).
- acme-ledger: a product with a PostgreSQL schema, claimed for both database families.
- acme-calc:   an architecture-independent script whose dependency (bc) comes from each target's
               own repositories: it passes on every default target, arm64 included.
- debian-memcached: a real server from Debian 12 with a supervised service and the vendor's tests
               talking to it; its dependency perl stays installed after purge (the OS's, not the product's).
- debian-curl: a library and its program (libcurl4 + curl) at the release's current version,
               installed as one transaction.
- acme-notes:  a desktop application (GTK 3, Python) built here, whose window shows 新建笔记; passes
               on the UKUI desktop target with its screenshots.
- debian-galculator: a real desktop application from Debian 12 (a GTK 3 calculator), as a vendor
               would submit it; its dependencies come from the target's repositories.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from examples.make import build_deb, build_tarball, compile_c, download_deb  # noqa: E402


def acme_hello() -> None:
    out = HERE / "acme-hello"
    binary = compile_c(out / "src/hello.c", out / "build/acme-hello")
    build_deb({"/usr/bin/acme-hello": binary,
               "/usr/share/doc/acme-hello/README": b"ACME hello, the lab's example product.\n"},
              {"Package": "acme-hello", "Version": "1.2.0", "Architecture": "amd64",
               "Depends": "libc6 (>= 2.34)", "Description": "Greets the world"}, out)


def acme_calc() -> None:
    out = HERE / "acme-calc"
    build_deb({"/usr/bin/acme-calc": b'#!/bin/sh\n# acme-calc: sums its arguments with bc\n'
                                     b'echo "$*" | tr " " "+" | bc\n'},
              {"Package": "acme-calc", "Version": "0.9.0", "Architecture": "all", "Depends": "bc",
               "Description": "Adds numbers (a noarch script that needs bc from the OS)"}, out)


def acme_ledger() -> None:
    out = HERE / "acme-ledger"
    build_deb({"/usr/bin/acme-ledger": b'#!/bin/sh\n[ "$1" = --version ] && echo "acme-ledger 2.0.0"\n'},
              {"Package": "acme-ledger", "Version": "2.0.0", "Architecture": "all",
               "Description": "A double-entry ledger (its schema is PostgreSQL's)"}, out)


def trixie_hello() -> None:
    download_deb("lab/debian13-x86_64", "hello", HERE / "trixie-hello")


def arm64_hello() -> None:
    download_deb("lab/debian12-aarch64", "hello", HERE / "arm64-hello")


def fixed_name(found: Path, name: str) -> Path:
    """A downloaded package under the name its submission.toml gives (versions move on)."""
    target = found.with_name(name)
    found.replace(target)
    return target


def debian_memcached() -> None:
    fixed_name(download_deb("lab/debian12-x86_64", "memcached", HERE / "debian-memcached"), "memcached.deb")


def debian_curl() -> None:
    for package in ("curl", "libcurl4"):
        fixed_name(download_deb("lab/debian12-x86_64", package, HERE / "debian-curl"), f"{package}.deb")


def acme_web() -> None:
    out = HERE / "acme-web"
    binary = compile_c(out / "src/acme-web.c", out / "build/acme-web")
    build_tarball({
        "bin/acme-web": binary,
        "install.sh": b"#!/bin/sh\nset -e\nid -u acme-web >/dev/null 2>&1 || "
                      b"useradd --system --no-create-home --shell /usr/sbin/nologin acme-web\n",
        "uninstall.sh": b"#!/bin/sh\nuserdel acme-web 2>/dev/null || true\n",
        "README": b"acme-web: a tiny HTTP service.\n",
    }, out / "acme-web-1.0.0-x86_64.tar.gz")


def acme_notes() -> None:
    out = HERE / "acme-notes"
    src = out / "src"
    build_deb({"/usr/bin/acme-notes": src / "acme-notes.py",
               "/usr/share/applications/acme-notes.desktop": src / "acme-notes.desktop",
               "/usr/share/icons/hicolor/scalable/apps/acme-notes.svg": src / "acme-notes.svg"},
              {"Package": "acme-notes", "Version": "1.0.0", "Architecture": "all",
               "Depends": "python3, python3-gi, gir1.2-gtk-3.0",
               "Description": "Short notes on the desktop (a GTK 3 application)"}, out)


def debian_galculator() -> None:
    fixed_name(download_deb("lab/debian12-x86_64", "galculator", HERE / "debian-galculator"),
               "galculator.deb")


EXAMPLES = {"acme-hello": (acme_hello, "acme-hello_1.2.0_amd64.deb"),
            "acme-calc": (acme_calc, "acme-calc_0.9.0_all.deb"),
            "acme-ledger": (acme_ledger, "acme-ledger_2.0.0_all.deb"),
            "trixie-hello": (trixie_hello, "hello_*.deb"),
            "arm64-hello": (arm64_hello, "hello_*_arm64.deb"),
            "acme-web": (acme_web, "acme-web-1.0.0-x86_64.tar.gz"),
            "debian-memcached": (debian_memcached, "memcached.deb"),
            "debian-curl": (debian_curl, "libcurl4.deb"),
            "acme-notes": (acme_notes, "acme-notes_1.0.0_all.deb"),
            "debian-galculator": (debian_galculator, "galculator.deb")}


def main() -> None:
    force = "--force" in sys.argv
    for name, (build, artifact) in EXAMPLES.items():
        if not force and list((HERE / name).glob(artifact)):
            continue
        print(f"building example {name}", flush=True)
        build()


if __name__ == "__main__":
    main()
