"""A run's screenshots on the buyers' site: only the lab's own file names are taken from the
index, and the pages carry them inline (their Content-Security-Policy allows no other image)."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from lab.desktop.evidence import publish_screenshots, run_screenshots


def test_only_the_labs_own_pngs_are_published(tmp_path):
    run = tmp_path / "run"
    shots = run / "screenshots" / "debian12-ukui-x86_64"
    shots.mkdir(parents=True)
    Image.new("RGB", (800, 400), (10, 120, 200)).save(shots / "window-zh_CN.png")
    (tmp_path / "secret.png").write_bytes(b"not for buyers")
    (shots / "window-en_US.png").symlink_to(tmp_path / "secret.png")
    (shots / "index.json").write_text(json.dumps([
        {"file": "window-zh_CN.png", "caption": "ACME 笔记 (zh_CN.UTF-8)", "locale": "zh_CN.UTF-8"},
        {"file": "window-en_US.png", "caption": "a link"},
        {"file": "../../secret.png", "caption": "escape"}, "junk"]))
    assert [s["path"].name for s in run_screenshots(run, "debian12-ukui-x86_64")] == ["window-zh_CN.png"]
    site = tmp_path / "site"
    out = publish_screenshots(run, "debian12-ukui-x86_64", site, "screenshots/r1/debian12-ukui-x86_64")
    assert [o["src"] for o in out] == ["screenshots/r1/debian12-ukui-x86_64/window-zh_CN.png"]
    assert (site / out[0]["src"]).read_bytes() == (shots / "window-zh_CN.png").read_bytes()
    thumb = Image.open(io.BytesIO(base64.b64decode(out[0]["thumb"].removeprefix("data:image/png;base64,"))))
    assert thumb.size == (360, 180)
    assert sorted(p.name for p in site.rglob("*.png")) == ["window-zh_CN.png"]


def test_a_run_without_screenshots_publishes_none(tmp_path):
    assert publish_screenshots(tmp_path, "debian12-x86_64", tmp_path / "site", "x") == []
