"""Reading the parts of a SQLite ``CREATE TABLE`` statement that PRAGMAs do not report.

SQLite keeps constraint names, ``CHECK`` bodies, ``COLLATE`` clauses and the
``AUTOINCREMENT`` keyword only in the statement text stored in ``sqlite_master``.
This module tokenises that text (quoted identifiers, strings, comments and nested
parentheses included) and reads those parts; everything else comes from the PRAGMAs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ParsedColumn",
    "ParsedConstraint",
    "ParsedTable",
    "Token",
    "parse_create_table",
    "tokenize",
]

_CONSTRAINT_WORDS = frozenset(
    {
        "constraint",
        "primary",
        "not",
        "null",
        "unique",
        "check",
        "default",
        "collate",
        "references",
        "generated",
        "as",
    }
)
_TABLE_CONSTRAINT_WORDS = frozenset({"constraint", "primary", "unique", "check", "foreign"})


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``word``, ``quoted``, ``string``, ``number`` or ``punct``."""

    kind: str
    value: str
    start: int
    end: int

    @property
    def word(self) -> str:
        """The lower-cased text of a bare word ('' for other tokens)."""
        return self.value.lower() if self.kind == "word" else ""

    @property
    def name(self) -> str:
        """The identifier this token spells (bare words as written, quotes removed)."""
        return self.value


def tokenize(sql: str) -> list[Token]:
    """Splits ``sql`` into tokens, dropping whitespace and comments."""
    out: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch in '"`[':
            close = "]" if ch == "[" else ch
            j = i + 1
            buf: list[str] = []
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:
                        buf.append(close)
                        j += 2
                        continue
                    break
                buf.append(sql[j])
                j += 1
            out.append(Token("quoted", "".join(buf), i, min(j + 1, n)))
            i = j + 1
        elif ch == "'":
            j = i + 1
            while j < n:
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            out.append(Token("string", sql[i : j + 1], i, min(j + 1, n)))
            i = j + 1
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] in "_$"):
                j += 1
            out.append(Token("word", sql[i:j], i, j))
            i = j
        elif ch.isdigit() or (ch == "." and i + 1 < n and sql[i + 1].isdigit()):
            j = i + 1
            while j < n and (
                sql[j].isalnum() or sql[j] == "." or (sql[j] in "+-" and sql[j - 1] in "eE")
            ):
                j += 1
            out.append(Token("number", sql[i:j], i, j))
            i = j
        else:
            out.append(Token("punct", ch, i, i + 1))
            i += 1
    return out


@dataclass
class ParsedConstraint:
    """A table-level (or named column-level) constraint read from the statement."""

    kind: str  # "primary_key", "unique", "check", "foreign_key"
    name: str | None
    columns: list[str] = field(default_factory=list)
    text: str = ""  # the constraint without its CONSTRAINT name, as written
    referred_table: str | None = None


@dataclass
class ParsedColumn:
    """What the statement says about one column beyond ``PRAGMA table_xinfo``."""

    name: str
    type_text: str
    collate: str | None = None
    autoincrement: bool = False
    generated: bool = False
    checks: list[str] = field(default_factory=list)
    named: list[ParsedConstraint] = field(default_factory=list)


@dataclass
class ParsedTable:
    """The columns and table constraints of a ``CREATE TABLE`` statement."""

    name: str
    columns: list[ParsedColumn]
    constraints: list[ParsedConstraint]
    options: str = ""

    def column(self, name: str) -> ParsedColumn | None:
        """The parsed column called ``name`` (case-insensitive), or None."""
        low = name.lower()
        for col in self.columns:
            if col.name.lower() == low:
                return col
        return None

    def constraint_name(self, kind: str, columns: list[str]) -> str | None:
        """The name of the ``kind`` constraint over ``columns``, if it was named."""
        want = [c.lower() for c in columns]
        for con in self.all_constraints():
            if con.kind == kind and [c.lower() for c in con.columns] == want:
                return con.name
        return None

    def all_constraints(self) -> list[ParsedConstraint]:
        """Table constraints and named column constraints."""
        out = list(self.constraints)
        for col in self.columns:
            out.extend(col.named)
        return out


