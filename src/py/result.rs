//! `QueryResult`: rows stay in Rust (compact cells, see `value::rows`) until Python
//! asks for them as dicts, tuples or model instances.

mod hydrate;
mod keys;
pub(crate) mod track;

use super::convert::cells::cell_to_py;
use super::errors::{multiple_results_found, no_result_found};
use crate::value::rows::Rows;
use hydrate::{each_row, group_items, group_rows, key_columns, Plan};
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyList, PySlice, PyString, PyTuple};
use std::sync::{Arc, Mutex};
use track::{key_names, track_loaded, tracked_models, Tracker};

#[pyclass(module = "ormkit._ormkit", name = "QueryResult", frozen)]
pub struct QueryResult {
    columns: Arc<[String]>,
    rows: Rows,
    rowcount: i64,
    lastrowid: Option<i64>,
    cache_hit: bool,
    /// The engine's dialect ("postgresql", "sqlite"), for `to_models`' default converters.
    dialect: Option<&'static str>,
    names: PyOnceLock<Names>,
}

/// Column names as interned Python strings.
type Names = Arc<[Py<PyString>]>;

/// Interned column names of the last few column lists. A PostgreSQL statement shares one
/// list with all its results, so a repeated query finds its names by pointer; others
/// (SQLite) by content. Interning seven names costs more than the lookup.
static NAMES: Mutex<Vec<(Arc<[String]>, Names)>> = Mutex::new(Vec::new());
const NAMES_KEPT: usize = 64;

fn interned_names(py: Python<'_>, columns: &Arc<[String]>) -> Names {
    let mut cache = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let found = cache
        .iter()
        .position(|(c, _)| Arc::ptr_eq(c, columns))
        .or_else(|| cache.iter().position(|(c, _)| c[..] == columns[..]));
    if let Some(i) = found {
        let names = cache[i].1.clone();
        if i > 0 {
            let hit = cache.remove(i);
            cache.insert(0, hit);
        }
        return names;
    }
    let names: Names = columns
        .iter()
        .map(|c| PyString::intern(py, c).unbind())
        .collect();
    cache.insert(0, (columns.clone(), names.clone()));
    cache.truncate(NAMES_KEPT);
    names
}

impl QueryResult {
    /// `rows`: the compact rows of the PostgreSQL client, or `Vec<Row>` (SQLite).
    pub fn new(
        columns: Arc<[String]>,
        rows: impl Into<Rows>,
        rowcount: i64,
        lastrowid: Option<i64>,
        cache_hit: bool,
    ) -> QueryResult {
        QueryResult {
            columns,
            rows: rows.into(),
            rowcount,
            lastrowid,
            cache_hit,
            dialect: None,
            names: PyOnceLock::new(),
        }
    }

    /// This result, marked as coming from an engine of `dialect`.
    pub fn of_dialect(mut self, dialect: &'static str) -> QueryResult {
        self.dialect = Some(dialect);
        self
    }

    /// The converters `to_models(cls)` uses when given none: those a model class
    /// declares for this result's dialect and columns (`cls.__ormkit_converters__`), so
    /// that raw SQL gives the model's own types (SQLite's text datetimes become
    /// datetimes, enum text becomes members). None for other classes.
    fn model_converters<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(dialect) = self.dialect else {
            return Ok(None);
        };
        let Some(declared) = cls.getattr_opt(intern!(py, "__ormkit_converters__"))? else {
            return Ok(None);
        };
        let columns = PyTuple::new(py, self.names(py).iter().map(|n| n.bind(py)))?;
        let converters = declared.call1((dialect, columns))?;
        Ok((!converters.is_none()).then_some(converters))
    }

    fn names<'a>(&'a self, py: Python<'_>) -> &'a [Py<PyString>] {
        self.names
            .get_or_init(py, || interned_names(py, &self.columns))
    }

    fn plan<'py>(
        &self,
        py: Python<'py>,
        columns: Option<&Bound<'py, PyAny>>,
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Plan<'py>> {
        Plan::new(py, self.names(py), columns, converters)
    }

    fn row_dict<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyDict>> {
        self.plan(py, None, None)?
            .dict(py, &self.rows, self.rows.row(i))
    }

    fn index(&self, i: isize) -> PyResult<usize> {
        let n = self.rows.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!(
                "row index {i} out of range for a result of {n} rows"
            )));
        }
        Ok(j as usize)
    }
}

