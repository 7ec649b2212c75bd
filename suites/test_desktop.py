"""Suite `desktop`: a graphical application on a desktop target, as a user meets it.

Its menu entry and icon, started from the entry's ``Exec`` in the lab's desktop session (a virtual
display with UKUI's window manager and panel), its window, what the window shows (a screenshot,
kept as evidence), the window under each locale (with the vendor's expected text read back by
OCR), and closing it the window manager's way. Applies to submissions with ``[desktop]`` on
targets tagged ``desktop``; elsewhere every check is *skipped* with the reason.

``desktop.close`` runs before ``desktop.locale``: an application that keeps one instance would
hand a second launch to the first one, so each locale's launch starts with nothing running.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lab.desktop import entry as entries
from lab.desktop import icon as icons
from lab.desktop import ocr, xwd
from lab.desktop.session import LANGUAGE_LOCALES, PATH, SIZE, DesktopSession, Launch, Window, normal_locale
from lab.errors import InfrastructureError, NotApplicable, ProductFailure
from lab.observe.findings import users
from lab.reasons import (
    ENTRY_NOT_INSTALLED,
    EXITED_AFTER_WINDOW,
    EXITED_BEFORE_WINDOW,
    NO_ICON,
    NO_WINDOW_EXITED,
    NOTHING_DRAWN,
)
from lab.report.allure_worker import attach_png
from lab.suite.applicable import desktop_reason

APPLICATIONS = ("/usr/share/applications", "/usr/local/share/applications")
SETTLE = 3.0          # seconds the application must stay up once its window is shown
DRAW = 1.5            # seconds given to draw a window before it is photographed
CLOSE_TIMEOUT = 5.0   # seconds to exit after WM_DELETE_WINDOW
KEEP_BYTES = 1 << 20  # of each log the session kept
CRASH = re.compile(r"Traceback \(most recent call last\)|Segmentation fault|core dumped|terminate called after|"
                   r"stack smashing detected|AddressSanitizer|Fatal Python error|\bAborted\b")
EXITED = re.compile(r"\[lab: exited with status (\d+)\]")
SIGNALS = {4: "SIGILL", 6: "SIGABRT (an abort)", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL",
           11: "SIGSEGV (a segmentation fault)", 15: "SIGTERM"}
q = shlex.quote


@dataclass
class Desk:
    """What the desktop checks hand on to each other on one target."""

    entry: entries.Entry | None = None
    argv: list[str] | None = None          # Exec, resolved to an installed program
    app: Launch | None = None              # the launch under the first locale
    window: Window | None = None
    waited: float = 0.0
    shots: dict[str, Path] = field(default_factory=dict)   # locale -> the window's PNG
    index: list[dict] = field(default_factory=list)         # screenshots/<target>/index.json


@pytest.fixture(scope="module")
def spec(lab):
    """The submission's ``[desktop]``, on a target that has a desktop; otherwise not applicable."""
    if why := desktop_reason(lab.submission.model, lab.target_spec):
        raise NotApplicable(why)
    return lab.submission.model.desktop


@pytest.fixture(scope="module")
def desk(spec) -> Desk:
    return Desk()


@pytest.fixture(scope="module")
def session(lab, spec, target, deployment):
    """The lab's desktop session, started once for the suite, stopped (and its files removed)
    before the uninstall looks for leftovers; the applications' output is kept in the run's logs."""
    if not deployment.installed:
        raise NotApplicable("needs the product installed, and install.package failed")
    s = DesktopSession(target.transport)
    # the user the session runs as, there before the install and gone after it: the product's doing
    # (a hostile postinst's ``userdel``), said as such, not as the image's lack
    if s.user in users(lab.state.passwd_before) and s.user not in users(target.observer().read("/etc/passwd")):
        raise ProductFailure(f"the install removed the user {s.user!r} the target's desktop session runs as (it "
                             "was there before): no desktop check can run")
    try:
        s.start()
        yield s
    finally:
        _keep_logs(lab, s)
        s.stop()


def _keep_logs(lab, s: DesktopSession) -> None:
    """The session's logs, the applications' output among them: the last MiB of each, cut in the
    target (an application may print without end)."""
    from lab.desktop.session import LOGS, SHOTS

    names = s.t.run(f"ls {LOGS} 2>/dev/null").stdout.split()
    folder = lab.logs / "desktop"
    for name in names:
        if re.fullmatch(r"[a-z0-9-]+\.log", name):
            try:
                s.t.run(f"tail -c {KEEP_BYTES} {LOGS}/{name} > {SHOTS}/kept.log")
                data = s.t.get_bytes(f"{SHOTS}/kept.log")
            except (FileNotFoundError, InfrastructureError):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data[-KEEP_BYTES:])


