"""The ssh backend: a board, locked for this run, health-checked before use and cleaned after
(``lab.provision.board`` does the work)."""

from __future__ import annotations

from contextlib import AbstractContextManager

from lab.inventory.model import LabSettings, Target
from lab.provision.base import Provider, Provisioned
from lab.provision.board import provision_board


class BoardProvider(Provider):
    name = "ssh"

    def provision(self, target: Target, run_id: str, lab: LabSettings,
                  layer=None) -> AbstractContextManager[Provisioned]:  # a board has no image: never a layer
        return provision_board(target, run_id, lab)
