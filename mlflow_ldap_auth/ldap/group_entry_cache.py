"""Groups seen in recent searches, so a login walks the upper nesting levels from memory.

A nested-group walk (``GroupSearch``) costs one search per level. Upper levels are
shared by many people (everyone in a team is in its department and division), so once
a group has been read its entry is kept here: its DN, its stable id and its
``memberOf`` values, never its member list (which can hold thousands of DNs).

The next level above a set of groups is answered from here only when

* the directory maintains ``memberOf`` (the user's entry carries it), so each group of
  the current level names its parents; and every parent it names under the group base
  is remembered; and
* ``group_search_filter`` only tests ``member`` / ``uniqueMember`` (``is_member_only``),
  so "the groups having these as a member" are exactly the parents their ``memberOf``
  names; and
* groups are read with the service account (``user_search_base`` is set), so what is
  remembered is what any login would have been shown.

Otherwise the level is searched, and what the search returned is remembered. The
user's direct groups are always searched afresh: a change to them is seen at the next
fresh bind. A change higher up (a team moved to another department) is seen within
``cache_ttl_seconds``, the bound the credential cache already puts on group changes;
a flush (``POST .../cache/flush``) forgets it on that worker at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import TTLCache

from mlflow_ldap_auth.ldap.dn import DnKey, dn_key_or_raw, is_under
from mlflow_ldap_auth.ldap.entries import attributes_of, group_uuid

#: Groups remembered per worker (each a few hundred bytes).
MAX_GROUPS = 20_000


@dataclass(frozen=True)
class GroupNode:
    """What is kept of a group entry: never its member list."""

    dn: str
    uuid: str | None
    parent_dns: tuple[str, ...]

    @classmethod
    def of(cls, entry: dict) -> GroupNode:
        parents = attributes_of(entry).get("memberOf") or ()
        return cls(entry["dn"], group_uuid(entry), tuple(parents))

    def entry(self, members: list[str] | None = None) -> dict:
        """The group as a plain entry dict (``member``: ``members``, when given)."""
        attributes: dict = {
            "memberOf": list(self.parent_dns),
            "entryUUID": [self.uuid] if self.uuid else [],
        }
        if members is not None:
            attributes["member"] = members
        return {"dn": self.dn, "attributes": attributes}


def plain_entries(entries: list[dict]) -> list[dict]:
    """Group entries of a search as plain dicts with what a node keeps (``GroupNode.entry``).

    ldap3 gives each entry case-insensitive dicts, whose every look-up costs a few
    microseconds; a walk looks each group up four or five times (its id, its parents,
    what is remembered), which for a user in 500 groups came to ~2,500 look-ups. Read
    once here, they cost one.
    """
    return [GroupNode.of(entry).entry() for entry in entries]


def parents_of(entries: list[dict], base_key: DnKey) -> dict[DnKey, list[str]]:
    """The groups under the base that ``entries`` name in ``memberOf``: key -> child DNs."""
    children: dict[DnKey, list[str]] = {}
    for entry in entries:
        for parent in attributes_of(entry).get("memberOf") or ():
            key = dn_key_or_raw(parent)
            if is_under(key, base_key):
                children.setdefault(key, []).append(entry["dn"])
    return children


def level_entries(children: dict[DnKey, list[str]], nodes: dict[DnKey, GroupNode]) -> list[dict]:
    """The groups of ``nodes`` named in ``children``, as a level search returns them:
    ``member`` lists only the children asked about."""
    return [node.entry(children[key]) for key, node in nodes.items() if key in children]


class GroupEntryCache:
    def __init__(self, ttl_seconds: int, max_groups: int = MAX_GROUPS) -> None:
        self._groups: TTLCache[DnKey, GroupNode] = TTLCache(max_groups, ttl_seconds)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def remember(self, entries: list[dict]) -> None:
        """Keep the groups of a search result (entries read with ``memberOf``)."""
        nodes = [(dn_key_or_raw(entry["dn"]), GroupNode.of(entry)) for entry in entries]
        with self._lock:
            for key, node in nodes:
                self._groups[key] = node

    def known(self, keys) -> dict[DnKey, GroupNode]:
        """The remembered groups among ``keys``; counts a hit if all are, else a miss."""
        keys = list(keys)
        with self._lock:
            found = {key: node for key in keys if (node := self._groups.get(key)) is not None}
            if len(found) == len(keys):
                self.hits += 1
            else:
                self.misses += 1
        return found

    def clear(self) -> None:
        with self._lock:
            self._groups.clear()

    def status(self) -> dict:
        with self._lock:
            return {"size": len(self._groups), "hits": self.hits, "misses": self.misses}
