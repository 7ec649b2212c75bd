"""Two inventory names for one board (a copied inventory's, say) never run on it at once: a run
locks the board by its name and by its address (found by a new engineer: locks were by name only)."""

from __future__ import annotations

import pytest

from lab.errors import InfrastructureError
from lab.inventory.model import Target
from lab.provision import board


def ssh_target(name: str, port: int) -> Target:
    return Target.model_validate({"name": name, "backend": "ssh", "ssh": {"host": "127.0.0.1", "port": port,
                                                                          "user": "lab"},
                                  "facts": {"os_family": "debian", "os_id": "debian", "os_version": "12",
                                            "arch": "x86_64"}})


def test_one_address_is_one_lock_whatever_the_name(tmp_path, monkeypatch):
    monkeypatch.setattr(board, "LOCKS", tmp_path)
    mine, copy, other = ssh_target("board-a", 2222), ssh_target("eng2-board-a", 2222), ssh_target("board-b", 2223)
    assert board.address_key(mine) == board.address_key(copy) == "at-127.0.0.1-2222"
    assert board.address_key(other) != board.address_key(mine)
    with board.board_lock(board.address_key(mine)):
        with pytest.raises(InfrastructureError) as said, board.board_lock(board.address_key(copy), wait_s=0.2):
            pass
        assert "is in use by another run" in str(said.value)
        with board.board_lock(board.address_key(other), wait_s=0.2):  # another board: free
            pass


def test_a_dirty_board_is_dirty_under_every_name_for_its_address(tmp_path, monkeypatch):
    """A failed reset under one name kept the board dirty under that name only: another inventory's
    name for the same host:port would have handed the next vendor what the last one left."""
    monkeypatch.setattr(board, "STATE", tmp_path)
    mine, copy, other = ssh_target("board-a", 2222), ssh_target("eng2-board-a", 2222), ssh_target("board-b", 2223)
    board._mark_dirty(mine, "board-a: the reset after run r1 failed: exit 7")
    assert board.dirty_marker(copy).exists() and "exit 7" in board.dirty_marker(copy).read_text()
    assert not board.dirty_marker(other).exists()
    def cannot_reimage(target, lab):
        raise InfrastructureError(f"the reset of {target.name} failed: cannot reimage")

    monkeypatch.setattr(board, "reset_board", cannot_reimage)
    with pytest.raises(InfrastructureError, match="eng2-board-a is taken out of this run: board-a: the reset") as said:
        board._reset_if_dirty(copy, None)
    assert "its reset before this run failed too: the reset of eng2-board-a failed: cannot reimage" in str(said.value)
    monkeypatch.setattr(board, "reset_board", lambda target, lab: None)
    board._reset_if_dirty(copy, None)  # a reset that works, under either name: clean for both
    assert not board.dirty_marker(mine).exists()
