"""Desktop entries (freedesktop.org Desktop Entry Specification 1.5), read as hostile data.

The lab launches an application the way a menu does: from its entry's ``Exec``, field codes
removed (nothing is opened), each argument quoted again before it meets the target's shell.

Example::

    entry = parse(text, "acme-notes.desktop")
    entry.argv          # ['/usr/bin/acme-notes']
    entry.categories    # ['Office', 'Utility']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.errors import ProductFailure

MAX_ENTRY_BYTES = 64 * 1024
MAX_ARGS = 64
GROUP = "Desktop Entry"
# Field codes (section 7): files and URLs are never passed at launch; %i %c %k only decorate.
FIELD_CODES = {"%f", "%F", "%u", "%U", "%i", "%c", "%k", "%d", "%D", "%n", "%N", "%v", "%m"}
# Registered categories (Desktop Menu Specification 1.1, appendices A and B); "X-" are extensions.
MAIN_CATEGORIES = {"AudioVideo", "Audio", "Video", "Development", "Education", "Game", "Graphics", "Network",
                   "Office", "Science", "Settings", "System", "Utility"}
_ADDITIONAL = """
Building Debugger IDE GUIDesigner Profiling RevisionControl Translation Calendar ContactManagement
Database Dictionary Chart Email Finance FlowChart PDA ProjectManagement Presentation Spreadsheet
WordProcessor 2DGraphics VectorGraphics RasterGraphics 3DGraphics Scanning OCR Photography Publishing
Viewer TextTools DesktopSettings HardwareSettings Printing PackageManager Dialup InstantMessaging Chat
IRCClient Feed FileTransfer HamRadio News P2P RemoteAccess Telephony TelephonyTools VideoConference
WebBrowser WebDevelopment Midi Mixer Sequencer Tuner TV AudioVideoEditing Player Recorder DiscBurning
ActionGame AdventureGame ArcadeGame BoardGame BlocksGame CardGame KidsGame LogicGame RolePlaying Shooter
Simulation SportsGame StrategyGame Art Construction Music Languages ArtificialIntelligence Astronomy
Biology Chemistry ComputerScience DataVisualization Economy Electricity Geography Geology Geoscience
History Humanities ImageProcessing Literature Maps Math NumericalAnalysis MedicalSoftware Physics Robotics
Spirituality Sports ParallelComputing Amusement Archiving Compression Electronics Emulator Engineering
FileTools FileManager TerminalEmulator Filesystem Monitor Security Accessibility Calculator Clock
TextEditor Documentation Adult Core KDE GNOME XFCE DDE GTK Qt Motif Java ConsoleOnly
"""
ADDITIONAL_CATEGORIES = frozenset(_ADDITIONAL.split())
REGISTERED = MAIN_CATEGORIES | ADDITIONAL_CATEGORIES
_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\", ";": "\\;"}


@dataclass
class Entry:
    file: str
    keys: dict[str, str] = field(default_factory=dict)   # of the [Desktop Entry] group, as written

    def get(self, key: str) -> str:
        return self.keys.get(key, "")

    @property
    def name(self) -> str:
        return self.get("Name")

    @property
    def categories(self) -> list[str]:
        return [c for c in self.get("Categories").split(";") if c]

    @property
    def unregistered_categories(self) -> list[str]:
        return [c for c in self.categories if c not in REGISTERED and not c.startswith("X-")]

    @property
    def argv(self) -> list[str]:
        """``Exec`` as arguments, field codes removed; ``ProductFailure`` when it cannot be read."""
        return exec_argv(self.get("Exec"), self.file)


def parse(data: bytes, file: str) -> Entry:
    """The ``[Desktop Entry]`` group of ``data``; ``ProductFailure`` naming ``file`` if unusable."""
    if len(data) > MAX_ENTRY_BYTES:
        raise ProductFailure(f"{file}: larger than {MAX_ENTRY_BYTES // 1024} KiB; not a desktop entry")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProductFailure(f"{file}: not UTF-8 (byte {exc.start}); the spec requires UTF-8") from None
    entry = Entry(file)
    group = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if sep and group == GROUP:
            entry.keys.setdefault(key.strip()[:200], value.strip())
    if group is None and not entry.keys:
        raise ProductFailure(f"{file}: no [{GROUP}] group")
    if not entry.keys:
        raise ProductFailure(f"{file}: the [{GROUP}] group is missing or empty")
    return entry


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in _ESCAPES:
            out.append(_ESCAPES[value[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def exec_argv(value: str, file: str = "entry") -> list[str]:
    """Split ``Exec`` as the spec says: spaces separate, double quotes group (with ``\\"``, ``\\` ``,
    ``\\$`` and ``\\\\`` escaped inside), ``%%`` is a percent sign, field codes are dropped."""
    text = _unescape(value)
    if not text.strip():
        raise ProductFailure(f"{file}: Exec is missing or empty")
    args: list[str] = []
    cur: list[str] = []
    in_arg = quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                cur.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                quoted = False
            else:
                cur.append(ch)
        elif ch == '"':
            quoted = in_arg = True
        elif ch in " \t":
            if in_arg:
                args.append("".join(cur))
                cur, in_arg = [], False
        else:
            cur.append(ch)
            in_arg = True
        i += 1
    if quoted:
        raise ProductFailure(f"{file}: Exec has an unterminated quote: {value[:200]!r}")
    if in_arg:
        args.append("".join(cur))
    out = []
    for arg in args:
        if arg in FIELD_CODES:
            continue
        out.append(re.sub(r"%[fFuUickdDnNvm]", "", arg.replace("%%", "\0")).replace("\0", "%"))
    if not out or not out[0]:
        raise ProductFailure(f"{file}: Exec names no program: {value[:200]!r}")
    if len(out) > MAX_ARGS:
        raise ProductFailure(f"{file}: Exec has more than {MAX_ARGS} arguments")
    if "=" in out[0] and "/" not in out[0].split("=", 1)[0]:
        raise ProductFailure(f"{file}: Exec starts with an environment assignment ({out[0][:80]!r}); "
                             "the spec wants a program (use `env NAME=value program`)")
    return out
