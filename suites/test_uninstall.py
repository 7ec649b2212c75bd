"""Suite `install`, last part: uninstall/purge succeeds and leaves nothing behind, anywhere.

Leftovers are attributed: the product's packages and what scripts created count against it;
files of OS packages that stay installed (a dependency the OS keeps) are shown as information.
"""

from __future__ import annotations

import pytest

from lab.errors import NotApplicable
from lab.observe import findings
from lab.observe.state import new_processes
from lab.reasons import LEFT_BEHIND


@pytest.mark.check("install.uninstall")
def test_uninstall_succeeds(lab, installed):
    installed.uninstall()
    lab.state.uninstalled = True


@pytest.mark.check("install.leftovers")
def test_nothing_left_behind_after_purge(lab, target):
    if not lab.state.uninstalled:
        raise NotApplicable("needs a successful install.uninstall")
    after = target.observer().state()
    bad, info = findings.leftovers(lab.state.before_install, after, lab.owners())
    running = findings.processes_line(new_processes(lab.state.before_install, after))
    problems = []
    if bad:
        problems.append(LEFT_BEHIND.say(count=len(bad), said=findings.head(bad)) + f"\n{findings.listing(bad, 50)}")
    if running:
        problems.append(f"{len(running)} process(es) started by the install still run after uninstall: "
                        f"{findings.head(running)}\n{findings.listing(running)}")
    shown = f"\nnot the product's (OS packages that stay installed):\n{findings.listing(info)}" if info else ""
    assert not problems, "\n".join(problems) + shown
    lab.note(f"nothing of the product left behind{'; ' + '; '.join(info) if info else ''}")
