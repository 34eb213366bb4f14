"""Whether a directory account may still be used, read from its entry's attributes.

Read at every user search (login and revalidation) with the service account, so it
costs no extra search:

* Active Directory: ``userAccountControl`` bit 2 (ACCOUNTDISABLE) -> ``disabled``;
  ``msDS-User-Account-Control-Computed`` bit 0x10 (UF_LOCKOUT), which the DC computes
  from ``lockoutTime`` and the domain's lockout duration, -> ``locked`` (without it:
  a non-zero ``lockoutTime``); ``accountExpires`` in the past -> ``expired``;
  ``pwdLastSet`` is the password marker.
* OpenLDAP ppolicy overlay: ``pwdAccountLockedTime`` present -> ``locked``;
  ``pwdChangedTime`` is the password marker.

The *password marker* changes whenever the password does; a change evicts cached
passwords (``auth.revalidation``). Values are read from ``raw_attributes`` (bytes), so
the result does not depend on whether ldap3 knows the server's schema.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

#: What every user search reads besides the username attribute and memberOf.
STATE_ATTRIBUTES = (
    "userAccountControl",
    "msDS-User-Account-Control-Computed",
    "lockoutTime",
    "accountExpires",
    "pwdLastSet",
    "pwdAccountLockedTime",
    "pwdChangedTime",
)

ACCOUNTDISABLE = 0x2
UF_LOCKOUT = 0x10
_NEVER = {0, 0x7FFFFFFFFFFFFFFF}
#: Seconds between 1601-01-01 (Windows FILETIME epoch) and 1970-01-01.
_FILETIME_EPOCH_OFFSET = 11_644_473_600

OK = "ok"
DISABLED = "disabled"
LOCKED = "locked"
EXPIRED = "expired"


@dataclass(frozen=True)
class AccountState:
    """``status``: ``ok`` or why the account is refused; ``password_marker``: see above."""

    status: str = OK
    password_marker: str | None = None

    @property
    def usable(self) -> bool:
        return self.status == OK


#: An entry that says nothing against its account.
USABLE = AccountState()


def _raw_values(raw_attributes: dict, name: str) -> list[bytes]:
    wanted = name.casefold()
    for key, value in (raw_attributes or {}).items():
        if key.casefold() == wanted:
            values = value if isinstance(value, list) else [value]
            return [v for v in values if isinstance(v, bytes)]
    return []


def _text(raw_attributes: dict, name: str) -> str | None:
    values = _raw_values(raw_attributes, name)
    if not values:
        return None
    return values[0].decode("utf-8", "replace").strip() or None


def _number(raw_attributes: dict, name: str) -> int | None:
    text = _text(raw_attributes, name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def account_state(raw_attributes: dict, now: float | None = None) -> AccountState:
    """The state the entry's attributes describe (see the module docstring)."""
    now = time.time() if now is None else now
    marker = _text(raw_attributes, "pwdChangedTime") or _text(raw_attributes, "pwdLastSet")
    control = _number(raw_attributes, "userAccountControl")
    if control is not None and control & ACCOUNTDISABLE:
        return AccountState(DISABLED, marker)
    computed = _number(raw_attributes, "msDS-User-Account-Control-Computed")
    if computed is not None:
        if computed & UF_LOCKOUT:
            return AccountState(LOCKED, marker)
    elif (_number(raw_attributes, "lockoutTime") or 0) > 0:
        return AccountState(LOCKED, marker)
    if _raw_values(raw_attributes, "pwdAccountLockedTime"):
        return AccountState(LOCKED, marker)
    expires = _number(raw_attributes, "accountExpires")
    if expires is not None and expires not in _NEVER:
        if expires / 10_000_000 - _FILETIME_EPOCH_OFFSET < now:
            return AccountState(EXPIRED, marker)
    return AccountState(OK, marker)
