"""Where an entry's ``Icon`` resolves in the hicolor theme, and at what size.

A menu, a dock and a launcher show an application's icon at 48 pixels and more: a theme that only
holds a 16x16 or 32x32 bitmap shows a blurred one there. A scalable SVG, or a PNG of at least
``USABLE`` pixels, is usable. Sizes are read from the PNG's own header, not from the folder name.
"""

from __future__ import annotations

import re
import shlex
import struct

USABLE = 48
THEMES = ("/usr/share/icons/hicolor", "/usr/local/share/icons/hicolor")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def icon_name(value: str) -> str:
    """The theme name of ``Icon=``: a trailing .png/.svg/.xpm is tolerated (and dropped)."""
    return re.sub(r"\.(png|svg|svgz|xpm)$", "", value)


def lookup_script(name: str) -> str:
    """Lists the theme's files for ``name`` (a checked name, so safe in a glob)."""
    globs = " ".join(f"{theme}/*/apps/{name}.{ext}" for theme in THEMES for ext in ("png", "svg", "svgz", "xpm"))
    return f'for f in {globs}; do [ -f "$f" ] && echo "$f"; done; true'


def header_script(path: str) -> str:
    return f"head -c 24 {shlex.quote(path)} | od -An -v -tu1"


def png_size(od_output: str) -> tuple[int, int] | None:
    """Width and height from the first 24 bytes of a PNG (as ``od -tu1`` prints them)."""
    try:
        data = bytes(int(x) for x in od_output.split())
    except ValueError:
        return None
    if len(data) < 24 or not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def is_scalable(path: str) -> bool:
    return path.endswith((".svg", ".svgz"))
