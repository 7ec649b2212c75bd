"""The desktop session the lab starts inside a desktop target, and the application it launches.

Why the lab starts its own session rather than borrowing one: a per-run container has no login
manager, and on a board the engineer's own session must not be disturbed. So on every desktop
target (tag ``desktop``) the lab starts, as its unprivileged user ``desktop``: a virtual display
(Xvfb :99, 1280x800, depth 24), a D-Bus session bus, the window manager it finds (UKUI's ``ukwm``
first) and UKUI's panel when installed. Everything goes through the target's transport (``docker
exec`` or SSH alike): commands, and files read back with ``get_bytes``.

What the session writes stays in ``/var/tmp/lab-desktop`` (root-owned; the user's home and runtime
folder below it), in new entries of ``/tmp`` (the X server's lock and socket) and of the user's own
home (what reads the home from the password database); ``stop()`` kills every process of the user
and removes all of it, so ``install.leftovers`` compares the target as the
install left it.

Example::

    s = DesktopSession(transport)
    s.start()
    app = s.launch(["/usr/bin/acme-notes"], "zh_CN.UTF-8")
    win = s.wait_window(app, 30)
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, field

from lab.errors import InfrastructureError
from lab.transport.base import Transport

USER = "desktop"
DISPLAY = ":99"
SIZE = (1280, 800)
ROOT = "/var/tmp/lab-desktop"          # root-owned: logs and screenshots, out of the user's reach
HOME = f"{ROOT}/home"                  # the user's
RUNTIME = f"{ROOT}/run"                # the user's XDG_RUNTIME_DIR, with the session bus
LOGS = f"{ROOT}/logs"
SHOTS = f"{ROOT}/shots"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The window managers and panels a desktop target may carry, the Kylin one first.
WINDOW_MANAGERS = ("ukwm", "kwin_x11", "xfwm4", "metacity", "openbox")
PANELS = ("ukui-panel",)
# Packages that name a desktop environment (facts): the first installed wins.
ENVIRONMENTS = (("UKUI", "ukui-panel"), ("DDE", "dde-desktop"), ("Xfce", "xfce4-panel"),
                ("GNOME", "gnome-shell"), ("KDE Plasma", "plasma-workspace"))
MAX_WINDOWS = 64
MAX_TITLE = 200
q = shlex.quote


@dataclass
class Window:
    id: str                      # 0x... as X spells it
    pid: int | None = None       # _NET_WM_PID
    title: str = ""
    width: int = 0
    height: int = 0
    viewable: bool = False
    protocols: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"window {self.id} {self.title!r} ({self.width}x{self.height}, pid {self.pid})"


@dataclass
class Launch:
    pid: int
    argv: list[str]
    locale: str
    log: str
    baseline: set[str] = field(default_factory=set)   # windows already there before it started


@dataclass
class Process:
    pid: int
    ppid: int
    sid: int
    state: str
    args: str


# The locale each of the lab's languages ([lab] languages) is seen in on a desktop.
LANGUAGE_LOCALES = {"zh-CN": "zh_CN.UTF-8", "en": "en_US.UTF-8"}


def normal_locale(name: str) -> str:
    """``zh_CN.UTF-8`` and ``zh_CN.utf8`` (what ``locale -a`` prints) compare equal."""
    lang, _, charset = name.partition(".")
    return f"{lang}.{charset.lower().replace('-', '')}"


def parse_processes(text: str) -> list[Process]:
    out = []
    for line in text.splitlines():
        cols = line.split(None, 4)
        if len(cols) >= 4 and all(c.isdigit() for c in cols[:3]):
            out.append(Process(int(cols[0]), int(cols[1]), int(cols[2]), cols[3], cols[4] if len(cols) > 4 else ""))
    return out


def app_processes(processes: list[Process], leader: int) -> list[Process]:
    """The launched program's processes: its session (it was started with ``setsid``) and every
    descendant of it (a child may start a session of its own); zombies are already gone."""
    children: dict[int, list[Process]] = {}
    for p in processes:
        children.setdefault(p.ppid, []).append(p)
    found = {p.pid: p for p in processes if p.sid == leader or p.pid == leader}
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child.pid not in found:
                found[child.pid] = child
                todo.append(child.pid)
    return [p for p in found.values() if not p.state.startswith("Z")]


_PROP = re.compile(r"^(?P<name>[A-Z_]+)\((?P<type>[A-Z0-9_]+)\)\s*[=:]\s*(?P<value>.*)$")


def _string(value: str) -> str:
    """An xprop string value (``"..."`` with C escapes), unquoted, capped."""
    value = value.strip()
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value[:MAX_TITLE]


def parse_windows(text: str) -> list[Window]:
    """The output of ``WINDOWS_SCRIPT``: one ``@window 0x...`` line, then xprop's and xwininfo's."""
    windows: list[Window] = []
    wm_name = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("@window "):
            if windows and not windows[-1].title:
                windows[-1].title = wm_name
            ident = line.split()[1]
            if not re.fullmatch(r"0x[0-9a-fA-F]{1,8}", ident) or len(windows) >= MAX_WINDOWS:
                break
            windows.append(Window(ident))
            wm_name = ""
            continue
        if not windows:
            continue
        w = windows[-1]
        m = _PROP.match(line)
        if m:
            name, value = m["name"], m["value"]
            if name == "_NET_WM_PID" and value.strip().isdigit():
                w.pid = int(value.strip())
            elif name == "_NET_WM_NAME":
                w.title = _string(value)
            elif name == "WM_NAME":
                wm_name = _string(value)
            elif name == "WM_PROTOCOLS":
                w.protocols = [p.strip() for p in value.replace("protocols", "", 1).split(",") if p.strip()][:16]
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "Width" and value.isdigit():
            w.width = int(value)
        elif key == "Height" and value.isdigit():
            w.height = int(value)
        elif key == "Map State":
            w.viewable = value == "IsViewable"
    if windows and not windows[-1].title:
        windows[-1].title = wm_name
    return windows


WINDOWS_SCRIPT = f"""
export DISPLAY={DISPLAY} LC_ALL=C.UTF-8
ids=$(xprop -root _NET_CLIENT_LIST 2>/dev/null | grep -o '0x[0-9a-fA-F]*' | head -n {MAX_WINDOWS})
for w in $ids; do
  echo "@window $w"
  xprop -id "$w" _NET_WM_PID _NET_WM_NAME WM_NAME WM_PROTOCOLS 2>/dev/null | cut -c1-400
  xwininfo -id "$w" 2>/dev/null | grep -E '^ *(Width|Height|Map State):'
