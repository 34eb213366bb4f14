"""The directory's own lockout policies: after how many failed binds, counted over how
long, the directory locks an account, so the spraying guard stays below.

* Active Directory: the domain's ``lockoutThreshold`` / ``lockOutObservationWindow``
  (domain object named by the rootDSE's ``defaultNamingContext``); a fine-grained
  policy (PSO) that applies to a user is named by the user's constructed
  ``msDS-ResultantPSO`` and holds ``msDS-LockoutThreshold`` /
  ``msDS-LockoutObservationWindow``.
* OpenLDAP ppolicy (the rootDSE lists the password policy control): a user's policy is
  the entry its ``pwdPolicySubentry`` names, else the overlay's default policy
  (``olcPPolicyDefault``). That one is in ``cn=config``, which a service account can
  rarely read; the policy entries themselves (``objectClass=pwdPolicy``) are in the
  tree. When the default cannot be read, the strictest readable policy stands in for it.
  ``pwdLockout: TRUE`` with ``pwdMaxFailure`` > 0 locks; failures count over
  ``pwdFailureCountInterval`` seconds, and with 0 (or none) until a successful bind.

A policy that applies but cannot be read (a PSO the service account may not read, a
ppolicy directory that shows no policy entry) is taken as ``unreadable``: locking
after ``UNREADABLE_THRESHOLD`` failures kept until a successful bind, and a warning
says what to make readable; so is a read that fails (tried again after
``RETRY_SECONDS``). Facts are read on first need and again after ``REFRESH_SECONDS``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import ldap3

from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.connection import LdapConnection, wire_dn
from mlflow_ldap_auth.ldap.dn import DnKey, InvalidDn, dn_key
from mlflow_ldap_auth.ldap.domain import ad_interval_seconds, root_dse
from mlflow_ldap_auth.ldap.entries import all_values, attributes_of, first
from mlflow_ldap_auth.ldap.service_account import ServiceConnections

_logger = logging.getLogger(__name__)

#: The password policy request control: the rootDSE lists it where ppolicy runs.
PPOLICY_CONTROL = "1.3.6.1.4.1.42.2.27.8.5.1"
#: What a user entry says about its own policy (named in the user search).
USER_POLICY_ATTRIBUTES = ["pwdPolicySubentry", "msDS-ResultantPSO"]
POLICY_ATTRIBUTES = [
    "pwdLockout",
    "pwdMaxFailure",
    "pwdFailureCountInterval",
    "msDS-LockoutThreshold",
    "msDS-LockoutObservationWindow",
]
#: A policy that applies but cannot be read is taken to lock after this many failures.
UNREADABLE_THRESHOLD = 3
REFRESH_SECONDS = 600
RETRY_SECONDS = 30


@dataclass(frozen=True)
class DirectoryLockout:
    """The directory locks an account after ``threshold`` failed binds counted over
    ``window_seconds`` (None: kept until a successful bind); ``source`` says where
    this was read (for the log)."""

    threshold: int
    window_seconds: int | None
    source: str


def unreadable(source: str) -> DirectoryLockout:
    return DirectoryLockout(UNREADABLE_THRESHOLD, None, f"{source} (not readable)")


def strictest(policies: Iterable[DirectoryLockout | None]) -> DirectoryLockout | None:
    """One policy at least as strict as each of ``policies`` (None: no lockout)."""
    known = [policy for policy in policies if policy is not None]
    if not known:
        return None
    windows = [policy.window_seconds for policy in known]
    return DirectoryLockout(
        min(policy.threshold for policy in known),
        None if None in windows else max(window for window in windows if window is not None),
        "the strictest of " + ", ".join(sorted({policy.source for policy in known})),
    )


def ppolicy_lockout(attributes: dict, source: str) -> DirectoryLockout | None:
    """From a ``pwdPolicy`` entry; None if it does not lock."""
    if str(first(attributes.get("pwdLockout")) or "").upper() != "TRUE":
        return None
    threshold = _number(first(attributes.get("pwdMaxFailure")))
    if not threshold:
        return None
    interval = _number(first(attributes.get("pwdFailureCountInterval")))
    return DirectoryLockout(threshold, interval or None, source)


def ad_lockout(threshold, window, source: str) -> DirectoryLockout | None:
    """From AD's threshold and observation window (domain or PSO); None if it does not lock."""
    count = _number(threshold)
    if not count:
        return None
    return DirectoryLockout(count, ad_interval_seconds(window) or None, source)


def _number(value) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "", []) else None
    except ValueError:
        return None


@dataclass
class _Facts:
    #: Whether the directory locks at all as far as it shows (AD, ppolicy, or unknown).
    default: DirectoryLockout | None
    #: Policy entries read so far, by DN key (None: that entry does not lock).
    by_dn: dict[DnKey, DirectoryLockout | None]
    read_at: float


