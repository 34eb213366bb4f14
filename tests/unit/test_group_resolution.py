"""Group resolution without servers: nesting paths, filters, and the method chosen.

Entries are plain dicts shaped like ldap3's search results; the real-slapd and
Samba DC tests show the searches themselves.
"""

import pytest

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.ldap.dn import dn_key, dn_key_or_raw
from mlflow_ldap_auth.ldap.entries import DirectoryUser, UserEntry
from mlflow_ldap_auth.ldap.group_paths import NestingWalk, member_values, transitive_user
from mlflow_ldap_auth.ldap.group_search import GroupSearch, InChainSearch, member_filter
from mlflow_ldap_auth.ldap.groups import NoGroups, TokenGroups, group_resolver

BASE = "ou=groups,dc=example,dc=org"
USER_DN = "uid=bob,ou=people,dc=example,dc=org"
TEAM = f"cn=team,{BASE}"
PLATFORM = f"cn=platform,{BASE}"
SCIENCE = f"cn=science,{BASE}"
EVERYONE = f"cn=everyone,{BASE}"


def group(dn, members=(), member_of=(), uuid=None, member_key="member"):
    attributes = {member_key: list(members), "memberOf": list(member_of)}
    if uuid:
        attributes["entryUUID"] = [uuid]
    return {"dn": dn, "attributes": attributes, "raw_attributes": {}}


def user(memberof=()):
    return UserEntry(USER_DN, "bob", frozenset(dn_key(dn) for dn in memberof))


# -- the search method, level by level ------------------------------------
def test_a_parent_is_reached_through_the_child_that_is_its_member():
    walk = NestingWalk([group(TEAM, [USER_DN], uuid="1")], dn_key(BASE))
    walk.add_level([group(PLATFORM, [TEAM], uuid="2")])
    walk.add_level([group(SCIENCE, [PLATFORM], uuid="3")])
    walk.add_level([])
    found = walk.user(user())
    assert found.direct_group_dns == {TEAM}
    assert found.group_dns == {TEAM, PLATFORM, SCIENCE}
    assert found.group_parents == ((PLATFORM, TEAM), (SCIENCE, PLATFORM))
    assert found.uuid_by_group_dn == {TEAM: "1", PLATFORM: "2", SCIENCE: "3"}
    assert walk.frontier == []


def test_member_values_match_structurally_and_the_path_keeps_the_servers_spelling():
    spelled = "CN=Team, OU=Groups, DC=example, DC=org"
    walk = NestingWalk([group(TEAM)], dn_key(BASE))
    walk.add_level([group(PLATFORM, [spelled], member_key="uniqueMember")])
    assert walk.parents == [(PLATFORM, TEAM)]


def test_a_cycle_is_recorded_once_and_not_walked_again():
    walk = NestingWalk([group(TEAM)], dn_key(BASE))
    walk.add_level([group(PLATFORM, [TEAM])])
    walk.add_level([group(TEAM, [PLATFORM])])  # team is a member of platform and back
    assert walk.frontier == []
    assert walk.parents == [(PLATFORM, TEAM), (TEAM, PLATFORM)]
    assert walk.user(user()).group_dns == {TEAM, PLATFORM}


def test_two_children_of_one_parent_give_two_paths_and_one_group():
    walk = NestingWalk([group(TEAM), group(PLATFORM)], dn_key(BASE))
    walk.add_level([group(SCIENCE, [TEAM, PLATFORM])])
    assert walk.parents == [(SCIENCE, TEAM), (SCIENCE, PLATFORM)]
    assert walk.frontier == [SCIENCE]


def test_member_of_tells_whether_another_level_can_find_anything():
    outside = "cn=elsewhere,dc=other"
    walk = NestingWalk([group(TEAM, member_of=[outside])], dn_key(BASE))
    assert walk.frontier_parents_known()  # a parent outside the group base does not count
    walk = NestingWalk([group(TEAM, member_of=[PLATFORM])], dn_key(BASE))
    assert not walk.frontier_parents_known()
    walk.add_level([group(PLATFORM, [TEAM], member_of=[TEAM])])
    assert walk.frontier_parents_known()  # its only parent was found already