done
"""

FACTS_PROBE = "\n".join(
    ["for pair in " + " ".join(f"{q(name)}={pkg}" for name, pkg in ENVIRONMENTS) + "; do",
     "  name=${pair%%=*}; pkg=${pair#*=}",
     "  v=$(dpkg-query -W -f='${Version}' \"$pkg\" 2>/dev/null || rpm -q --qf '%{VERSION}' \"$pkg\" 2>/dev/null)",
     '  if [ $? -eq 0 ] && [ -n "$v" ]; then echo "desktop=$name"; echo "desktop_version=$v"; break; fi',
     "done",
     "echo \"locales=$(locale -a 2>/dev/null | grep -i -E 'utf-?8$' | grep -v -E '^(C|POSIX)' | tr '\\n' ' ')\""])


def parse_facts(text: str) -> dict[str, str]:
    """The desktop facts: environment, its version, the lab's display, the UTF-8 locales."""
    values = dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)
    locales = sorted({f"{normal_locale(x).split('.')[0]}.UTF-8" for x in values.get("locales", "").split()})
    return {"desktop": values.get("desktop", "none")[:40], "desktop_version": values.get("desktop_version", "")[:60],
            "display": f"{SIZE[0]}x{SIZE[1]} (virtual, {DISPLAY})", "locales": ", ".join(locales)[:400]}


