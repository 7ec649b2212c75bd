"""abidiff between two real builds of a library: removed, changed and added exported symbols."""

from __future__ import annotations

import subprocess

from examples.make import build_tarball
from lab.submission.model import Artifact
from lab.supply.abi import compare, libraries, stem


def so(tmp_path, name: str, source: str, flags=()) -> bytes:
    (tmp_path / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", *flags, "-Wl,-soname,libacme.so.1", "-o", str(tmp_path / f"{name}.so"),
                    str(tmp_path / f"{name}.c")], check=True)
    return (tmp_path / f"{name}.so").read_bytes()


def test_a_removed_function_and_an_added_one(tmp_path):
    old = so(tmp_path, "old", "int foo(int a) { return a; }\nint bar(int a) { return a; }\nint counter = 1;\n")
    new = so(tmp_path, "new", "int foo(int a) { return a; }\nlong baz(long a) { return a; }\n")
    diff = compare(old, new, "libacme.so.1")
    assert diff.removed == ["bar", "counter"] and diff.added == ["baz"] and diff.exit_status & 8


def test_a_changed_signature_with_debug_info(tmp_path):
    old = so(tmp_path, "old", "int foo(int a) { return a; }\n", ["-g"])
    new = so(tmp_path, "new", "int foo(long a) { return a; }\n", ["-g"])
    diff = compare(old, new, "libacme.so.1")
    assert diff.removed == [] and len(diff.changed) == 1
    assert diff.changed[0].startswith("function int foo(int)") and "'int' to 'long int'" in diff.changed[0]


def test_libraries_are_found_in_an_artifact_by_soname(tmp_path):
    lib = so(tmp_path, "x", "int foo(void) { return 0; }\n")
    art = build_tarball({"lib/libacme.so.1.2.3": lib, "lib/notes.so.txt": b"text", "bin/tool": b"#!/bin/sh\n"},
                        tmp_path / "a.tar.gz")
    assert libraries(Artifact(path="a.tar.gz", prefix="/opt/a"), art) == {"libacme.so.1": lib}
    assert stem("libacme.so.1") == stem("libacme.so.2") == "libacme.so"
