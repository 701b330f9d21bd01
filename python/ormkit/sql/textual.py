"""SQL text with named parameters, as SQLAlchemy's ``text()`` writes them:
``text("SELECT * FROM users WHERE id = :id")`` run with ``{"id": 1}``.

``:name`` becomes the positional ``$N`` both backends take (one number per name, so a
name used twice is bound once). Quoted strings, quoted identifiers, comments, dollar-
quoted bodies and PostgreSQL's ``::type`` casts are left as they are; ``\\:name`` is a
literal colon."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["bind_named", "named_parameters"]

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
