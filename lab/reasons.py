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

# Which wordings may have said a check's reason: a reason is read back only with its own check's,
# so that a vendor's log line at its end, made of another wording's phrases, cannot turn it into
# that other sentence (a failed start read as a catalogue's ownership notice, say).
BY_CHECK: dict[str, tuple[Wording, ...]] = {
    "service.ready": (SERVICE_EXITED, HEALTH_FAILING, PORT_NEVER_OPENED),
    "upgrade.service": (SERVICE_EXITED, HEALTH_FAILING, PORT_NEVER_OPENED),
    "service.ports": (UNDECLARED_PORTS,),
    "vendor.tests": (VENDOR_TESTS_FAILED,),
    "install.leftovers": (LEFT_BEHIND,),
    "install.package": (CANNOT_INSTALL_ON_OS, CANNOT_INSTALL),
    "security.world_writable": (WORLD_WRITABLE,),
    "security.setuid": (SETUID,),
    "security.system_files": (SYSTEM_CHANGES,),
    "package.symbol_versions": (NEEDS_VERSION,),
    "package.elf_machine": (BUILT_FOR,),
}
