"""A generated directory for the scale benchmark: people, three levels of groups, mappings.

Not run on its own: ``bench_scale.py`` writes ``directory_ldif`` to a file that
``SlapdInstance(seed=False, preload=...)`` loads with ``slapadd`` before slapd starts,
and ``mappings_document`` to a file for ``python -m mlflow_ldap_auth mappings import``.

Shape (``Shape(users=10_000, groups=2_000)``):

* groups in three levels under ``ou=groups``: ``div-NN`` (level 3, 1/25 of them),
  ``dept-NNN`` (level 2, 4/25; each a member of one division, 4 per division) and
  ``team-NNNN`` (level 1, the rest; each a member of one department, 5 per department);
  plus ``mlflow-admins`` (``admin_groups``);
* ``userNNNNN`` (the crowd): each a direct member of two teams, so in about six groups
  counting nested ones;
* special users, each with the number of groups (counting nested) in its name:
  ``small`` (a direct member of ``dept-000``: 2 groups, one of them nested),
  ``three`` (``team-0000`` and its department and division: 3 groups, 3 levels),
  ``mid`` (~50) and ``big`` (~500: direct member of the first teams, whose
  departments and divisions make up the rest); ``carol``, an MLflow admin.

slapadd runs no overlay, so every entry carries the ``memberOf`` values the memberof
overlay of ``SlapdInstance`` would have written (the groups that name it as a
``member``); ``entryUUID`` and the timestamps are added by slapadd. Passwords are
stored as ``{SSHA}`` hashes, as a directory would hold them.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

OPENLDAP = str(Path(__file__).resolve().parent.parent / "openldap")
if OPENLDAP not in sys.path:
    sys.path.insert(0, OPENLDAP)

from slapd_instance import (  # noqa: E402
    BASE_DN,
    GROUPS_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    person_dn,
)

ADMINS_GROUP = f"cn=mlflow-admins,{GROUPS_DN}"
ADMIN = "carol"

#: Teams per department and departments per division.
TEAMS_PER_DEPT = 5
DEPTS_PER_DIV = 4


def password_of(uid: str) -> str:
    return f"{uid}-password"


def crowd_uid(index: int) -> str:
    return f"user{index:05d}"


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS_DN}"


def ssha(password: str) -> str:
    """``{SSHA}`` value of ``userPassword`` (salted SHA-1, what slapd checks binds against)."""
    salt = os.urandom(4)
    digest = hashlib.sha1(password.encode() + salt).digest()  # LDAP's {SSHA} is SHA-1
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


@dataclass
class Shape:
    """Sizes of the generated directory; ``special`` maps a special uid to its groups."""

    users: int
    groups: int
    mid_groups: int = 50
    big_groups: int = 500
    divisions: list[str] = field(init=False)
    departments: list[str] = field(init=False)
    teams: list[str] = field(init=False)
    special: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        per_div = 1 + DEPTS_PER_DIV + DEPTS_PER_DIV * TEAMS_PER_DEPT
        n3 = max(1, self.groups // per_div)
        n2 = n3 * DEPTS_PER_DIV
        n1 = self.groups - n2 - n3
        self.divisions = [f"div-{i:02d}" for i in range(n3)]
        self.departments = [f"dept-{i:03d}" for i in range(n2)]
        self.teams = [f"team-{i:04d}" for i in range(n1)]
        self.special = {
            "small": [self.departments[0]],
            "three": [self.teams[0]],
            "mid": self.teams[: self._direct_teams_for(self.mid_groups)],
            "big": self.teams[: self._direct_teams_for(self.big_groups)],
        }

    def parent_of(self, group: str) -> str | None:
        """The group that has ``group`` as a member (teams and departments have one)."""
        level, number = group.split("-")
        if level == "team":
            return self.departments[int(number) // TEAMS_PER_DEPT % len(self.departments)]
        if level == "dept":
            return self.divisions[int(number) // DEPTS_PER_DIV % len(self.divisions)]
        return None

    def closure(self, direct: list[str]) -> set[str]:
        """``direct`` and every group above them."""
        found: set[str] = set()
        for group in direct:
            current: str | None = group
            while current is not None and current not in found:
                found.add(current)
                current = self.parent_of(current)
        return found

    def _direct_teams_for(self, wanted: int) -> int:
        """Fewest first teams whose closure has at least ``wanted`` groups."""
        for count in range(1, len(self.teams) + 1):
            if len(self.closure(self.teams[:count])) >= wanted:
                return count
        raise ValueError(f"{self.groups} groups cannot give a user {wanted}")

    def crowd_teams(self, index: int) -> list[str]:
        """The two teams a crowd user is a direct member of."""
        n1 = len(self.teams)
        first = index % n1
        second = (index * 7 + n1 // 2) % n1
        if second == first:
            second = (first + 1) % n1
        return [self.teams[first], self.teams[second]]

    def group_count(self, uid: str) -> int:
        """Groups of a special user, counting nested ones."""
        return len(self.closure(self.special[uid]))

    def all_groups(self) -> list[str]:
        """Top level first, so a group's parent comes before it in listings."""
        return self.divisions + self.departments + self.teams


