"""Seed a provisioned Samba AD DC (run with Debian's /usr/bin/python3, which has samba).

    /usr/bin/python3 seed_ad.py <smb.conf> <password-of-users>

People (password as given): alice, bob, carol (admin), dave, svc-mlflow (service
account), dora (disabled), ed (account expired), max (must change password), lou (to be
locked out by the test), tia and tom (to be disabled / locked while their access tokens are
in use), jdoe (UPN jane.doe@corp.example.com); svc-http (random password) holds the SPN
HTTP/localhost with AES enctypes, for Kerberos single sign-on. The forest has the extra
UPN suffix mlflow.example. Groups: mlflow-admins, Level 1 > Level 2 > Level 3 nesting
(alice in level-1), "Data, Science" (a comma in the CN; bob), big-group (alice and
1,600 more members: beyond AD's 1,500-value range).
"""

import secrets
import sys

import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB

smb_conf, password = sys.argv[1], sys.argv[2]
lp = LoadParm()
lp.load(smb_conf)
samdb = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
base = str(samdb.domain_dn())
users_dn = f"CN=Users,{base}"

# A short lockout so the test can lock an account with three wrong passwords.
policy = ldb.Message()
policy.dn = ldb.Dn(samdb, base)
for attribute, value in (
    ("lockoutThreshold", "3"),
    ("lockoutDuration", "-6000000000"),  # 10 minutes, in 100 ns units
    ("lockOutObservationWindow", "-6000000000"),
):
    policy[attribute] = ldb.MessageElement(value, ldb.FLAG_MOD_REPLACE, attribute)
samdb.modify(policy)

# A forest-wide extra UPN suffix (AD "Domains and Trusts" -> UPN suffixes).
partitions = ldb.Message()
partitions.dn = ldb.Dn(samdb, f"CN=Partitions,{samdb.get_config_basedn()}")
partitions["uPNSuffixes"] = ldb.MessageElement(["mlflow.example"], ldb.FLAG_MOD_ADD, "uPNSuffixes")
samdb.modify(partitions)

for name in (
    "alice",
    "bob",
    "carol",
    "dave",
    "svc-mlflow",
    "dora",
    "ed",
    "max",
    "lou",
    "tia",
    "tom",
    "jdoe",
):
    samdb.newuser(
        name,
        password,
        givenname=name.capitalize(),
        surname="Example",
        force_password_change_at_next_login_req=(name == "max"),
    )
samdb.disable_account("(sAMAccountName=dora)")
# A UPN whose prefix is not the sAMAccountName (common where UPN = e-mail address).
jdoe = ldb.Message()
jdoe.dn = samdb.search(base, expression="(sAMAccountName=jdoe)", attrs=[])[0].dn
jdoe["userPrincipalName"] = ldb.MessageElement(
    "jane.doe@corp.example.com", ldb.FLAG_MOD_REPLACE, "userPrincipalName"
)
samdb.modify(jdoe)
expired = ldb.Message()
expired.dn = samdb.search(base, expression="(sAMAccountName=ed)", attrs=[])[0].dn
# accountExpires in 1970: the account has expired.
expired["accountExpires"] = ldb.MessageElement(
    "116444736000000000", ldb.FLAG_MOD_REPLACE, "accountExpires"
)
samdb.modify(expired)

# The web service's account: its SPN is what a client asks a ticket for when it opens
# http://localhost:PORT (not HTTP/vm, which clashes with the DC's own host/vm). Without
# msDS-SupportedEncryptionTypes = 24 (AES128 | AES256) the KDC and the exported keytab
# use only RC4; samba_dc.py exports the keytab after this change.
samdb.newuser(
    "svc-http",
    f"Http-{secrets.token_urlsafe(24)}!9",
    givenname="Svc",
    surname="Http",
)
service = ldb.Message()
service.dn = samdb.search(base, expression="(sAMAccountName=svc-http)", attrs=[])[0].dn
service["servicePrincipalName"] = ldb.MessageElement(
    "HTTP/localhost", ldb.FLAG_MOD_ADD, "servicePrincipalName"
)
service["msDS-SupportedEncryptionTypes"] = ldb.MessageElement(
    "24", ldb.FLAG_MOD_REPLACE, "msDS-SupportedEncryptionTypes"
)
samdb.modify(service)

for group in ("mlflow-admins", "level-1", "level-2", "level-3", "big-group"):
    samdb.newgroup(group)
# A comma in the CN (RFC 4514 escaping in every DN that names it).
samdb.add(
    {
        "dn": f"CN=Data\\, Science,{users_dn}",
        "objectClass": "group",
        "sAMAccountName": "data-science",
    }
)
samdb.add_remove_group_members("mlflow-admins", ["carol"], add_members_operation=True)
samdb.add_remove_group_members("level-1", ["alice"], add_members_operation=True)
samdb.add_remove_group_members("level-2", ["level-1"], add_members_operation=True)
samdb.add_remove_group_members("level-3", ["level-2"], add_members_operation=True)
samdb.add_remove_group_members("data-science", ["bob"], add_members_operation=True)

# 1,600 extra members for big-group: plain user objects (no password), one transaction.
samdb.transaction_start()
try:
    members = []
    for i in range(1600):
        dn = f"CN=bulk{i:04d},{users_dn}"
        samdb.add({"dn": dn, "objectClass": "user", "sAMAccountName": f"bulk{i:04d}"})
        members.append(dn)
    samdb.transaction_commit()
except Exception:
    samdb.transaction_cancel()
    raise
group_dn = f"CN=big-group,{users_dn}"
message = ldb.Message()
message.dn = ldb.Dn(samdb, group_dn)
message["member"] = ldb.MessageElement(
    members + [str(samdb.search(base, expression="(sAMAccountName=alice)", attrs=[])[0].dn)],
    ldb.FLAG_MOD_ADD,
    "member",
)
samdb.modify(message)
print("seeded", base)
