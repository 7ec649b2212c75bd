"""The pure decisions of the security and leftover checks: who put a path there, and what counts
against the product (no container needed)."""

from __future__ import annotations

import io
import stat
import tarfile

from examples.make import build_deb
from lab.inventory.model import DatabaseSpec
from lab.observe import findings
from lab.observe.overlay import read_in_root
from lab.observe.owners import Owners, archive_packages, canonical
from lab.observe.state import Entry, FsState, collapse, created, database_own, is_lab_own, is_package_manager_own

DIR = stat.S_IFDIR | 0o755
FILE = stat.S_IFREG | 0o644



def fs(entries: dict[str, Entry], processes: dict[int, str] | None = None, own: tuple[str, ...] = ()) -> FsState:
    """``own``: the lab's folders on this target (an observer of a stack target says its database's)."""
    return FsState(entries, processes or {}, own=own)


def owners(product=None, os_packages=None) -> Owners:
    return Owners(product or {}, os_packages or {})


def test_merged_usr_paths_compare_equal():
    assert canonical("./bin/sh") == "/usr/bin/sh"
    assert canonical("/lib/x86_64-linux-gnu/libc.so.6") == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert canonical("/etc/perl") == "/etc/perl"
    assert owners(os_packages={"/bin/cpan": "perl"}).owner("/usr/bin/cpan") == ("os", "perl")


def test_lab_and_package_manager_paths_are_not_the_products():
    spool = "/tmp/.lab-xfer-0123456789ab"
    assert is_lab_own("/var/tmp/lab-staging/a.deb") and is_lab_own(spool, spools=frozenset({spool}))
    assert not is_lab_own("/var/tmp/acme-cache")
    # only what the lab made, by exact name: a vendor's file shaped like a spool is the vendor's
    assert not is_lab_own(spool) and not is_lab_own("/tmp/.lab-xfer-fedcba987654", spools=frozenset({spool}))
    assert not is_lab_own(spool + "/a", spools=frozenset({spool})) and not is_lab_own("/tmp/.lab-xfer-12ab/a.deb")
    assert not is_lab_own("/var/tmp/lab-staging-x/a") and not is_lab_own("/var/tmp/lab-service.d/a")
    # the lab's shells no longer write files: a vendor's file named like their old folders is not hidden
    assert not is_lab_own("/tmp/.lab-sh-12ab/out")
    assert is_package_manager_own("/var/lib/dpkg/info/acme.list")
    assert is_package_manager_own("/var/lib/dpkg/status-old") and is_package_manager_own("/var/log/apt/term.log")
    assert not is_package_manager_own("/var/lib/dpkg/backdoor")


def test_a_planted_setuid_shell_counts_a_dependencys_does_not():
    before = fs({})
    after = fs({"/usr/local/bin/.sh": Entry("file", stat.S_IFREG | 0o4755),
                "/usr/bin/sudo": Entry("file", stat.S_IFREG | 0o4755),
                "/usr/bin/acme": Entry("file", stat.S_IFREG | 0o755)})
    bad, info = findings.setuid(before, after, owners({"/usr/bin/acme": "acme"}, {"/usr/bin/sudo": "sudo"}))
    assert bad == ["/usr/local/bin/.sh (created by a script during the install) mode 4755"]
    assert info == ["/usr/bin/sudo (from OS package sudo) mode 4755"]