#[pymethods]
impl QueryResult {
    /// Every row as a dict keyed by column name; `converters` as for `to_models`.
    #[pyo3(signature = (converters=None))]
    fn all<'py>(
        &self,
        py: Python<'py>,
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.plan(py, None, converters)?.dicts(py, &self.rows)
    }

    /// Every row as a tuple; `converters` as for `to_models`.
    #[pyo3(signature = (converters=None))]
    fn tuples<'py>(
        &self,
        py: Python<'py>,
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.plan(py, None, converters)?.tuples(py, &self.rows)
    }

    /// The first row as a dict, or None.
    fn first<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        if self.rows.is_empty() {
            return Ok(None);
        }
        self.row_dict(py, 0).map(Some)
    }

    /// The only row; raises NoResultFound or MultipleResultsFound otherwise.
    fn one<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match self.rows.len() {
            0 => Err(no_result_found(
                py,
                "the query returned no rows; one was expected",
            )),
            1 => self.row_dict(py, 0),
            n => Err(multiple_results_found(
                py,
                &format!("the query returned {n} rows; exactly one was expected"),
            )),
        }
    }

    /// The only row or None; raises MultipleResultsFound for more than one.
    fn one_or_none<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match self.rows.len() {
            0 => Ok(None),
            1 => self.row_dict(py, 0).map(Some),
            n => Err(multiple_results_found(
                py,
                &format!("the query returned {n} rows; at most one was expected"),
            )),
        }
    }

    /// The first column of the first row, or None when there are no rows.
    fn scalar<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.rows.row(0).first() {
            Some(&cell) => cell_to_py(py, &self.rows, cell),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Every value of one column, by name or position.
    fn column<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let idx = if name.is_instance_of::<PyInt>() {
            // Negative from the end, as for a list; anything out of range (however
            // large) is an IndexError.
            let n = self.columns.len();
            let i: Option<i64> = name.extract().ok();
            let found = i.and_then(|i| {
                let at = if i < 0 { i.checked_add(n as i64)? } else { i };
                usize::try_from(at).ok().filter(|&at| at < n)
            });
            found.ok_or_else(|| {
                PyIndexError::new_err(format!("column index {name} out of range for {n} columns"))
            })?
        } else {
            let wanted: String = name
                .extract()
                .map_err(|_| PyTypeError::new_err("column() takes a column name or index"))?;
            self.columns
                .iter()
                .position(|c| *c == wanted)
                .ok_or_else(|| {
                    pyo3::exceptions::PyKeyError::new_err(format!(
                        "no column named {wanted:?}; the result has {:?}",
                        self.columns
                    ))
                })?
        };
        each_row(py, &self.rows, |row| match row.get(idx) {
            Some(&cell) => cell_to_py(py, &self.rows, cell),
            None => Ok(py.None().into_bound(py)),
        })
    }

    /// Rows changed by a write, or rows returned by a read.
    #[getter]
    fn rowcount(&self) -> i64 {
        self.rowcount
    }

    /// The id SQLite gave the last inserted row (None on PostgreSQL).
    #[getter]
    fn lastrowid(&self) -> Option<i64> {
        self.lastrowid
    }

    /// Whether the statement came from the prepared-statement cache.
    #[getter]
    fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Column names in order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.columns.to_vec()
    }

    fn __len__(&self) -> usize {
        self.rows.len()
    }

    fn __bool__(&self) -> bool {
        !self.rows.is_empty()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.all(py, None)?.try_iter()?.into_any())
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let ind = slice.indices(self.rows.len() as isize)?;
            let plan = self.plan(py, None, None)?;
            let out = PyList::empty(py);
            let mut i = ind.start;
            while (ind.step > 0 && i < ind.stop) || (ind.step < 0 && i > ind.stop) {
                out.append(plan.dict(py, &self.rows, self.rows.row(i as usize))?)?;
                i += ind.step;
            }
            return Ok(out.into_any());
        }
        if !key.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err("rows are indexed by int or slice"));
        }
        let i: isize = key.extract().map_err(|_| {
            PyIndexError::new_err(format!(
                "row index {key} out of range for {} rows",
                self.rows.len()
            ))
        })?;
        Ok(self.row_dict(py, self.index(i)?)?.into_any())
    }

    fn __repr__(&self) -> String {
        format!(
            "<QueryResult rows={} columns={:?} rowcount={}>",
            self.rows.len(),
            self.columns,
            self.rowcount
        )
    }

    /// Model instances built without calling `__init__`, one per row: allocated as
    /// `object.__new__` does (or by `cls.__new__(cls)` for a class that overrides it)
    /// with a `__dict__` filled from the row.
    ///
    /// `columns`: None for every column under its own name, or a sequence of column
    /// indexes and `(index, attribute name)` pairs (one result hydrated into several
    /// classes). `converters`: one per hydrated column: None, a converter name
    /// ("bool", "datetime", "datetime_tz", "date", "time", "timedelta", "decimal",
    /// "uuid", "json") or a callable for non-None values (an Enum class).
    #[pyo3(signature = (cls, converters=None, columns=None))]
    fn to_models<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyAny>,
        converters: Option<&Bound<'py, PyAny>>,
        columns: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let declared;
        let converters = match (converters, columns) {
            (None, None) => {
                declared = self.model_converters(py, cls)?;
                declared.as_ref()
            }
            _ => converters,
        };
        self.plan(py, columns, converters)?
            .models(py, &self.rows, cls)
    }

    /// `to_models`, each instance registered in a session as it is made (see
    /// `track.rs`). `session` is `(identity, states, state_cls)`: each instance goes in
    /// `identity` under `(cls, pk)` (`key`: the primary key attribute names; `pk` a tuple
    /// for several) and in `states` under `id(instance)`, as an instance of `state_cls`
    /// (made without `__init__`) with `obj`, `key`, `persistent=True` and `snapshot` (a
    /// copy of the instance's `__dict__`). Returns the instances and the positions of
    /// the rows it did not register: a NULL key, or a key already in `identity` (then
    /// the instance there is the caller's to use).
    #[pyo3(signature = (cls, key, session, converters=None))]
    fn to_tracked_models<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        session: (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>),
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyList>, Vec<usize>)> {
        let (identity, states, state_cls) = session;
        let tracker = Tracker::new(cls, key, &identity, &states, &state_cls)?;
        tracked_models(&self.plan(py, None, converters)?, py, &self.rows, &tracker)
    }

    /// Whether every row has a primary key (`key`: attribute names, as for
    /// `to_tracked_models`) that is not NULL and that no other row has, judged from the
    /// raw values (False also when that cannot be told: a converted or unusual key
    /// column). Then each row is its own object, and the ORM may register the objects
    /// later with `track_models`.
    #[pyo3(signature = (key, converters=None))]
    fn distinct_keys<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<bool> {
        let key = key_names(key)?;
        Ok(keys::distinct_keys(
            &self.plan(py, None, converters)?,
            &self.rows,
            &key,
        ))
    }

    /// Registers `objs`, the list `to_models(cls, converters)` made from this result
    /// (perhaps changed since), in a session as `to_tracked_models` would have: the
    /// key and snapshot of each come from its row converted again, not from its current
    /// values. Returns the positions of the objects it did not register (a NULL key, or
    /// a key already in `identity`).
    #[pyo3(signature = (objs, cls, key, session, converters=None))]
    fn track_models<'py>(
        &self,
        py: Python<'py>,
        objs: &Bound<'py, PyList>,
        cls: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        session: (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>),
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Vec<usize>> {
        let (identity, states, state_cls) = session;
        let tracker = Tracker::new(cls, key, &identity, &states, &state_cls)?;
        track_loaded(
            &self.plan(py, None, converters)?,
            py,
            &self.rows,
            objs,
            &tracker,
        )
    }

    /// One instance per distinct value of the `key` columns (a column index or a
    /// sequence of them), in order of first appearance, and for every row the position
    /// of its instance in that list, -1 where every key column is NULL (the missing
    /// side of an outer join). `converters` and `columns` as for `to_models`.
    #[pyo3(signature = (cls, key, converters=None, columns=None))]
    fn unique_models<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        converters: Option<&Bound<'py, PyAny>>,
        columns: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let key = key_columns(key, self.columns.len())?;
        self.plan(py, columns, converters)?
            .unique_models(py, &self.rows, cls, &key)
    }

    /// Links two levels of `unique_models` positions row by row: for each parent
    /// position `0..parent_count`, the distinct child positions of its rows in row
    /// order (rows where either side is -1 add nothing); with `items` (a list indexed
    /// by child position, e.g. the children after the identity map), those items.
    #[staticmethod]
    #[pyo3(signature = (parent_rows, child_rows, parent_count, items=None))]
    fn group_rows<'py>(
        py: Python<'py>,
        parent_rows: Vec<isize>,
        child_rows: Vec<isize>,
        parent_count: usize,
        items: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let groups = group_rows(&parent_rows, &child_rows, parent_count)?;
        match items {
            Some(items) => group_items(py, groups, items),
            None => PyList::new(py, groups),
        }
    }
}