def _entry(dn: str, lines: list[str]) -> str:
    return "\n".join([f"dn: {dn}", *lines]) + "\n"


def _person(uid: str, memberof: list[str]) -> str:
    return _entry(
        person_dn(uid),
        ["objectClass: inetOrgPerson", f"uid: {uid}", f"cn: {uid}", f"sn: {uid}"]
        + [f"userPassword: {ssha(password_of(uid))}"]
        + [f"memberOf: {dn}" for dn in memberof],
    )


def directory_ldif(shape: Shape) -> Iterator[str]:
    """The whole directory as LDIF entries, parents first, with ``memberOf`` filled in."""
    members: dict[str, list[str]] = defaultdict(list)  # group name -> member DNs
    memberof: dict[str, list[str]] = defaultdict(list)  # member DN -> group DNs
    for group in shape.all_groups():
        parent = shape.parent_of(group)
        if parent is not None:
            members[parent].append(group_dn(group))
    people: list[tuple[str, list[str]]] = [
        (crowd_uid(i), shape.crowd_teams(i)) for i in range(shape.users)
    ]
    people += list(shape.special.items())
    for uid, groups in people:
        for group in groups:
            members[group].append(person_dn(uid))
    for group, dns in members.items():
        for dn in dns:
            memberof[dn].append(group_dn(group))
    memberof[person_dn(ADMIN)].append(ADMINS_GROUP)

    yield _entry(
        BASE_DN,
        ["objectClass: dcObject", "objectClass: organization", "dc: example"] + ["o: Example Org"],
    )
    for ou in ("people", "groups", "services"):
        yield _entry(f"ou={ou},{BASE_DN}", ["objectClass: organizationalUnit", f"ou: {ou}"])
    yield _entry(
        SERVICE_DN,
        ["objectClass: organizationalRole", "objectClass: simpleSecurityObject"]
        + ["cn: mlflow-service", f"userPassword: {ssha(SERVICE_PASSWORD)}"],
    )
    yield _entry(
        ADMINS_GROUP,
        ["objectClass: groupOfNames", "cn: mlflow-admins", f"member: {person_dn(ADMIN)}"],
    )
    for group in shape.all_groups():
        dn = group_dn(group)
        yield _entry(
            dn,
            ["objectClass: groupOfNames", f"cn: {group}"]
            + [f"member: {member}" for member in members[group]]
            + [f"memberOf: {parent}" for parent in memberof[dn]],
        )
    yield _person(ADMIN, memberof[person_dn(ADMIN)])
    for uid, _groups in people:
        yield _person(uid, memberof[person_dn(uid)])


def mapped_groups(shape: Shape, count: int) -> list[str]:
    """About ``count`` groups, the same share of every level; always the first of each.

    So the special users (all in the first team, department and division) have mapped
    groups at any count, and the big user about ``count / groups`` of its groups.
    """
    if count <= 0:
        return []
    step = max(1, math.floor(shape.groups / count))
    return shape.divisions[::step] + shape.departments[::step] + shape.teams[::step]


def mappings_document(shape: Shape, count: int) -> dict:
    """A mappings file (format version 1): one experiment mapping per mapped group.

    Every other group gets READ on every experiment, the others EDIT on one
    experiment id of their own (the two patterns MLflow's engine looks up).
    """
    entries = []
    for index, group in enumerate(mapped_groups(shape, count)):
        if index % 2 == 0:
            pattern, permission = "*", "READ"
        else:
            pattern, permission = str(1000 + index), "EDIT"
        entries.append(
            {
                "group": group_dn(group),
                "resource_type": "experiment",
                "resource_pattern": pattern,
                "permission": permission,
                "workspace": "default",
            }
        )
    return {"version": 1, "group_mappings": entries}
