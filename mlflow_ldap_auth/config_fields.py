"""How a settings field carries the definition of its INI key (``setting``, ``Key``).

``config_keys`` defines the keys with these; the parser (``config``) and the docs
tables (``config_docs``) read them back with ``keys_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from mlflow_ldap_auth.config_values import Kind

#: The default of a key that must be set.
REQUIRED: Any = object()
_KEY = "mlflow_ldap_auth.key"


@dataclass(frozen=True)
class Key:
    """The definition of one INI key.

    ``attribute`` is the settings field holding the value (None: a key that is checked
    and then ignored). ``env`` names an environment variable that, when set and not
    empty, wins over the file. ``unset`` says in the docs what leaving out a key
    without a default means.
    """

    kind: Kind
    default: Any
    meaning: str
    name: str = ""
    attribute: str | None = None
    env: str | None = None
    secret: bool = False
    unset: str = "none"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def setting(
    kind: Kind,
    default: Any,
    meaning: str,
    *,
    key: str = "",
    env: str | None = None,
    secret: bool = False,
    unset: str = "none",
) -> Any:
    """A settings field defined by its INI key; ``key`` defaults to the field's name."""
    definition = Key(kind, default, meaning, name=key, env=env, secret=secret, unset=unset)
    metadata = {_KEY: definition}
    if default is REQUIRED:
        return field(repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


def keys_of(settings_class: type) -> tuple[Key, ...]:
    """The keys behind the fields of ``settings_class``, in field order."""
    keys = []
    for item in fields(settings_class):
        if _KEY not in item.metadata:
            raise TypeError(f"{settings_class.__name__}.{item.name} is not made with setting()")
        key = item.metadata[_KEY]
        keys.append(replace(key, name=key.name or item.name, attribute=item.name))
    return tuple(keys)
