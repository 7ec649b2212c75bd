"""The desktop session's readings of the target: windows (xprop, xwininfo), the application's
processes, the desktop facts. Pure parsing; the integration tests run the real session."""

from __future__ import annotations

from lab.desktop.session import (
    app_processes,
    normal_locale,
    parse_facts,
    parse_processes,
    parse_windows,
)

WINDOWS = """@window 0x800003
_NET_WM_PID(CARDINAL) = 253
_NET_WM_NAME(UTF8_STRING) = "ACME 笔记"
WM_NAME(STRING) = "ACME"
WM_PROTOCOLS(ATOM): protocols  WM_DELETE_WINDOW, WM_TAKE_FOCUS, _NET_WM_PING
  Width: 480
  Height: 320
  Map State: IsViewable
@window 0x600030
_NET_WM_PID:  not found.
WM_NAME(STRING) = "xmessage"
  Width: 62
  Height: 52
  Map State: IsUnMapped
"""


def test_windows_are_read_with_pid_title_size_and_state():
    notes, xmsg = parse_windows(WINDOWS)
    assert (notes.id, notes.pid, notes.title, notes.width, notes.height, notes.viewable) == \
        ("0x800003", 253, "ACME 笔记", 480, 320, True)
    assert "WM_DELETE_WINDOW" in notes.protocols
    assert (xmsg.pid, xmsg.title, xmsg.viewable) == (None, "xmessage", False)


def test_a_hostile_title_is_capped_and_a_forged_window_line_stops_the_list():
    text = '@window 0x1\n_NET_WM_NAME(UTF8_STRING) = "' + "x" * 5000 + '"\n@window not-an-id\n@window 0x2\n'
    windows = parse_windows(text)
    assert len(windows) == 1 and len(windows[0].title) == 200


PS = """    1     0     1 Ss   /sbin/docker-init -- sleep infinity
  100     1   100 Ss   sh -c "$0" "$@"; echo ... acme-notes
  101   100   100 Sl   /usr/bin/python3 /usr/bin/acme-notes
  102   101   102 Ss   helper --daemon
  103   100   100 Z    [zombie] <defunct>
  200     1   200 Ss   Xvfb :99
"""


def test_the_applications_processes_are_its_session_and_descendants():
    found = {p.pid for p in app_processes(parse_processes(PS), 100)}
    assert found == {100, 101, 102}


def test_desktop_facts_name_the_environment_and_locales():
    facts = parse_facts("desktop=UKUI\ndesktop_version=3.0.6.4-1\nlocales=en_US.utf8 zh_CN.utf8 C.utf8 \n")
    assert facts == {"desktop": "UKUI", "desktop_version": "3.0.6.4-1", "display": "1280x800 (virtual, :99)",
                     "locales": "C.UTF-8, en_US.UTF-8, zh_CN.UTF-8"}
    assert parse_facts("locales=\n")["desktop"] == "none"
    assert normal_locale("zh_CN.UTF-8") == normal_locale("zh_CN.utf8")
