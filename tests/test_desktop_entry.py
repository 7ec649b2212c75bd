"""Desktop entries and icons read as hostile data: Exec split as the spec says, field codes gone,
categories checked against the registered ones, PNG sizes from the file's own header."""

from __future__ import annotations

import struct

import pytest

from lab.desktop import entry as entries
from lab.desktop import icon as icons
from lab.errors import ProductFailure

NOTES = """# comment
[Desktop Entry]
Type=Application
Name=ACME Notes
Name[zh_CN]=ACME 笔记
Exec=acme-notes --new %U
Icon=acme-notes
Categories=Office;Utility;X-ACME;

[Desktop Action new]
Exec=acme-notes --other
"""


def test_the_entry_group_is_read_and_actions_are_not():
    e = entries.parse(NOTES.encode(), "acme-notes.desktop")
    assert e.name == "ACME Notes" and e.get("Name[zh_CN]") == "ACME 笔记"
    assert e.argv == ["acme-notes", "--new"]
    assert e.categories == ["Office", "Utility", "X-ACME"] and e.unregistered_categories == []


@pytest.mark.parametrize(("value", "argv"), [
    ('"/opt/ACME Notes/bin/notes" --title="a \\"b\\"" %f', ["/opt/ACME Notes/bin/notes", '--title=a "b"']),
    ("notes --file=%f --icon %i 100%%", ["notes", "--file=", "--icon", "100%"]),
    ("notes\\sarg", ["notes", "arg"]),            # \s is a space after the string unescaping
    ('sh -c "echo \\$HOME; rm -rf /"', ["sh", "-c", "echo $HOME; rm -rf /"]),  # one argument, quoted later
])
def test_exec_is_split_the_specs_way(value, argv):
    assert entries.exec_argv(value) == argv


@pytest.mark.parametrize(("value", "words"), [
    ("", "missing or empty"), ("%U %F", "names no program"), ('notes "unterminated', "unterminated quote"),
    ("LANG=C notes", "environment assignment"), (" ".join(["a"] * 100), "more than 64 arguments"),
])
def test_an_unusable_exec_is_the_products_failure(value, words):
    with pytest.raises(ProductFailure, match=words):
        entries.exec_argv(value, "x.desktop")


def test_unregistered_categories_are_named():
    e = entries.parse(b"[Desktop Entry]\nName=A\nExec=a\nCategories=Office;Notes;X-Fine;Calculator\n", "a.desktop")
    assert e.unregistered_categories == ["Notes"]


@pytest.mark.parametrize(("data", "words"), [
    (b"\xff\xfe[Desktop Entry]", "not UTF-8"), (b"Name=A\n", "no \\[Desktop Entry\\] group"),
    (b"[Other]\nName=A\n", "missing or empty"), (b"[Desktop Entry]\n" + b"#" * 70000, "larger than 64 KiB"),
])
def test_a_broken_entry_names_its_file(data, words):
    with pytest.raises(ProductFailure, match=words):
        entries.parse(data, "/usr/share/applications/a.desktop")


def _od(data: bytes) -> str:
    return " ".join(str(b) for b in data)


def test_png_sizes_come_from_the_header():
    header = icons.PNG_MAGIC + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 256, 128)
    assert icons.png_size(_od(header)) == (256, 128)
    assert icons.png_size(_od(b"GIF89a" + bytes(18))) is None
    assert icons.png_size("not numbers") is None


def test_icon_names_are_checked_before_they_meet_a_glob():
    assert icons.icon_name("acme-notes.png") == "acme-notes"
    assert icons.NAME.fullmatch("acme-notes") and not icons.NAME.fullmatch("../../etc/x")
    assert not icons.NAME.fullmatch("a*")
    assert "/usr/share/icons/hicolor/*/apps/acme.svg" in icons.lookup_script("acme")
