"""The programs and libraries the lab reads a target through, changed after the install was judged
(lab.observe.instruments): a review's service swapped /usr/bin/ss and /usr/bin/sed at its start."""

from __future__ import annotations

import stat

from lab.observe.instruments import is_instrument, tampered
from lab.observe.state import Entry, FsState

FILE = stat.S_IFREG | 0o755


def test_programs_libraries_and_the_loader_are_instruments():
    for path in ("/usr/bin/ss", "/usr/sbin/ss", "/bin/sed", "/usr/local/bin/awk", "/etc/ld.so.preload",
                 "/etc/ld.so.conf.d/acme.conf", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2",
                 "/usr/local/lib/libmnl.so.0", "/usr/local/lib/x86_64-linux-gnu/libmnl.so.0"):
        assert is_instrument(path), path
    for path in ("/usr/lib/python3/dist-packages/acme/__pycache__/a.pyc", "/usr/lib/x86_64-linux-gnu/acme/x.so",
                 "/etc/acme.conf", "/var/lib/acme/x", "/usr/share/doc/acme/README"):
        assert not is_instrument(path), path


def test_changed_rewritten_created_and_removed_instruments_are_named():
    since = FsState({"/usr/bin/sed": Entry("file", FILE, size=10, existed=True, changed_ns=1),
                     "/usr/bin/acme": Entry("file", FILE, size=5, changed_ns=1),
                     "/usr/bin/awk": Entry("file", FILE, size=7, existed=True, changed_ns=1)})
    now = FsState({"/usr/bin/sed": Entry("file", FILE, size=10, existed=True, changed_ns=2),   # same size, rewritten
                   "/usr/bin/acme": Entry("file", FILE, size=5, changed_ns=1),                 # untouched
                   "/usr/bin/awk": Entry("file", FILE, size=7, existed=True, changed_ns=1),
                   "/usr/bin/ss": Entry("link", stat.S_IFLNK | 0o777, existed=True, link="/tmp/x"),
                   "/usr/bin/ps": Entry("deleted", 0, existed=True),
                   "/etc/ld.so.preload": Entry("file", FILE, size=20),
                   "/var/lib/acme/state": Entry("file", FILE, size=1)})
    assert tampered(since, now) == ["/etc/ld.so.preload", "/usr/bin/ps", "/usr/bin/sed", "/usr/bin/ss"]
    assert tampered(since, since) == []
