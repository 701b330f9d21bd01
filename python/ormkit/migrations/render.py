"""Writing revision files: operations as Alembic-style source, and the file itself.

Generated files look like Alembic's autogenerate output (``op.create_table('users',
sa.Column(...), ...)``), so Alembic runs them as they are. On SQLite, changes to an
existing table are written inside ``with op.batch_alter_table(...)`` as Alembic's
``render_as_batch`` does, which both Alembic and ormkit run with a table rebuild.

The file comes from the directory's ``script.py.mako`` rendered by a small template
engine covering what such templates use: ``${expression}`` with the ``n`` and
``comma`` filters, ``% if/elif/else/endif``, ``% for/endfor`` and ``##`` comments.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ormkit.migrations.config import AlembicConfig, ConfigError
from ormkit.migrations.operations import (
    NOT_GIVEN,
    AddColumnOp,
    AlterColumnOp,
    CreateCheckConstraintOp,
    CreateForeignKeyOp,
    CreateIndexOp,
    CreateTableOp,
    CreateUniqueConstraintOp,
    DropColumnOp,
    DropConstraintOp,
    DropIndexOp,
    DropTableOp,
    ExecuteSQLOp,
    MigrateOperation,
    RenameTableOp,
    conv,
)
from ormkit.migrations.sa import (
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    TextClause,
    UniqueConstraint,
)
from ormkit.migrations.sa_types import TypeEngine
from ormkit.migrations.script import MigrationScript, RevisionError
from ormkit.migrations.templates import SCRIPT_PY_MAKO

__all__ = [
    "TemplateError",
    "new_revision_id",
    "render_ops",
    "render_template",
    "slugify",
    "write_revision",
]


class TemplateError(Exception):
    """``script.py.mako`` uses something the small template engine does not support."""


def new_revision_id() -> str:
    """A new 12-hex-digit revision id, as Alembic makes them."""
    return uuid.uuid4().hex[-12:]


def slugify(message: str | None, limit: int = 40) -> str:
    """The file-name slug of a message: words joined by ``_``, cut at a word boundary."""
    slug = "_".join(re.findall(r"\w+", message or "")).lower()
    if len(slug) > limit:
        slug = slug[:limit].rsplit("_", 1)[0] + "_"
    return slug


# -- operations as source ------------------------------------------------------------------


def _name(value: str | None, prefix: str) -> str:
    if isinstance(value, conv):
        return f"{prefix}.f({str(value)!r})"
    return repr(value)


def _default_source(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, TextClause):
        return f"sa.text({value.text!r})"
    return repr(value)


def render_column(col: Column) -> str:
    """``sa.Column('name', sa.Type(), nullable=...)``."""
    args = [repr(col.name), col.type.source()]
    for fk in col.foreign_keys:
        target = f"{fk.referred_table}.{fk.referred_column}"
        extra = "".join(
            f", {k}={v!r}" for k, v in (("ondelete", fk.ondelete), ("onupdate", fk.onupdate)) if v
        )
        args.append(f"sa.ForeignKey({target!r}{extra})")
    if col.identity is not None:
        args.append(f"sa.Identity(always={col.identity.always!r})")
    if col.autoincrement is False:
        args.append("autoincrement=False")
    if col.server_default is not None:
        args.append(f"server_default={_default_source(col.server_default)}")
    args.append(f"nullable={col.nullable!r}")
    return f"sa.Column({', '.join(args)})"


def _render_item(item: Any) -> str:
    if isinstance(item, Column):
        return render_column(item)
    if isinstance(item, PrimaryKeyConstraint):
        cols = ", ".join(repr(c) for c in item.columns)
        named = f", name={_name(item.name, 'op')}" if item.name else ""
        return f"sa.PrimaryKeyConstraint({cols}{named})"
    if isinstance(item, UniqueConstraint):
        cols = ", ".join(repr(c) for c in item.columns)
        named = f", name={_name(item.name, 'op')}" if item.name else ""
        return f"sa.UniqueConstraint({cols}{named})"
    if isinstance(item, ForeignKeyConstraint):
        refs = [f"{item.referred_table}.{c}" for c in item.referred_columns]
        extra = f", name={_name(item.name, 'op')}" if item.name else ""
        if item.ondelete:
            extra += f", ondelete={item.ondelete!r}"
        if item.onupdate:
            extra += f", onupdate={item.onupdate!r}"
        return f"sa.ForeignKeyConstraint({item.columns!r}, {refs!r}{extra})"
    if isinstance(item, CheckConstraint):
        named = f", name={_name(item.name, 'op')}" if item.name else ""
        return f"sa.CheckConstraint({item.sqltext!r}{named})"
    if isinstance(item, Index):
        return f"sa.Index({item.name!r}, {', '.join(repr(e) for e in item.expressions)})"
    raise TypeError(f"cannot render {item!r}")


def _type(value: Any) -> str:
    if isinstance(value, TypeEngine):
        return value.source()
    if isinstance(value, type) and issubclass(value, TypeEngine):
        return value().source()
    return repr(value)


def _alter_args(op: AlterColumnOp) -> list[str]:
    args = []
    if op.existing_type is not None:
        args.append(f"existing_type={_type(op.existing_type)}")
    if op.type_ is not None:
        args.append(f"type_={_type(op.type_)}")
    if op.nullable is not None:
        args.append(f"nullable={op.nullable!r}")
    elif op.existing_nullable is not None:
        args.append(f"existing_nullable={op.existing_nullable!r}")
    if op.server_default is not NOT_GIVEN:
        args.append(f"server_default={_default_source(op.server_default)}")
    elif op.existing_server_default not in (NOT_GIVEN, None):
        args.append(f"existing_server_default={_default_source(op.existing_server_default)}")
    if op.new_column_name:
        args.append(f"new_column_name={op.new_column_name!r}")
    return args


def render_op(op: MigrateOperation, batch: bool = False) -> str:
    """One operation as a statement (``batch_op.…`` inside a batch block)."""
    p = "batch_op" if batch else "op"
    if isinstance(op, CreateTableOp):
        body = ",\n".join(_render_item(i) for i in op.items)
        return f"op.create_table({op.table_name!r},\n{body}\n)"
    if isinstance(op, DropTableOp):
        return f"op.drop_table({op.table_name!r})"
    if isinstance(op, RenameTableOp):
        return f"op.rename_table({op.old_table_name!r}, {op.new_table_name!r})"
    if isinstance(op, AddColumnOp):
        table = "" if batch else f"{op.table_name!r}, "
        return f"{p}.add_column({table}{render_column(op.column)})"
    if isinstance(op, DropColumnOp):
        table = "" if batch else f"{op.table_name!r}, "
        return f"{p}.drop_column({table}{op.column_name!r})"
    if isinstance(op, AlterColumnOp):
        table = "" if batch else f"{op.table_name!r}, "
        indent = " " * (len(p) + len(".alter_column("))
        args = [f"{table}{op.column_name!r}", *_alter_args(op)]
        return f"{p}.alter_column(" + f",\n{indent}".join(args) + ")"
    if isinstance(op, CreateIndexOp):
        table = "" if batch else f"{op.table_name!r}, "
        cols = [str(c) for c in op.columns]
        return f"{p}.create_index({_name(op.index_name, p)}, {table}{cols!r}, unique={op.unique!r})"
    if isinstance(op, DropIndexOp):
        table = "" if batch else f", table_name={op.table_name!r}"
        return f"{p}.drop_index({_name(op.index_name, p)}{table})"
    if isinstance(op, CreateUniqueConstraintOp):
        table = "" if batch else f"{op.table_name!r}, "
        return (
            f"{p}.create_unique_constraint({_name(op.constraint_name, p)}, {table}{op.columns!r})"
        )
    if isinstance(op, CreateForeignKeyOp):
        table = "" if batch else f"{op.source_table!r}, "
        extra = "".join(
            f", {k}={v!r}" for k, v in (("ondelete", op.ondelete), ("onupdate", op.onupdate)) if v
        )
        return (
            f"{p}.create_foreign_key({_name(op.constraint_name, p)}, {table}"
            f"{op.referent_table!r}, {op.local_cols!r}, {op.remote_cols!r}{extra})"
        )
    if isinstance(op, CreateCheckConstraintOp):
        table = "" if batch else f"{op.table_name!r}, "
        return (
            f"{p}.create_check_constraint({_name(op.constraint_name, p)}, {table}{op.condition!r})"
        )
    if isinstance(op, DropConstraintOp):
        table = "" if batch else f", {op.table_name!r}"
        kind = f", type_={op.type_!r}" if op.type_ else ""
        return f"{p}.drop_constraint({_name(op.constraint_name, p)}{table}{kind})"
    if isinstance(op, ExecuteSQLOp):
        return f"op.execute({op.sqltext!r})"
    raise TypeError(f"cannot render {type(op).__name__}")


def _table_of(op: MigrateOperation) -> str | None:
    if isinstance(op, CreateForeignKeyOp):
        return op.source_table
    if isinstance(op, CreateTableOp | DropTableOp | RenameTableOp | ExecuteSQLOp):
        return None
    name = getattr(op, "table_name", None)
    return name if isinstance(name, str) else None


def render_ops(ops: Sequence[MigrateOperation], *, batch: bool = False) -> tuple[str, set[str]]:
    """The body of ``upgrade()``/``downgrade()`` for ``ops`` (four-space indented after
    the first line, as the template expects) and the imports it needs. With
    ``batch``, consecutive changes to one existing table go in a
    ``batch_alter_table`` block."""
    lines = ["# ### commands auto generated by ormkit - please adjust! ###"]
    i = 0
    while i < len(ops):
        op = ops[i]
        table = _table_of(op) if batch else None
        if table is None:
            lines.extend(render_op(op).splitlines())
            i += 1
            continue
        group = []
        while i < len(ops) and _table_of(ops[i]) == table:
            group.append(ops[i])
            i += 1
        lines.append(f"with op.batch_alter_table({table!r}, schema=None) as batch_op:")
        for member in group:
            lines.extend("    " + line for line in render_op(member, batch=True).splitlines())
        lines.append("")
    if lines[-1] == "":
        lines.pop()
    lines.append("# ### end Alembic commands ###")
    text = "\n".join([lines[0], *(("    " + line) if line else "" for line in lines[1:])])
    imports = set()
    if "postgresql." in text:
        imports.add("from sqlalchemy.dialects import postgresql")
    return text, imports


# -- the template ----------------------------------------------------------------------------


_CONTROL = re.compile(r"^\s*%\s*(if|elif|else|endif|for|endfor)\b(.*?)\s*$")


def _filters(expr: str) -> tuple[str, list[str]]:
    m = re.match(r"^(.*?)\s*\|\s*([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*$", expr, re.S)
    if m and "|" not in m.group(1).replace("||", ""):
        return m.group(1), [f.strip() for f in m.group(2).split(",")]
    return expr, []


def _comma(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _expressions(line: str) -> list[tuple[bool, str]]:
    """Splits a line into literal text and ``${…}`` expressions."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while True:
        start = line.find("${", i)
        if start < 0:
            parts.append((False, line[i:]))
            return parts
        parts.append((False, line[i:start]))
        depth = 0
        j = start + 2
        quote: str | None = None
        while j < len(line):
            ch = line[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    break
                depth -= 1
            j += 1
        else:
            raise TemplateError(f"unclosed ${{ in template line: {line!r}")
        parts.append((True, line[start + 2 : j]))
        i = j + 1


def render_template(template: str, values: dict[str, Any]) -> str:
    """Renders a ``script.py.mako`` with ``values`` (see the module docstring)."""
    if "<%" in template:
        raise TemplateError("script.py.mako uses <% %> blocks, which ormkit cannot render")
    code = ["def _render(_out, _filter):"]
    depth = 1
    for raw in template.splitlines():
        if raw.lstrip().startswith("##"):
            continue
        m = _CONTROL.match(raw)
        if m:
            word, rest = m.group(1), m.group(2).strip()
            if word in ("endif", "endfor"):
                depth -= 1
                code.append("    " * depth + "pass")
                continue
            if word in ("elif", "else"):
                depth -= 1
            code.append("    " * depth + f"{word} {rest}".rstrip())
            depth += 1
            continue
        if raw.startswith("%%"):
            raw = raw[1:]
        pieces = []
        for is_expr, text in _expressions(raw):
            if is_expr:
                expr, names = _filters(text)
                pieces.append(f"_filter(({expr}), {names!r})")
            elif text:
                pieces.append(repr(text))
        pieces.append(repr("\n"))
        code.append("    " * depth + f"_out.append(''.join([{', '.join(pieces)}]))")
    if depth != 1:
        raise TemplateError("unbalanced % if/% for in script.py.mako")

    def apply_filters(value: Any, names: list[str]) -> str:
        for name in names:
            if name == "comma":
                value = _comma(value)
            elif name in ("n", "str"):
                value = str(value)
            else:
                raise TemplateError(f"unsupported template filter {name!r}")
        return str(value)

    namespace: dict[str, Any] = dict(values)
    try:
        exec(compile("\n".join(code), "script.py.mako", "exec"), namespace)
        out: list[str] = []
        namespace["_render"](out, apply_filters)
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(f"script.py.mako: {type(exc).__name__}: {exc}") from exc
    return "".join(out)


# -- writing a revision --------------------------------------------------------------------


def _now(timezone: str | None) -> dt.datetime:
    if timezone:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(timezone))
    return dt.datetime.now()


