"""The accept step of ``Authorization: Negotiate``: a token -> the ticket's client principal.

One token, one leg: a browser or ``requests-gssapi`` sends a SPNEGO-wrapped Kerberos
AP-REQ (or a bare one), the accept checks the ticket with the service's key from the
keytab and answers the AP-REP, which goes back as ``WWW-Authenticate: Negotiate <token>``
(mutual authentication). Kerberos completes in that one leg; a context that wants more
(a continue-needed token) is refused, never kept between requests.

Built on python-gssapi with MIT's own SPNEGO mechanism, not on pyspnego's Negotiate
wrapper: pyspnego 0.12 reaches Kerberos only through the separate ``krb5`` bindings (its
GSSAPI proxy imports them for credentials and refuses to work without them), and its
server side cannot be handed an acceptor credential from a keytab of our choosing (only
the process-wide ``KRB5_KTNAME``). GSSAPI takes the keytab as a *credential store*
(``gss_acquire_cred_from``: ``{"keytab": path}``), so the setting ``kerberos_keytab``
applies to this acceptor alone and nothing is set for the whole process. The credential
is for the SPNEGO and Kerberos mechanisms only: with an NTLM mechanism installed (e.g.
gss-ntlmssp) SPNEGO could otherwise settle on NTLM; a context that completes with another
mechanism is refused all the same.

Failures become the reasons of docs/reference/audit.md by exception type first:
``InvalidTokenError``/``DefectiveTokenError`` and any token the SPNEGO layer cannot read
-> ``malformed_negotiate``; ``BadMechanismError`` (NTLM offered: no NTLM acceptor) ->
``ntlm_not_supported``; ``DuplicateTokenError`` -> ``replay``. MIT's
Kerberos mechanism answers a replay, a ticket for another service and clock skew all
with the same major status (``GSS_S_FAILURE``, no type of its own), and the minor codes
GSSAPI hands out are numbered per process in the order first seen: the only thing that
tells those three apart is the Kerberos error of the minor status, read as MIT's error
table words it (``KRB5KRB_AP_ERR_REPEAT`` "Request is a replay", ``KRB5KRB_AP_ERR_SKEW``
"Clock skew too great", ``KRB5KRB_AP_WRONG_PRINC`` / ``KRB5_KT_NOTFOUND`` / "Cannot
decrypt ticket ... using keytab key"). Anything else -> ``malformed_negotiate``. Every
refusal is an ``InvalidCredentials`` (401): nothing a client sends makes it a 5xx.

The replay cache is MIT's (``KRB5RCACHEDIR``, by default /var/tmp, shared by every
worker of the machine, so a token replayed to another worker is caught too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import InvalidCredentials

#: What ``pip`` installs for this module (the one line a start-up without it prints).
EXTRA_HINT = "pip install 'mlflow-ldap-auth[kerberos]'"
#: SPNEGO (RFC 4178) and Kerberos 5 (RFC 1964).
SPNEGO_OID = "1.3.6.1.5.5.2"
KERBEROS_OID = "1.2.840.113554.1.2.2"
#: Microsoft's legacy Kerberos OID, which Windows clients list first.
MS_KERBEROS_OID = "1.2.840.48018.1.2.2"

#: MIT's words for the Kerberos errors GSS_S_FAILURE carries (see the module docstring).
_FAILURE_WORDS: tuple[tuple[str, str], ...] = (
    ("request is a replay", reasons.REPLAY),
    ("clock skew too great", reasons.CLOCK_SKEW),
    ("not found in keytab", reasons.WRONG_SERVICE),
    ("wrong principal in request", reasons.WRONG_SERVICE),
    ("using keytab key for", reasons.WRONG_SERVICE),
    ("no key table entry found", reasons.WRONG_SERVICE),
)


def gssapi_module() -> Any:
    """python-gssapi, or ``KerberosSetupError`` naming the extra that installs it."""
    try:
        import gssapi
    except ImportError:
        raise KerberosSetupError(
            f"kerberos_keytab is set but the Kerberos libraries are missing: {EXTRA_HINT}"
        ) from None
    return gssapi


class KerberosSetupError(Exception):
    """Kerberos is configured but cannot work here: the extra or the keytab's principal
    is missing. One line, and the server does not start."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"mlflow-ldap-auth: {problem}")


