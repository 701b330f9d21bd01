//! Rows to dicts, tuples and model instances: which columns go where, their
//! converters, and the de-duplication and grouping a joined result needs.

use super::keys::KeyIndex;
use crate::error::Error;
use crate::py::convert::cells::Conv;
use crate::py::convert::objects::{list_of, new_object, set_attr, tuple_of, GcPause, Maker};
use crate::py::errors::{error_class, to_pyerr_plain};
use crate::value::rows::{Cell, Rows};
use pyo3::exceptions::{PyArithmeticError, PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::cell::OnceCell;
use std::collections::HashSet;

/// Which result columns become which attributes, converted how.
pub struct Plan<'py> {
    /// (result column index, attribute name, converter)
    columns: Vec<(usize, Bound<'py, PyString>, Conv<'py>)>,
    /// Every name mapped to None: copied for each row, so its dict never resizes
    /// (made on first use: instances are filled without a dict).
    template: OnceCell<Bound<'py, PyDict>>,
}

fn column_index(i: &Bound<'_, PyAny>, ncols: usize) -> PyResult<usize> {
    let i: isize = i
        .extract()
        .map_err(|_| PyTypeError::new_err("a column is an index or an (index, name) pair"))?;
    usize::try_from(i)
        .ok()
        .filter(|&i| i < ncols)
        .ok_or_else(|| {
            PyIndexError::new_err(format!("column index {i} out of range for {ncols} columns"))
        })
}

/// A converter's failure on one cell, as a `DataError` naming the column (and the stored
/// text): a value out of Python's range, or one another program stored on SQLite that
/// is not of the column's type (`'garbage'` in a date column). The converter's own
/// exception is its `__cause__`. Other exceptions pass through.
#[cold]
fn cell_error(
    py: Python<'_>,
    err: PyErr,
    name: &Bound<'_, PyString>,
    rows: &Rows,
    cell: Cell,
) -> PyErr {
    let ours = error_class(py, 2, "DataError").is_ok_and(|cls| err.is_instance(py, cls));
    let foreign = err.is_instance_of::<PyValueError>(py)
        || err.is_instance_of::<PyTypeError>(py)
        || err.is_instance_of::<PyArithmeticError>(py);
    if !ours && !foreign {
        return err;
    }
    let column = name.to_string();
    let reason = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let message = if ours {
        format!("column '{column}': {reason}")
    } else {
        let stored = match cell {
            Cell::Text(s) => {
                let text = String::from_utf8_lossy(rows.bytes(s));
                let shown: String = text.chars().take(60).collect();
                let more = if shown.len() < text.len() { "…" } else { "" };
                format!(" {shown:?}{more}")
            }
            _ => String::new(),
        };
        let kind = err
            .get_type(py)
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        format!("column '{column}': cannot read the stored value{stored} as the column's type ({kind}: {reason})")
    };
    let mut data = Error::data(message);
    data.column = Some(column);
    let wrapped = to_pyerr_plain(&data);
    wrapped.set_cause(py, Some(err));
    wrapped
}

/// The value of one planned column (result index, attribute name, converter) in `row`;
/// a converter's failure becomes a `DataError` naming the column ([`cell_error`]).
#[inline]
fn read<'py>(
    py: Python<'py>,
    rows: &Rows,
    row: &[Cell],
    (i, name, conv): &(usize, Bound<'py, PyString>, Conv<'py>),
) -> PyResult<Bound<'py, PyAny>> {
    let cell = row.get(*i).copied().unwrap_or(Cell::Null);
    conv.apply(py, rows, cell)
        .map_err(|e| cell_error(py, e, name, rows, cell))
}

/// `make(row)` for every row of `rows`, in a list built in place ([`list_of`]).
pub fn each_row<'py>(
    py: Python<'py>,
    rows: &Rows,
    mut make: impl FnMut(&[Cell]) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let mut iter = rows.iter();
    list_of(py, rows.len(), |_| match iter.next() {
        Some(row) => make(row),
        None => Err(PyValueError::new_err("fewer rows than the result counts")),
    })
}