def test_what_dependencies_brought_before_the_product_is_shown_not_held():
    """OS dependencies go in before the "before" state: their setuid files are in no diff of the
    install, so they are named from that state, with the packages the lab fetched for the product."""
    before = fs({"/usr/bin/sudo": Entry("file", stat.S_IFREG | 0o4755),
                 "/usr/bin/passwd": Entry("file", stat.S_IFREG | 0o4755, existed=True),  # changed, not ours
                 "/usr/sbin/unix_chkpwd": Entry("file", stat.S_IFREG | 0o2755),
                 "/var/lib/sudo/lectured": Entry("dir", stat.S_IFDIR | 0o777),
                 "/usr/lib/sudo/gone": Entry("deleted", 0)})
    deps = owners(os_packages={"/usr/bin/sudo": "sudo", "/usr/lib/sudo/gone": "sudo", "/var/lib/sudo/lectured": "sudo",
                               "/sbin/unix_chkpwd": "libpam-modules-bin"})
    assert findings.from_dependencies(before, deps, "setuid") == [
        "/usr/bin/sudo (from OS package sudo, a dependency installed before the product) mode 4755",
        "/usr/sbin/unix_chkpwd (from OS package libpam-modules-bin, a dependency installed before the product) "
        "mode 2755"]
    assert findings.from_dependencies(before, deps, "world_writable") == [
        "/var/lib/sudo/lectured (from OS package sudo, a dependency installed before the product)"]
    assert findings.from_dependencies(before, owners(), "setuid") == []  # a board that downloads for itself


SUDO = stat.S_IFREG | 0o4755


def test_an_os_dependencys_file_changed_during_the_install_is_the_installs():
    """A review's postinst wrote a setuid shell over sudo's binary (same size, same mode) and
    edited /etc/sudoers in place: the dependency went in first, so only the inode's change time
    tells, and the OS package is no excuse for what changed after it was installed."""
    deps = owners({"/usr/bin/acme": "acme"}, {"/usr/bin/sudo": "sudo", "/etc/sudoers": "sudo",
                                              "/usr/bin/sudoedit": "sudo"})
    before = fs({"/usr/bin/sudo": Entry("file", SUDO, size=100, changed_ns=1),
                 "/etc/sudoers": Entry("file", FILE, size=50, changed_ns=1),
                 "/usr/bin/sudoedit": Entry("link", stat.S_IFLNK | 0o777, link="sudo", changed_ns=1)})
    after = fs({"/usr/bin/sudo": Entry("file", SUDO, size=100, changed_ns=2),
                "/etc/sudoers": Entry("file", FILE, size=50, changed_ns=2),
                "/usr/bin/sudoedit": Entry("link", stat.S_IFLNK | 0o777, link="sudo", changed_ns=1)})
    bad, info = findings.setuid(before, after, deps)
    assert bad == ["/usr/bin/sudo (of OS package sudo, there before the install; changed during it) mode 4755"]
    assert info == []
    bad, _ = findings.persistence(before, after, deps)
    assert "/etc/sudoers (of OS package sudo, there before the install; changed during it)" in bad
    assert "/usr/bin/sudo: a file of OS package sudo, replaced or changed by a script during the install" in bad
    assert not any("sudoedit" in line for line in bad)  # untouched
    # unchanged, or a trigger's cache of no package rewritten: nothing
    assert findings.setuid(before, before, deps) == ([], [])
    cache = {"/usr/lib/x86_64-linux-gnu/gio/modules/giomodule.cache": Entry("file", FILE, size=9, changed_ns=1)}
    rewritten = {k: Entry("file", FILE, size=9, changed_ns=5) for k in cache}
    assert findings.persistence(fs(cache), fs(rewritten), deps) == ([], [])
    # installed with the product in one transaction (apt declined the separate one): the OS's
    assert findings.setuid(fs({}), after, deps)[1] == ["/usr/bin/sudo (from OS package sudo) mode 4755"]


def test_a_system_binary_replaced_by_a_link_counts():
    after = fs({"/usr/bin/ss": Entry("link", stat.S_IFLNK | 0o777, existed=True, link="/opt/acme/ss")})
    bad, _ = findings.persistence(fs({}), after, owners())
    assert bad == ["/usr/bin/ss: a file of the OS image, replaced or changed by a script during the install"]


