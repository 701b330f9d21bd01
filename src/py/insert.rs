//! The values of a multi-row INSERT of ORM objects, read from their `__dict__`s and
//! checked in one pass (`ormkit.orm.bulk_insert`). A value the column does not take as
//! it is makes the whole call answer None: Python's general path then decides (and names
//! the model and field in its error). Nothing here raises for a user's value.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDateTime, PyDict, PyList, PyString, PyTuple, PyType};

/// What a None value of a column means (the `none` field of `ColumnSpec`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnNone {
    /// The column is left out of every row: the database fills it.
    Omit,
    /// Written as NULL.
    Write,
    /// A default or a missing value: the general path decides.
    Decline,
}

/// The datetime rule of a column.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Zone {
    None,
    Naive,
    Aware,
}

struct Column {
    key: Py<PyString>,
    types: Vec<Py<PyType>>,
    on_none: OnNone,
    zone: Zone,
    max_length: Option<usize>,
}

impl Column {
    /// From `(key, types, none, zone, max_length)`: `none` None/True/False for
    /// omit/write/decline, `zone` 0/1/2 for none/naive/aware.
    fn from_spec(spec: &Bound<'_, PyAny>) -> PyResult<Column> {
        let (key, types, none, zone, max_length): (
            Py<PyString>,
            Bound<'_, PyTuple>,
            Option<bool>,
            u8,
            Option<usize>,
        ) = spec.extract()?;
        let types = types
            .iter()
            .map(|t| {
                t.cast_into::<PyType>()
                    .map(Bound::unbind)
                    .map_err(PyErr::from)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let on_none = match none {
            None => OnNone::Omit,
            Some(true) => OnNone::Write,
            Some(false) => OnNone::Decline,
        };
        let zone = match zone {
            1 => Zone::Naive,
            2 => Zone::Aware,
            _ => Zone::None,
        };
        Ok(Column {
            key,
            types,
            on_none,
            zone,
            max_length,
        })
    }

    /// Whether the non-None `value` fits the column as it is.
    fn accepts(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        let kind = value.get_type();
        if self.types.iter().any(|t| t.is(&kind)) {
            return match self.max_length {
                None => Ok(true),
                Some(limit) => Ok(length(value)?.is_some_and(|n| n <= limit)),
            };
        }
        if self.zone == Zone::None || !kind.is(value.py().get_type::<PyDateTime>()) {
            return Ok(false);
        }
        let Ok(dt) = value.cast::<PyDateTime>() else {
            return Ok(false);
        };
        let tzinfo = value.getattr(pyo3::intern!(value.py(), "tzinfo"))?;
        match self.zone {
            Zone::Naive => Ok(tzinfo.is_none()),
            Zone::Aware => {
                if tzinfo.is_none() {
                    return Ok(false);
                }
                let offset = dt.call_method0(pyo3::intern!(value.py(), "utcoffset"))?;
                Ok(!offset.is_none())
            }
            Zone::None => Ok(false),
        }
    }
}

/// The length of a str (in characters) or bytes value; None for anything else.
fn length(value: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if value.is_exact_instance_of::<PyString>() || value.is_exact_instance_of::<PyBytes>() {
        return Ok(Some(value.len()?));
    }
    Ok(None)
}

/// The columns of one model, as `gather_insert_values` checks them (made once per model
/// from `ormkit.orm.bulk_insert.column_rule` tuples).
#[pyclass(frozen, module = "ormkit._ormkit")]
pub struct InsertRules {
    columns: Vec<Column>,
}

#[pymethods]
impl InsertRules {
    #[new]
    fn new(specs: &Bound<'_, PyTuple>) -> PyResult<InsertRules> {
        let columns = specs
            .iter()
            .map(|spec| Column::from_spec(&spec))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(InsertRules { columns })
    }

    fn __len__(&self) -> usize {
        self.columns.len()
    }
}

/// Row by row, the values of the columns `rules` describes from each dict of `dicts`,
/// as one flat list, and per column whether it is left out (None in every row of a
/// column the database fills). None when a dict lacks a column or has other keys, when
/// a value does not fit its column as it is, or when the rows disagree on which
/// columns are left out.
#[pyfunction]
pub fn gather_insert_values<'py>(
    py: Python<'py>,
    dicts: &Bound<'py, PyList>,
    rules: &Bound<'py, InsertRules>,
) -> PyResult<Option<(Bound<'py, PyList>, Vec<bool>)>> {
    let columns = &rules.get().columns;
    let mut omitted: Option<Vec<bool>> = None;
    let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(dicts.len() * columns.len());
    for item in dicts.iter() {
        let Ok(dict) = item.cast::<PyDict>() else {
            return Ok(None);
        };
        if dict.len() != columns.len() {
            return Ok(None);
        }
        let mut row_omits = Vec::with_capacity(columns.len());
        for column in columns {
            let Some(value) = dict.get_item(column.key.bind(py))? else {
                return Ok(None);
            };
            if value.is_none() {
                match column.on_none {
                    OnNone::Omit => {
                        row_omits.push(true);
                        continue;
                    }
                    OnNone::Write => {}
                    OnNone::Decline => return Ok(None),
                }
            } else if !column.accepts(&value)? {
                return Ok(None);
            }
            row_omits.push(false);
            out.push(value);
        }
        match &omitted {
            None => omitted = Some(row_omits),
            Some(first) if *first != row_omits => return Ok(None),
            Some(_) => {}
        }
    }
    Ok(Some((
        PyList::new(py, out)?,
        omitted.unwrap_or_else(|| vec![false; columns.len()]),
    )))
}
