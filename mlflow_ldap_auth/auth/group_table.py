"""What a login needs of the mapped-group table: its rows and the managed-role assignments.

The table and its writers belong to the group mappings (``mappings.store.GroupStore``),
which sit above the login decisions; the access decision and the role sync only read
rows, record a renamed group's new DN and bring one user's managed roles in line. They
name the table by this protocol, so ``auth`` does not import ``mappings``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class MappedGroup:
    """One directory group a mapping refers to (its row in the group table)."""

    id: int
    uuid: str
    dn: str
    name: str | None
    is_admin: bool


class GroupTable(Protocol):
    # builtins.list: in the class body, ``list`` is the method.
    def list(self) -> builtins.list[MappedGroup]: ...

    def relevant_to(self, group_uuids: Iterable[str]) -> builtins.list[MappedGroup]: ...

    def upsert(self, group_uuid: str, dn: str, name: str | None) -> MappedGroup: ...

    def managed_roles_of(self, group_uuids: Iterable[str]) -> builtins.list[tuple[int, str]]: ...

    def assigned_roles(self, user_id: int, prefix: str) -> set[int]: ...

    def change_assignments(self, user_id: int, add: set[int], remove: set[int]) -> None: ...
