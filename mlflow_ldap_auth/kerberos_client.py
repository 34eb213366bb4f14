"""``MLFLOW_TRACKING_AUTH=kerberos``: the MLflow client signs in with the user's Kerberos
ticket (docs/kerberos.md#the-python-client).

MLflow asks every ``mlflow.request_auth_provider`` entry point for the provider whose
``get_name`` is the value of ``MLFLOW_TRACKING_AUTH``, and sends each request with what
its ``get_auth`` returns. This one returns ``requests_gssapi.HTTPSPNEGOAuth`` for the
ticket cache of the environment (``KRB5CCNAME``, or the default one ``kinit`` fills):

- opportunistic: the ``Negotiate`` token goes with the first request, so a request
  costs one round trip, not a 401 and a retry (which would also send a POST's body
  twice);
- mutual authentication ``OPTIONAL``: when the server answers with its token
  (``WWW-Authenticate: Negotiate <AP-REP>``, as this plugin does) it is verified, and a
  wrong one fails the request; a server that sends none is not refused for it.

Outside the server's layers, like ``client``: a client machine imports no Flask, and a
plain install imports no Kerberos library at all (``requests_gssapi`` is imported in
``get_auth``, with a message naming the extra when it is missing).
"""

from __future__ import annotations

from mlflow.tracking.request_auth.abstract_request_auth_provider import RequestAuthProvider

#: ``MLFLOW_TRACKING_AUTH``'s value, and the entry point's name in pyproject.toml.
NAME = "kerberos"
EXTRA_HINT = "pip install 'mlflow-ldap-auth[kerberos]'"


class KerberosAuthProvider(RequestAuthProvider):
    def get_name(self) -> str:
        return NAME

    def get_auth(self):
        try:
            import requests_gssapi
        except ImportError:
            raise ImportError(
                f"MLFLOW_TRACKING_AUTH=kerberos needs the Kerberos libraries: {EXTRA_HINT}"
            ) from None
        return requests_gssapi.HTTPSPNEGOAuth(
            mutual_authentication=requests_gssapi.OPTIONAL, opportunistic_auth=True
        )
