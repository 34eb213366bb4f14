"""What can go wrong, said plainly. ``web.http_answers`` turns these into HTTP answers.

Two families:

* ``AuthError``: login outcomes that are not a success (401/403/503);
* ``DomainError``: a request the plugin refuses (a bad field, an unknown id, a mapping that
  exists, a rate reached). Each class carries MLflow's error code and HTTP status and the
  message the client reads; the domain modules raise these, never ``MlflowException``,
  so they do not depend on MLflow's protobuf codes, and one function
  (``web.http_answers.error_answer``) writes every answer in MLflow's JSON error format.

``error_code`` and ``message`` are named as on ``MlflowException``: a page that shows an
error reads either the same way.
"""

from __future__ import annotations

from mlflow_ldap_auth import reasons


class ConfigError(Exception):
    """The configuration file has one or more problems; all are listed."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"mlflow-ldap-auth: invalid configuration in {path}:\n{lines}")


class KeytabError(Exception):
    """A file given as a keytab is not one MIT Kerberos could read (``kerberos.keytab``)."""


class AuthError(Exception):
    """Base of the login outcomes that are not a success.

    ``reason`` is a short machine-friendly word for the audit log; the message is for
    operators (log), never sent to the client verbatim.
    """

    reason = reasons.ERROR

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        if reason is not None:
            self.reason = reason


class InvalidCredentials(AuthError):
    """Unknown user, wrong or empty password, malformed header, refused account."""

    reason = reasons.INVALID_CREDENTIALS


class NotAllowed(AuthError):
    """The password is right but this account may not use MLflow."""

    reason = reasons.NOT_ALLOWED


class DirectoryUnavailable(AuthError):
    """No directory server could answer (down, timed out, TLS failure, misconfigured)."""

    reason = reasons.DIRECTORY_UNAVAILABLE


class SearchRefused(DirectoryUnavailable):
    """A directory server answered a search with an error result (a referral, a limit,
    an access error), not a busy or unavailable one: the server is up but will not
    answer this search. A login still answers 503; revalidation tells it apart from an
    outage (``auth.revalidation``)."""

    reason = reasons.SEARCH_ERROR


class DomainError(Exception):
    """A request the plugin refuses; ``message`` is what the client reads."""

    error_code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        """Headers of the HTTP answer besides its content type."""
        return {}


class InvalidRequest(DomainError):
    """A field, parameter or body the request got wrong."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class NotFound(DomainError):
    """No such token, mapping, group, user or resource (or none this requester may see)."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class AlreadyExists(DomainError):
    """What the request would create exists already. 400, as MLflow answers this code."""

    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class Forbidden(DomainError):
    """The requester is known but may not do this."""

    error_code = "PERMISSION_DENIED"
    http_status = 403


class Unavailable(DomainError):
    """Something the request needs (the directory) cannot answer now."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class RateLimited(DomainError):
    """Too many of something lately; ``retry_after``: seconds until it is allowed again."""

    error_code = "RESOURCE_EXHAUSTED"
    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