def _split_top(tokens: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "punct" and tok.value == "(":
            depth += 1
        elif tok.kind == "punct" and tok.value == ")":
            depth -= 1
        if depth == 0 and tok.kind == "punct" and tok.value == ",":
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


def _paren_names(tokens: list[Token], start: int) -> tuple[list[str], int]:
    """Identifiers in the parenthesised list at ``tokens[start]``; returns the index after."""
    names: list[str] = []
    if start >= len(tokens) or tokens[start].value != "(":
        return names, start
    depth = 0
    i = start
    expect_name = True
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind == "punct" and tok.value == "(":
            depth += 1
        elif tok.kind == "punct" and tok.value == ")":
            depth -= 1
            if depth == 0:
                return names, i + 1
        elif depth == 1 and tok.kind == "punct" and tok.value == ",":
            expect_name = True
        elif depth == 1 and expect_name and tok.kind in ("word", "quoted"):
            names.append(tok.name)
            expect_name = False
        i += 1
    return names, i


def _skip_parens(tokens: list[Token], start: int) -> int:
    if start >= len(tokens) or tokens[start].value != "(":
        return start
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].kind == "punct" and tokens[i].value == "(":
            depth += 1
        elif tokens[i].kind == "punct" and tokens[i].value == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(tokens)


def _text(sql: str, tokens: list[Token], start: int, end: int) -> str:
    if start >= end:
        return ""
    return sql[tokens[start].start : tokens[end - 1].end]


def _table_constraint(sql: str, tokens: list[Token]) -> ParsedConstraint:
    name: str | None = None
    i = 0
    if tokens[0].word == "constraint" and len(tokens) > 1:
        name = tokens[1].name
        i = 2
    head = tokens[i].word if i < len(tokens) else ""
    text = _text(sql, tokens, i, len(tokens))
    if head == "primary":
        cols, _ = _paren_names(tokens, i + 2)
        return ParsedConstraint("primary_key", name, cols, text)
    if head == "unique":
        cols, _ = _paren_names(tokens, i + 1)
        return ParsedConstraint("unique", name, cols, text)
    if head == "foreign":
        cols, j = _paren_names(tokens, i + 2)
        ref = tokens[j + 1].name if j + 1 < len(tokens) else None
        return ParsedConstraint("foreign_key", name, cols, text, ref)
    return ParsedConstraint("check", name, [], text)


def _column(sql: str, tokens: list[Token]) -> ParsedColumn:
    name = tokens[0].name
    i = 1
    while i < len(tokens) and tokens[i].word not in _CONSTRAINT_WORDS:
        i = _skip_parens(tokens, i) if tokens[i].value == "(" else i + 1
    col = ParsedColumn(name, _text(sql, tokens, 1, i))
    pending_name: str | None = None
    while i < len(tokens):
        word = tokens[i].word
        if word == "constraint" and i + 1 < len(tokens):
            pending_name = tokens[i + 1].name
            i += 2
            continue
        if word == "primary":
            j = i + 2
            while j < len(tokens) and tokens[j].word not in _CONSTRAINT_WORDS - {"null"}:
                if tokens[j].word == "autoincrement":
                    col.autoincrement = True
                j += 1
            if pending_name:
                col.named.append(ParsedConstraint("primary_key", pending_name, [name]))
            i = j
        elif word == "unique":
            if pending_name:
                col.named.append(ParsedConstraint("unique", pending_name, [name]))
            i += 1
        elif word == "check":
            end = _skip_parens(tokens, i + 1)
            text = _text(sql, tokens, i, end)
            col.checks.append(text)
            if pending_name:
                col.named.append(ParsedConstraint("check", pending_name, [], text))
            i = end
        elif word == "references":
            ref = tokens[i + 1].name if i + 1 < len(tokens) else None
            if pending_name:
                col.named.append(ParsedConstraint("foreign_key", pending_name, [name], "", ref))
            i += 2
        elif word == "collate" and i + 1 < len(tokens):
            col.collate = tokens[i + 1].name
            i += 2
        elif word in ("generated", "as"):
            col.generated = True
            i += 1
        else:
            i += 1
            continue
        pending_name = None
    return col


def parse_create_table(sql: str) -> ParsedTable:
    """Reads a ``CREATE TABLE name (...) [options]`` statement as stored by SQLite."""
    tokens = tokenize(sql)
    open_at = next((k for k, t in enumerate(tokens) if t.value == "("), None)
    if open_at is None or open_at == 0:
        raise ValueError(f"not a CREATE TABLE statement with a column list: {sql[:80]!r}")
    name = tokens[open_at - 1].name
    close_at = _skip_parens(tokens, open_at) - 1
    body = tokens[open_at + 1 : close_at]
    columns: list[ParsedColumn] = []
    constraints: list[ParsedConstraint] = []
    for part in _split_top(body):
        if part[0].word in _TABLE_CONSTRAINT_WORDS and part[0].kind == "word":
            constraints.append(_table_constraint(sql, part))
        else:
            columns.append(_column(sql, part))
    options = sql[tokens[close_at].end :].strip() if close_at < len(tokens) else ""
    return ParsedTable(name, columns, constraints, options)