def test_what_a_login_reads_is_put_back_by_the_purge_or_counts():
    """LD_PRELOAD appended to /etc/environment outlived the purge: the persistent files are compared
    by content with the state before the install (or the image), so a tool that regenerates one
    to the same bytes changed nothing."""
    before = fs({"/etc/pam.d/common-auth": Entry("file", FILE, size=9, existed=True, digest="a", image_digest="a")})
    after = fs({"/etc/environment": Entry("file", FILE, size=40, existed=True, digest="x", image_digest="y"),
                "/etc/pam.d/common-auth": Entry("file", FILE, size=9, existed=True, digest="a", image_digest="a"),
                "/etc/bash.bashrc": Entry("deleted", 0, existed=True),
                "/etc/profile.d/acme.sh": Entry("deleted", 0),  # the product's own, removed: fine
                "/etc/ld.so.cache": Entry("file", FILE, size=9, existed=True, digest="n", image_digest="o")})
    bad, _ = findings.leftovers(before, after, owners())
    assert bad == ["/etc/bash.bashrc: removed during the product's life, not put back by the purge",
                   "/etc/environment: changed during the product's life and left so by the purge"]


def test_maintainer_scripts_of_no_package_left_after_the_purge_count():
    """A second review kept an agent as /var/lib/dpkg/info/acme-agent.postinst (no such package)."""
    before = fs({"/var/lib/dpkg/info/sudo.list": Entry("file", FILE)})
    after = fs({"/var/lib/dpkg/info/sudo.list": Entry("file", FILE),
                "/var/lib/dpkg/info/acme-agent.postinst": Entry("file", FILE),
                "/var/lib/dpkg/info/readline-common.list": Entry("file", FILE),  # an OS package left installed
                "/var/lib/dpkg/info/libc6:amd64.triggers": Entry("file", FILE, existed=True)})
    deps = owners(os_packages={"/etc/inputrc": "readline-common", "/usr/bin/sudo": "sudo"})
    bad, _ = findings.leftovers(before, after, deps)
    assert bad == ["/var/lib/dpkg/info/acme-agent.postinst (created by a script during the install; dpkg knows no "
                   "such package)"]


def test_the_package_managers_folders_hide_only_what_the_tools_write():
    for path in ("/var/lib/dpkg/status-old", "/var/cache/apt/archives/bc_1.07_amd64.deb", "/var/cache/apt/pkgcache.bin",
                 "/var/cache/debconf/templates.dat", "/var/log/apt/term.log", "/etc/passwd-",
                 "/var/lib/dpkg/info/libc6:amd64.list", "/var/lib/apt/lists/x_Packages", "/var/log/dnf.rpm.log",
                 "/var/cache/man/index.db", "/var/cache/man/zh_CN/index.db", "/var/cache/man/cs/CACHEDIR.TAG"):
        assert is_package_manager_own(path), path
    for path in ("/root/.cache/acme", "/var/lib/apt/acme", "/var/cache/apt/acme", "/var/cache/apt/archives/acme.sh",
                 "/var/lib/dpkg/info/zz-acme-agent.sh", "/var/cache/debconf/acme", "/var/lib/ucf/acme",
                 "/var/log/apt/acme", "/usr/share/info/dir.acme", "/etc/passwd-acme", "/var/log/acme.log",
                 "/var/lib/polkit-1/acme", "/var/lib/systemd/deb-systemd-helper-enabled/acme", "/var/cache/man/acme",
                 "/var/cache/man/x/acme.sh"):
        assert not is_package_manager_own(path), path


def test_world_writable_ignores_sticky_folders_and_links():
    after = fs({"/etc/acme-open": Entry("file", stat.S_IFREG | 0o666),
                "/var/acme-tmp": Entry("dir", stat.S_IFDIR | 0o1777),
                "/etc/acme-link": Entry("link", stat.S_IFLNK | 0o777)})
    bad, _ = findings.world_writable(fs({}), after, owners())
    assert bad == ["/etc/acme-open (created by a script during the install)"]


