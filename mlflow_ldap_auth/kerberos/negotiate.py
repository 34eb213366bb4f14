"""``Authorization: Negotiate`` end to end: the accept, then the ticket's user admitted.

``NegotiateAuthenticator.authenticate(token, source)`` is what the web layer's
authenticator of ``NegotiateCredential`` calls: the accept (``acceptor``: the ticket
proved for this service, the client principal), then the login of that principal
(``auth.ticket_login``: the directory user, its account state and the password login's
admission, cached). A refusal of either is audited here, once, as a refused ``login``
with ``"method": "negotiate"`` and the reason of docs/reference/audit.md; a success is
audited by the admission (reason ``kerberos_ticket``), or not at all when the login was
answered from the cache (a cache hit is no new decision, as for passwords).

``service_principal(settings)`` is the start-up check: the extra is installed, the
keytab gives the acceptor credential of the configured principal (or of its first
``HTTP/`` one). The server does not start without them (one line naming what to do).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow_ldap_auth.auth.login import NEGOTIATE_METHOD, LoginService
from mlflow_ldap_auth.auth.provisioning import Principal
from mlflow_ldap_auth.auth.ticket_login import TicketLogins
from mlflow_ldap_auth.config import Settings
from mlflow_ldap_auth.errors import AuthError, KeytabError
from mlflow_ldap_auth.kerberos.acceptor import (
    KerberosSetupError,
    NegotiateAcceptor,
    acceptor_credential,
    gssapi_module,
)
from mlflow_ldap_auth.kerberos.keytab import default_service_principal, read_keytab


@dataclass(frozen=True)
class SignedIn:
    """Who a Negotiate token signed in, and the mutual-authentication token to send back."""

    principal: Principal
    mutual_token: bytes | None


class NegotiateAuthenticator:
    def __init__(self, acceptor: NegotiateAcceptor, login_service: LoginService) -> None:
        self.acceptor = acceptor
        self._login_service = login_service
        self._logins = TicketLogins(login_service)

    def authenticate(self, token: bytes, source: str | None) -> SignedIn:
        """The principal ``token`` signs in; ``AuthError`` (already audited) otherwise."""
        client_principal = None
        try:
            accepted = self.acceptor.accept(token)
            client_principal = accepted.client_principal
            principal = self._logins.login(client_principal, source)
        except AuthError as error:
            self._login_service.audit_refusal(
                client_principal, source, error, method=NEGOTIATE_METHOD
            )
            raise
        return SignedIn(principal, accepted.mutual_token)


def service_principal(settings: Settings) -> str | None:
    """The principal whose tickets the server accepts, checked against the keytab; None
    without ``kerberos_keytab``. ``KerberosSetupError`` (one line) when the extra is missing or
    the keytab gives no acceptor credential of it."""
    keytab = settings.ldap.kerberos_keytab
    if not keytab:
        return None
    gssapi = gssapi_module()
    principal = settings.ldap.kerberos_service_principal or keytab_http_principal(keytab)
    if not principal.startswith("HTTP/"):
        raise KerberosSetupError(
            f"kerberos_service_principal {principal} is no HTTP/ service principal: "
            "browsers ask for HTTP/<host>"
        )
    acceptor_credential(gssapi, keytab, principal)
    return principal


def keytab_http_principal(keytab: str) -> str:
    """The keytab's first ``HTTP/`` principal (``keytab``'s reader); ``KerberosSetupError``
    when the file cannot be read as a keytab or holds none."""
    try:
        entries = read_keytab(keytab)
    except (OSError, KeytabError) as error:
        raise KerberosSetupError(f"kerberos_keytab {keytab}: {error}") from None
    principal = default_service_principal(entries)
    if principal is None:
        held = sorted({entry.principal for entry in entries}) or ["nothing"]
        raise KerberosSetupError(
            f"kerberos_keytab {keytab} holds no HTTP/ service principal (it holds "
            f"{', '.join(held)}): export the HTTP/<host> key, or set kerberos_service_principal"
        )
    return principal
