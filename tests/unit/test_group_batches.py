"""Batched group resolution (revalidation) finds what one-by-one resolution finds.

A fake connection answers member filters and look-ups by name from an in-memory
directory, as slapd would (a group matches ``(member=X)`` when X is among its member
values, ``(cn=X)`` when it is named X), and counts searches.
"""

from __future__ import annotations

import re

import pytest

from mlflow_ldap_auth.ldap.dn import dn_key, dn_key_or_raw
from mlflow_ldap_auth.ldap.entries import UserEntry
from mlflow_ldap_auth.ldap.group_search import GroupSearch, is_member_only

BASE = "ou=groups,dc=example,dc=org"
PEOPLE = "ou=people,dc=example,dc=org"
DEFAULT = "(|(member={user_dn})(uniqueMember={user_dn}))"
_TERM = re.compile(r"\((member|uniqueMember)=((?:[^()\\]|\\[0-9a-fA-F]{2})*)\)", re.I)
#: ``(cn=name)``: a group read by its naming attribute (the climb by memberOf does).
_NAME = re.compile(r"\(cn=((?:[^()\\]|\\[0-9a-fA-F]{2})*)\)", re.I)


def unescape(value: str) -> str:
    return re.sub(r"\\([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


class FakeConnection:
    def __init__(self, groups: dict[str, dict]) -> None:
        #: group DN -> {"member": [...], "uniqueMember": [...], "uuid": ...}
        self.groups = groups
        self.searches = 0

    def search(self, base, search_filter, scope, attributes):
        self.searches += 1
        wanted = {
            (name.lower(), dn_key_or_raw(unescape(value)))
            for name, value in _TERM.findall(search_filter)
        }
        names = {unescape(value).casefold() for value in _NAME.findall(search_filter)}
        found = []
        for dn, group in self.groups.items():
            values = {
                (name.lower(), dn_key_or_raw(member))
                for name in ("member", "uniqueMember")
                for member in group.get(name, [])
            }
            named = dn.split(",", 1)[0].split("=", 1)[1].casefold() in names
            if values & wanted or named:
                memberof = [
                    other
                    for other, g in self.groups.items()
                    if any(dn_key_or_raw(m) == dn_key(dn) for m in g.get("member", []))
                ]
                attributes_found = {
                    "member": list(group.get("member", [])),
                    "uniqueMember": list(group.get("uniqueMember", [])),
                    "memberOf": memberof,
                    "entryUUID": [group["uuid"]],
                }
                found.append({"dn": dn, "attributes": attributes_found, "raw_attributes": {}})
        return found


def g(name: str) -> str:
    return f"cn={name},{BASE}"


def p(name: str) -> str:
    return f"uid={name},{PEOPLE}"


def directory() -> dict[str, dict]:
    return {
        g("team"): {"member": [p("alice"), p("bob")], "uuid": "1"},
        g("platform"): {"member": [g("team"), p("carol")], "uuid": "2"},
        g("science"): {"member": [g("platform")], "uuid": "3"},
        g("loop-a"): {"member": [g("loop-b"), p("dave")], "uuid": "4"},
        g("loop-b"): {"member": [g("loop-a")], "uuid": "5"},
        g("unique"): {"uniqueMember": [p("ALICE").upper()], "uuid": "6"},
        g("empty"): {"member": [], "uuid": "7"},
    }


def users(*names: str, memberof: bool = False) -> list[UserEntry]:
    groups = directory()
    entries = []
    for name in names:
        direct = (
            frozenset(dn_key(dn) for dn, x in groups.items() if p(name) in x.get("member", []))
            if memberof
            else frozenset()
        )
        entries.append(UserEntry(p(name), name, direct))
    return entries


def comparable(user):
    return (user.dn, user.direct_group_dns, user.group_dns, set(user.group_uuids))


@pytest.mark.parametrize("memberof", [False, True])
@pytest.mark.parametrize("nested", [True, False])
def test_the_batch_finds_what_each_login_finds(memberof, nested):
    people = users("alice", "bob", "carol", "dave", "erin", memberof=memberof)
    search = GroupSearch(BASE, DEFAULT, nested=nested)
    one_by_one = FakeConnection(directory())
    expected = [comparable(search.resolve(one_by_one, u)) for u in people]
    batched = FakeConnection(directory())
    found = [comparable(u) for u in search.resolve_many(batched, people)]
    assert found == expected
    assert batched.searches < one_by_one.searches
    assert batched.searches <= (5 if nested else 1)  # one per level for everyone
    alice = found[0]
    assert alice[2] == (
        {g("team"), g("unique"), g("platform"), g("science")}
        if nested
        else {g("team"), g("unique")}
    )


def test_paths_through_nested_groups_are_kept():
    search = GroupSearch(BASE, DEFAULT, nested=True)
    alice = search.resolve_many(FakeConnection(directory()), users("alice", "bob"))[0]
    assert {(g("platform"), g("team")), (g("science"), g("platform"))} <= set(alice.group_parents)


def test_other_filters_are_resolved_one_by_one():
    assert is_member_only(DEFAULT)
    assert is_member_only("(member={user_dn})")
    assert is_member_only("(|(MEMBER={user_dn})(uniquemember={user_dn}))")
    for template in [
        "(memberUid={username})",
        "(&(objectClass=groupOfNames)(member={user_dn}))",
        "(member:1.2.840.113556.1.4.1941:={user_dn})",
        "(|(member={user_dn})(owner={user_dn}))",
    ]:
        assert not is_member_only(template), template
    search = GroupSearch(BASE, "(&(objectClass=groupOfNames)(member={user_dn}))", nested=True)
    connection = FakeConnection(directory())
    search.resolve_many(connection, users("alice", "bob"))
    single = FakeConnection(directory())
    for u in users("alice", "bob"):
        search.resolve(single, u)
    assert connection.searches == single.searches


def test_ranged_member_lists_fall_back_to_one_by_one():
    class Ranged(FakeConnection):
        def search(self, base, search_filter, scope, attributes):
            entries = super().search(base, search_filter, scope, attributes)
            for entry in entries:
                entry["attributes"]["member;range=0-1499"] = entry["attributes"].pop("member")
            return entries

    search = GroupSearch(BASE, DEFAULT, nested=False)
    people = users("alice", "bob", "carol")
    connection = Ranged(directory())
    found = search.resolve_many(connection, people)
    assert [u.group_dns for u in found] == [
        search.resolve(Ranged(directory()), u).group_dns for u in people
    ]
    assert connection.searches == 1 + len(people)


def test_three_levels_cost_two_searches_when_groups_name_their_parents():
    # alice: team, a member of platform, a member of science.
    (alice,) = users("alice", memberof=True)
    connection = FakeConnection(directory())
    found = GroupSearch(BASE, DEFAULT, nested=True).resolve(connection, alice)
    assert {g("team"), g("platform"), g("science")} <= found.group_dns
    assert (g("science"), g("platform")) in found.group_parents
    assert (g("platform"), g("team")) in found.group_parents
    # The direct groups, then platform by name with (in the same search) the groups
    # having platform as a member: science.
    assert connection.searches == 2


def test_without_memberof_each_level_is_one_search():
    (alice,) = users("alice", memberof=False)
    connection = FakeConnection(directory())
    found = GroupSearch(BASE, DEFAULT, nested=True).resolve(connection, alice)
    assert {g("team"), g("platform"), g("science")} <= found.group_dns
    assert connection.searches == 4  # three levels, then one that finds nothing