def test_leftovers_anywhere_attributed_and_os_files_only_shown():
    before = fs({"/etc": Entry("dir", DIR, existed=True)})
    after = fs({"/etc": Entry("dir", DIR, existed=True),
                "/var/tmp/acme-cache": Entry("file", FILE, size=1 << 20),
                "/var/lib/dpkg/backdoor": Entry("file", FILE),
                "/var/lib/dpkg/info/perl.list": Entry("file", FILE),
                "/var/tmp/lab-staging/acme.deb": Entry("file", FILE),
                "/etc/perl": Entry("dir", DIR), "/etc/perl/Config.pm": Entry("file", FILE),
                "/opt/acme": Entry("dir", DIR), "/opt/acme/bin": Entry("dir", DIR)},
               {41: "sleep 3000"})
    bad, info = findings.leftovers(before, after, owners({"/opt/acme/bin": "acme"},
                                                         {"/etc/perl/Config.pm": "perl", "/etc/perl": "perl"}))
    assert bad == ["/opt/acme (created by a script during the install)",
                   "/var/lib/dpkg/backdoor (created by a script during the install)",
                   "/var/tmp/acme-cache (created by a script during the install)"]
    assert info == ["2 path(s) of OS package perl, still installed (e.g. /etc/perl)"]


def test_persistence_and_replaced_binaries():
    after = fs({"/etc/cron.d/acme-sync": Entry("file", FILE),
                "/etc/cron.d/logrotate": Entry("file", FILE),
                "/usr/lib/systemd/system/acme.service": Entry("file", FILE),
                "/usr/bin/dpkg": Entry("file", stat.S_IFREG | 0o755, existed=True),
                "/usr/bin/openssl": Entry("file", stat.S_IFREG | 0o755, existed=True)})
    bad, info = findings.persistence(fs({}), after, owners({"/usr/lib/systemd/system/acme.service": "acme"},
                                                           {"/etc/cron.d/logrotate": "logrotate",
                                                            "/usr/bin/openssl": "openssl"}))
    assert "/etc/cron.d/acme-sync (created by a script during the install)" in bad
    assert "/usr/bin/dpkg: a file of the OS image, replaced or changed by a script during the install" in bad
    assert len(bad) == 2
    assert "/usr/lib/systemd/system/acme.service (in the product's package acme)" in info


def test_new_accounts():
    before = b"root:x:0:0:root:/root:/bin/bash\n"
    after = before + b"toor:x:0:0::/root:/bin/sh\nacme:x:999:999::/var/lib/acme:/usr/sbin/nologin\n" \
                     b"acme2:x:998:998::/home/acme2:/bin/sh\n"
    shadow = b"root:*:1::::::\ntoor:$6$s$h:1::::::\nacme:!:1::::::\nacme2:$6$s$hash:1::::::\n"
    bad, info = findings.accounts(before, after, shadow)
    assert bad == ["account acme2 (uid 998): a new account with a password set, shell /bin/sh",
                   "account toor: a new account with uid 0 (root's powers)"]
    assert info == ["account acme (uid 999, shell /usr/sbin/nologin, no password)"]


def test_created_collapses_and_skips_the_labs_paths():
    before = fs({})
    after = fs({"/opt/x": Entry("dir", DIR), "/opt/x/a": Entry("file", FILE),
                "/tmp/.lab-xfer-0123456789ab": Entry("file", FILE), "/tmp/.lab-xfer-aaaaaaaaaaaa": Entry("file", FILE),
                "/usr/bin/gone": Entry("deleted", 0)})
    after.spools = frozenset({"/tmp/.lab-xfer-0123456789ab"})  # the transport's own, caught in transit
    assert created(before, after) == ["/opt/x", "/opt/x/a", "/tmp/.lab-xfer-aaaaaaaaaaaa"]
    assert collapse(created(before, after)) == ["/opt/x", "/tmp/.lab-xfer-aaaaaaaaaaaa"]