def read_facts(connection: LdapConnection, now: float) -> _Facts:
    """The directory-wide policy and the policy entries the service account can read."""
    root = root_dse(connection, ["defaultNamingContext", "namingContexts", "supportedControl"])
    domain_nc = first(root.get("defaultNamingContext"))
    if domain_nc:  # Active Directory
        entries = connection.search(
            str(domain_nc),
            "(objectClass=*)",
            ldap3.BASE,
            ["lockoutThreshold", "lockOutObservationWindow"],
        )
        attributes = attributes_of(entries[0]) if entries else {}
        if not entries:
            return _Facts(unreadable(f"the domain policy of {domain_nc}"), {}, now)
        default = ad_lockout(
            first(attributes.get("lockoutThreshold")),
            first(attributes.get("lockOutObservationWindow")),
            f"the domain policy of {domain_nc}",
        )
        return _Facts(default, {}, now)
    contexts = [str(value) for value in all_values(root.get("namingContexts"))]
    controls = {str(value) for value in all_values(root.get("supportedControl"))}
    if not contexts:
        return _Facts(unreadable("the rootDSE"), {}, now)
    if PPOLICY_CONTROL not in controls:
        return _Facts(None, {}, now)  # no lockout this plugin can know of
    by_dn: dict[DnKey, DirectoryLockout | None] = {}
    for context in contexts:
        for entry in connection.search(
            wire_dn(context), "(objectClass=pwdPolicy)", ldap3.SUBTREE, POLICY_ATTRIBUTES
        ):
            with contextlib.suppress(InvalidDn):  # not a DN: no user can name it
                by_dn[dn_key(entry["dn"])] = ppolicy_lockout(attributes_of(entry), entry["dn"])
    default_dn = _ppolicy_default(connection)
    if default_dn is not None and (default_key := _key(default_dn)) in by_dn:
        default = by_dn[default_key]
    elif default_dn is not None:
        default = unreadable(default_dn)
    elif by_dn:
        default = strictest(by_dn.values())
    else:
        default = unreadable("the ppolicy default policy")
    return _Facts(default, by_dn, now)


def _ppolicy_default(connection: LdapConnection) -> str | None:
    """``olcPPolicyDefault`` where ``cn=config`` is readable (rarely); else None."""
    try:
        entries = connection.search(
            "cn=config", "(objectClass=olcPPolicyConfig)", ldap3.SUBTREE, ["olcPPolicyDefault"]
        )
    except DirectoryUnavailable as exc:
        if exc.reason != "search_error":
            raise
        return None
    for entry in entries:
        value = first(attributes_of(entry).get("olcPPolicyDefault"))
        if value:
            return str(value)
    return None


def _key(dn: str) -> DnKey | None:
    try:
        return dn_key(dn)
    except InvalidDn:
        return None


def read_policy_entry(connection: LdapConnection, dn: str) -> DirectoryLockout | None:
    """The lockout of the policy entry at ``dn`` (ppolicy or a PSO); unreadable if hidden."""
    try:
        entries = connection.search(wire_dn(dn), "(objectClass=*)", ldap3.BASE, POLICY_ATTRIBUTES)
    except DirectoryUnavailable as exc:
        if exc.reason != "search_error":
            raise
        entries = []
    attributes = attributes_of(entries[0]) if entries else {}
    if first(attributes.get("msDS-LockoutThreshold")) is not None:
        return ad_lockout(
            first(attributes.get("msDS-LockoutThreshold")),
            first(attributes.get("msDS-LockoutObservationWindow")),
            dn,
        )
    if first(attributes.get("pwdMaxFailure")) is not None or first(attributes.get("pwdLockout")):
        return ppolicy_lockout(attributes, dn)
    return unreadable(dn)


class DirectoryPolicies:
    """Which lockout the directory applies to an account, read with the service account."""

    def __init__(
        self, service: ServiceConnections, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._service = service
        self._clock = clock
        self._lock = threading.Lock()
        self._facts: _Facts | None = None
        self._warned: set[str] = set()

    def for_entry(self, policy_dn: str | None) -> DirectoryLockout | None:
        """The lockout of a user whose entry names ``policy_dn`` (None: the default one)."""
        facts = self._current()
        if policy_dn is None:
            return self._noted(facts.default)
        key = _key(policy_dn)
        if key is None:
            return self._noted(unreadable(policy_dn))
        with self._lock:
            known, policy = key in facts.by_dn, facts.by_dn.get(key)
        if known:
            return self._noted(policy)
        try:
            policy = self._service.run(lambda connection: read_policy_entry(connection, policy_dn))
        except DirectoryUnavailable as exc:
            _logger.warning("Could not read the password policy %s: %s", policy_dn, exc)
            return self._noted(unreadable(policy_dn))  # read again next time
        with self._lock:
            facts.by_dn[key] = policy
        return self._noted(policy)

    def strictest(self) -> DirectoryLockout | None:
        """At least as strict as every policy known (direct bind reads no entry first)."""
        facts = self._current()
        with self._lock:
            known = list(facts.by_dn.values())
        return self._noted(strictest([facts.default, *known]))

    def _current(self) -> _Facts:
        """The facts, read again after ``REFRESH_SECONDS``; a failed read is taken as
        unreadable and tried again after ``RETRY_SECONDS``."""
        now = self._clock()
        facts = self._facts
        if facts is None or now >= facts.read_at + REFRESH_SECONDS:
            try:
                facts = self._service.run(lambda connection: read_facts(connection, now))
            except DirectoryUnavailable as exc:
                _logger.warning("Could not read the directory's lockout policies: %s", exc)
                retry_at = now - REFRESH_SECONDS + RETRY_SECONDS
                facts = _Facts(unreadable("the directory's policies"), {}, retry_at)
            self._facts = facts
        return facts

    def _noted(self, policy: DirectoryLockout | None) -> DirectoryLockout | None:
        """``policy``; a policy that could not be read is warned about once per worker."""
        if policy is not None and policy.source.endswith("(not readable)"):
            with self._lock:
                first_time = policy.source not in self._warned
                self._warned.add(policy.source)
            if first_time:
                _logger.warning(
                    "The directory's lockout policy %s: the spraying guard assumes it locks "
                    "after %s failed binds kept until a successful one. Let the service "
                    "account read the policy entries (pwdPolicy: pwdLockout, pwdMaxFailure, "
                    "pwdFailureCountInterval; AD: msDS-ResultantPSO and the PSO's "
                    "msDS-Lockout* attributes) to use the real one.",
                    policy.source,
                    UNREADABLE_THRESHOLD,
                )
        return policy
