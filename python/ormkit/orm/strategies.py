"""Running a loading plan: joined steps inside the query, selectin steps after it.

``load_objects`` runs one SELECT with the plan's joined steps added as LEFT OUTER
JOINs (columns labelled per join), hydrates, then runs the selectin steps, each one
query per level whatever the number of parents (IN lists chunked under the dialect's
parameter limit). Many-to-many steps join the association table in the same query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ormkit._ormkit import QueryResult, collect_by_attribute, link_fresh, set_reverse
from ormkit.orm import precompiled
from ormkit.orm.loading import PlanNode, gc_paused, hydrate, set_loaded
from ormkit.orm.state import model_pk
from ormkit.query import soft_delete_condition
from ormkit.sql import Select, select
from ormkit.sql.expressions import AliasedColumn, Column, OrderBy, tuple_

if TYPE_CHECKING:
    from ormkit.orm.session import AsyncSession
    from ormkit.orm.state import InstanceState
    from ormkit.orm.unit_of_work import UnitOfWork
    from ormkit.types import Converter

__all__ = ["defers", "load_objects", "run_plan"]

_LINK_ALIAS = "ormkit_link"


class _Level:
    """One joined step: where it hangs and how its columns are labelled."""

    __slots__ = ("alias", "keys", "labels", "parent", "path", "rel")

    def __init__(self, path: tuple[str, ...], rel: Any, parent: int | None) -> None:
        self.path = path
        self.rel = rel
        self.parent = parent
        self.alias = ""
        self.keys = list(rel.target.__columns__)
        self.labels: list[str] = []


class _LinkSelect(Select):
    """A select of a many-to-many target joined to its association table."""

    _link: Any = None

    def with_only_columns(self, *entities: Any) -> Select:
        """Keep the association join when the columns change."""
        plain = super().with_only_columns(*entities)
        new = _LinkSelect.__new__(_LinkSelect)
        new.__dict__.update(plain.__dict__)
        return new

    def _scope(self) -> Any:
        scope = super()._scope()
        if scope is not None and self._link is not None:
            scope.join_relationship((_LINK_ALIAS,), self._link, None, kind="INNER")
        return scope


class _LinkJoin:
    """Just enough of a relationship for the compiler to join the association table."""

    direction = "one_to_many"
    uselist = False

    def __init__(self, rel: Any) -> None:
        self.model = rel.target
        self.target = rel.secondary_model
        self.local_columns = rel.remote_columns
        self.remote_columns = rel.secondary_remote_columns


_get = object.__getattribute__


def _value(obj: Any, name: str) -> Any:
    """``obj.__dict__.get(name)``, read without making a ``__dict__`` of attributes the
    instance keeps inline (a miss reaches the class's column or relationship attribute,
    which raises AttributeError)."""
    try:
        return _get(obj, name)
    except AttributeError:
        return None


def _can_set(uow: UnitOfWork, obj: Any, key: str) -> bool:
    """A relationship may be (re)loaded unless it holds unflushed changes."""
    d = obj.__dict__
    if key not in d:
        return True
    state = uow.state_of(obj)
    if state is None or not state.persistent:
        return False
    current = d[key]
    before = state.snapshot.get(key)
    if isinstance(current, list):
        return isinstance(before, list) and [id(x) for x in current] == [id(x) for x in before]
    return current is before


# -- one query --------------------------------------------------------------------------


def _aliased_order(order: Sequence[OrderBy], target: type[Any], alias: str) -> list[OrderBy]:
    out = []
    for item in order:
        expr = item.expr
        if isinstance(expr, Column) and expr.model is target:
            expr = AliasedColumn(expr, alias)
        out.append(OrderBy(expr, descending=item.descending, nulls=item.nulls))
    return out


def _pk_columns(model: type[Any]) -> list[Column[Any]]:
    pk = model.__primary_key__
    keys = (pk,) if isinstance(pk, str) else pk
    return [model.__columns__[k].expr for k in keys]


def _add_joins(
    stmt: Select, model: type[Any], plan: dict[str, PlanNode], dialect: str
) -> tuple[Select, list[_Level], dict[str, Any]]:
    levels: list[_Level] = []

    def walk(nodes: dict[str, PlanNode], path: tuple[str, ...], parent: int | None) -> None:
        for key, node in nodes.items():
            if node.strategy != "joined":
                continue
            levels.append(_Level((*path, key), node.rel, parent))
            walk(node.children, (*path, key), len(levels) - 1)

    walk(plan, (), None)
    if not levels:
        return stmt, levels, {}
    for level in levels:
        stmt = stmt.outerjoin(".".join(level.path))
    stmt._live_joins = True  # soft-deleted related rows are left out, as selectin does
    scope = stmt._scope()
    assert scope is not None
    converters: dict[str, Any] = {k: i.converter(dialect) for k, i in model.__columns__.items()}
    labels: list[Any] = []
    order: list[OrderBy] = []
    for n, level in enumerate(levels):
        parent_alias = levels[level.parent].alias if level.parent is not None else None
        level.alias = scope.join_relationship(level.path, level.rel, parent_alias)
        target = level.rel.target
        for key in level.keys:
            name = f"_j{n}_{key}"
            info = target.__columns__[key]
            labels.append(AliasedColumn(info.expr, level.alias).label(name))
            level.labels.append(name)
            converters[name] = info.converter(dialect)
        if level.rel.uselist:
            by = level.rel.order_by or tuple(c.asc() for c in _pk_columns(target))
            order.extend(_aliased_order(by, target, level.alias))
    stmt = stmt.with_only_columns(model, *labels)
    if order:
        stmt = stmt.order_by(*order)
    return stmt, levels, converters


def _hydrate_joined(
    uow: UnitOfWork,
    model: type[Any],
    result: QueryResult,
    levels: list[_Level],
    converters: dict[str, Any],
) -> list[Any]:
    """Objects of every level from one joined result (one root per row, so repeated for
    repeated rows). Each level's distinct rows become instances in Rust
    (``QueryResult.unique_models``); ``QueryResult.group_rows`` pairs them up."""
    index = {name: i for i, name in enumerate(result.columns)}
    root_keys = list(model.__columns__)
    parents, parent_rows = result.unique_models(
        model,
        [index[k] for k in model_pk(model)],
        _converters([converters.get(k) for k in root_keys]),
        [index[k] for k in root_keys],
    )
    parents = uow.register_loaded(model, parents)
    level_objs: list[list[Any]] = []
    level_rows: list[list[int]] = []
    for level in levels:
        target = level.rel.target
        label_of = dict(zip(level.keys, level.labels, strict=True))
        objs, rows = result.unique_models(
            target,
            [index[label_of[k]] for k in model_pk(target)],
            _converters([converters.get(label) for label in level.labels]),
            [(index[label], key) for key, label in zip(level.keys, level.labels, strict=True)],
        )
        level_objs.append(uow.register_loaded(target, objs))
        level_rows.append(rows)
    for n, level in enumerate(levels):
        if level.parent is None:
            owners, owner_rows = parents, parent_rows
        else:
            owners, owner_rows = level_objs[level.parent], level_rows[level.parent]
        children = level_objs[n]
        groups = QueryResult.group_rows(owner_rows, level_rows[n], len(owners))
        for owner, positions in zip(owners, groups, strict=True):
            _assign(uow, level.rel, owner, [children[i] for i in positions])
    return [parents[i] for i in parent_rows]


def _converters(converters: list[Any]) -> list[Any] | None:
    return converters if any(c is not None for c in converters) else None


async def load_objects(
    session: AsyncSession,
    model: type[Any],
    stmt: Select,
    plan: dict[str, PlanNode],
    extra: Sequence[str] = (),
    compiled: tuple[str, list[Any]] | None = None,
) -> tuple[list[Any], list[list[Any]]]:
    """Run ``stmt`` with the plan's joined steps, hydrate, run the selectin steps.

    Returns the objects (one per row, so repeated for repeated rows) and, per name in
    ``extra``, the values of that extra result column (removed from the objects).
    ``compiled`` is ``stmt.to_sql(dialect)`` when the caller has it already."""
    uow = session._uow
    joined, levels, converters = _add_joins(stmt, model, plan, session.dialect)
    if compiled is None or joined is not stmt:
        compiled = joined.to_sql(session.dialect)
    sql, params = compiled
    result = await session._runner().execute(sql, params)
    extras: list[list[Any]] = []
    deferred = False  # whether registering the objects waits (see ``run_plan``)
    if levels:
        extras = [result.column(name) for name in extra]
        with gc_paused(len(result)):
            objs = _hydrate_joined(uow, model, result, levels, converters)
    elif extra:
        converters_ = model.__ormkit_converters__(session.dialect, result.columns)
        with gc_paused(len(result)):
            raw = result.to_models(model, converters_)
            extras = [[o.__dict__.pop(name) for o in raw] for name in extra]
            objs = uow.register_loaded(model, raw)
    else:
        defer = defers(plan)
        objs = hydrate(uow, model, result, defer=defer)
        deferred = defer and uow.registers_later()
    if plan and objs:
        await run_plan(session, model, objs, plan, deferred)
    return objs, extras


# -- after the query ------------------------------------------------------------------


def _unique(objs: Sequence[Any]) -> list[Any]:
    ids = set(map(id, objs))
    if len(ids) == len(objs) and id(None) not in ids:
        return list(objs)
    seen: set[int] = set()
    out = []
    for obj in objs:
        if obj is not None and id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
    return out


def _related(objs: Sequence[Any], key: str) -> list[Any]:
    out: list[Any] = []
    for obj in objs:
        value = obj.__dict__.get(key)
        if isinstance(value, list):
            out.extend(value)
        elif value is not None:
            out.append(value)
    return _unique(out)


async def run_plan(
    session: AsyncSession,
    model: type[Any],
    objs: Sequence[Any],
    plan: dict[str, PlanNode],
    deferred: bool = False,
) -> None:
    """Load (or set empty) the plan's relationships on ``objs`` and below. ``deferred``:
    ``objs`` were just made by a load that deferred registering them (see ``defers``),
    so none holds a relationship yet."""
    uow = session._uow
    objs = _unique(objs)
    for key, node in plan.items():
        rel = node.rel
        if node.strategy == "noload":
            for obj in objs:
                if key not in obj.__dict__:
                    set_loaded(uow, obj, key, [] if rel.uselist else None)
            continue
        if node.strategy == "lazy":
            continue
        if node.strategy == "selectin":
            if deferred:
                todo = objs  # fresh: none holds ``key``
            else:
                # also what the user assigned before it was ever loaded: its rows in
                # the database become its snapshot (see _keep_assigned)
                todo = [
                    o
                    for o in objs
                    if _can_set(uow, o, key) or _set_unloaded(uow, o, key) is not None
                ]
                if not node.explicit:
                    todo = [o for o in todo if key not in o.__dict__]
            if todo:
                await _selectin(session, rel, todo, node, deferred)
                continue  # the level's own query ran the plan below it
        if node.children:
            await run_plan(session, rel.target, _related(objs, key), node.children)


def _set_unloaded(uow: UnitOfWork, obj: Any, key: str) -> InstanceState | None:
    """The state of the persistent ``obj`` if it holds a value of ``key`` assigned before
    the relationship was ever loaded (nothing known of its rows in the database)."""
    state = uow.state_of(obj)
    if state is not None and state.persistent and key not in state.snapshot:
        return state
    return None


def _keep_assigned(uow: UnitOfWork, parent: Any, rel: Any, children: list[Any]) -> None:
    """``parent`` holds a value of ``rel`` the user set, which a load keeps. If it was
    set before the relationship was ever loaded (``user.posts = [...]`` on a user loaded
    without posts), what the database holds is known now: it becomes the snapshot, and
    the flush replaces it with the value set (see ``cascade._diff_collections``)."""
    state = _set_unloaded(uow, parent, rel.key)
    if state is not None:
        state.snapshot[rel.key] = (
            list(children) if rel.uselist else (children[0] if children else None)
        )


def _assign(uow: UnitOfWork, rel: Any, parent: Any, children: list[Any]) -> None:
    """Set a loaded relationship and, where cheap, its reverse on the children."""
    if not _can_set(uow, parent, rel.key):
        _keep_assigned(uow, parent, rel, children)
        return
    value: Any = children if rel.uselist else (children[0] if children else None)
    set_loaded(uow, parent, rel.key, value)
    back = rel.back_populates
    if back is None or rel.direction == "many_to_many":
        return
    reverse = rel.target.__relationships__.get(back)
    if reverse is None or reverse.uselist:
        return
    states = uow.states
    for child in children:
        d = child.__dict__
        if back not in d:  # set_loaded(uow, child, back, parent), inlined
            d[back] = parent
            state = states.get(id(child))
            if state is not None and state.persistent:
                state.snapshot[back] = parent


#: most row values in one ``(a, b) IN (…)``: PostgreSQL expands it into nested ``OR``s,
#: and tens of thousands of them exceed its stack depth (``max_stack_depth``)
ROW_VALUES_PER_IN = 500


def key_chunks(keys: list[tuple[Any, ...]], width: int, max_params: int) -> list[list[Any]]:
    """``keys`` (tuples of ``width`` values) cut into lists small enough for one
    ``IN (…)`` each under ``max_params`` bind parameters (100 left for the rest), and
    of at most :data:`ROW_VALUES_PER_IN` keys when they are row values."""
    size = max(1, (max_params - 100) // max(1, width))
    if width > 1:
        size = min(size, ROW_VALUES_PER_IN)
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def keys_in(cols: Sequence[Any], keys: list[tuple[Any, ...]]) -> Any:
    """``col IN (…)`` of the first values of ``keys``, or ``(a, b) IN (…)`` for several
    columns."""
    if len(cols) == 1:
        return cols[0].in_([k[0] for k in keys])
    return tuple_(*cols).in_(keys)


async def _selectin(
    session: AsyncSession, rel: Any, parents: list[Any], node: PlanNode, deferred: bool = False
) -> None:
    from ormkit.dialects import get_dialect

    uow = session._uow
    target = rel.target
    max_params = get_dialect(session.dialect).max_params
    many_to_one = rel.direction == "many_to_one"
    local = rel.local_columns
    by_key: dict[tuple[Any, ...], list[Any]] = {}
    single = local[0] if len(local) == 1 else None
    for parent in parents:
        if single is not None:
            key: tuple[Any, ...] = (_value(parent, single),)
        else:
            key = tuple(parent.__dict__.get(c) for c in local)
        if None in key:
            _assign(uow, rel, parent, [])
        else:
            by_key.setdefault(key, []).append(parent)
    keys = list(by_key)
    found: dict[tuple[Any, ...], list[Any]] = {k: [] for k in keys}
    pending: list[tuple[QueryResult, tuple[Converter, ...] | None]] = []
    soft = soft_delete_condition(target, "exclude")
    wanted = keys
    if (
        many_to_one
        and not node.children
        and list(rel.remote_columns) == [c.key for c in _pk_columns(target)]
    ):
        wanted = []  # rows already in the identity map need no query
        for key in keys:
            obj = uow.identity.get((target, key[0] if len(key) == 1 else key))
            if obj is not None:
                found[key].append(obj)
            else:
                wanted.append(key)
    if rel.direction == "many_to_many":
        await _selectin_secondary(session, rel, wanted, found, node, max_params)
    else:
        cols = [target.__columns__[c].expr for c in rel.remote_columns]
        order = rel.order_by or tuple(c.asc() for c in _pk_columns(target))
        remote = rel.remote_columns
        for chunk in key_chunks(wanted, len(cols), max_params):
            if len(cols) == 1 and not node.children:
                pending.append(await _selectin_rows(session, rel, [k[0] for k in chunk]))
                continue
            stmt = select(target).where(keys_in(cols, chunk))
            if soft is not None:
                stmt = stmt.where(soft)
            if rel.uselist:
                stmt = stmt.order_by(*order)
            objs, _ = await load_objects(session, target, stmt, node.children)
            _collect(objs, remote, found)
    # The rows of every query are in, held in Rust: making their objects, grouping them
    # and setting both sides is one stretch without an await, with the collector
    # paused. Run in between, a collection would walk every object of the load, all
    # alive, and promote them: parents and children refer to each other, so once
    # dropped they would wait, as cyclic garbage, for an older generation's collection
    # walking the garbage of many loads (benchmarks/NOTES.md, session 7).
    with gc_paused(sum(len(result) for result, _ in pending)):
        for result, converters in pending:
            # joins the parents' deferred load, if theirs was (see ``defers``)
            objs = uow.load(target, result, converters, defer=deferred, join=deferred)
            _collect(objs, remote, found)
        _assign_many(
            uow,
            rel,
            [(parent, found[key]) for key, group in by_key.items() for parent in group],
            deferred,
        )


def _collect(
    objs: list[Any], remote: Sequence[str], found: dict[tuple[Any, ...], list[Any]]
) -> None:
    """Add each of ``objs`` to the list in ``found`` under its ``remote`` values (one
    ``found`` key per parent asked for; others are left out)."""
    if len(remote) == 1:
        collect_by_attribute(objs, remote[0], found)
    else:
        for obj in _unique(objs):
            key = tuple(obj.__dict__.get(c) for c in remote)
            if key in found:
                found[key].append(obj)


def _assign_many(
    uow: UnitOfWork, rel: Any, pairs: list[tuple[Any, list[Any]]], deferred: bool = False
) -> None:
    """:func:`_assign` for many (parent, children) pairs of one relationship
    (``deferred``: see :func:`run_plan`)."""
    key = rel.key
    uselist = rel.uselist
    back = rel.back_populates
    if back is not None:
        reverse = rel.target.__relationships__.get(back)
        if rel.direction == "many_to_many" or reverse is None or reverse.uselist:
            back = None
    if deferred and uow.registers_later():  # nothing registered the load since
        _assign_deferred(uow, rel, pairs, back)
        return
    states = uow.states
    journal = uow.journal
    reverse_pairs: list[tuple[Any, list[Any]]] = []
    for parent, children in pairs:
        d = parent.__dict__
        fresh = key not in d
        if not fresh and not _can_set(uow, parent, key):
            _keep_assigned(uow, parent, rel, children)
            continue
        value: Any = children if uselist else (children[0] if children else None)
        d[key] = value  # set_loaded(uow, parent, key, value), inlined
        state = states.get(id(parent))
        if state is not None and state.persistent:
            state.snapshot[key] = list(value) if uselist else value
            if fresh and journal is not None:
                journal.loaded.append((state, key))
        if back is not None and children:
            reverse_pairs.append((parent, children))
    if reverse_pairs:
        assert back is not None
        # each child without ``back`` gets its parent (and so does its snapshot), in Rust
        set_reverse(reverse_pairs, back, states)


def _assign_deferred(
    uow: UnitOfWork, rel: Any, pairs: list[tuple[Any, list[Any]]], back: str | None
) -> None:
    """:func:`_assign_many` when the parents and children wait to be registered (a
    load ``defers`` allowed): both sides are set on the objects, and the snapshot
    entries ``_assign_many`` would make wait for their states. The objects are fresh,
    so none holds either side yet."""
    # both sides set and the snapshot values taken, in Rust (fresh children: none holds
    # ``back`` yet, and none has a state)
    loaded, linked = link_fresh(pairs, rel.key, back, rel.uselist)
    uow.defer_links(rel.model, rel.key, back if linked else None, rel.uselist, loaded)


def defers(plan: dict[str, PlanNode]) -> bool:
    """Whether a load with ``plan`` may leave registering its objects to the session's
    first look at its maps (``UnitOfWork.load_fresh``'s ``defer``): every step is lazy,
    or a selectin of a one-to-many over one column with nothing below it, whose
    children and links then wait too (:func:`_assign_deferred`). Other steps read the
    maps at once, and a deferred load would only be registered twice as slowly."""
    for node in plan.values():
        if node.strategy == "lazy":
            continue
        rel = node.rel
        if (
            node.strategy != "selectin"
            or node.children
            or rel.direction != "one_to_many"
            or len(rel.remote_columns) != 1
        ):
            return False
    return True


async def _selectin_rows(
    session: AsyncSession, rel: Any, keys: list[Any]
) -> tuple[QueryResult, tuple[Converter, ...] | None]:
    """The rows of the targets of ``rel`` whose one remote column is in ``keys``
    (nothing loaded below them), through a precompiled statement per number of keys,
    with the converters that make them objects."""
    target = rel.target
    dialect = session.dialect

    def build() -> precompiled.Template:
        (column,) = (target.__columns__[c].expr for c in rel.remote_columns)
        stmt = select(target).where(column.in_(precompiled.slots(len(keys))))
        soft = soft_delete_condition(target, "exclude")
        if soft is not None:
            stmt = stmt.where(soft)
        if rel.uselist:
            stmt = stmt.order_by(*(rel.order_by or tuple(c.asc() for c in _pk_columns(target))))
        return precompiled.compile_template(
            stmt, dialect, precompiled.all_converters(target, dialect)
        )

    cache_key = ("selectin", dialect, rel.model, rel.key, len(keys))
    template: precompiled.Template = precompiled.cached(target, cache_key, build)
    result = await session._runner().execute(template.sql, template.params(keys))
    return result, template.converters


async def _selectin_secondary(
    session: AsyncSession,
    rel: Any,
    keys: list[tuple[Any, ...]],
    found: dict[tuple[Any, ...], list[Any]],
    node: PlanNode,
    max_params: int,
) -> None:
    target = rel.target
    secondary = rel.secondary_model
    names = [f"_ormkit_link_{i}" for i in range(len(rel.secondary_local_columns))]
    link_cols = [
        AliasedColumn(secondary.__columns__[c].expr, _LINK_ALIAS)
        for c in rel.secondary_local_columns
    ]
    soft = soft_delete_condition(target, "exclude")
    order = rel.order_by or tuple(c.asc() for c in _pk_columns(target))
    for chunk in key_chunks(keys, len(link_cols), max_params):
        linked = _LinkSelect(target, *(c.label(n) for c, n in zip(link_cols, names, strict=True)))
        linked._link = _LinkJoin(rel)
        stmt: Select = linked.where(keys_in(link_cols, chunk)).order_by(*order)
        if soft is not None:
            stmt = stmt.where(soft)
        objs, extras = await load_objects(session, target, stmt, node.children, names)
        for i, obj in enumerate(objs):
            key = tuple(values[i] for values in extras)
            bucket = found.get(key)
            if bucket is not None and all(x is not obj for x in bucket):
                bucket.append(obj)
