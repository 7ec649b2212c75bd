"""X Window Dump files (``xwd``'s output) to PNG, on the controller, as untrusted data.

``xwd`` runs inside the target (where a hostile package could have replaced it), so the dump is
checked against its own header and the display's size before Pillow sees a byte. Only what a
TrueColor display at depth 24 writes (32 or 24 bits per pixel) is read.
"""

from __future__ import annotations

import io
import struct

from PIL import Image

from lab.errors import InfrastructureError

HEADER = struct.Struct(">25I")
MAX_SIDE = 8192
TRUECOLOR, DIRECTCOLOR = 4, 5


def to_image(data: bytes, max_side: int = MAX_SIDE) -> Image.Image:
    """An RGB image of the dump; ``InfrastructureError`` when it is not one this lab can read."""
    if len(data) < HEADER.size:
        raise InfrastructureError(f"screenshot: {len(data)} bytes, shorter than an XWD header")
    (header_size, version, pixmap_format, depth, width, height, _xoff, byte_order, _unit, _bit_order,
     _pad, bpp, bytes_per_line, visual_class, red, green, blue, _bits_rgb, _entries, ncolors,
     *_rest) = HEADER.unpack_from(data)
    if version != 7 or pixmap_format != 2:
        raise InfrastructureError(f"screenshot: not an XWD version 7 ZPixmap (version {version}, "
                                  f"format {pixmap_format})")
    if not (0 < width <= max_side and 0 < height <= max_side):
        raise InfrastructureError(f"screenshot: {width}x{height} is not a window this display can hold")
    if visual_class not in (TRUECOLOR, DIRECTCOLOR) or (red, green, blue) != (0xFF0000, 0xFF00, 0xFF):
        raise InfrastructureError(f"screenshot: visual class {visual_class}, depth {depth}: only 24-bit "
                                  "TrueColor displays are read")
    if bpp not in (24, 32) or bytes_per_line < width * bpp // 8 or bytes_per_line > 4 * max_side + 64:
        raise InfrastructureError(f"screenshot: {bpp} bits per pixel, {bytes_per_line} bytes per line")
    if header_size < HEADER.size or header_size > 4096 or ncolors > 1 << 16:
        raise InfrastructureError("screenshot: implausible XWD header")
    start = header_size + 12 * ncolors
    end = start + bytes_per_line * height
    if len(data) < end:
        raise InfrastructureError(f"screenshot: cut short ({len(data)} of {end} bytes)")
    lsb = byte_order == 0
    mode = ("BGRX" if lsb else "XRGB") if bpp == 32 else ("BGR" if lsb else "RGB")
    return Image.frombuffer("RGB", (width, height), data[start:end], "raw", mode, bytes_per_line, 1).copy()


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def colours(image: Image.Image, most: int = 256) -> list[tuple[int, tuple[int, int, int]]]:
    """The image's colours with their pixel counts, most frequent first; at most ``most`` of them
    (an empty list means more than that)."""
    found = image.getcolors(maxcolors=most) or []
    return sorted(found, reverse=True)


def nothing_drawn(image: Image.Image) -> str:
    """Why the window looks empty ('' if it does not): one colour over the whole window."""
    found = colours(image, 1)
    if found:
        r, g, b = found[0][1]
        return f"every one of its {image.width}x{image.height} pixels is #{r:02x}{g:02x}{b:02x}"
    return ""


def trim_black(image: Image.Image) -> Image.Image:
    """The picture without its black margins: a compositing window manager's frame is wider than
    what it draws (room for shadows and resize handles), and nothing paints that room here."""
    box = image.convert("L").point(lambda v: 255 if v else 0).getbbox()
    return image.crop(box) if box else image
