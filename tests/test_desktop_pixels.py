"""Screenshots as the lab reads them: an X dump (xwd's format) checked against its own header,
then the window judged blank or not, and its text read by Tesseract on the controller."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from lab.desktop import ocr, xwd
from lab.errors import InfrastructureError

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


def dump(image: Image.Image, *, bpp: int = 32, lsb: bool = True, name: bytes = b"win\0", **override) -> bytes:
    """An XWD file as xwd writes it for a 24-bit TrueColor display."""
    w, h = image.size
    bpl = w * bpp // 8
    fields = dict(header_size=100 + len(name), version=7, format=2, depth=24, width=w, height=h, xoffset=0,
                  byte_order=0 if lsb else 1, unit=32, bit_order=0, pad=32, bpp=bpp, bpl=bpl, visual=4,
                  red=0xFF0000, green=0xFF00, blue=0xFF, bits_rgb=8, entries=256, ncolors=0,
                  ww=w, wh=h, wx=0, wy=0, border=0)
    fields.update(override)
    raw = image.tobytes("raw", ("BGRX" if lsb else "XRGB") if bpp == 32 else ("BGR" if lsb else "RGB"))
    return struct.pack(">25I", *fields.values()) + name + raw


def picture() -> Image.Image:
    img = Image.new("RGB", (120, 40), (246, 245, 244))
    ImageDraw.Draw(img).rectangle((10, 10, 60, 30), fill=(20, 90, 200))
    return img


@pytest.mark.parametrize(("bpp", "lsb"), [(32, True), (32, False), (24, True)])
def test_a_dump_reads_back_pixel_for_pixel(bpp, lsb):
    img = picture()
    assert xwd.to_image(dump(img, bpp=bpp, lsb=lsb)).tobytes() == img.tobytes()


@pytest.mark.parametrize(("override", "words"), [
    ({"version": 6}, "not an XWD version 7"), ({"width": 100000}, "not a window"),
    ({"visual": 3}, "only 24-bit TrueColor"), ({"bpp": 16}, "16 bits per pixel"),
    ({"header_size": 50}, "implausible"), ({"height": 41}, "cut short"),
])
def test_a_forged_dump_is_refused_before_pillow_reads_it(override, words):
    with pytest.raises(InfrastructureError, match=words):
        xwd.to_image(dump(picture(), **override))


def test_a_single_colour_window_is_nothing_drawn():
    assert xwd.nothing_drawn(Image.new("RGB", (400, 300), (246, 245, 244))) == \
        "every one of its 400x300 pixels is #f6f5f4"
    assert xwd.nothing_drawn(picture()) == ""
    assert xwd.png_bytes(picture()).startswith(b"\x89PNG")


@pytest.mark.slow  # Tesseract's Chinese model takes seconds to load
@pytest.mark.skipif(not CJK_FONT.exists(), reason="needs Debian's fonts-noto-cjk to draw the text")
def test_tesseract_reads_chinese_and_names_what_it_saw(tmp_path):
    problem = ocr.available()
    assert not problem, problem   # labw installs tesseract-ocr and tesseract-ocr-chi-sim
    img = Image.new("RGB", (420, 90), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((16, 10), "新建笔记", font=ImageFont.truetype(str(CJK_FONT), 15), fill=(0, 0, 0))
    draw.text((16, 50), "No notes yet", font=ImageFont.truetype(str(CJK_FONT), 15), fill=(0, 0, 0))
    img.save(tmp_path / "w.png")
    missing, seen = ocr.find(tmp_path / "w.png", ["新建笔记", "No notes", "删除笔记"])
    assert missing == ["删除笔记"]
    assert "新建笔记" in ocr.squeeze(seen) and "No notes yet" in ocr.summary(seen)


def test_a_frames_black_margins_are_trimmed():
    img = Image.new("RGB", (140, 60), (0, 0, 0))
    img.paste(picture(), (10, 10))
    assert xwd.trim_black(img).size == (120, 40)
    assert xwd.trim_black(Image.new("RGB", (5, 5))).size == (5, 5)   # all black: kept as it is