def test_ad_ranged_member_values_count_for_the_path():
    attributes = {"member;range=0-1499": [TEAM], "uniqueMember": [PLATFORM], "cn": ["x"]}
    assert member_values(attributes) == [TEAM, PLATFORM]


# -- every group at once (in-chain rule, tokenGroups) ---------------------
def test_all_at_once_direct_groups_come_from_the_users_member_of():
    entries = [
        group(TEAM, member_of=[PLATFORM], uuid="1"),
        group(PLATFORM, member_of=[SCIENCE, "cn=elsewhere,dc=other"], uuid="2"),
        group(SCIENCE, uuid="3"),
    ]
    found = transitive_user(user(memberof=[TEAM.upper()]), entries)
    assert found.direct_group_dns == {TEAM}
    assert found.group_dns == {TEAM, PLATFORM, SCIENCE}
    assert found.group_parents == ((PLATFORM, TEAM), (SCIENCE, PLATFORM))
    assert found.uuid_by_group_dn == {TEAM: "1", PLATFORM: "2", SCIENCE: "3"}


def test_all_at_once_without_member_of_every_group_counts_as_direct():
    found = transitive_user(user(), [group(TEAM), group(PLATFORM)])
    assert found.direct_group_dns == found.group_dns == {TEAM, PLATFORM}
    assert found.group_uuids == ()


# -- the filter -------------------------------------------------------------
def test_member_filter_escapes_values_and_joins_levels_with_or():
    template = "(&(member={user_dn})(x={username}))"
    assert member_filter(template, ["cn=a*(b)"], "b\\ob") == (
        "(&(member=cn=a\\2a\\28b\\29)(x=b\\5cob))"
    )
    assert member_filter("(member={user_dn})", [TEAM, PLATFORM], "bob") == (
        f"(|(member={TEAM})(member={PLATFORM}))"
    )


# -- which method the configuration names -----------------------------------
IN_CHAIN = "(member:1.2.840.113556.1.4.1941:={user_dn})"


def settings(**values) -> LdapSettings:
    return LdapSettings(server_uris=("ldap://127.0.0.1",), **values)


def test_no_group_base_means_no_groups_and_no_search():
    resolver = group_resolver(settings(nested_groups_method="token_groups"))
    assert isinstance(resolver, NoGroups)
    assert resolver.resolve(None, user()) == DirectoryUser(dn=USER_DN, username="bob")


@pytest.mark.parametrize(
    ("values", "expected", "nested"),
    [
        ({}, GroupSearch, True),
        ({"nested_groups": False}, GroupSearch, False),
        ({"group_search_filter": "(memberUid={username})"}, GroupSearch, False),
        (
            {"group_search_filter": IN_CHAIN, "nested_groups_method": "in_chain"},
            InChainSearch,
            None,
        ),
        (
            {
                "group_search_filter": IN_CHAIN,
                "nested_groups_method": "in_chain",
                "nested_groups": False,
            },
            InChainSearch,
            None,
        ),
        ({"nested_groups_method": "token_groups"}, TokenGroups, None),
        (
            {"nested_groups_method": "token_groups", "group_search_filter": IN_CHAIN},
            TokenGroups,
            None,
        ),
        ({"nested_groups_method": "token_groups", "nested_groups": False}, GroupSearch, False),
    ],
)
def test_the_resolver_follows_the_configuration(values, expected, nested):
    resolver = group_resolver(settings(group_search_base="OU=Groups, DC=example", **values))
    assert type(resolver) is expected
    if nested is not None:
        assert resolver.nested is nested


def test_the_group_base_is_sent_in_the_strict_spelling():
    resolver = group_resolver(settings(group_search_base="OU=Groups, DC=example"))
    assert resolver._base == "OU=Groups,DC=example"
    assert resolver._base_key == dn_key_or_raw("ou=groups,dc=example")
