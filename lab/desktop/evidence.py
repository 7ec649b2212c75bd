"""A run's screenshots as evidence for buyers: what ``desktop.screenshot`` and ``desktop.locale``
saved in ``DIR/screenshots/<target>/`` (PNGs the lab wrote itself, listed in ``index.json``),
copied into the buyers' site beside the product's page.

Only the lab's own file names are taken from the index (``window-zh_CN.png``), never a path; the
captions hold window titles, which the vendor controls: the pages escape them.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from pathlib import Path

from PIL import Image

FILE = re.compile(r"window-[A-Za-z]{2,3}_[A-Z]{2}\.png")
MAX_SHOTS = 8
MAX_BYTES = 8 << 20
THUMB_WIDTH = 360


def run_screenshots(run_folder: Path, target: str) -> list[dict]:
    """``[{"path": Path, "caption": str, "locale": str}]`` of one target of one run."""
    folder = Path(run_folder) / "screenshots" / target
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    shots = []
    for item in index if isinstance(index, list) else []:
        name = item.get("file") if isinstance(item, dict) else None
        path = folder / name if isinstance(name, str) and FILE.fullmatch(name) else None
        if path is None or not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_BYTES:
            continue
        shots.append({"path": path, "caption": str(item.get("caption", ""))[:200],
                      "locale": str(item.get("locale", ""))[:20]})
    return shots[:MAX_SHOTS]


def thumbnail(path: Path, width: int = THUMB_WIDTH) -> str:
    """A ``data:`` URI of the picture at most ``width`` wide: the site's pages allow no other
    image source (their Content-Security-Policy), and stay one file each."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((width, width * 4))
        buf = io.BytesIO()
        img.save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def publish_screenshots(run_folder: Path, target: str, site: Path, base: str) -> list[dict]:
    """Copies them to ``site/base/``; returns ``[{"src": "base/window-zh_CN.png", "thumb": "data:...",
    "caption": ...}]``."""
    out = []
    for shot in run_screenshots(run_folder, target):
        dest = Path(site) / base / shot["path"].name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot["path"], dest)
        try:
            thumb = thumbnail(shot["path"])
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
        out.append({"src": f"{base}/{shot['path'].name}", "thumb": thumb, "caption": shot["caption"],
                    "locale": shot["locale"]})
    return out
