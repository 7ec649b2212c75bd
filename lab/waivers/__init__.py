"""Waivers: failures an engineer has accepted, with a reason, a reviewer and an expiry.

``waivers.toml`` lies beside the inventory. ``load_waivers`` parses it once (strictly: a
malformed entry is an ``InputError`` naming the file, the entry and the field) and says which
entries match nothing the lab knows; ``apply_waivers`` turns the failed checks an unexpired
waiver covers into ``waived`` and recomputes each target's verdict. The command line
(``lab.run.finish``) and the service (where a cell's results are received) call the same function.
"""

from lab.waivers.apply import Applied, apply_waivers
from lab.waivers.load import LoadedWaivers, load_waivers, waivers_path
from lab.waivers.model import WaiverEntry, WaiversFile

__all__ = ["Applied", "LoadedWaivers", "WaiverEntry", "WaiversFile", "apply_waivers", "load_waivers",
           "waivers_path"]
