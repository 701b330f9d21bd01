"""The ``alembic_version`` table: one row per applied head, as Alembic keeps it.

Running a revision changes the rows the way Alembic does, so either tool can pick up
where the other left off:

- up, the revision has no down revision, or none of them is a current head (a new
  branch): insert it;
- up, several of its down revisions are heads (a merge): delete all but one and
  update that one;
- up, otherwise: update its down revision to it;
- down, the revision is a head and what it goes back to is already implied by the
  other heads (a branch disappears): delete it;
- down, from a merge: update it to one down revision and insert the others;
- down, otherwise: update it to its down revision.

Dependencies (``depends_on``) count as down revisions here, after dropping those
already implied by another down revision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ormkit.migrations.script import MigrationScript, Step

__all__ = ["VERSION_TABLE", "VersionChange", "apply_step", "create_table_sql", "stamp_changes"]

VERSION_TABLE = "alembic_version"

#: ("insert", rev, None), ("delete", rev, None) or ("update", from_rev, to_rev)
VersionChange = tuple[str, str, str | None]


def create_table_sql(if_not_exists: bool = True) -> str:
    """``CREATE TABLE alembic_version`` exactly as Alembic makes it."""
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return (
        f"CREATE TABLE {exists}{VERSION_TABLE} (\n"
        "    version_num VARCHAR(32) NOT NULL,\n"
        "    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n"
        ")"
    )


def _unmerge_targets(scripts: MigrationScript, heads: set[str], rev: str) -> list[str]:
    targets = list(scripts.normalized_down(scripts.revisions[rev]))
    others = heads - {rev}
    if others:
        implied = scripts.ancestors(others)
        targets = [t for t in targets if t not in implied]
    return targets


def apply_step(scripts: MigrationScript, heads: set[str], step: Step) -> list[VersionChange]:
    """The row changes for ``step``; ``heads`` is updated in place."""
    rev = step.revision
    downs = scripts.normalized_down(step.script)
    changes: list[VersionChange] = []
    if step.upgrade:
        present = sorted(heads.intersection(downs))
        if not present:
            changes.append(("insert", rev, None))
        elif len(present) > 1:
            others = heads - set(downs)
            implied = scripts.ancestors(others) if others else set()
            merged = [p for p in present if p not in implied] or present
            for old in merged[:-1]:
                changes.append(("delete", old, None))
            changes.append(("update", merged[-1], rev))
        else:
            changes.append(("update", present[0], rev))
    else:
        if rev not in heads:
            raise RuntimeError(f"revision {rev} is not a current head; cannot downgrade it")
        targets = _unmerge_targets(scripts, heads, rev) if downs else []
        if not targets:
            changes.append(("delete", rev, None))
        else:
            changes.append(("update", rev, targets[-1]))
            changes.extend(("insert", t, None) for t in targets[:-1])
    for kind, a, b in changes:
        if kind == "insert":
            heads.add(a)
        elif kind == "delete":
            heads.discard(a)
        else:
            heads.discard(a)
            heads.add(b or "")
    return changes


def stamp_changes(
    scripts: MigrationScript, heads: set[str], targets: list[str], purge: bool = False
) -> list[VersionChange]:
    """Row changes that make the table say ``targets`` (``[]`` for base) without running
    anything: heads on the same line of history as a target are replaced by it."""
    changes: list[VersionChange] = []
    current = set(heads)
    if purge or not targets:
        for rev in sorted(current):
            changes.append(("delete", rev, None))
        current = set()
    for target in targets:
        related = {
            h
            for h in current
            if h in scripts.revisions
            and (h in scripts.ancestors([target]) or target in scripts.ancestors([h]))
        }
        if target in current:
            continue
        if related:
            first, *rest = sorted(related)
            for rev in rest:
                changes.append(("delete", rev, None))
                current.discard(rev)
            changes.append(("update", first, target))
            current.discard(first)
        else:
            changes.append(("insert", target, None))
        current.add(target)
    heads.clear()
    heads.update(current)
    return changes


def change_sql(change: VersionChange) -> tuple[str, list[Any]]:
    """The statement for one row change."""
    kind, a, b = change
    if kind == "insert":
        return f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ($1)", [a]
    if kind == "delete":
        return f"DELETE FROM {VERSION_TABLE} WHERE version_num = $1", [a]
    return f"UPDATE {VERSION_TABLE} SET version_num = $1 WHERE version_num = $2", [b, a]


def run_changes(
    execute: Callable[[str, list[Any]], Any], changes: list[VersionChange], check: bool
) -> None:
    """Runs the statements; with ``check``, each must touch exactly one row."""
    for change in changes:
        sql, params = change_sql(change)
        result = execute(sql, params)
        if check and result is not None and result.rowcount != 1:
            raise RuntimeError(
                f"alembic_version: expected to {change[0]} one row for {change[1]}, "
                f"matched {result.rowcount}; the table does not say what the revisions imply"
            )
