"""Kinds of configuration values: how the text of one INI key becomes a typed value.

A kind checks one key on its own and words what is wrong with it; checks that involve
several keys are in ``config``. ``summary`` is Markdown for the "value" column of
docs/configuration.md;
``python_type`` is the type of the settings attribute, so a test can hold the two
together.
"""

from __future__ import annotations

import ipaddress
import os.path
import re
import string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlflow_ldap_auth.ldap.dn import InvalidDn, canonical_dn

#: Returned by ``Kind.parse`` when the text gives no usable value: the key's default
#: stands in, so the checks that involve other keys still see something sensible.
INVALID: Any = object()

#: Microsoft's LDAP_MATCHING_RULE_IN_CHAIN: the DC resolves group nesting itself.
IN_CHAIN_RULE = "1.2.840.113556.1.4.1941"
_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


class Kind:
    """The base: the text is the value. Subclasses check and convert it."""

    python_type: Any = str

    @property
    def summary(self) -> str:
        return "text"

    def parse(self, text: str, problems: list[str]) -> Any:
        """The value of ``text``; what is wrong with it is appended to ``problems``.

        Some kinds keep a value they complained about (a DN that does not parse stays
        set), so a check involving another key does not add a misleading second problem.
        """
        return text

    def render(self, value: Any) -> str:
        """``value`` as INI text: ``parse(render(value))`` gives ``value`` back."""
        return str(value)


class Text(Kind):
    """Plain text, taken as written (after the INI file's own trimming)."""


class Flag(Kind):
    summary = "`true` or `false`"
    python_type = bool

    def parse(self, text: str, problems: list[str]) -> Any:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        problems.append(f"expected true or false, got {text!r}")
        return INVALID

    def render(self, value: Any) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class WholeNumber(Kind):
    minimum: int = 1
    python_type = int

    @property
    def summary(self) -> str:
        return f"whole number, {self.minimum} or more"

    def parse(self, text: str, problems: list[str]) -> Any:
        try:
            number = int(text)
        except ValueError:
            problems.append(f"expected a whole number, got {text!r}")
            return INVALID
        if number < self.minimum:
            problems.append(f"must be at least {self.minimum}, got {number}")
            return INVALID
        return number


@dataclass(frozen=True)
class Choice(Kind):
    """One word of ``options``, in any case; the value is spelled as in ``options``."""

    options: tuple[str, ...]

    @property
    def summary(self) -> str:
        return "one of " + ", ".join(f"`{option}`" for option in self.options)

    def parse(self, text: str, problems: list[str]) -> Any:
        spelled = {option.lower(): option for option in self.options}
        if text.lower() not in spelled:
            problems.append(f"must be one of {', '.join(self.options)}, got {text!r}")
            return INVALID
        return spelled[text.lower()]


@dataclass(frozen=True)
class Fixed(Kind):
    """A key whose only sensible value is the plugin's own; anything else is refused."""

    value: str

    summary = "leave it out"

    def parse(self, text: str, problems: list[str]) -> Any:
        if text != self.value:
            problems.append(f"ldap-auth supplies its own ({self.value}); remove the key")
            return INVALID
        return text


class ExistingFile(Kind):
    summary = "path of a file"

    def parse(self, text: str, problems: list[str]) -> Any:
        if not os.path.isfile(text):
            problems.append(f"no such file: {text}")
        return text


def _is_dn(text: str, problems: list[str]) -> bool:
    """A DN the plugin can send (``canonical_dn`` parses, and refuses what ldap3 cannot send)."""
    try:
        canonical_dn(text)
    except InvalidDn as exc:
        problems.append(f"not a valid DN: {text!r} ({exc.reason})")
        return False
    return True


class Dn(Kind):
    summary = "a DN"

    def parse(self, text: str, problems: list[str]) -> Any:
        _is_dn(text, problems)
        return text


class BindName(Kind):
    """Active Directory also binds as ``user@realm`` (UPN) or ``DOMAIN\\user``."""

    summary = "a DN, `user@realm` or `DOMAIN\\user`"

    def parse(self, text: str, problems: list[str]) -> Any:
        upn = re.fullmatch(r"[^@\s,=]+@[^@\s,=]+", text)
        down_level = re.fullmatch(r"[^\\,=]+\\[^\\,=]+", text)
        if not (upn or down_level):
            _is_dn(text, problems)
        return text


class Names(Kind):
    """Words separated by ``;`` (which no DN or NetBIOS name needs unescaped)."""

    summary = "names separated by `;`"
    python_type = tuple[str, ...]

    def parse(self, text: str, problems: list[str]) -> Any:
        return tuple(part.strip() for part in text.split(";") if part.strip())

    def render(self, value: Any) -> str:
        return "; ".join(value)


class DnList(Names):
    """DNs separated by ``;``; the ones that do not parse are reported and left out."""

    summary = "DNs separated by `;`"

    def parse(self, text: str, problems: list[str]) -> Any:
        return tuple(dn for dn in super().parse(text, problems) if _is_dn(dn, problems))


class LdapUris(Kind):
    """Space-separated ``ldap://`` / ``ldaps://`` URLs; bad ones reported and left out."""

    summary = "one or more `ldap://` or `ldaps://` URIs"
    python_type = tuple[str, ...]

    def parse(self, text: str, problems: list[str]) -> Any:
        uris = []
        for uri in text.split():
            parts = urlsplit(uri)
            if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
                problems.append(f"{uri!r} is not an ldap:// or ldaps:// URI")
                continue
            try:
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                problems.append(f"{uri!r} has an invalid port")
                continue
            uris.append(uri)
        return tuple(uris)

    def render(self, value: Any) -> str:
        return " ".join(value)


@dataclass(frozen=True)
class Template(Kind):
    """Text using at least one of the ``{placeholders}`` and no others."""

    placeholders: frozenset[str]

    _what = "text"

    @property
    def summary(self) -> str:
        return f"{self._what} using " + ", ".join(f"`{{{n}}}`" for n in sorted(self.placeholders))

    def parse(self, text: str, problems: list[str]) -> Any:
        allowed = sorted(self.placeholders)
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        except ValueError as exc:
            problems.append(f"bad placeholder syntax: {exc}")
            return text
        unknown = names - self.placeholders
        if unknown:
            problems.append(f"unknown placeholder(s) {sorted(unknown)}; allowed: {allowed}")
        elif not names:
            problems.append(f"must contain one of {allowed}")
        return text


class Filter(Template):
    """An LDAP search filter template: a template, enclosed in balanced parentheses."""

    _what = "LDAP filter"

    def parse(self, text: str, problems: list[str]) -> Any:
        super().parse(text, problems)
        if not (text.startswith("(") and text.endswith(")")):
            problems.append("an LDAP filter must be enclosed in parentheses")
            return text
        depth = 0
        for char in text:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                break
        if depth != 0:
            problems.append("unbalanced parentheses")
        return text


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (plain LDAP to it stays on the machine)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
