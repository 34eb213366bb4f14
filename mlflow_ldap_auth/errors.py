"""What can go wrong, said plainly. ``http_answers`` turns these into 401/403/503."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration file has one or more problems; all are listed."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"mlflow-ldap-auth: invalid configuration in {path}:\n{lines}")


class AuthError(Exception):
    """Base of the login outcomes that are not a success.

    ``reason`` is a short machine-friendly word for the audit log; the message is for
    operators (log), never sent to the client verbatim.
    """

    reason = "error"

    def __init__(self, message: str = "", reason: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        if reason is not None:
            self.reason = reason


class InvalidCredentials(AuthError):
    """Unknown user, wrong or empty password, malformed header, refused account."""

    reason = "invalid_credentials"


class NotAllowed(AuthError):
    """The password is right but this account may not use MLflow."""

    reason = "not_allowed"


class DirectoryUnavailable(AuthError):
    """No directory server could answer (down, timed out, TLS failure, misconfigured)."""

    reason = "directory_unavailable"


class SearchRefused(DirectoryUnavailable):
    """A directory server answered a search with an error result (a referral, a limit,
    an access error), not a busy or unavailable one: the server is up but will not
    answer this search. A login still answers 503; revalidation tells it apart from an
    outage (``auth.revalidation``)."""

    reason = "search_error"
