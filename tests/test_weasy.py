"""WeasyPrint through lab.report.weasy: loaded without the compiler runs of ctypes' library lookup
(86 processes, a second of both cores, as a run's workers start), and still able to make a PDF."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_weasyprint_loads_without_starting_a_process_and_makes_a_pdf():
    script = textwrap.dedent("""
        import subprocess
        started = []
        real = subprocess.Popen._execute_child
        def counting(self, args, *rest, **kw):
            started.append(args)
            return real(self, args, *rest, **kw)
        subprocess.Popen._execute_child = counting
        from lab.report.weasy import HTML
        from weasyprint.text import ffi
        pdf = HTML(string="<p>兼容性测试报告 report</p>").write_pdf()
        print(len(started), pdf[:5].decode(), ffi.harfbuzz_subset is not None)
        print(started)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    count, magic, harfbuzz = out.stdout.split("\n")[0].split()
    assert magic == "%PDF-"
    assert count == "0", out.stdout
    # Without HarfBuzz's subsetter WeasyPrint subsets Noto Sans CJK with fontTools: 15 s of CPU a
    # report instead of a fraction of one (./labw setup installs libharfbuzz-subset0).
    assert harfbuzz == "True", "libharfbuzz-subset.so.0 was not loaded: the PDF's fonts are subset in Python"


def test_the_lookup_is_the_real_one_again_after_the_import():
    import ctypes.util

    import lab.report.weasy  # noqa: F401

    assert ctypes.util.find_library.__module__ == "ctypes.util"
