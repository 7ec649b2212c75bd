"""Reading the text of a screenshot with Tesseract (Debian's ``tesseract-ocr`` with the
``chi_sim`` and ``eng`` models), on the controller.

The screenshot is a PNG the lab itself wrote from the window's pixels: only image data crosses
from the target. It is enlarged first: user-interface text (13 px) is smaller than what the
models were trained on. Two page-segmentation modes are read, a block and sparse text, since a
window is both.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from lab.errors import InfrastructureError

LANGUAGES = "chi_sim+eng"
MODES = ("11", "6")
SCALE = 2
TIMEOUT = 60


def available() -> str:
    """'' if Tesseract and both models are installed, else what is missing."""
    exe = shutil.which("tesseract")
    if exe is None:
        return "tesseract is not installed on the controller (Debian: tesseract-ocr)"
    out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=TIMEOUT)
    langs = set((out.stdout + out.stderr).split())
    missing = [lang for lang in LANGUAGES.split("+") if lang not in langs]
    return f"Tesseract lacks the {', '.join(missing)} model(s) (Debian: tesseract-ocr-chi-sim)" if missing else ""


def find(png: Path, texts: list[str]) -> tuple[list[str], str]:
    """The texts not found in the image, and what was read; a second mode is read only when the
    first one missed something."""
    seen = ""
    missing = list(texts)
    for mode in MODES:
        seen = f"{seen}\n{read_text(png, (mode,))}".strip()
        missing = [t for t in texts if not contains(seen, t)]
        if not missing:
            break
    return missing, seen


def read_text(png: Path, modes: tuple[str, ...] = MODES) -> str:
    """Everything Tesseract reads in the image, the modes' readings one after the other."""
    problem = available()
    if problem:
        raise InfrastructureError(problem)
    with tempfile.TemporaryDirectory(prefix="lab-ocr-") as tmp:
        big = Path(tmp) / "big.png"
        with Image.open(png) as img:
            gray = img.convert("L")
            gray.resize((gray.width * SCALE, gray.height * SCALE), Image.LANCZOS).save(big)
        texts = []
        for mode in modes:
            proc = subprocess.run(["tesseract", str(big), "stdout", "-l", LANGUAGES, "--psm", mode],
                                  capture_output=True, timeout=TIMEOUT, check=False)
            if proc.returncode != 0:
                raise InfrastructureError(f"tesseract failed on {png.name}: "
                                          f"{proc.stderr.decode(errors='replace')[-500:]}")
            texts.append(proc.stdout.decode("utf-8", "replace"))
    return "\n".join(texts)


def squeeze(text: str) -> str:
    """Text without whitespace: Tesseract spaces Chinese characters apart."""
    return "".join(text.split())


def contains(seen: str, expected: str) -> bool:
    return squeeze(expected).casefold() in squeeze(seen).casefold()


def summary(seen: str, limit: int = 300) -> str:
    """What was read, on one line, for a message."""
    text = " ".join(seen.split())
    return (text[:limit] + "...") if len(text) > limit else (text or "(nothing legible)")
