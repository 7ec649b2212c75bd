"""Whether an address is this machine's alone: the centre's service listens beyond it only when told
to, and a report names no address a buyer could not reach. A module of its own, so ``lab`` commands
that ask (``lab serve``'s options) need not load the service's settings to know."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or an address of 127.0.0.0/8 or ::1: only this machine reaches it."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