def _run(target, command: str):
    return target.transport.run(command)


def _program(argv: list[str]) -> str:
    return argv[0]


def _save_shot(lab, desk: Desk, name: str, png: bytes, caption: dict) -> Path:
    """The PNG in ``DIR/screenshots/<target>/``, listed in its index.json, attached to the check."""
    folder = lab.opts.out / "screenshots" / lab.target_spec.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(png)
    desk.index = [i for i in desk.index if i["file"] != name] + [{"file": name, **caption}]
    (folder / "index.json").write_text(json.dumps(desk.index, indent=2, ensure_ascii=False) + "\n")
    attach_png(path, caption.get("caption", name))
    return path


def _inside(lab, locale: str, png: bytes) -> Path:
    """The window's own pixels, kept in the run's logs for OCR (and a person checking it)."""
    folder = lab.logs / "desktop"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"inside-{locale.split('.')[0]}.png"
    path.write_bytes(png)
    return path


def _exit_words(output: str) -> str:
    found = EXITED.findall(output)
    if not found:
        return "killed, or it detached from the lab's shell"
    status = int(found[-1])
    if status > 128 and status - 128 in SIGNALS:
        return f"exit status {status}: killed by {SIGNALS[status - 128]}"
    return f"exit status {status}"


def _clean_output(output: str) -> str:
    return EXITED.sub("", output).rstrip() or "(no output)"


@dataclass
class Locales:
    """Which locales the application is started under, and which of the vendor's the target lacks."""

    checked: list[str]      # the lab's own first, then the vendor's that the target has
    declared: list[str]     # of those, the vendor's (its expected texts are read under these)
    missing: list[str]      # the vendor's that the target does not offer: said, not checked


def _locales(lab, spec, session: DesktopSession) -> Locales:
    """The lab's own locale (its first language's: zh_CN.UTF-8) is always checked, whatever the
    submission lists: a vendor cannot leave out the buyers' language by declaring only en_US. Its
    absence on a desktop target is the lab's fault; a vendor's locale the target lacks is neither's."""
    own = LANGUAGE_LOCALES[lab.inventory.model.lab.languages[0]]
    have = session.locales()
    if normal_locale(own) not in have:
        raise InfrastructureError(f"the target has no locale {own}, the lab's own (its locales: "
                                  f"{', '.join(sorted(have))})")
    declared = [loc for loc in spec.locales if normal_locale(loc) in have]
    missing = [loc for loc in spec.locales if normal_locale(loc) not in have]
    checked = [own] + [loc for loc in declared if normal_locale(loc) != normal_locale(own)]
    return Locales(checked, declared, missing)


def _launch(session: DesktopSession, argv: list[str], locale: str) -> Launch:
    wrapped = ["sh", "-c", '"$0" "$@"; echo "[lab: exited with status $?]"', *argv]
    app = session.launch(wrapped, locale)
    app.argv = argv
    return app


def _window_png(session: DesktopSession, window: Window) -> tuple[bytes, str, bytes]:
    """The window as a user sees it (in its frame) as PNG, why its own pixels look empty ('' when
    something is drawn), and those pixels as PNG (what OCR reads: no title bar)."""
    inside = xwd.to_image(session.screenshot(window.id), max(SIZE) * 2)
    frame = session.frame_of(window)
    framed = xwd.trim_black(xwd.to_image(session.screenshot(frame), max(SIZE) * 2)) if frame != window.id else inside
    return xwd.png_bytes(framed), xwd.nothing_drawn(inside), xwd.png_bytes(inside)


@pytest.mark.check("desktop.entry")
def test_entry_is_valid_and_runs_something(lab, spec, desk, target, installed):
    found = [d for d in APPLICATIONS if _run(target, f"test -f {q(d + '/' + spec.entry)}").ok]
    assert found, ENTRY_NOT_INSTALLED.say(entry=spec.entry, first=APPLICATIONS[0], second=APPLICATIONS[1])
    path = f"{found[0]}/{spec.entry}"
    data = _run(target, f"head -c {entries.MAX_ENTRY_BYTES + 1} {q(path)}").stdout_bytes
    entry = entries.parse(data, path)
    desk.entry = entry
    problems = []
    validate = _run(target, f"desktop-file-validate {q(path)}")
    errors = [line for line in validate.stdout.splitlines() if ": error:" in line]
    if errors:
        problems.append(f"desktop-file-validate reports {len(errors)} error(s):\n" + "\n".join(errors[:20]))
    try:
        argv = entry.argv
    except AssertionError as exc:
        argv = None
        problems.append(str(exc))
    if argv:
        prog = argv[0]
        probe = (f"test -f {q(prog)} && test -x {q(prog)}" if "/" in prog else
                 f"PATH={PATH} command -v {q(prog)}")
        if _run(target, probe).ok:
            desk.argv = argv
        else:
            problems.append(f"{path}: Exec={entry.get('Exec')[:200]!r}: {prog} is not an installed executable"
                            + ("" if "/" in prog else f" (not found in {PATH})"))
    if not entry.categories:
        problems.append(f"{path}: no Categories, so menus file it under 'Other'")
    elif entry.unregistered_categories:
        problems.append(f"{path}: Categories {', '.join(entry.unregistered_categories)} are not registered "
                        "(Desktop Menu Specification); extensions must start with X-")
    assert not problems, "\n".join(problems)
    lab.note(f"{path}: Name={entry.name!r}, Exec={' '.join(desk.argv)!r}, Categories={';'.join(entry.categories)}")


