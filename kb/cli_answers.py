"""`deskbook answer`, `deskbook assist` and `deskbook eval answers` (being written)."""

from __future__ import annotations


def register(cli, eval_group) -> None:
    """Add the answer commands to the root group and to `eval`."""