class DesktopSession:
    """One desktop session on one target; ``start()`` once, ``stop()`` always."""

    def __init__(self, transport: Transport, user: str = USER):
        self.t = transport
        self.user = user
        self.uid = self.gid = 0
        self.window_manager = ""
        self.panel = ""
        self._before: dict[str, set[str]] = {}   # folder -> its entries before the session
        self._launches = 0

    # -- running things ------------------------------------------------------------------------
    def _run(self, command: str, timeout: float = 60):
        return self.t.run(command, timeout=timeout)

    def env(self, locale: str = "zh_CN.UTF-8") -> dict[str, str]:
        lang = locale.split(".")[0]
        return {"HOME": HOME, "USER": self.user, "LOGNAME": self.user, "PATH": PATH, "DISPLAY": DISPLAY,
                "XDG_RUNTIME_DIR": RUNTIME, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={RUNTIME}/bus",
                "XDG_SESSION_TYPE": "x11", "XDG_CURRENT_DESKTOP": "UKUI", "DESKTOP_SESSION": "ukui",
                "LANG": locale, "LANGUAGE": f"{lang}:{lang.split('_')[0]}", "QT_QPA_PLATFORM": "xcb"}

    def _as_user(self, argv: list[str], log: str, locale: str = "zh_CN.UTF-8") -> str:
        """A shell line that starts ``argv`` in the background, in its own session, as the lab's
        user with a clean environment; its output goes to ``log`` (root-owned); prints its pid."""
        env = " ".join(f"{k}={q(v)}" for k, v in self.env(locale).items())
        args = " ".join(q(a) for a in argv)
        return (f"cd {HOME} && setsid setpriv --reuid={self.uid} --regid={self.gid} --init-groups "
                f"env -i {env} sh -c 'exec \"$0\" \"$@\"' {args} >>{q(log)} 2>&1 </dev/null &\necho $!")

    def _spawn(self, argv: list[str], log: str, locale: str = "zh_CN.UTF-8") -> int:
        result = self._run(self._as_user(argv, log, locale))
        out = result.stdout.strip().splitlines()
        if not result.ok or not out or not out[-1].isdigit():
            raise InfrastructureError(f"could not start {argv[0]} in the desktop session:\n{result.evidence()}")
        return int(out[-1])

    def _wait(self, probe: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._run(probe, timeout=15).ok:
                return True
            time.sleep(0.3)
        return False

    def _first_present(self, names: tuple[str, ...]) -> str:
        found = self._run("for p in " + " ".join(names) + "; do command -v $p >/dev/null 2>&1 && "
                          "{ echo $p; break; }; done; true").stdout.split()
        return found[0] if found else ""

    def log_tail(self, name: str, lines: int = 15) -> str:
        return self._run(f"tail -n {lines} {LOGS}/{name} 2>/dev/null").stdout.rstrip() or "(empty)"

    # -- the session ---------------------------------------------------------------------------
    def start(self) -> None:
        """Display, bus, window manager and panel; ``InfrastructureError`` naming what did not come up."""
        ids = self._run(f"id -u {q(self.user)} && id -g {q(self.user)}")
        if not ids.ok:
            raise InfrastructureError(f"the desktop target has no user {self.user!r} for the lab's session "
                                      f"(create it in the image or on the board):\n{ids.evidence()}")
        self.uid, self.gid = (int(x) for x in ids.stdout.split()[:2])
        missing = self._run("for p in Xvfb xprop xwininfo xwd wmctrl xdpyinfo dbus-daemon setpriv "
                            "desktop-file-validate; do command -v $p >/dev/null || echo $p; done").stdout.split()
        if missing:
            raise InfrastructureError(f"the desktop target lacks {', '.join(missing)} (x11-utils, xvfb, wmctrl, "
                                      "dbus, desktop-file-utils)")
        home = self._run(f"getent passwd {q(self.user)} | cut -d: -f6").stdout.strip()
        for folder in ("/tmp", *([home] if home.startswith("/") and home != "/" else [])):
            self._before[folder] = set(self._run(f"ls -A {q(folder)} 2>/dev/null").stdout.split("\n"))
        prep = self._run(
            f"set -e; rm -rf {ROOT}; mkdir -p {HOME} {RUNTIME} {LOGS} {SHOTS}; chmod 755 {ROOT}; "
            f"chmod 700 {LOGS} {SHOTS} {RUNTIME}; chown {self.uid}:{self.gid} {HOME} {RUNTIME}; "
            f"[ -d /tmp/.X11-unix ] || mkdir -m 1777 /tmp/.X11-unix")
        if not prep.ok:
            raise InfrastructureError(f"preparing the desktop session failed:\n{prep.evidence()}")
        w, h = SIZE
        self._spawn(["Xvfb", DISPLAY, "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp", "-dpi", "96",
                     "-noreset"],
                    f"{LOGS}/xvfb.log")
        if not self._wait(f"DISPLAY={DISPLAY} xdpyinfo >/dev/null 2>&1", 20):
            raise InfrastructureError(f"the virtual display {DISPLAY} did not come up in 20 s; Xvfb's log ends:\n"
                                      f"{self.log_tail('xvfb.log')}")
        self._spawn(["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address=unix:path={RUNTIME}/bus"],
                    f"{LOGS}/dbus.log")
        if not self._wait(f"test -S {RUNTIME}/bus", 10):
            raise InfrastructureError(f"the session bus did not come up; its log ends:\n{self.log_tail('dbus.log')}")
        self.window_manager = self._first_present(WINDOW_MANAGERS)
        if not self.window_manager:
            raise InfrastructureError(f"the desktop target has no window manager ({', '.join(WINDOW_MANAGERS)})")
        self._spawn([self.window_manager], f"{LOGS}/wm.log")
        if not self._wait(f"DISPLAY={DISPLAY} xprop -root _NET_SUPPORTING_WM_CHECK | grep -q 'window id'", 30):
            raise InfrastructureError(f"the window manager {self.window_manager} did not take the display in "
                                      f"30 s; its log ends:\n{self.log_tail('wm.log')}")
        self.panel = self._first_present(PANELS)
        if self.panel:
            self._spawn([self.panel], f"{LOGS}/panel.log")

    def stop(self) -> None:
        """Every process of the lab's user killed; the session's files gone."""
        if not self.uid:
            return
        for _ in range(20):
            self._run(f"pkill -KILL -u {self.uid}; true")
            if not self._run(f"pgrep -u {self.uid} >/dev/null").ok:
                break
            time.sleep(0.2)
        new = []
        for folder, before in self._before.items():
            now = set(self._run(f"ls -A {q(folder)} 2>/dev/null").stdout.split("\n"))
            new += [f"{folder}/{n}" for n in sorted(now - before) if n and "/" not in n]
        self._run(f"rm -rf {ROOT} " + " ".join(q(p) for p in new))

    # -- an application ------------------------------------------------------------------------
    def launch(self, argv: list[str], locale: str) -> Launch:
        self._launches += 1
        log = f"{LOGS}/app-{self._launches}.log"
        self._run(f": > {log}")
        baseline = {w.id for w in self.windows()}
        return Launch(self._spawn(argv, log, locale), argv, locale, log, baseline)

    def processes(self, app: Launch) -> list[Process]:
        out = self._run("ps -eo pid=,ppid=,sid=,stat=,args= | cut -c1-300").stdout
        return app_processes(parse_processes(out), app.pid)

    def alive(self, app: Launch) -> bool:
        return bool(self.processes(app))

    def output(self, app: Launch, lines: int = 20) -> str:
        return self._run(f"tail -n {lines} {q(app.log)} | cut -c1-400").stdout.rstrip() or "(no output)"

    def windows(self) -> list[Window]:
        return parse_windows(self._run(WINDOWS_SCRIPT).stdout)

    def app_windows(self, app: Launch) -> list[Window]:
        """Its top-level windows: those whose ``_NET_WM_PID`` is one of its processes, and new ones
        without that property (X toolkits older than EWMH never set it; nothing else is started in
        the lab's session while the application runs)."""
        pids = {p.pid for p in self.processes(app)}
        return [w for w in self.windows() if w.pid in pids or (w.pid is None and w.id not in app.baseline)]

    def wait_window(self, app: Launch, timeout: float) -> tuple[Window | None, float]:
        """The app's first viewable top-level window of a real size, and the seconds it took; None
        if it exited or the time ran out."""
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            shown = [w for w in self.app_windows(app) if w.viewable and w.width > 1 and w.height > 1]
            if shown:
                return max(shown, key=lambda w: w.width * w.height), elapsed
            if elapsed > timeout or not self.alive(app):
                return None, elapsed
            time.sleep(0.5)

    def screenshot(self, window: str = "root") -> bytes:
        """The window's (or the whole screen's) X dump, read back from the target."""
        path = f"{SHOTS}/shot.xwd"
        target = "-root" if window == "root" else f"-id {q(window)}"
        result = self._run(f"rm -f {path}; DISPLAY={DISPLAY} xwd -silent {target} -out {path}")
        if not result.ok:
            raise InfrastructureError(f"xwd could not dump {window}:\n{result.evidence()}")
        return self.t.get_bytes(path)

    def frame_of(self, window: Window) -> str:
        """The window manager's frame around ``window`` (title bar and borders), or the window itself
        when it has none: what a user sees, for the screenshot a buyer is shown."""
        out = self._run(f"DISPLAY={DISPLAY} xwininfo -tree -id {q(window.id)}").stdout
        m = re.search(r"Root window id: (0x[0-9a-f]+).*?Parent window id: (0x[0-9a-f]+)", out, re.S)
        return m.group(2) if m and m.group(2) != m.group(1) else window.id

    def request_close(self, window: Window) -> None:
        """Close it the way the window manager's close button does: ``_NET_CLOSE_WINDOW`` to the
        manager, which sends the application WM_DELETE_WINDOW."""
        result = self._run(f"DISPLAY={DISPLAY} wmctrl -i -c {q(window.id)}")
        if not result.ok:
            raise InfrastructureError(f"asking the window manager to close {window.id} failed:\n{result.evidence()}")

    def kill(self, app: Launch) -> None:
        for _ in range(10):
            pids = [p.pid for p in self.processes(app)]
            if not pids:
                return
            self._run(f"kill -KILL -- -{app.pid} 2>/dev/null; kill -KILL {' '.join(map(str, pids))} 2>/dev/null; true")
            time.sleep(0.2)

    def locales(self) -> set[str]:
        return {normal_locale(x) for x in self._run("locale -a").stdout.split()}
