//! `QueryResult`: rows stay as Rust values until Python asks for them.

use super::convert::{decode_tagged, to_py};
use super::errors::{multiple_results_found, no_result_found, to_pyerr_plain};
use crate::error::Error;
use crate::value::Row;
use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PySlice, PyString, PyTuple};
use std::sync::Arc;

#[pyclass(module = "ormkit._ormkit", name = "QueryResult", frozen)]
pub struct QueryResult {
    columns: Arc<[String]>,
    rows: Vec<Row>,
    rowcount: i64,
    lastrowid: Option<i64>,
    cache_hit: bool,
    names: PyOnceLock<Vec<Py<PyString>>>,
}

impl QueryResult {
    pub fn new(
        columns: Arc<[String]>,
        rows: Vec<Row>,
        rowcount: i64,
        lastrowid: Option<i64>,
        cache_hit: bool,
    ) -> QueryResult {
        QueryResult {
            columns,
            rows,
            rowcount,
            lastrowid,
            cache_hit,
            names: PyOnceLock::new(),
        }
    }

    fn names<'a>(&'a self, py: Python<'_>) -> &'a [Py<PyString>] {
        self.names.get_or_init(py, || {
            self.columns
                .iter()
                .map(|c| PyString::intern(py, c).unbind())
                .collect()
        })
    }

    fn row_dict<'py>(&self, py: Python<'py>, row: &Row) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.names(py).iter().zip(row.iter()) {
            dict.set_item(name.bind(py), to_py(py, value)?)?;
        }
        Ok(dict)
    }

    fn row_tuple<'py>(&self, py: Python<'py>, row: &Row) -> PyResult<Bound<'py, PyTuple>> {
        let items = row
            .iter()
            .map(|v| to_py(py, v))
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }

    fn index(&self, i: isize) -> PyResult<&Row> {
        let n = self.rows.len() as isize;
        let j = if i < 0 { i + n } else { i };
        if j < 0 || j >= n {
            return Err(PyIndexError::new_err(format!(
                "row index {i} out of range for a result of {n} rows"
            )));
        }
        Ok(&self.rows[j as usize])
    }
}

enum Converter {
    Plain,
    Tag(String),
    Call(Py<PyAny>),
}

#[pymethods]
impl QueryResult {
    /// Every row as a dict keyed by column name.
    fn all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for row in &self.rows {
            out.append(self.row_dict(py, row)?)?;
        }
        Ok(out)
    }

    /// Every row as a tuple.
    fn tuples<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for row in &self.rows {
            out.append(self.row_tuple(py, row)?)?;
        }
        Ok(out)
    }

    /// The first row as a dict, or None.
    fn first<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.rows.first().map(|r| self.row_dict(py, r)).transpose()
    }

    /// The only row; raises NoResultFound or MultipleResultsFound otherwise.
    fn one<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match self.rows.len() {
            0 => Err(no_result_found(
                py,
                "the query returned no rows; one was expected",
            )),
            1 => self.row_dict(py, &self.rows[0]),
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
            1 => self.row_dict(py, &self.rows[0]).map(Some),
            n => Err(multiple_results_found(
                py,
                &format!("the query returned {n} rows; at most one was expected"),
            )),
        }
    }

    /// The first column of the first row, or None when there are no rows.
    fn scalar<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.rows.first().and_then(|r| r.first()) {
            Some(v) => to_py(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Every value of one column, by name or position.
    fn column<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let idx = if let Ok(i) = name.extract::<usize>() {
            if i >= self.columns.len() {
                return Err(PyIndexError::new_err(format!(
                    "column index {i} out of range for {} columns",
                    self.columns.len()
                )));
            }
            i
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
        let out = PyList::empty(py);
        for row in &self.rows {
            match row.get(idx) {
                Some(v) => out.append(to_py(py, v)?)?,
                None => out.append(py.None())?,
            }
        }
        Ok(out)
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
        Ok(self.all(py)?.try_iter()?.into_any())
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(slice) = key.cast::<PySlice>() {
            let ind = slice.indices(self.rows.len() as isize)?;
            let out = PyList::empty(py);
            let mut i = ind.start;
            while (ind.step > 0 && i < ind.stop) || (ind.step < 0 && i > ind.stop) {
                out.append(self.row_dict(py, &self.rows[i as usize])?)?;
                i += ind.step;
            }
            return Ok(out.into_any());
        }
        let i: isize = key
            .extract()
            .map_err(|_| PyTypeError::new_err("rows are indexed by int or slice"))?;
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

    /// Model instances built without calling `__init__`: `cls.__new__(cls)` and
    /// a `__dict__` filled from the row. `converters` has one entry per column:
    /// None, a converter name ("bool", "datetime", "datetime_tz", "date", "time",
    /// "timedelta", "decimal", "uuid", "json") or a callable for non-None values.
    #[pyo3(signature = (cls, converters=None))]
    fn to_models<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyAny>,
        converters: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let convs = parse_converters(converters, self.columns.len())?;
        let names = self.names(py);
        let new = cls.getattr(intern!(py, "__new__"))?;
        let dict_name = intern!(py, "__dict__");
        let out = PyList::empty(py);
        for row in &self.rows {
            let inst = new.call1((cls,))?;
            let dict = inst.getattr(dict_name)?;
            let dict = dict.cast::<PyDict>()?;
            for ((name, value), conv) in names.iter().zip(row.iter()).zip(convs.iter()) {
                let obj = match conv {
                    Converter::Plain => to_py(py, value)?,
                    Converter::Tag(tag) => decode_tagged(py, tag, value)?,
                    Converter::Call(f) => {
                        let raw = to_py(py, value)?;
                        if raw.is_none() {
                            raw
                        } else {
                            f.bind(py).call1((raw,))?
                        }
                    }
                };
                dict.set_item(name.bind(py), obj)?;
            }
            out.append(inst)?;
        }
        Ok(out)
    }
}

fn parse_converters(
    converters: Option<&Bound<'_, PyAny>>,
    ncols: usize,
) -> PyResult<Vec<Converter>> {
    let Some(seq) = converters.filter(|c| !c.is_none()) else {
        return Ok((0..ncols).map(|_| Converter::Plain).collect());
    };
    let mut out = Vec::with_capacity(ncols);
    for item in seq.try_iter()? {
        let item = item?;
        out.push(if item.is_none() {
            Converter::Plain
        } else if let Ok(tag) = item.extract::<String>() {
            Converter::Tag(tag)
        } else if item.is_callable() {
            Converter::Call(item.unbind())
        } else {
            return Err(PyTypeError::new_err(
                "a converter is None, a converter name or a callable",
            ));
        });
    }
    if out.len() != ncols {
        return Err(to_pyerr_plain(&Error::interface(format!(
            "{} converters given for {} columns",
            out.len(),
            ncols
        ))));
    }
    Ok(out)
}
