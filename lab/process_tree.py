"""Which processes on a target are a supervised program's: the ones the lab kills, samples and
waits for.

The supervisor starts the program with ``setsid`` (its session id is the leader's pid) and with a
mark in its environment (``LAB_SUPERVISED=<token>``, new for each supervisor). A process belongs
to the program when it is in that session, carries the mark, or descends (by parent pid) from a
process that belongs. Each alone can be shed by a vendor's code: a worker that calls ``setsid``
leaves the session but is still its parent's child; one that also forks twice (reparented to
init) still carries the mark unless it clears its environment as well. Beside this, the checks
that kill the program also require its declared ports to close (``lab.service``): a port still
open after every process of the tree is gone means something outside it holds the service.

The fragment reads ``/proc`` with the shell's builtins, ``grep`` once over every ``environ`` and
``awk`` once for the closure; its commands come from the lab's own PATH (``lab.transport.shell``).
It leaves the members' pids, space-separated, in ``$members``.
"""

from __future__ import annotations

import re

MARK = "LAB_SUPERVISED"
_TOKEN = re.compile(r"[0-9a-f]{8,64}")

# "Pid", "PPid" and "NSsid" (the session, as this /proc's namespace numbers it) of every process,
# from /proc/PID/status: the vendor chooses a process's name, and /proc/PID/stat shows it raw (a
# newline, ") ", a glob in it), while status escapes it on its "Name:" line, which starts each
# file. Only whole numbers are taken; the closure then runs over parents, seeded by the session and
# the mark; PID 1, the reading shell and a process already dead (a zombie waiting to be reaped: no
# signal reaches it, nothing of it runs) are never members. No glob is expanded on what was read.
MEMBERS = r"""sid={sid}
marked=$(grep -lsxzF "{mark_var}={mark}" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3 | tr '\n' ' ')
members=$(cat /proc/[0-9]*/status 2>/dev/null | awk -v sid="$sid" -v marked="$marked" -v self="$$" '
  function keep() {{
    if (p ~ /^[0-9]+$/ && pp ~ /^[0-9]+$/ && ss ~ /^[0-9]+$/) {{ n++; pid[n] = p; parent[n] = pp; session[n] = ss }}
    if (st == "Z" || st == "X") dead[p] = 1
  }}
  $1 == "Name:" {{ if (started) keep(); started = 1; p = pp = ss = st = "" }}
  $1 == "State:" {{ st = $2 }}
  $1 == "Pid:" {{ p = $2 }}
  $1 == "PPid:" {{ pp = $2 }}
  $1 == "NSsid:" {{ ss = $2 }}
  END {{
    if (started) keep()
    k = split(marked, mk, " "); for (i = 1; i <= k; i++) if (mk[i] ~ /^[0-9]+$/) m[mk[i]] = 1
    for (i = 1; i <= n; i++) if (session[i] == sid || pid[i] == sid) m[pid[i]] = 1
    do {{
      grew = 0
      for (i = 1; i <= n; i++) if (!(pid[i] in m) && (parent[i] in m)) {{ m[pid[i]] = 1; grew = 1 }}
    }} while (grew)
    for (i = 1; i <= n; i++)
      if ((pid[i] in m) && !(pid[i] in dead) && pid[i] > 1 && pid[i] != self) printf "%s ", pid[i]
  }}')"""


def members_script(leader: int, mark: str) -> str:
    """The shell fragment that sets ``$members`` for the program led by ``leader`` with ``mark``."""
    if not _TOKEN.fullmatch(mark):
        raise ValueError("a supervisor's mark is a lowercase hex token")
    return MEMBERS.format(sid=int(leader), mark_var=MARK, mark=mark)


def parse_pids(text: str) -> list[int]:
    return sorted({int(w) for w in text.split() if w.isdigit()})
