"""What a keytab file holds: principal names, key version numbers and enctypes.

``python -m mlflow_ldap_auth check`` says which principals the configured keytab holds
and compares their key version with the directory's, and the default service principal
is "the keytab's first ``HTTP/`` principal". python-gssapi (1.12) lists no keytab
entries: it acquires credentials from a keytab but never says what is in it, and the
``krb5`` bindings that could are another source build. MIT's keytab file format (version
0x0502, big-endian; https://web.mit.edu/kerberos/krb5-latest/doc/formats/keytab_file_format.html)
is small, so it is read here, in pure Python, and works without the ``kerberos`` extra.

The keys themselves are skipped, never copied: an entry holds nothing secret, so it may
be printed and logged. Anything that is not such a file (another version, a truncated
entry, a length past the end) is a ``KeytabError`` with a sentence, never a traceback.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from mlflow_ldap_auth.errors import KeytabError

#: The only version written since MIT krb5 1.0 (0x0501 is DCE's, in native byte order).
FORMAT_VERSION = 0x0502
#: A keytab holds a few keys; a larger file is not one (and is not read into memory).
MAX_KEYTAB_BYTES = 1024 * 1024
#: RFC 3961/8009 numbers, as ``klist -e`` names them.
ENCTYPE_NAMES = {
    1: "des-cbc-crc",
    3: "des-cbc-md5",
    16: "des3-cbc-sha1",
    17: "aes128-cts-hmac-sha1-96",
    18: "aes256-cts-hmac-sha1-96",
    19: "aes128-cts-hmac-sha256-128",
    20: "aes256-cts-hmac-sha384-192",
    23: "arcfour-hmac",
    24: "arcfour-hmac-exp",
    25: "camellia128-cts-cmac",
    26: "camellia256-cts-cmac",
}


@dataclass(frozen=True)
class KeytabEntry:
    """One key of a keytab, without the key: whose it is, its version and its enctype."""

    components: tuple[str, ...]
    realm: str
    kvno: int
    enctype: int

    @property
    def name(self) -> str:
        """The principal without its realm: ``HTTP/mlflow.corp.example.com``."""
        return "/".join(self.components)

    @property
    def principal(self) -> str:
        """``HTTP/mlflow.corp.example.com@CORP.EXAMPLE.COM``."""
        return f"{self.name}@{self.realm}"

    @property
    def enctype_name(self) -> str:
        return ENCTYPE_NAMES.get(self.enctype, f"enctype {self.enctype}")

    def is_principal(self, principal: str) -> bool:
        """Whether this is ``principal``'s key; without ``@REALM`` any realm's (realms
        compared case-insensitively, the name as written: MIT compares it exactly)."""
        name, _, realm = principal.partition("@")
        return name == self.name and (not realm or realm.casefold() == self.realm.casefold())


def read_keytab(path: str | Path) -> list[KeytabEntry]:
    """The entries of the keytab at ``path``, in file order (deleted ones left out).

    Raises ``OSError`` when the file cannot be read and ``KeytabError`` when it is not a
    keytab."""
    with open(path, "rb") as file:
        data = file.read(MAX_KEYTAB_BYTES + 1)
    if len(data) > MAX_KEYTAB_BYTES:
        raise KeytabError(f"{path}: larger than {MAX_KEYTAB_BYTES} bytes: not a keytab")
    return parse_keytab(data, str(path))


def parse_keytab(data: bytes, source: str = "keytab") -> list[KeytabEntry]:
    """The entries of a keytab file's bytes (see ``read_keytab``)."""
    if len(data) < 2:
        raise KeytabError(f"{source}: empty or too short to be a keytab")
    (version,) = struct.unpack_from(">H", data, 0)
    if version != FORMAT_VERSION:
        raise KeytabError(f"{source}: not a keytab of format 0x0502 (starts with 0x{version:04x})")
    entries: list[KeytabEntry] = []
    offset = 2
    while len(data) - offset >= 4:
        (size,) = struct.unpack_from(">i", data, offset)
        offset += 4
        if size == 0:  # MIT writes no such record; its reader stops there
            return entries
        length = abs(size)
        if length > len(data) - offset:
            raise KeytabError(
                f"{source}: truncated: an entry of {length} bytes at byte {offset - 4}, "
                f"{len(data) - offset} left"
            )
        if size > 0:  # a negative size is a deleted entry: a hole to skip
            entries.append(_entry(data[offset : offset + length], source))
        offset += length
    if offset != len(data):
        raise KeytabError(f"{source}: truncated: {len(data) - offset} stray bytes at the end")
    return entries


def default_service_principal(entries: list[KeytabEntry]) -> str | None:
    """The keytab's first ``HTTP/`` principal: whose tickets the server accepts when
    ``kerberos_service_principal`` is not set; None if the keytab holds none."""
    for entry in entries:
        if entry.components and entry.components[0] == "HTTP":
            return entry.principal
    return None


def _entry(record: bytes, source: str) -> KeytabEntry:
    reader = _Reader(record, source)
    count = reader.uint16()
    realm = reader.text()
    components = tuple(reader.text() for _ in range(count))
    reader.uint32()  # name type
    reader.uint32()  # timestamp
    kvno = reader.uint8()
    enctype = reader.uint16()
    reader.skip(reader.uint16())  # the key itself: never read into anything
    if reader.remaining() >= 4:  # a 32-bit key version, when the 8-bit one overflowed
        kvno = reader.uint32() or kvno
    if not components:
        raise KeytabError(f"{source}: an entry names no principal")
    return KeytabEntry(components=components, realm=realm, kvno=kvno, enctype=enctype)


class _Reader:
    """Big-endian fields of one entry; running past its end is a ``KeytabError``."""

    def __init__(self, record: bytes, source: str) -> None:
        self._record = record
        self._source = source
        self._offset = 0

    def remaining(self) -> int:
        return len(self._record) - self._offset

    def _take(self, count: int) -> bytes:
        if count > self.remaining():
            raise KeytabError(f"{self._source}: truncated: an entry ends inside a field")
        chunk = self._record[self._offset : self._offset + count]
        self._offset += count
        return chunk

    def skip(self, count: int) -> None:
        if count > self.remaining():
            raise KeytabError(f"{self._source}: truncated: an entry ends inside a field")
        self._offset += count

    def uint8(self) -> int:
        return self._take(1)[0]

    def uint16(self) -> int:
        return int.from_bytes(self._take(2), "big")

    def uint32(self) -> int:
        return int.from_bytes(self._take(4), "big")

    def text(self) -> str:
        return self._take(self.uint16()).decode("utf-8", errors="replace")
