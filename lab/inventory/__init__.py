"""The lab's targets, as described by the engineers in ``targets.toml``."""

from lab.inventory.load import load_inventory
from lab.inventory.model import Inventory, Target

__all__ = ["Inventory", "Target", "load_inventory"]