@pytest.mark.check("desktop.icon")
def test_icon_resolves_at_a_usable_size(lab, spec, desk, target, installed):
    if desk.entry is None:
        raise NotApplicable("needs the desktop entry (see desktop.entry)")
    value = desk.entry.get("Icon")
    assert value, NO_ICON.say(file=desk.entry.file)
    if value.startswith("/"):
        candidates = [value] if _run(target, f"test -f {q(value)}").ok else []
        where = value
    else:
        name = icons.icon_name(value)
        assert icons.NAME.fullmatch(name), f"{desk.entry.file}: Icon={value[:100]!r} is not an icon name"
        candidates = _run(target, icons.lookup_script(name)).stdout.split()
        where = f"{name} in the hicolor theme ({', '.join(icons.THEMES)})"
    assert candidates, f"{desk.entry.file}: Icon={value[:100]!r}: no file for {where}"
    sizes = []
    for path in candidates:
        if icons.is_scalable(path):
            lab.note(f"Icon={value}: scalable {path}")
            return
        if path.endswith(".png"):
            size = icons.png_size(_run(target, icons.header_script(path)).stdout)
            if size and min(size) >= icons.USABLE:
                lab.note(f"Icon={value}: {path} ({size[0]}x{size[1]})")
                return
            sizes.append(f"{path} ({f'{size[0]}x{size[1]}' if size else 'not a PNG'})")
        else:
            sizes.append(f"{path} (XPM)")
    raise ProductFailure(f"{desk.entry.file}: Icon={value[:100]!r} has no scalable SVG and no PNG of at least "
                         f"{icons.USABLE}x{icons.USABLE}; found only: {', '.join(sizes)}")


@pytest.mark.check("desktop.launch")
def test_launch_stays_up(lab, spec, desk, session):
    if desk.argv is None:
        raise NotApplicable("needs an entry whose Exec is an installed program (see desktop.entry)")
    locales = _locales(lab, spec, session)
    locale = (locales.declared or locales.checked)[0]
    app = desk.app = _launch(session, desk.argv, locale)
    desk.window, desk.waited = session.wait_window(app, spec.window_timeout)
    if desk.window is not None:
        lab.metrics["window_s"] = round(desk.waited, 2)
        time.sleep(SETTLE)
    alive = session.alive(app)
    output = session.output(app)
    prog = _program(desk.argv)
    if not alive:
        said = dict(program=prog, locale=locale, status=_exit_words(output), said="\n" + _clean_output(output))
        raise ProductFailure(EXITED_AFTER_WINDOW.say(**said, seconds=f"{SETTLE:g}") if desk.window is not None
                             else EXITED_BEFORE_WINDOW.say(**said))
    crash = CRASH.search(output)
    assert crash is None, (f"{prog} is running but printed {crash.group(0)!r} (LANG={locale}); its output "
                           f"ends:\n{_clean_output(output)}")
    lab.note(f"{prog} running under LANG={locale}" + (f", {SETTLE:g} s after its window appeared"
                                                       if desk.window else " (no window: see desktop.window)"))


@pytest.mark.check("desktop.window")
def test_window_appears(lab, spec, desk, session):
    if desk.app is None:
        raise NotApplicable("needs the application launched (see desktop.launch)")
    prog = _program(desk.argv)
    if desk.window is None:
        output = session.output(desk.app)
        if not session.alive(desk.app):
            raise ProductFailure(NO_WINDOW_EXITED.say(program=prog, status=_exit_words(output),
                                                      said="\n" + _clean_output(output)))
        pids = sorted(p.pid for p in session.processes(desk.app))
        own = [w for w in session.windows() if w.pid in pids]
        seen = "; ".join(f"{w.describe()} {'mapped' if w.viewable else 'not mapped'}" for w in own)
        raise ProductFailure(f"no top-level window of {prog} (processes {', '.join(map(str, pids))}) was mapped "
                             f"within window_timeout = {spec.window_timeout:g} s"
                             + (f"; its windows: {seen}" if seen else
                                "; the window manager was given none (none mapped, or none with its _NET_WM_PID)"))
    w = desk.window
    lab.note(f"{w.describe()} mapped {desk.waited:.1f} s after the launch")