def _file_name(config: AlembicConfig, rev: str, message: str | None, now: dt.datetime) -> str:
    tokens = {
        "rev": rev,
        "slug": slugify(message, config.truncate_slug_length),
        "epoch": int(now.timestamp()),
        "year": now.year,
        "month": now.month,
        "day": now.day,
        "hour": now.hour,
        "minute": now.minute,
        "second": now.second,
    }
    try:
        return config.file_template % tokens + ".py"
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"bad file_template {config.file_template!r}: {exc}") from None


def write_revision(
    config: AlembicConfig,
    script: MigrationScript,
    message: str | None,
    *,
    upgrade_ops: Sequence[MigrateOperation] = (),
    downgrade_ops: Sequence[MigrateOperation] = (),
    batch: bool = False,
    head: str = "head",
    splice: bool = False,
    branch_label: str | Sequence[str] | None = None,
    depends_on: str | Sequence[str] | None = None,
    rev_id: str | None = None,
    version_path: str | Path | None = None,
) -> Path:
    """Writes a new revision file on top of ``head`` and returns its path."""
    rev = rev_id or new_revision_id()
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", rev):
        raise RevisionError(f"invalid revision id {rev!r}")
    if rev in script.revisions:
        raise RevisionError(f"revision {rev} already exists")
    if head == "base":
        downs: list[str] = []
    else:
        if head == "head" and len(script.heads) > 1:
            raise RevisionError(
                "multiple heads are present; pass --head to choose one, or merge them first"
            )
        downs = [s.revision for s in script.resolve(head)]
        for d in downs:
            if not splice and not script.revisions[d].is_head:
                raise RevisionError(
                    f"revision {d} is not a head; pass --splice to branch from it anyway"
                )
    labels = [branch_label] if isinstance(branch_label, str) else list(branch_label or [])
    deps: list[str] = []
    for dep in [depends_on] if isinstance(depends_on, str) else list(depends_on or []):
        deps.extend(s.revision for s in script.resolve(dep))
    now = _now(config.timezone)
    up_text, up_imports = render_ops(upgrade_ops, batch=batch) if upgrade_ops else ("", set())
    down_text, down_imports = (
        render_ops(downgrade_ops, batch=batch) if downgrade_ops else ("", set())
    )
    down_value: str | tuple[str, ...] | None
    down_value = None if not downs else downs[0] if len(downs) == 1 else tuple(downs)
    values = {
        "up_revision": rev,
        "down_revision": down_value,
        "branch_labels": tuple(labels) if len(labels) > 1 else (labels[0] if labels else None),
        "depends_on": tuple(deps) if len(deps) > 1 else (deps[0] if deps else None),
        "create_date": now,
        "message": message,
        "imports": "\n".join(sorted(up_imports | down_imports)),
        "upgrades": up_text,
        "downgrades": down_text,
        "config": config,
    }
    template_path = config.script_location / "script.py.mako"
    template = (
        template_path.read_text(encoding="utf-8") if template_path.is_file() else SCRIPT_PY_MAKO
    )
    text = render_template(template, values)
    if version_path is not None:
        directory = Path(version_path)
    else:
        locations = config.version_locations
        directory = locations[0]
        if len(locations) > 1 and downs:
            directory = script.revisions[downs[0]].path.parent
    target = directory / _file_name(config, rev, message, now)
    if not directory.is_dir():
        raise ConfigError(f"version directory {directory} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding=config.output_encoding)
    return target