def test_os_package_files_read_from_the_downloaded_debs(tmp_path):
    deb = build_deb({"/usr/bin/cpan": b"#!/usr/bin/perl\n", "/etc/perl/Config.pm": b"1;\n"},
                    {"Package": "perl-ish", "Version": "1", "Architecture": "all"}, tmp_path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(deb, arcname=f"archives/{deb.name}")
    found = archive_packages(buf.getvalue())
    assert found["/usr/bin/cpan"] == found["/etc/perl/Config.pm"] == "perl-ish"
    assert found["/etc/perl"] == "perl-ish"  # its folders too: a leftover folder of perl is perl's


def test_reading_the_targets_files_never_follows_a_link_out(tmp_path):
    root = tmp_path / "merged"
    (root / "etc").mkdir(parents=True)
    secret = tmp_path / "host-secret"
    secret.write_text("host only")
    (root / "etc" / "passwd").symlink_to(secret)
    (root / "var").symlink_to(tmp_path)
    (root / "etc" / "group").write_text("root:x:0:\n")
    assert read_in_root(str(root), "/etc/passwd", 100) is None
    assert read_in_root(str(root), "/var/host-secret", 100) is None
    assert read_in_root(str(root), "/etc/../../host-secret", 100) is None
    assert read_in_root(str(root), "/etc/group", 100) == b"root:x:0:\n"


def test_a_link_enabling_a_packaged_service_is_shown_not_held_against_the_product():
    after = fs({"/etc/rc2.d/S01memcached": Entry("link", stat.S_IFLNK | 0o777, link="../init.d/memcached"),
                "/etc/init.d/memcached": Entry("file", stat.S_IFREG | 0o755),
                "/etc/rc2.d/S01backdoor": Entry("link", stat.S_IFLNK | 0o777, link="/usr/local/bin/.sh")})
    bad, info = findings.persistence(fs({}), after, owners({"/etc/init.d/memcached": "memcached"}))
    assert "/etc/rc2.d/S01memcached: enables /etc/init.d/memcached (the product package memcached)" in info
    assert bad == ["/etc/rc2.d/S01backdoor (created by a script during the install)"]


def test_board_listings_keep_link_targets():
    from lab.observe.remote import parse_find

    out = b"l 777 0 7 /etc/rc2.d/S01x\0../init.d/x\0f 644 0 3 /etc/a b\nc\0\0"
    entries = parse_find(out)
    assert entries["/etc/rc2.d/S01x"].link == "../init.d/x"
    assert entries["/etc/a b\nc"].kind == "file" and entries["/etc/a b\nc"].size == 3


def test_python_byte_code_belongs_to_whoever_installed_its_source():
    """py3compile writes __pycache__ from a maintainer script: in no package's file list."""
    owners = Owners({"/opt/acme/tool.py": "acme"}, {"/usr/lib/python3/dist-packages/gi/__init__.py": "python3-gi",
                                                   "/usr/lib/python3/dist-packages/gi": "python3-gi"})
    base = "/usr/lib/python3/dist-packages/gi/__pycache__"
    assert owners.owner(f"{base}/__init__.cpython-311.pyc") == ("os", "python3-gi")
    assert owners.owner(base) == ("os", "python3-gi")
    assert owners.owner("/opt/acme/__pycache__/tool.cpython-311.pyc") == ("product", "acme")
    assert owners.owner("/opt/acme/__pycache__/planted.cpython-311.pyc") == ("scripts", "")
    assert owners.owner("/usr/lib/python3/dist-packages/gi/evil.pyc") == ("scripts", "")


def test_dangerous_modes_in_the_labs_own_folders_still_count():
    """A postinst may drop a setuid shell or an open file where the lab keeps its own files."""
    after = fs({"/var/tmp/lab-service/.sh": Entry("file", stat.S_IFREG | 0o4755),
                "/var/tmp/lab-staging/open": Entry("file", stat.S_IFREG | 0o666),
                "/var/tmp/lab-service/service.log": Entry("file", FILE),
                "/var/lib/mysql/.sh": Entry("file", stat.S_IFREG | 0o2755)},
               own=database_own(DatabaseSpec(engine="mysql", server="M")))
    bad, _ = findings.setuid(fs({}), after, owners())
    assert bad == ["/var/lib/mysql/.sh (created by a script during the install) mode 2755",
                   "/var/tmp/lab-service/.sh (created by a script during the install) mode 4755"]
    bad, _ = findings.world_writable(fs({}), after, owners())
    assert bad == ["/var/tmp/lab-staging/open (created by a script during the install)"]


def test_database_folders_are_the_labs_only_on_a_target_running_that_server():
    files = {"/var/lib/mysql/acme.dat": Entry("file", FILE), "/var/log/postgresql/x.log": Entry("file", FILE),
             "/var/tmp/lab-service/service.log": Entry("file", FILE)}
    after = fs(files)
    mysql = database_own(DatabaseSpec(engine="mysql", server="MariaDB 10.11"))
    external = DatabaseSpec(engine="postgresql", server="PostgreSQL 15",
                            external={"host": "db", "port": 5432, "admin_user": "a", "admin_password_env": "P"})
    assert database_own(None) == database_own(external) == ()
    bad, _ = findings.leftovers(fs({}), after, owners())  # no database: a package writing there is the package's
    assert bad == ["/var/lib/mysql/acme.dat (created by a script during the install)",
                   "/var/log/postgresql/x.log (created by a script during the install)"]
    after = fs(files, own=mysql)  # the lab's MariaDB: only its folders
    bad, _ = findings.leftovers(fs({}), after, owners())
    assert bad == ["/var/log/postgresql/x.log (created by a script during the install)"]
    assert created(fs({}), after) == ["/var/log/postgresql/x.log"]


def test_a_program_in_usr_local_named_like_the_systems_shadows_it():
    """Review: a package's /usr/local/bin/ss answered the lab's own `ss` (now the lab's PATH is the
    system's only); for every user whose PATH lists /usr/local first it still replaces the OS's."""
    image = {"/usr/bin/ss", "/usr/sbin/useradd"}
    before = FsState({}, in_image=image.__contains__)
    after = FsState({"/usr/local/bin/ss": Entry("file", stat.S_IFREG | 0o755),
                     "/usr/local/sbin/useradd": Entry("link", stat.S_IFLNK | 0o777, link="/opt/acme/bin/add"),
                     "/usr/local/bin/acme": Entry("file", stat.S_IFREG | 0o755)}, in_image=image.__contains__)
    found = findings.shadows(before, after, owners({"/usr/local/bin/ss": "acme-tools"}))
    assert found == [
        "/usr/local/bin/ss: put there by the product's package acme-tools, it shadows the system's /usr/bin/ss for "
        "every user whose PATH lists /usr/local first (the default)",
        "/usr/local/sbin/useradd: put there by a script during the install, it shadows the system's "
        "/usr/sbin/useradd for every user whose PATH lists /usr/local first (the default)"]
    bad, _info = findings.persistence(before, after, owners({"/usr/local/bin/ss": "acme-tools"}))
    assert any(line.startswith("/usr/local/bin/ss: put there by") for line in bad)
    # a board's listing is its whole tree: the system's program is found in it
    listed = FsState({"/usr/bin/ss": Entry("file", FILE)})
    assert findings.shadows(listed, FsState({**listed.entries, "/usr/local/bin/ss": Entry("file", FILE)}),
                            owners())[0].startswith("/usr/local/bin/ss: put there by a script")


def test_a_program_in_sbin_named_like_one_in_bin_shadows_it_for_root_and_the_reverse():
    """Hostile review: a package's /usr/sbin/ss hid the service's second port from the lab's `ss`
    (whose PATH listed sbin first), and its /usr/sbin/sha256sum said an emptied database was
    unchanged; security.system_files passed both."""
    image = {"/usr/bin/ss", "/usr/bin/sha256sum", "/usr/sbin/useradd"}
    before = FsState({}, in_image=image.__contains__)
    after = FsState({"/usr/sbin/ss": Entry("file", stat.S_IFREG | 0o755),
                     "/usr/sbin/sha256sum": Entry("file", stat.S_IFREG | 0o755),
                     "/usr/bin/useradd": Entry("file", stat.S_IFREG | 0o755),
                     "/usr/sbin/acme-admin": Entry("file", stat.S_IFREG | 0o755)}, in_image=image.__contains__)
    found = findings.shadows(before, after, owners({"/usr/sbin/ss": "acme-tools"}))
    assert found == [
        "/usr/bin/useradd: put there by a script during the install, it shadows the system's /usr/sbin/useradd for "
        "every PATH that lists bin before sbin",
        "/usr/sbin/sha256sum: put there by a script during the install, it shadows the system's /usr/bin/sha256sum "
        "for every PATH that lists sbin before bin (root's default)",
        "/usr/sbin/ss: put there by the product's package acme-tools, it shadows the system's /usr/bin/ss for "
        "every PATH that lists sbin before bin (root's default)"]
    bad, _info = findings.persistence(before, after, owners({"/usr/sbin/ss": "acme-tools"}))
    assert sum("shadows the system's" in line for line in bad) == 3


def test_an_account_of_the_system_removed_by_the_install_is_against_the_product():
    """Hostile review: a postinst's `userdel desktop` passed security.system_files, and every desktop
    check then said the image lacked the lab's user (broken, the lab's fault)."""
    before = b"root:x:0:0:root:/root:/bin/bash\ndesktop:x:1000:1000::/home/desktop:/bin/bash\n"
    after = b"root:x:0:0:root:/root:/bin/bash\n"
    bad, info = findings.accounts(before, after, b"")
    assert bad == ["account desktop (uid 1000): removed during the install"] and info == []
    # a hostile postinst made /etc/passwd a link to a copy: the observer reads no link, and the
    # account checks saw nothing (security.system_files passed with a new uid 0 account)
    assert findings.accounts(before, None, None) == (
        ["/etc/passwd: not a regular file after the install (replaced by a link, or removed): its accounts cannot "
         "be checked"], [])
    assert findings.accounts(None, None, None) == ([], [])  # never read (a target the lab cannot read): no claim


def test_a_device_or_fifo_at_a_path_the_lab_reads_is_never_opened_on_the_host(tmp_path):
    """The target's root can make device nodes (Docker's default capabilities): one planted where a
    library or a file the lab reads should be is not a file, and is not opened on the host (a review:
    /dev/tty's major and minor at a library's path was opened, and the check broke on ENXIO)."""
    import os
    import stat

    from lab.observe.hostfs import read_in_root, sha256_in_root

    lib = tmp_path / "usr" / "lib"
    lib.mkdir(parents=True)
    os.mknod(lib / "tty.so", 0o600 | stat.S_IFCHR, os.makedev(5, 0))
    os.mknod(lib / "none.so", 0o600 | stat.S_IFCHR, os.makedev(250, 250))
    os.mkfifo(lib / "fifo.so")
    (lib / "real.so").write_bytes(b"\x7fELF")
    for name in ("tty.so", "none.so", "fifo.so", "libc\x00.so.6", "a" * 300):
        assert read_in_root(str(tmp_path), f"/usr/lib/{name}", 100) is None, name
        assert sha256_in_root(str(tmp_path), f"/usr/lib/{name}") is None, name
    assert read_in_root(str(tmp_path), "/usr/lib/real.so", 100) == b"\x7fELF"
