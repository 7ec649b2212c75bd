#!/usr/bin/python3
"""ACME Notes: the lab's example desktop application (GTK 3 through PyGObject).

A note list with a "新建笔记" (new note) button; its labels follow the locale (zh_CN or English),
the button's Chinese name stays, since that is the product's name for it on every desktop.
"""

import locale
import os

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402

ZH = os.environ.get("LANG", "").startswith("zh")
TEXT = {
    "title": "ACME 笔记" if ZH else "ACME Notes",
    "hint": "还没有笔记。点击“新建笔记”开始。" if ZH else "No notes yet. Click 新建笔记 (new note) to start.",
    "note": "笔记" if ZH else "Note",
}


class Notes(Gtk.Window):
    def __init__(self):
        super().__init__(title=TEXT["title"])
        self.set_default_size(480, 320)
        self.count = 0
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=12, margin=16)
        button = Gtk.Button(label="新建笔记")
        button.connect("clicked", self.new_note)
        box.pack_start(button, False, False, 0)
        self.list = Gtk.ListBox()
        box.pack_start(self.list, True, True, 0)
        self.hint = Gtk.Label(label=TEXT["hint"])
        box.pack_start(self.hint, False, False, 0)
        self.add(box)
        self.connect("destroy", Gtk.main_quit)

    def new_note(self, _button):
        self.count += 1
        self.list.add(Gtk.Label(label=f"{TEXT['note']} {self.count}", xalign=0))
        self.list.show_all()


if __name__ == "__main__":
    locale.setlocale(locale.LC_ALL, "")
    Notes().show_all()
    Gtk.main()
