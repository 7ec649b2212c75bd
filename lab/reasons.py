"""The reasons a target fails most often, as wordings (lab.wording): said in English in the
results (their contract, word for word as before), and in the page's language where a person reads
a verdict's reason: the buyers' matrix, the PDF's conclusion, the portal. Only the lab's words are
translated; the product's (a log line, a port, a path, a package's name) stay as they are. A
reason not listed here is shown in English after its check's translated title.

Each is the *headline* of its check's message (``lab.results.model.headline``): a message whose
first line ends with ":" is read with the last line of what follows it, so ``said`` is that line
(``SERVICE_EXITED.say(said="\\n" + log_tail)`` is a message whose headline this wording reads).
"""

from __future__ import annotations

from lab.wording import N_, Wording

SERVICE_EXITED = Wording(N_("the service exited before it was ready; its log ends: %(said)s"))
HEALTH_FAILING = Wording(N_("health command kept failing for %(seconds)s s: %(said)s"))
PORT_NEVER_OPENED = Wording(N_("port %(ports)s never opened within %(seconds)s s"))
UNDECLARED_PORTS = Wording(N_("listening on undeclared port(s) %(ports)s (declared: %(declared)s)"))
VENDOR_TESTS_FAILED = Wording(N_("%(failed)s of %(total)s vendor test(s) failed: %(said)s"))
LEFT_BEHIND = Wording(N_("%(count)s path(s) left behind after uninstall/purge: %(said)s"))
CANNOT_INSTALL_ON_OS = Wording(N_("%(names)s cannot be installed on %(target)s (%(os)s): %(said)s"))
CANNOT_INSTALL = Wording(N_("%(names)s cannot be installed on %(target)s: %(said)s"))
WORLD_WRITABLE = Wording(N_("%(count)s world-writable file(s) or folder(s): %(said)s"))
SETUID = Wording(N_("%(count)s setuid/setgid file(s): %(said)s"))
SYSTEM_CHANGES = Wording(N_("%(count)s change(s) to the system: %(said)s"))
NEEDS_VERSION = Wording(N_("%(path)s needs %(version)s from %(lib)s; %(target)s has %(has)s"))
BUILT_FOR = Wording(N_("%(path)s: built for %(arch)s (%(machine)s)"))

# The service's restarts and stop (service.restart, service.stop, stability.kill_restart).
PROCESSES_LEFT = Wording(N_("processes %(pids)s of the service were still running 10 s after SIGKILL to every "
                            "process of its tree"))
PORTS_HELD = Wording(N_("after SIGKILL to every process of the service's tree, its declared port(s) %(held)s "
                        "stayed open: a process outside the service's tree (it left the service's session and "
                        "cleared its environment) holds them, so the service never restarted"))
KILL_LEFT = Wording(N_("SIGKILL %(attempt)s/%(kills)s: %(left)s"), own=("left",))
STILL_RUNNING = Wording(N_("still running after SIGKILL %(attempt)s/%(kills)s"))
NOT_READY_AGAIN = Wording(N_("not ready again after SIGKILL and restart %(attempt)s/%(kills)s: %(detail)s"),
                          own=("detail",))
NOT_STOPPED = Wording(N_("still running %(seconds)s s after SIGTERM (killed)"))

# The stability watch (its figures are said by lab.stability.judge).
DIED = Wording(N_("the service died %(after)s-%(at)s s into the %(duration)s s watch (found gone at %(when)s); "
                  "the service's log ends: %(said)s"))
DIED_BESIDE_LOAD = Wording(N_("the service died %(after)s-%(at)s s into the %(duration)s s watch (found gone at "
                              "%(when)s); the load `%(load)s` ran beside it; the service's log ends: %(said)s"))
DIED_LOAD_ENDED = Wording(N_("the service died %(after)s-%(at)s s into the %(duration)s s watch (found gone at "
                             "%(when)s); the load `%(load)s` ran beside it (it ended before the watch did); the "
                             "service's log ends: %(said)s"))
MEMORY_GROWS = Wording(N_("its resident memory keeps growing: trend over %(window)s s (%(n)s samples after the "
                          "warm-up): %(start)s KiB -> %(end)s KiB, %(growth)s KiB (%(pct)s; the limit is %(limit)s "
                          "and at least %(floor)s KiB); the chart: %(chart)s"))
OUTSIDE_GROWS = Wording(N_("the container's memory keeps growing outside the service's process tree (a process "
                           "the service started that left its tree is still in its container): trend over "
                           "%(window)s s (%(n)s samples after the warm-up): %(start)s KiB -> %(end)s KiB, "
                           "%(growth)s KiB (%(pct)s; the limit is %(limit)s and at least %(floor)s KiB); the "
                           "chart: %(chart)s"))
FDS_GROW = Wording(N_("its open file descriptors keep growing: trend over %(window)s s (%(n)s samples after the "
                      "warm-up): %(start)s fds -> %(end)s fds, %(growth)s fds (%(pct)s; the limit is %(limit)s and "
                      "at least %(floor)s fds)"))