impl<'py> Plan<'py> {
    /// `selection`: None for every column under its own name, else a sequence of
    /// column indexes and `(index, name)` pairs. `converters`: None, or one per
    /// selected column.
    pub fn new(
        py: Python<'py>,
        names: &[Py<PyString>],
        selection: Option<&Bound<'py, PyAny>>,
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Plan<'py>> {
        let ncols = names.len();
        let picked: Vec<(usize, Bound<'py, PyString>)> = match selection.filter(|s| !s.is_none()) {
            None => names
                .iter()
                .enumerate()
                .map(|(i, n)| (i, n.bind(py).clone()))
                .collect(),
            Some(seq) => {
                let mut out = Vec::new();
                for item in seq.try_iter()? {
                    let item = item?;
                    if let Ok(pair) = item.cast::<PyTuple>() {
                        if pair.len() != 2 {
                            return Err(PyTypeError::new_err(
                                "a column is an index or an (index, name) pair",
                            ));
                        }
                        let name = pair
                            .get_item(1)?
                            .cast_into::<PyString>()
                            .map_err(|_| PyTypeError::new_err("an attribute name must be a str"))?;
                        out.push((column_index(&pair.get_item(0)?, ncols)?, name));
                    } else {
                        let i = column_index(&item, ncols)?;
                        out.push((i, names[i].bind(py).clone()));
                    }
                }
                out
            }
        };
        let convs: Vec<Conv<'py>> = match converters.filter(|c| !c.is_none()) {
            None => picked.iter().map(|_| Conv::Plain).collect(),
            Some(seq) => seq
                .try_iter()?
                .map(|c| Conv::parse(&c?))
                .collect::<PyResult<_>>()?,
        };
        if convs.len() != picked.len() {
            return Err(to_pyerr_plain(&Error::interface(format!(
                "{} converters given for {} columns",
                convs.len(),
                picked.len()
            ))));
        }
        Ok(Plan {
            columns: picked
                .into_iter()
                .zip(convs)
                .map(|((i, n), c)| (i, n, c))
                .collect(),
            template: OnceCell::new(),
        })
    }

    /// One row as a dict.
    #[inline]
    pub fn dict(&self, py: Python<'py>, rows: &Rows, row: &[Cell]) -> PyResult<Bound<'py, PyDict>> {
        let template = match self.template.get() {
            Some(t) => t,
            None => {
                let t = PyDict::new(py);
                for (_, name, _) in &self.columns {
                    t.set_item(name, py.None())?;
                }
                self.template.get_or_init(|| t)
            }
        };
        let dict = template.copy()?;
        for column in &self.columns {
            dict.set_item(&column.1, read(py, rows, row, column)?)?;
        }
        Ok(dict)
    }

    /// One row as a tuple.
    #[inline]
    pub fn tuple(
        &self,
        py: Python<'py>,
        rows: &Rows,
        row: &[Cell],
    ) -> PyResult<Bound<'py, PyTuple>> {
        let columns = &self.columns;
        tuple_of(py, columns.len(), |j| read(py, rows, row, &columns[j]))
    }

    /// Every row as a dict.
    pub fn dicts(&self, py: Python<'py>, rows: &Rows) -> PyResult<Bound<'py, PyList>> {
        let _gc = GcPause::new(py, rows.len());
        each_row(py, rows, |row| Ok(self.dict(py, rows, row)?.into_any()))
    }

    /// Every row as a tuple.
    pub fn tuples(&self, py: Python<'py>, rows: &Rows) -> PyResult<Bound<'py, PyList>> {
        let _gc = GcPause::new(py, rows.len());
        each_row(py, rows, |row| Ok(self.tuple(py, rows, row)?.into_any()))
    }

    /// For each attribute name of `names`, the result column it comes from and its
    /// converter; None when one of them is not hydrated by this plan.
    pub(super) fn sources(
        &self,
        names: &[Bound<'py, PyString>],
    ) -> Option<Vec<(usize, &Conv<'py>)>> {
        names
            .iter()
            .map(|name| {
                self.columns
                    .iter()
                    .find(|(_, attr, _)| attr.as_any().eq(name).unwrap_or(false))
                    .map(|(i, _, conv)| (*i, conv))
            })
            .collect()
    }

    /// How to make instances of `cls` with this plan's attributes.
    pub(super) fn maker(&self, cls: &Bound<'py, PyAny>) -> PyResult<Maker<'py>> {
        Maker::new(cls, self.columns.iter().map(|(_, name, _)| name))
    }

    /// One row as an instance.
    #[inline]
    pub(super) fn model(
        &self,
        py: Python<'py>,
        rows: &Rows,
        row: &[Cell],
        maker: &Maker<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Maker::Attrs { cls, no_args } = maker else {
            return maker.make(self.dict(py, rows, row)?);
        };
        let obj = new_object(cls, no_args)?;
        for column in &self.columns {
            set_attr(&obj, &column.1, &read(py, rows, row, column)?)?;
        }
        Ok(obj)
    }

    /// One instance of `cls` per row.
    pub fn models(
        &self,
        py: Python<'py>,
        rows: &Rows,
        cls: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let maker = self.maker(cls)?;
        let _gc = GcPause::new(py, rows.len());
        each_row(py, rows, |row| self.model(py, rows, row, &maker))
    }

    /// One instance of `cls` per distinct value of the `key` columns, in order of first
    /// appearance, and for every row the position of its instance (-1 where every key
    /// column is NULL: no instance, as for the missing side of an outer join).
    pub fn unique_models(
        &self,
        py: Python<'py>,
        rows: &Rows,
        cls: &Bound<'py, PyAny>,
        key: &[usize],
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let maker = self.maker(cls)?;
        let _gc = GcPause::new(py, rows.len());
        let mut index = KeyIndex::new(rows, key);
        let mut objects = Vec::new();
        let mut positions: Vec<isize> = Vec::with_capacity(rows.len());
        // (row, position) of the previous row with a key: joined rows come grouped.
        let mut previous: Option<(usize, usize)> = None;
        for (r, row) in rows.iter().enumerate() {
            if key
                .iter()
                .all(|&k| row.get(k).copied().unwrap_or(Cell::Null) == Cell::Null)
            {
                positions.push(-1);
                continue;
            }
            let j = match previous.filter(|&(p, _)| index.same(p, r)) {
                Some((_, j)) => j,
                None => {
                    let (j, new) = index.number(r);
                    if new {
                        objects.push(self.model(py, rows, row, &maker)?);
                    }
                    j
                }
            };
            previous = Some((r, j));
            positions.push(j as isize);
        }
        Ok((PyList::new(py, objects)?, PyList::new(py, positions)?))
    }
}

/// Result column indexes of a key.
pub fn key_columns(key: &Bound<'_, PyAny>, ncols: usize) -> PyResult<Vec<usize>> {
    let out = if key.extract::<isize>().is_ok() {
        vec![column_index(key, ncols)?]
    } else {
        key.try_iter()?
            .map(|i| column_index(&i?, ncols))
            .collect::<PyResult<Vec<_>>>()?
    };
    if out.is_empty() {
        return Err(PyValueError::new_err("a key needs at least one column"));
    }
    Ok(out)
}

/// For each parent position `0..parents`, the distinct child positions found on the same
/// rows, in row order. Rows whose parent or child is -1 add nothing.
pub fn group_rows(
    parent_rows: &[isize],
    child_rows: &[isize],
    parents: usize,
) -> PyResult<Vec<Vec<usize>>> {
    if parent_rows.len() != child_rows.len() {
        return Err(PyValueError::new_err(format!(
            "{} parent positions for {} child positions",
            parent_rows.len(),
            child_rows.len()
        )));
    }
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); parents];
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut previous = None;
    for (&p, &c) in parent_rows.iter().zip(child_rows) {
        let (Ok(p), Ok(c)) = (usize::try_from(p), usize::try_from(c)) else {
            continue;
        };
        let group = groups.get_mut(p).ok_or_else(|| {
            PyIndexError::new_err(format!(
                "parent position {p} out of range for {parents} parents"
            ))
        })?;
        // A pair repeats on consecutive rows when a third level multiplies them.
        if previous != Some((p, c)) && seen.insert((p, c)) {
            group.push(c);
        }
        previous = Some((p, c));
    }
    Ok(groups)
}

/// `group_rows` with each child position replaced by `items[position]`.
pub fn group_items<'py>(
    py: Python<'py>,
    groups: Vec<Vec<usize>>,
    items: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let items = items.cast::<PyList>().map_err(|_| {
        PyTypeError::new_err("items must be a list (the objects at the child positions)")
    })?;
    let lists = groups
        .into_iter()
        .map(|group| {
            let objs = group
                .into_iter()
                .map(|i| items.get_item(i))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, objs)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, lists)
}
