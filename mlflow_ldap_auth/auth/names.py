"""When two login names are the same name, and the one name no directory user may take.

``name_key`` is the comparison every rule about names uses (logins, token owners, the
break-glass admin). ``refuse_break_glass_name`` is the rule that MLflow's break-glass
admin (``[mlflow] admin_username``) is never a directory user: whatever path reaches
provisioning or the role sync (a login, an admin's request naming a user, a
revalidation, the command line), a directory entry whose canonical name is the
break-glass name must not adopt its row, which would replace its admin flag with the
directory's answer and lock the operator out for good.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.errors import Forbidden, NotAllowed

#: The audit reason of a directory user refused for having the break-glass name.
LOCAL_ADMIN_NAME = reasons.LOCAL_ADMIN_NAME
_SPACE_RUN = re.compile(" +")


def name_key(name: str) -> str:
    """The form in which two login names are "the same name".

    NFKC, case folding, and spaces as LDAP matching sees them (RFC 4518 insignificant
    space handling: leading and trailing spaces dropped, inner runs as one), so that
    `` admin`` cannot reach the directory as a different name from ``admin``.
    """
    return _SPACE_RUN.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip(" ")


def refuse_break_glass_name(username: str, break_glass_name: str) -> None:
    """``NotAllowed`` if the directory user ``username`` has the break-glass admin's name."""
    if name_key(username) == name_key(break_glass_name):
        raise NotAllowed(
            f"directory user {username!r} has the name of the break-glass admin "
            f"{break_glass_name!r} ([mlflow] admin_username)",
            reason=LOCAL_ADMIN_NAME,
        )


def owner_shown(
    requester: str,
    user: str | None,
    everyone: bool,
    is_admin: Callable[[str], bool],
    refusal: str,
) -> str | None:
    """Whose tokens or sessions ``requester`` asks to see (None: everyone's): their own,
    or, for an admin, anyone's; ``Forbidden(refusal)`` for a non-admin asking more."""
    if everyone or (user is not None and name_key(user) != name_key(requester)):
        if not is_admin(requester):
            raise Forbidden(refusal)
        return None if everyone else user
    return requester
