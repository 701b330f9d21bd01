"""Parsing of database URLs into a backend choice and its options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from .errors import ArgumentError

__all__ = ["ParsedURL", "parse_url", "redact_url"]

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9]*)(?:\+[A-Za-z0-9_]+)?:(?P<rest>.*)$", re.S)


@dataclass(frozen=True)
class ParsedURL:
    """A URL split into its dialect, the target and query options."""

    dialect: str
    url: str
    sqlite_path: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_url(url: str) -> ParsedURL:
    """Parses ``url``; raises ArgumentError (a ValueError) naming what is wrong (never
    echoing a password)."""
    if not isinstance(url, str):
        raise TypeError(f"the database URL must be a str, not {type(url).__name__}")
    if "\x00" in url:
        raise ArgumentError("the database URL contains a NUL byte")
    m = _SCHEME.match(url)
    if not m:
        raise ArgumentError(f"not a database URL: {redact_url(url)!r}")
    scheme = m.group("scheme").lower()
    rest = m.group("rest")
    if scheme == "sqlite":
        return _parse_sqlite(url, rest)
    if scheme in ("postgresql", "postgres"):
        return ParsedURL("postgresql", url)
    raise ArgumentError(
        f"unsupported database {scheme!r} in {redact_url(url)!r}: use postgresql:// or sqlite://"
    )


def _parse_sqlite(url: str, rest: str) -> ParsedURL:
    query = ""
    if "?" in rest:
        rest, query = rest.split("?", 1)
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False))
    if rest in (":memory:", "//:memory:", "///:memory:", "//", "///"):
        return ParsedURL("sqlite", url, None, options)
    if rest.startswith("///"):
        path = unquote(rest[3:])
    elif rest.startswith("//"):
        raise ArgumentError(
            f"SQLite URLs have no host: write sqlite:///relative.db or sqlite:////absolute.db, "
            f"not {redact_url(url)!r}"
        )
    else:
        path = unquote(rest)
    if not path:
        raise ArgumentError(f"the SQLite URL {redact_url(url)!r} names no database file")
    return ParsedURL("sqlite", url, path, options)


#: what comes before the user name, also in a mistyped URL (``postgresql//``,
#: `` postgresql:/``, ``postgres ql://``)
_LOOSE_SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+. -]*[:/]+")
_QUERY_PASSWORD = re.compile(r"(?i)(?P<key>[?&]password=)[^&#]*")


def redact_url(url: Any) -> str:
    """``url`` with any password replaced by ``***``, also when the URL is malformed: the
    user information ends at the last ``@`` before the query (a raw ``@``, ``/`` or
    ``?`` in a password is hidden with it), and its password starts at its first ``:``."""
    text = str(url)
    query = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=len(text))
    at = text.rfind("@", 0, query)
    if at < 0:
        at = text.rfind("@")  # a '?' inside the password
    if at >= 0:
        scheme = _LOOSE_SCHEME.match(text)
        start = scheme.end() if scheme is not None else 0
        colon = text.find(":", start, at)
        if colon >= 0:
            text = f"{text[: colon + 1]}***{text[at:]}"
    return _QUERY_PASSWORD.sub(lambda m: m.group("key") + "***", text)
