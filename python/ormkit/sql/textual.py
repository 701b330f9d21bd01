"""SQL text with named parameters, as SQLAlchemy's ``text()`` writes them:
``text("SELECT * FROM users WHERE id = :id")`` run with ``{"id": 1}``.

``:name`` becomes the positional ``$N`` both backends take (one number per name, so a
name used twice is bound once). Quoted strings, quoted identifiers, comments, dollar-
quoted bodies and PostgreSQL's ``::type`` casts are left as they are; ``\\:name`` is a
literal colon.

The same scanner splits a script at its top-level semicolons (``split_statements``, used
by migrations' ``op.execute`` and by ``text()`` to tell a trailing ``;`` or one inside a
literal from a second statement)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["bind_named", "named_parameters", "skip_quoted", "split_statements"]

# what the scanner steps over whole, then a bind name
_TOKEN = re.compile(
    r"""
      (?P<skip>
          '(?:[^']|'')*'                   # 'string' ('' inside)
        | "(?:[^"]|"")*"                   # "identifier"
        | --[^\n]*                         # -- comment
        | /\*.*?\*/                        # /* comment */
        | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$   # $$body$$, $tag$body$tag$
        | ::                               # a cast, not a parameter
        | \\:                              # an escaped colon
      )
    | (?<![\w:]):(?P<name>[A-Za-z_]\w*)
    """,
    re.VERBOSE | re.DOTALL,
)


def named_parameters(sql: str) -> list[str]:
    """The distinct ``:name`` parameters of ``sql``, in order of first use."""
    names: list[str] = []
    for m in _TOKEN.finditer(sql):
        name = m.group("name")
        if name is not None and name not in names:
            names.append(name)
    return names


def bind_named(sql: str, params: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """``sql`` with each ``:name`` replaced by ``$N`` and the values in ``$N`` order.
    A name missing from ``params`` is a ``ValueError`` naming it; a key of ``params``
    that the text does not use is one too (a misspelt name would else be ignored)."""
    if params is not None and not isinstance(params, Mapping):
        raise TypeError(
            "SQL text takes its parameters as a dict of names ({'id': 1}), "
            f"got {type(params).__name__}"
        )
    given: Mapping[str, Any] = params or {}
    numbers: dict[str, int] = {}
    values: list[Any] = []

    def replace(m: re.Match[str]) -> str:
        if m.group("skip") is not None:
            return ":" if m.group("skip") == "\\:" else m.group(0)
        name = m.group("name")
        number = numbers.get(name)
        if number is None:
            if name not in given:
                raise ValueError(f"SQL text needs a value for :{name}; none was given")
            values.append(given[name])
            number = numbers[name] = len(values)
        return f"${number}"

    out = _TOKEN.sub(replace, sql)
    unused = [k for k in given if k not in numbers]
    if unused:
        raise ValueError(
            f"SQL text has no parameter {', '.join(':' + str(k) for k in unused)}; "
            f"its parameters: {', '.join(':' + n for n in numbers) or 'none'}"
        )
    return out, values


def skip_quoted(sql: str, i: int) -> int:
    """Index just past the quoted string/identifier or comment starting at ``i``."""
    ch = sql[i]
    if ch in "'\"":
        j = i + 1
        while j < len(sql):
            if sql[j] == ch:
                if j + 1 < len(sql) and sql[j + 1] == ch:
                    j += 2
                    continue
                return j + 1
            j += 1
        return len(sql)
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
    if m:
        tag = m.group(0)
        end = sql.find(tag, i + len(tag))
        return len(sql) if end < 0 else end + len(tag)
    return i + 1


_TRIGGER = re.compile(r"^\s*create\s+(temp\s+|temporary\s+)?trigger\b", re.I)


def split_statements(sql: str) -> list[str]:
    """Splits a script at top-level semicolons (quotes, dollar quotes, comments and
    SQLite ``CREATE TRIGGER … BEGIN … END`` bodies respected)."""
    out: list[str] = []
    start = 0
    i = 0
    depth = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"-/$":
            j = skip_quoted(sql, i)
            if j != i + 1 or ch in "'\"":
                i = j
                continue
        if ch.isalpha() and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            m = re.match(r"[A-Za-z_]+", sql[i:])
            word = m.group(0).lower() if m else ""
            if _TRIGGER.match(sql[start:]):
                if word == "begin":
                    depth += 1
                elif word == "end" and depth:
                    depth -= 1
            i += len(word) or 1
            continue
        if ch == ";" and depth == 0:
            stmt = sql[start:i].strip()
            if stmt:
                out.append(stmt)
            start = i + 1
        i += 1
    tail = sql[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if _has_code(s)]


def _has_code(stmt: str) -> bool:
    i = 0
    while i < len(stmt):
        if stmt[i].isspace():
            i += 1
        elif stmt.startswith(("--", "/*"), i):
            i = skip_quoted(stmt, i)
        else:
            return True
    return False