@dataclass(frozen=True)
class Accepted:
    """An accepted ticket: its client principal, and the AP-REP to send back (or None)."""

    client_principal: str
    mutual_token: bytes | None


class NegotiateAcceptor:
    """Accepts Negotiate tokens for one service principal from one keytab; thread-safe
    (each accept is a context of its own; the credential is shared read-only)."""

    def __init__(self, keytab: str, service_principal: str) -> None:
        gssapi = gssapi_module()
        self._gssapi = gssapi
        self.keytab = keytab
        self.service_principal = service_principal
        self._mechs = {
            gssapi.OID.from_int_seq(SPNEGO_OID),
            gssapi.OID.from_int_seq(KERBEROS_OID),
        }
        self._kerberos = {
            gssapi.OID.from_int_seq(KERBEROS_OID),
            gssapi.OID.from_int_seq(MS_KERBEROS_OID),
        }
        self._credential = acceptor_credential(gssapi, keytab, service_principal)

    def accept(self, token: bytes) -> Accepted:
        """The client principal of ``token``, or ``InvalidCredentials`` with its reason."""
        gssapi = self._gssapi
        try:
            context = gssapi.SecurityContext(creds=self._credential, usage="accept")
            output = context.step(token)
            if not context.complete:
                raise InvalidCredentials(
                    "a Negotiate exchange of more than one leg",
                    reason=reasons.MALFORMED_NEGOTIATE,
                )
            if context.mech not in self._kerberos:
                raise InvalidCredentials(
                    "a Negotiate context of another mechanism than Kerberos",
                    reason=reasons.NTLM_NOT_SUPPORTED,
                )
            client_principal = str(context.initiator_name).rstrip("\0")
        except InvalidCredentials:
            raise
        except gssapi.exceptions.GSSError as error:
            raise InvalidCredentials(
                f"Negotiate token refused: {_short(error)}", reason=failure_reason(gssapi, error)
            ) from None
        except (ValueError, TypeError, OverflowError, MemoryError) as error:
            raise InvalidCredentials(
                f"Negotiate token unreadable: {type(error).__name__}",
                reason=reasons.MALFORMED_NEGOTIATE,
            ) from None
        return Accepted(client_principal, output or None)


def acceptor_credential(gssapi: Any, keytab: str, service_principal: str) -> Any:
    """The acceptor credential of ``service_principal`` from ``keytab`` (a credential
    store, not ``KRB5_KTNAME``); ``KerberosSetupError`` when the keytab cannot give it."""
    name = gssapi.Name(service_principal, gssapi.NameType.kerberos_principal)
    mechs = [gssapi.OID.from_int_seq(SPNEGO_OID), gssapi.OID.from_int_seq(KERBEROS_OID)]
    try:
        credential = gssapi.Credentials(
            name=name, usage="accept", mechs=mechs, store={b"keytab": keytab.encode()}
        )
        credential.inquire()  # a keytab without the principal fails here, not at a request
    except gssapi.exceptions.GSSError as error:
        raise KerberosSetupError(
            f"kerberos_keytab {keytab} holds no key of {service_principal}: {_short(error)}"
        ) from None
    return credential


def failure_reason(gssapi: Any, error: Exception) -> str:
    """The audit reason of a refused accept (see the module docstring)."""
    exceptions = gssapi.raw.exceptions
    if isinstance(error, exceptions.BadMechanismError):
        return reasons.NTLM_NOT_SUPPORTED
    if isinstance(error, exceptions.DuplicateTokenError):
        return reasons.REPLAY
    if type(error) is not gssapi.raw.misc.GSSError:
        # A type of its own (invalid or defective token, bad MIC, no credential for
        # the token's mechanism): the token is not one this service can read.
        return reasons.MALFORMED_NEGOTIATE
    # GSS_S_FAILURE: only the Kerberos error of the minor status tells more.
    text = _minor_text(error).casefold()
    for words, reason in _FAILURE_WORDS:
        if words in text:
            return reason
    return reasons.MALFORMED_NEGOTIATE


def _minor_text(error: Exception) -> str:
    gen_message = getattr(error, "gen_message", None)
    return str(gen_message()) if gen_message is not None else ""


def _short(error: Exception) -> str:
    return _minor_text(error)[:300] or type(error).__name__
