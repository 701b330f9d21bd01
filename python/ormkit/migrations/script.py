"""The revision files of a migration directory and the graph they form.

A revision file is a Python module with ``revision``, ``down_revision`` (None, a
string, or a tuple for a merge), ``branch_labels``, ``depends_on``, ``upgrade()`` and
``downgrade()``. :class:`MigrationScript` loads them all (with ormkit's ``alembic`` and
``sqlalchemy`` stand-ins importable), checks the graph, and answers what Alembic's
revision map answers: heads, bases, resolving ``head``/``heads``/``base``, partial
ids, branch labels (``label@head``) and relative targets (``+2``, ``-1``, ``ae10+1``),
and the ordered steps between two states of the ``alembic_version`` table.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ormkit.migrations.shim import injected_modules

__all__ = ["MigrationScript", "RevisionError", "Script", "Step"]


class RevisionError(Exception):
    """A revision graph or a revision name is wrong (a user error, shown in one line)."""


def _tuple(value: Any, what: str, path: Path) -> tuple[str, ...]:
    if value is None or value == ():
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RevisionError(f"{path.name}: {what} must be None, a string or a tuple of strings")


@dataclass(eq=False)
class Script:
    """One revision file."""

    revision: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    path: Path
    module: ModuleType
    doc: str
    #: Revisions whose ``down_revision`` names this one.
    children: set[str] = field(default_factory=set)
    #: ``depends_on`` resolved to revision ids.
    dependencies: tuple[str, ...] = ()

    @property
    def down_revision(self) -> str | tuple[str, ...] | None:
        """As written: None, one id, or a tuple (a merge)."""
        if not self.down_revisions:
            return None
        if len(self.down_revisions) == 1:
            return self.down_revisions[0]
        return self.down_revisions

    @property
    def is_merge(self) -> bool:
        """True when the revision has more than one down revision."""
        return len(self.down_revisions) > 1

    @property
    def is_branch_point(self) -> bool:
        """True when more than one revision revises this one."""
        return len(self.children) > 1

    @property
    def is_head(self) -> bool:
        """True when nothing revises this one."""
        return not self.children

    @property
    def is_base(self) -> bool:
        """True when it has no down revision."""
        return not self.down_revisions

    def __repr__(self) -> str:
        return f"<Script {self.revision} {self.doc!r}>"


def _doc_of(module: ModuleType) -> str:
    text = (module.__doc__ or "").strip()
    lines = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("Revision ID:"):
            break
        lines.append(line.strip())
    return " ".join(lines)


def load_script(path: Path) -> Script | None:
    """Loads one revision file; None when it defines no ``revision``."""
    name = "_ormkit_revision_" + re.sub(r"\W", "_", str(path.resolve()))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RevisionError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with injected_modules():
        try:
            spec.loader.exec_module(module)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in ("alembic", "sqlalchemy"):
                raise RevisionError(
                    f"{path.name}: imports {exc.name}, which ormkit's stand-in for "
                    f"{exc.name.split('.')[0] if exc.name else 'it'} does not provide"
                ) from exc
            raise
    revision = getattr(module, "revision", None)
    if revision is None:
        return None
    if not isinstance(revision, str) or not revision:
        raise RevisionError(f"{path.name}: revision must be a non-empty string")
    return Script(
        revision=revision,
        down_revisions=_tuple(getattr(module, "down_revision", None), "down_revision", path),
        branch_labels=_tuple(getattr(module, "branch_labels", None), "branch_labels", path),
        depends_on=_tuple(getattr(module, "depends_on", None), "depends_on", path),
        path=path,
        module=module,
        doc=_doc_of(module),
    )


@dataclass
class Step:
    """Running one revision up or down."""

    script: Script
    upgrade: bool

    @property
    def revision(self) -> str:
        """The revision id."""
        return self.script.revision

    def __repr__(self) -> str:
        return f"<Step {'up' if self.upgrade else 'down'} {self.revision}>"


_RELATIVE = re.compile(r"^(?P<base>.*?)(?P<sign>[+-])(?P<n>\d+)$")


class MigrationScript:
    """All revision files of the version directories and their graph."""

    def __init__(self, version_locations: Sequence[Path | str], *, recursive: bool = False) -> None:
        self.version_locations = [Path(p) for p in version_locations]
        self.recursive = recursive
        self.revisions: dict[str, Script] = {}
        self._labels: dict[str, str] = {}
        self._load()

    @classmethod
    def from_config(cls, config: Any) -> MigrationScript:
        """The scripts of an :class:`~ormkit.migrations.config.AlembicConfig`."""
        return cls(config.version_locations, recursive=config.recursive_version_locations)

    # -- loading --------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for location in self.version_locations:
            if not location.is_dir():
                continue
            pattern = "**/*.py" if self.recursive else "*.py"
            for path in sorted(location.glob(pattern)):
                if path.name.startswith(("__init__", ".#", "_")) or not path.is_file():
                    continue
                files.append(path)
        return files

    def _load(self) -> None:
        for path in self._files():
            script = load_script(path)
            if script is None:
                continue
            other = self.revisions.get(script.revision)
            if other is not None:
                raise RevisionError(
                    f"revision {script.revision} is defined twice: {other.path.name} and "
                    f"{path.name}"
                )
            self.revisions[script.revision] = script
        for script in self.revisions.values():
            for label in script.branch_labels:
                if label in self._labels and self._labels[label] != script.revision:
                    raise RevisionError(f"branch label {label!r} is used by two revisions")
                self._labels[label] = script.revision
        for script in self.revisions.values():
            for down in script.down_revisions:
                parent = self.revisions.get(down)
                if parent is None:
                    raise RevisionError(
                        f"revision {script.revision} ({script.path.name}) revises {down}, "
                        "which does not exist"
                    )
                parent.children.add(script.revision)
        for script in self.revisions.values():
            deps: list[str] = []
            for dep in script.depends_on:
                deps.extend(s.revision for s in self.resolve(dep))
            script.dependencies = tuple(dict.fromkeys(deps))
        self._check_cycles()

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}
        for start in self.revisions:
            if state.get(start):
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            while stack:
                rev, i = stack.pop()
                parents = self._parents(rev)
                if i == 0:
                    if state.get(rev) == 1:
                        raise RevisionError(f"revision {rev} is its own ancestor")
                    if state.get(rev) == 2:
                        continue
                    state[rev] = 1
                if i < len(parents):
                    stack.append((rev, i + 1))
                    parent = parents[i]
                    if state.get(parent) == 1:
                        raise RevisionError(f"revision {parent} is its own ancestor")
                    if not state.get(parent):
                        stack.append((parent, 0))
                else:
                    state[rev] = 2

    # -- graph ----------------------------------------------------------------------------

    def _parents(self, rev: str) -> tuple[str, ...]:
        script = self.revisions[rev]
        return script.down_revisions + script.dependencies

    @property
    def heads(self) -> list[str]:
        """Revisions nothing revises (dependencies do not count), sorted."""
        return sorted(r for r, s in self.revisions.items() if s.is_head)

    @property
    def bases(self) -> list[str]:
        """Revisions without a down revision, sorted."""
        return sorted(r for r, s in self.revisions.items() if s.is_base)

    def ancestors(self, revs: Iterable[str], *, dependencies: bool = True) -> set[str]:
        """``revs`` and everything they need (down revisions and dependencies)."""
        out: set[str] = set()
        todo = list(revs)
        while todo:
            rev = todo.pop()
            if rev in out:
                continue
            out.add(rev)
            script = self.revisions[rev]
            todo.extend(script.down_revisions)
            if dependencies:
                todo.extend(script.dependencies)
        return out

    def descendants(self, revs: Iterable[str]) -> set[str]:
        """``revs`` and everything that revises or depends on them."""
        dependents: dict[str, set[str]] = {}
        for script in self.revisions.values():
            for dep in script.dependencies:
                dependents.setdefault(dep, set()).add(script.revision)
        out: set[str] = set()
        todo = list(revs)
        while todo:
            rev = todo.pop()
            if rev in out:
                continue
            out.add(rev)
            todo.extend(self.revisions[rev].children)
            todo.extend(dependents.get(rev, ()))
        return out

    def normalized_down(self, script: Script) -> tuple[str, ...]:
        """Down revisions plus dependencies, less those implied by another of them."""
        everything = list(dict.fromkeys(script.down_revisions + script.dependencies))
        out = []
        for rev in everything:
            others = [o for o in everything if o != rev]
            if rev in self.ancestors(others) - set(others):
                continue
            out.append(rev)
        return tuple(out)

    def topological(self, revs: Iterable[str]) -> list[str]:
        """``revs`` ordered so that each comes after what it needs."""
        pending = set(revs)
        order: list[str] = []
        placed: set[str] = set()
        while pending:
            ready = sorted(
                r for r in pending if all(p in placed or p not in pending for p in self._parents(r))
            )
            if not ready:
                raise RevisionError("revision graph has a cycle")
            for r in ready:
                order.append(r)
                placed.add(r)
                pending.discard(r)
        return order

    # -- resolving names ------------------------------------------------------------------

    def get(self, rev: str) -> Script:
        """The script of an exact or partial revision id, or a branch label."""
        found = self.resolve(rev)
        if len(found) != 1:
            raise RevisionError(f"{rev!r} names {len(found)} revisions, not one")
        return found[0]

    def _lookup(self, ident: str) -> Script:
        if ident in self.revisions:
            return self.revisions[ident]
        if ident in self._labels:
            return self.revisions[self._labels[ident]]
        matches = [r for r in self.revisions if r.startswith(ident)]
        if len(matches) == 1 and len(ident) >= 1:
            return self.revisions[matches[0]]
        if len(matches) > 1:
            raise RevisionError(
                f"multiple revisions start with {ident!r}: {', '.join(sorted(matches))}"
            )
        raise RevisionError(f"can't locate revision identified by {ident!r}")

    def _heads_of(self, rev: str) -> list[str]:
        return sorted(h for h in self.heads if h in self.descendants([rev]))

    def resolve(self, target: str | None) -> list[Script]:
        """Scripts named by ``target``: ``heads``, ``head``, ``base`` (none), an id or its
        prefix, a branch label, ``label@head`` or ``rev@head``."""
        if target is None or target == "base":
            return []
        if target == "heads":
            return [self.revisions[h] for h in self.heads]
        if target == "head":
            heads = self.heads
            if len(heads) > 1:
                raise RevisionError(
                    "multiple head revisions are present; name one, use "
                    "'<branchname>@head', or 'heads' for all of them"
                )
            return [self.revisions[h] for h in heads]
        if "@" in target:
            branch, _, what = target.partition("@")
            root = self._lookup(branch)
            if what == "head":
                heads = self._heads_of(root.revision)
                if len(heads) != 1:
                    raise RevisionError(f"{target!r} has {len(heads)} heads, not one")
                return [self.revisions[heads[0]]]
            if what == "base":
                return []
            raise RevisionError(f"can't understand {target!r}")
        return [self._lookup(target)]

    def _walk(self, start: str | None, steps: int, up: bool) -> str | None:
        current = start
        for _ in range(steps):
            if up:
                nexts = sorted(self.revisions[current].children) if current else self.bases
                if len(nexts) != 1:
                    raise RevisionError(
                        "relative upgrade is ambiguous here (a branch point or several bases)"
                    )
                current = nexts[0]
            else:
                if current is None:
                    raise RevisionError("relative downgrade goes past base")
                downs = self.revisions[current].down_revisions
                if len(downs) > 1:
                    raise RevisionError(f"relative downgrade is ambiguous at merge point {current}")
                current = downs[0] if downs else None
        return current

    def resolve_relative(self, target: str, current: Sequence[str]) -> str | None:
        """``+N``/``-N`` from the single current head, or ``rev+N``/``rev-N``."""
        m = _RELATIVE.match(target)
        if m is None:
            raise RevisionError(f"not a relative revision: {target!r}")
        base = m.group("base")
        steps = int(m.group("n"))
        up = m.group("sign") == "+"
        if base:
            found = self.resolve(base)
            if len(found) != 1:
                raise RevisionError(f"{base!r} names {len(found)} revisions, not one")
            start: str | None = found[0].revision
        else:
            if len(current) > 1:
                raise RevisionError(
                    "relative targets need a single current head; name a branch "
                    "('<branch>@-1') or a revision instead"
                )
            start = current[0] if current else None
        return self._walk(start, steps, up)

    def is_relative(self, target: str) -> bool:
        """True for ``+N``, ``-N``, ``rev+N``, ``rev-N`` (not an existing id)."""
        if target in self.revisions or target in self._labels:
            return False
        m = _RELATIVE.match(target)
        if m is None:
            return False
        base = m.group("base")
        return (
            not base
            or base.endswith("@head")
            or not any(r.startswith(target) for r in self.revisions)
        )

    # -- plans ----------------------------------------------------------------------------

    def upgrade_steps(self, current: Sequence[str], target: str) -> list[Step]:
        """Revisions to run, in order, to go from ``current`` heads up to ``target``."""
        if self.is_relative(target):
            rev = self.resolve_relative(target, current)
            targets = [rev] if rev else []
        else:
            targets = [s.revision for s in self.resolve(target)]
        for rev in current:
            if rev not in self.revisions:
                raise RevisionError(
                    f"the database is at revision {rev}, which no revision file defines"
                )
        done = self.ancestors(current)
        todo = self.ancestors(targets) - done
        return [Step(self.revisions[r], True) for r in self.topological(todo)]

    def downgrade_steps(self, current: Sequence[str], target: str) -> list[Step]:
        """Revisions to undo, in order, to go from ``current`` heads down to ``target``."""
        for rev in current:
            if rev not in self.revisions:
                raise RevisionError(
                    f"the database is at revision {rev}, which no revision file defines"
                )
        applied = self.ancestors(current)
        if target == "base":
            remove = applied
        elif target.endswith("@base"):
            root = self._lookup(target[: -len("@base")])
            branch_heads = [h for h in current if h in self.descendants([root.revision])]
            others = [h for h in current if h not in branch_heads]
            remove = self.ancestors(branch_heads) - self.ancestors(others)
        else:
            if self.is_relative(target):
                found = self.resolve_relative(target, current)
                targets = [found] if found else []
            else:
                targets = [s.revision for s in self.resolve(target)]
            if not targets:
                remove = applied
            else:
                missing = [t for t in targets if t not in applied]
                if missing:
                    raise RevisionError(
                        f"revision {missing[0]} is not applied; nothing to downgrade to"
                    )
                keep = self.ancestors(targets)
                remove = (self.descendants(targets) & applied) - keep
        order = self.topological(remove)
        return [Step(self.revisions[r], False) for r in reversed(order)]
