"""Making a target usable for one run: a fresh container, or (later) a locked board."""

from lab.provision.target import Provisioned, provision

__all__ = ["Provisioned", "provision"]