# The desktop application (suite desktop).
ENTRY_NOT_INSTALLED = Wording(N_("%(entry)s is not installed in %(first)s/ (nor %(second)s/): the package must "
                                 "install its desktop entry there, or menus cannot show it"))
NO_ICON = Wording(N_("%(file)s: no Icon key, so menus and the panel show a generic icon"))
EXITED_BEFORE_WINDOW = Wording(N_("%(program)s (launched as in its entry, LANG=%(locale)s) exited before any window "
                                  "appeared (%(status)s); its output ends: %(said)s"))
EXITED_AFTER_WINDOW = Wording(N_("%(program)s (launched as in its entry, LANG=%(locale)s) exited within "
                                 "%(seconds)s s of its window appearing (%(status)s); its output ends: %(said)s"))
NO_WINDOW_EXITED = Wording(N_("no window: %(program)s exited before mapping one (%(status)s); its output ends: "
                              "%(said)s"))
NOTHING_DRAWN = Wording(N_("nothing drawn: %(window)s is blank (%(why)s); screenshot %(path)s"))

# The vendor's database schema (suite database).
SQL_REFUSED = Wording(N_("%(where)s: the %(server)s server refused `%(statement)s`: %(error)s"))

# The lab's own faults said most often on those checks (broken).
KILLED_FOR_MEMORY = Wording(N_("%(what)s was killed for lack of memory before anything of the product ran "
                               "(%(how)s): the target's limits leave its package manager no room; raise them in "
                               "the inventory: %(said)s"))
SERVER_GONE = Wording(N_("the %(server)s server went away: %(error)s"))

# A reading made through the target's own tools after the product changed them (lab.observe.instruments).
PORTS_UNTRUSTED = Wording(N_("the service's ports cannot be trusted: %(paths)s changed on the target after the "
                             "install was judged, and the lab reads the ports through them"))
SAMPLES_UNTRUSTED = Wording(N_("the stability watch's samples cannot be trusted: %(paths)s changed on the target "
                               "after the install was judged, and the lab reads /proc through them"))

# Which wordings may have said a check's reason: a reason is read back only with its own check's,
# so that a vendor's log line at its end, made of another wording's phrases, cannot turn it into
# that other sentence (a failed start read as a catalogue's ownership notice, say).
BY_CHECK: dict[str, tuple[Wording, ...]] = {
    "service.ready": (SERVICE_EXITED, HEALTH_FAILING, PORT_NEVER_OPENED),
    "upgrade.service": (SERVICE_EXITED, HEALTH_FAILING, PORT_NEVER_OPENED),
    "service.ports": (UNDECLARED_PORTS, PORTS_UNTRUSTED),
    "vendor.tests": (VENDOR_TESTS_FAILED,),
    "install.leftovers": (LEFT_BEHIND,),
    "install.package": (CANNOT_INSTALL_ON_OS, CANNOT_INSTALL, KILLED_FOR_MEMORY),
    "install.idempotent": (KILLED_FOR_MEMORY,),
    "upgrade.previous": (KILLED_FOR_MEMORY,),
    "upgrade.apply": (KILLED_FOR_MEMORY,),
    "database.checks": (SERVER_GONE,),
    "security.world_writable": (WORLD_WRITABLE,),
    "security.setuid": (SETUID,),
    "security.system_files": (SYSTEM_CHANGES,),
    "package.symbol_versions": (NEEDS_VERSION,),
    "package.elf_machine": (BUILT_FOR,),
    "service.restart": (KILL_LEFT, STILL_RUNNING, NOT_READY_AGAIN),
    "stability.kill_restart": (KILL_LEFT, STILL_RUNNING, NOT_READY_AGAIN),
    "service.stop": (NOT_STOPPED,),
    "stability.uptime": (DIED, DIED_BESIDE_LOAD, DIED_LOAD_ENDED, SAMPLES_UNTRUSTED),
    "stability.memory": (MEMORY_GROWS, OUTSIDE_GROWS, SAMPLES_UNTRUSTED),
    "stability.fds": (FDS_GROW, SAMPLES_UNTRUSTED),
    "desktop.entry": (ENTRY_NOT_INSTALLED,),
    "desktop.icon": (NO_ICON,),
    "desktop.launch": (EXITED_BEFORE_WINDOW, EXITED_AFTER_WINDOW),
    "desktop.window": (NO_WINDOW_EXITED,),
    "desktop.screenshot": (NOTHING_DRAWN,),
    "database.schema": (SQL_REFUSED, SERVER_GONE),
}

# What a wording's own parameters (``own``) may hold: a readiness or a SIGKILL's finding, itself a
# wording, read with these only (``NOT_READY_AGAIN``'s ``detail``, ``KILL_LEFT``'s ``left``).
INNER: tuple[Wording, ...] = (SERVICE_EXITED, HEALTH_FAILING, PORT_NEVER_OPENED, PROCESSES_LEFT, PORTS_HELD)