@pytest.mark.check("desktop.screenshot")
def test_window_shows_something(lab, spec, desk, session):
    if desk.window is None:
        raise NotApplicable("needs a window (see desktop.window)")
    locale = desk.app.locale
    png, empty, inside = _window_png(session, desk.window)
    path = _save_shot(lab, desk, f"window-{locale.split('.')[0]}.png", png,
                      {"caption": f"{desk.window.title or desk.window.id} ({locale})", "locale": locale,
                       "title": desk.window.title, "check": "desktop.screenshot"})
    desk.shots[locale] = _inside(lab, locale, inside)
    assert not empty, NOTHING_DRAWN.say(window=desk.window.describe(), why=empty, path=path.relative_to(lab.opts.out))
    lab.note(f"screenshot {path.relative_to(lab.opts.out)} ({desk.window.width}x{desk.window.height})")


@pytest.mark.check("desktop.close")
def test_close_request_ends_it(lab, spec, desk, session):
    if desk.window is None or not session.alive(desk.app):
        raise NotApplicable("needs its window open (see desktop.window and desktop.launch)")
    prog = _program(desk.argv)
    session.request_close(desk.window)
    started = time.monotonic()
    while time.monotonic() - started < CLOSE_TIMEOUT and session.alive(desk.app):
        time.sleep(0.2)
    left = session.processes(desk.app)
    if left:
        others = [w.describe() for w in session.app_windows(desk.app) if w.id != desk.window.id]
        session.kill(desk.app)
        running = "; ".join(f"pid {p.pid}: {p.args[:120]}" for p in left[:5])
        raise ProductFailure(f"{prog} was asked to close {desk.window.describe()} (WM_DELETE_WINDOW, as the "
                             f"window manager's close button does) and still runs {CLOSE_TIMEOUT:g} s later: {running}"
                             + (f"; it shows {', '.join(others)}" if others else ""))
    lab.note(f"exited {time.monotonic() - started:.1f} s after the close request; no process left")


@pytest.mark.check("desktop.locale")
def test_window_under_each_locale(lab, spec, desk, session):
    if desk.argv is None:
        raise NotApplicable("needs an entry whose Exec is an installed program (see desktop.entry)")
    if desk.window is None:
        raise NotApplicable("needs a window (see desktop.window)")
    if desk.app is not None and session.alive(desk.app):
        session.kill(desk.app)
    problems, read = [], []
    locales = _locales(lab, spec, session)
    for locale in locales.checked:
        shot = desk.shots.get(locale)
        if shot is None:
            app = _launch(session, desk.argv, locale)
            try:
                window, _waited = session.wait_window(app, spec.window_timeout)
                if window is None:
                    problems.append(f"LANG={locale}: no window within {spec.window_timeout:g} s"
                                    + ("" if session.alive(app) else
                                       f"; it exited ({_exit_words(session.output(app))}), its output ends:\n"
                                       f"{_clean_output(session.output(app))}"))
                    continue
                time.sleep(DRAW)
                png, _empty, inside = _window_png(session, window)
                _save_shot(lab, desk, f"window-{locale.split('.')[0]}.png", png,
                           {"caption": f"{window.title or window.id} ({locale})", "locale": locale,
                            "title": window.title, "check": "desktop.locale"})
                shot = _inside(lab, locale, inside)
            finally:
                session.kill(app)
        if spec.expect_text and locale in locales.declared:  # the vendor's texts, under its own locales
            missing, seen = ocr.find(shot, spec.expect_text)
            if missing:
                problems.append(f"LANG={locale}: {', '.join(repr(t) for t in missing)} not found in the window "
                                f"(screenshots/{lab.target_spec.name}/window-{locale.split('.')[0]}.png); "
                                f"OCR read instead: {ocr.summary(seen)}")
            else:
                read.append(locale)
    assert not problems, "\n".join(problems)
    lab.note(f"a window under {', '.join(locales.checked)}"
             + (f"; {', '.join(repr(t) for t in spec.expect_text)} read in it under {', '.join(read)}"
                if spec.expect_text and read else "")
             + (f"; not checked under {', '.join(locales.missing)}: the target does not offer it"
                if locales.missing else ""))
