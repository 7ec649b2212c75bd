"""The house's structure, checked: one registry of checks, no import loop in lab/, the report
independent of the run orchestrator (issue 9)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lab.suite import registry
from tests.conftest import ROOT

LAB = ROOT / "lab"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every lab.* module a file imports, at any level, except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lab"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in LAB.rglob("*.py") if "migrations" not in p.parts}
    return {name: {m for m in imports_of(path) if m in files and m != name} for name, path in files.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_loop_in_lab():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_report_does_not_import_the_run_orchestrator():
    g = graph()
    seen, todo = set(), [m for m in g if m.startswith("lab.report")]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += g.get(m, ())
    assert not {m for m in seen if m.startswith("lab.run")}


def test_every_check_in_the_suites_is_in_the_registry_and_back():
    marked = set()
    for f in (ROOT / "suites").glob("test_*.py"):
        marked |= set(re.findall(r'@pytest\.mark\.check\("([^"]+)"', f.read_text()))
        assert "required=" not in f.read_text(), f"{f.name}: how a check counts belongs in the registry"
    assert marked == set(registry.CHECKS)


def test_registry_answers():
    assert registry.check("security.elf_hardening").required is False
    assert registry.severity("security.elf_hardening") == "minor"
    assert registry.severity("install.package") == "blocker"
    assert registry.characteristic("service.ports") == "compatibility: co-existence"
    assert registry.characteristic("vendor.test_answers") == "functional suitability"
    assert registry.check("vendor.test_answers").required
    assert registry.rank("service.stop", "test_service.py") > registry.rank("vendor.tests", "test_vendor.py")
    assert registry.rank("install.leftovers", "test_uninstall.py") > registry.rank("service.stop", "test_service.py")


@pytest.mark.slow
def test_a_non_editable_install_finds_the_suites(tmp_path):
    import shutil

    venv, source = tmp_path / "venv", tmp_path / "source"  # built from a copy: the build writes beside it
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "node_modules", "reports", ".lab",
                                                                 "build", "*.egg-info", "*.deb", "*.tar.gz"))
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin/pip"), "install", "-q", "--no-deps", str(source)],
                   check=True, cwd=tmp_path)
    probe = ("import lab.suite.registry as r, pathlib; d = r.suites_dir(); "
             "print(d); print(len(r.suite_files())); print((d / 'pytest.ini').exists())")
    out = subprocess.run([str(venv / "bin/python"), "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         check=True).stdout.split()
    assert out[0].startswith(str(venv)) and out[1] == str(len(registry.FILES)) and out[2] == "True"
