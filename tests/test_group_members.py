"""Who is in a group (``Directory.group_members``) against the real slapd."""

import pytest

from mlflow_ldap_auth.ldap.directory import Directory
from servers import DATA_SCIENCE_DN, GROUPS_DN, PEOPLE_DN, add_person, slapd_count
from test_directory import search_settings

ML_PLATFORM_DN = f"cn=ml-platform,{GROUPS_DN}"


@pytest.fixture(scope="module")
def crowd(own_slapd):
    """A group of 250 people, one of them also in a nested group, and a cycle of groups."""
    slapd = own_slapd
    people = [f"p{number:03d}" for number in range(250)]
    ldif = []
    for uid in people:
        ldif.append(
            f"dn: uid={uid},{PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {uid}\nsn: {uid}\nuserPassword: x-{uid}\n"
        )
    members = "".join(f"member: uid={uid},{PEOPLE_DN}\n" for uid in people)
    ldif.append(f"dn: cn=crowd,{GROUPS_DN}\nobjectClass: groupOfNames\ncn: crowd\n{members}")
    # A cycle: loop-a contains loop-b contains loop-a; p000 in loop-b.
    ldif.append(
        f"dn: cn=loop-a,{GROUPS_DN}\nobjectClass: groupOfNames\ncn: loop-a\n"
        f"member: uid=p001,{PEOPLE_DN}\n"
    )
    ldif.append(
        f"dn: cn=loop-b,{GROUPS_DN}\nobjectClass: groupOfNames\ncn: loop-b\n"
        f"member: cn=loop-a,{GROUPS_DN}\nmember: uid=p000,{PEOPLE_DN}\n"
        f"member: uid=gone,{PEOPLE_DN}\n"
    )
    slapd.ldif("ldapadd", "\n".join(ldif))
    slapd.ldif(
        "ldapmodify",
        f"dn: cn=loop-a,{GROUPS_DN}\nchangetype: modify\nadd: member\n"
        f"member: cn=loop-b,{GROUPS_DN}\n",
    )
    slapd.ldif(
        "ldapadd",
        f"dn: cn=posix-team,{GROUPS_DN}\nobjectClass: posixGroup\ncn: posix-team\n"
        "gidNumber: 5000\nmemberUid: dave\nmemberUid: alice\n",
    )
    return slapd


@pytest.fixture
def directory(crowd):
    directory = Directory(search_settings(crowd.ldap_uri))
    yield directory
    directory.close()


def test_direct_and_nested_members_with_the_path(directory):
    found = directory.group_members(DATA_SCIENCE_DN)
    by_name = {member.username: member for member in found.members}
    assert set(by_name) == {"alice", "bob"}
    assert by_name["alice"].via == ()
    assert by_name["bob"].via == (ML_PLATFORM_DN,)
    assert found.count == 2 and found.subgroups == (ML_PLATFORM_DN,) and found.complete


def test_the_first_200_are_listed_and_all_counted(crowd, directory):
    before = slapd_count(crowd, " SRCH base=")
    found = directory.group_members(f"cn=crowd,{GROUPS_DN}")
    searches = slapd_count(crowd, " SRCH base=") - before
    assert found.count == 250
    assert [m.username for m in found.members] == [f"p{n:03d}" for n in range(200)]
    assert len(found.person_keys) == 250
    # The group entry, then one username search for 200 people (no group candidates:
    # nobody under ou=groups).
    assert searches == 2


def test_a_cycle_of_groups_ends_and_a_dangling_member_is_counted_not_listed(directory):
    found = directory.group_members(f"cn=loop-a,{GROUPS_DN}")
    assert {m.username for m in found.members} == {"p000", "p001"}
    assert found.count == 3  # p000, p001 and the entry that no longer exists
    assert found.subgroups == (f"cn=loop-b,{GROUPS_DN}",)


def test_posix_member_uids_are_people_by_name(directory):
    found = directory.group_members(f"cn=posix-team,{GROUPS_DN}")
    assert {m.username for m in found.members} == {"alice", "dave"}
    assert found.count == 2
    assert found.contains(None, "ALICE")


@pytest.mark.parametrize(
    "spelling",
    [
        DATA_SCIENCE_DN.upper(),
        "cn=data-science, ou=groups, dc=example, dc=org",
        "CN=Data-Science,OU=Groups,DC=Example,DC=Org",
    ],
)
def test_operator_spellings_of_the_group_dn(directory, spelling):
    assert {m.username for m in directory.group_members(spelling).members} == {"alice", "bob"}


@pytest.mark.parametrize("dn", [f"cn=no-such-group,{GROUPS_DN}", "not a dn", "cn=*)(uid=*"])
def test_a_missing_or_malformed_group_has_no_members(directory, dn):
    found = directory.group_members(dn)
    assert not found.exists and found.count == 0 and found.members == ()


def test_nested_groups_off_lists_direct_members_only(crowd):
    directory = Directory(search_settings(crowd.ldap_uri, nested_groups=False))
    try:
        found = directory.group_members(DATA_SCIENCE_DN)
    finally:
        directory.close()
    assert {m.username for m in found.members} == {"alice"}
    # The nested group's DN is not a person: with nesting off it is not followed and
    # not listed, but it is a member reference and is counted.
    assert found.count == 2


def test_without_a_user_base_each_listed_person_is_read(crowd):
    settings = search_settings(
        crowd.ldap_uri, user_search_base=None, user_dn_template="uid={username}," + PEOPLE_DN
    )
    directory = Directory(settings)
    try:
        found = directory.group_members(DATA_SCIENCE_DN)
    finally:
        directory.close()
    assert {m.username for m in found.members} == {"alice", "bob"}


def test_membership_test_is_structural(crowd, directory):
    from mlflow_ldap_auth.ldap.dn import dn_key

    found = directory.group_members(DATA_SCIENCE_DN)
    assert found.contains(dn_key(f"UID=Bob, {PEOPLE_DN.upper()}"), "bob")
    assert not found.contains(dn_key(f"uid=bob2,{PEOPLE_DN}"), "bob2")
    add_person(crowd, "bob2", "pw")  # not a member
    assert not directory.group_members(DATA_SCIENCE_DN).contains(
        dn_key(f"uid=bob2,{PEOPLE_DN}"), "bob2"
    )
