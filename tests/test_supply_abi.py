"""abidiff between two real builds of a library: removed, changed and added exported symbols."""

from __future__ import annotations

import subprocess

from examples.make import build_tarball
from lab.submission.model import Artifact
from lab.supply.abi import Allowance, compare, libraries, stem


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


def test_the_libraries_of_one_release_are_bounded_across_its_artifacts(tmp_path):
    """Review: each artifact was bounded alone, but up to 64 ``[upgrade] from`` artifacts' libraries
    were all held in memory at once; one release's libraries now share one allowance."""
    import pytest

    from lab.errors import ProductFailure

    lib = so(tmp_path, "x", "int foo(void) { return 0; }\n")
    first = build_tarball({"lib/libacme.so.1": lib}, tmp_path / "a.tar.gz")
    second = build_tarball({"lib/libacme.so.1": lib}, tmp_path / "b.tar.gz")
    allowance = Allowance(len(lib) + 1)
    assert libraries(Artifact(path="a.tar.gz", prefix="/opt/a"), first, None, allowance) == {"libacme.so.1": lib}
    with pytest.raises(ProductFailure) as exc:
        libraries(Artifact(path="b.tar.gz", prefix="/opt/b"), second, None, allowance)
    assert f"b.tar.gz: the release's shared libraries add up to more than {len(lib) + 1} bytes" in str(exc.value)


def test_a_spent_time_budget_stops_abidiff_as_the_products_failure(tmp_path):
    """Review: 200 libraries at 300 s each had no bound together; the check now passes what is left
    of ABIDIFF_TOTAL, and a spent budget is the product's failure, naming the library."""
    import pytest

    from lab.errors import ProductFailure

    old = so(tmp_path, "old", "int foo(int a) { return a; }\n", ["-g"])
    new = so(tmp_path, "new", "int foo(int a) { return a + 1; }\n", ["-g"])
    with pytest.raises(ProductFailure) as exc:
        compare(old, new, "libacme.so.1", timeout=-5)
    assert "libacme.so.1: abidiff took longer than 0.001 s on it" in str(exc.value)
    assert compare(old, new, "libacme.so.1").removed == []


def test_an_elf_with_an_absurd_offset_is_not_read_rather_than_a_crash():
    """Review: pyelftools seeks to a section offset of 2**64-256 and Python raises OverflowError,
    which made every ELF check *broken* by the vendor's file."""
    from lab.elf import parse
    from tests.test_supply_bundled import hostile_elf

    assert parse("/opt/acme/lib/libx.so", hostile_elf()) is None
