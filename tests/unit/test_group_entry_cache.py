"""The group entry cache answers a nesting level only when it knows every parent."""

from ldap3.utils.ciDict import CaseInsensitiveDict

from mlflow_ldap_auth.ldap.dn import dn_key
from mlflow_ldap_auth.ldap.entries import group_uuid
from mlflow_ldap_auth.ldap.group_entry_cache import (
    GroupEntryCache,
    level_entries,
    parents_of,
    plain_entries,
)

BASE = "ou=groups,dc=example,dc=org"


def entry(name, parents=(), uuid=None, members=()):
    return {
        "dn": f"cn={name},{BASE}",
        "attributes": {
            "memberOf": [f"cn={p},{BASE}" for p in parents],
            "entryUUID": [uuid or f"uuid-{name}"],
            "member": list(members),
        },
    }


def level_above(cache, entries):
    """The next level from memory as ``GroupSearch`` takes it: None if a parent is unknown."""
    children = parents_of(entries, dn_key(BASE))
    found = cache.known(children)
    return None if len(found) < len(children) else level_entries(children, found)


def test_a_level_comes_from_memory_only_when_every_parent_is_known():
    cache = GroupEntryCache(60)
    team = entry("team", parents=["dept", "other-dept"])
    cache.remember([entry("dept", parents=["div"])])
    assert level_above(cache, [team]) is None
    cache.remember([entry("other-dept")])
    level = level_above(cache, [team])
    assert [e["dn"] for e in level] == [f"cn=dept,{BASE}", f"cn=other-dept,{BASE}"]
    # Members: only the groups asked about (no member lists are kept).
    assert level[0]["attributes"]["member"] == [team["dn"]]
    assert level[0]["attributes"]["memberOf"] == [f"cn=div,{BASE}"]
    assert group_uuid(level[0]) == "uuid-dept"
    assert cache.status() == {"size": 2, "hits": 1, "misses": 1}


def test_parents_outside_the_group_base_are_not_needed():
    cache = GroupEntryCache(60)
    team = entry("team")
    team["attributes"]["memberOf"] = ["cn=elsewhere,ou=roles,dc=example,dc=org"]
    assert level_above(cache, [team]) == []


def test_parents_are_matched_structurally_not_by_spelling():
    cache = GroupEntryCache(60)
    cache.remember([entry("dept")])
    team = entry("team")
    team["attributes"]["memberOf"] = ["CN=Dept, OU=Groups, DC=example, DC=org"]
    assert [e["dn"] for e in level_above(cache, [team])] == [f"cn=dept,{BASE}"]


def test_member_lists_are_never_kept_and_size_is_bounded():
    cache = GroupEntryCache(60, max_groups=10)
    cache.remember([entry(f"g{i}", members=[f"uid=u{i},dc=x"]) for i in range(50)])
    assert cache.status()["size"] == 10
    assert all("member" not in vars(group) for group in cache._groups.values())


def test_clear_forgets():
    cache = GroupEntryCache(60)
    cache.remember([entry("dept")])
    cache.clear()
    assert level_above(cache, [entry("team", parents=["dept"])]) is None


def test_plain_entries_keep_the_id_and_parents_and_no_member_list():
    """What a walk reads of an entry is read once: the id (AD's objectGUID bytes too),
    the parents under any spelling of the attribute's name, never the members."""
    guid = bytes(range(16))
    attributes = CaseInsensitiveDict()
    attributes["memberof"] = [f"cn=dept,{BASE}"]
    attributes["member"] = ["cn=someone"]
    ad_group = {"dn": f"CN=Team,{BASE}", "attributes": attributes}
    ad_group["raw_attributes"] = {"objectGUID": [guid]}
    (plain,) = plain_entries([ad_group])
    assert plain["dn"] == f"CN=Team,{BASE}"
    assert group_uuid(plain) == group_uuid(ad_group) == "03020100-0504-0706-0809-0a0b0c0d0e0f"
    assert plain["attributes"] == {
        "memberOf": [f"cn=dept,{BASE}"],
        "entryUUID": ["03020100-0504-0706-0809-0a0b0c0d0e0f"],
    }
    (openldap,) = plain_entries([entry("team", parents=["dept"], uuid="ABC")])
    assert group_uuid(openldap) == "abc"
    assert plain_entries([entry("top")])[0]["attributes"]["memberOf"] == []
