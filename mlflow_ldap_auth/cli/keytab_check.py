"""``check`` with ``kerberos_keytab`` set: what single sign-on needs, one line each.

The ``kerberos`` extra is installed; the keytab is readable by whoever runs ``check``
(run it as the server's user) and is a keytab; it holds the service principal (the
configured one, or its first ``HTTP/`` one); and the key version the directory's KDC
encrypts tickets with (``msDS-KeyVersionNumber`` of the account holding the SPN) is one
the keytab holds. A key version the service account may not read, or a directory that is
not Active Directory, is a warning: the other lines still say whether the keytab can work.

Only principal names, key versions and enctypes are printed: the reader never keeps a key.
"""

from __future__ import annotations

import importlib.util

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import AuthError, KeytabError
from mlflow_ldap_auth.kerberos.keytab import KeytabEntry, default_service_principal, read_keytab
from mlflow_ldap_auth.ldap.directory import Directory

#: What the server imports to accept ``Authorization: Negotiate`` (the ``kerberos`` extra).
EXTRA_MODULES = ("gssapi",)


def check_kerberos(settings: LdapSettings, directory: Directory, *, bound: bool) -> list[str]:
    """Print the Kerberos lines of ``check``; return the failures (none: all usable).

    ``bound``: the service account's bind worked, so the directory can be asked."""
    failed = _check_extra()
    path = settings.kerberos_keytab
    try:
        entries = read_keytab(str(path))
    except OSError as exc:
        print(f"keytab {path}: NOT READABLE: {exc.strerror or exc}")
        return failed + [f"keytab {path} not readable: {exc.strerror or exc}"]
    except KeytabError as exc:
        print(f"keytab {path}: NOT A KEYTAB: {exc}")
        return failed + [f"keytab {path} is not a keytab: {exc}"]
    print(f"keytab {path}: readable ({len(entries)} keys)")
    principal = settings.kerberos_service_principal
    source = "configured"
    if not principal:
        principal, source = default_service_principal(entries), "the keytab's first HTTP/ one"
    if principal is None:
        print("service principal: NONE: the keytab holds no HTTP/ principal")
        return failed + [f"keytab {path} holds no HTTP/ principal"]
    keys = [entry for entry in entries if entry.is_principal(principal)]
    if not keys:
        held = ", ".join(sorted({entry.principal for entry in entries})) or "nothing"
        print(f"service principal {principal} ({source}): NOT IN THE KEYTAB: it holds {held}")
        return failed + [f"keytab {path} holds no key of {principal}"]
    print(f"service principal {principal} ({source}): in the keytab ({_describe(keys)})")
    return failed + _compare_key_version(directory, keys, bound=bound)


def _check_extra() -> list[str]:
    """Whether the server could import what accepts tickets (without importing it)."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(f"kerberos extra: MISSING ({', '.join(missing)})")
        return ["the kerberos extra is not installed: pip install 'mlflow-ldap-auth[kerberos]'"]
    print(f"kerberos extra: installed ({', '.join(EXTRA_MODULES)})")
    return []


def _compare_key_version(
    directory: Directory, keys: list[KeytabEntry], *, bound: bool
) -> list[str]:
    spn = keys[0].name
    line = f"key version of {spn}"
    if not bound:
        print(f"{line}: not compared (warning): the service account could not bind")
        return []
    try:
        accounts = directory.spn_accounts(spn)
    except AuthError as exc:
        print(f"{line}: not compared (warning): the directory did not answer: {exc}")
        return []
    if accounts is None:
        print(f"{line}: not compared (warning): the directory is not Active Directory")
        return []
    if not accounts:
        print(f"{line}: NO ACCOUNT in the directory holds the SPN {spn}")
        return [f"no account in the directory holds the SPN {spn}: browsers get no ticket for it"]
    if len(accounts) > 1:
        names = ", ".join(account.dn for account in accounts)
        print(f"{line}: {len(accounts)} ACCOUNTS hold the SPN {spn} ({names})")
        return [f"{len(accounts)} accounts hold the SPN {spn}: the KDC issues no ticket for it"]
    account = accounts[0]
    held = sorted({key.kvno for key in keys})
    if account.key_version is None:
        print(
            f"{line}: not compared (warning): msDS-KeyVersionNumber of {account.dn} is not "
            "readable with the service account"
        )
        return []
    if account.key_version not in held:
        print(
            f"{line}: MISMATCH: the directory's is {account.key_version} ({account.dn}), "
            f"the keytab holds {', '.join(map(str, held))}: export the keytab again"
        )
        return [
            f"the keytab holds key version {', '.join(map(str, held))} of {spn}, the directory "
            f"{account.key_version}: export the keytab again"
        ]
    print(f"{line}: {account.key_version}, as in the directory ({account.dn}): ok")
    return []


def _describe(keys: list[KeytabEntry]) -> str:
    """``kvno 2: aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96``, per key version."""
    versions: dict[int, list[str]] = {}
    for key in keys:
        versions.setdefault(key.kvno, []).append(key.enctype_name)
    return "; ".join(f"kvno {kvno}: {', '.join(names)}" for kvno, names in sorted(versions.items()))
