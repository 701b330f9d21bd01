//! The values of a multi-row INSERT of ORM objects, read from the objects and checked in
//! one pass (`ormkit.orm.bulk_insert`), and what follows the statement: what RETURNING
//! brought back set on the objects, and their snapshots made from the values written.
//!
//! A value the column does not take as it is makes the gathering answer None: Python's
//! general path then decides (and names the model and field in its error). Nothing here
//! raises for a user's value.

use super::convert::objects::{instance_value, set_attr, GcPause};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDateTime, PyDict, PyList, PyString, PyTuple, PyType, PyTzInfoAccess};
use smallvec::{smallvec, SmallVec};

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
        // read from the datetime itself (its type is exactly datetime: checked above)
        let tzinfo = dt.get_tzinfo();
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

/// Row by row, the values of the columns `rules` describes, read from each object of
/// `objs` as it holds them (see [`instance_value`]: attributes kept inline stay there,
/// no `__dict__` is made), as one flat list, and per column whether it is left out (None
/// in every row of a column the database fills). None when the objects are not all of
/// one class, when an object lacks a column, when a value does not fit its column as it
/// is, when the rows disagree on which columns are left out, or when an object comes
/// twice.
#[pyfunction]
pub fn gather_insert_values<'py>(
    py: Python<'py>,
    objs: &Bound<'py, PyList>,
    rules: &Bound<'py, InsertRules>,
) -> PyResult<Option<(Bound<'py, PyList>, Vec<bool>)>> {
    let columns = &rules.get().columns;
    let mut omitted: Option<Vec<bool>> = None;
    let mut out: Vec<Bound<'py, PyAny>> = Vec::with_capacity(objs.len() * columns.len());
    let mut row_omits: SmallVec<[bool; 16]> = SmallVec::with_capacity(columns.len());
    let model = match objs.len() {
        0 => None,
        _ => Some(objs.get_item(0)?.get_type()),
    };
    let mut identities: Vec<usize> = Vec::with_capacity(objs.len());
    for obj in objs.iter() {
        if model.as_ref().is_some_and(|m| !obj.get_type().is(m)) {
            return Ok(None); // objects of more than one class
        }
        identities.push(obj.as_ptr() as usize);
        row_omits.clear();
        for column in columns {
            let Some(value) = instance_value(&obj, column.key.bind(py))? else {
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
            None => omitted = Some(row_omits.to_vec()),
            Some(first) if first[..] != row_omits[..] => return Ok(None),
            Some(_) => {}
        }
    }
    identities.sort_unstable();
    if identities.windows(2).any(|pair| pair[0] == pair[1]) {
        return Ok(None); // one object twice: the general path inserts it once
    }
    Ok(Some((
        PyList::new(py, out)?,
        omitted.unwrap_or_else(|| vec![false; columns.len()]),
    )))
}

/// Where each value of a written row's snapshot comes from: per attribute, its place in
/// the statement's row of parameters, or in what RETURNING brought back for the row.
enum Source {
    Written(usize),
    Returned(usize),
}

/// The part of row `row` that RETURNING brought back: one value per returned column. With
/// one such column, `returned` holds the values themselves; with more, a tuple per row.
fn returned_part<'py>(
    returned: &[Bound<'py, PyAny>],
    row: usize,
    width: usize,
) -> PyResult<SmallVec<[Bound<'py, PyAny>; 4]>> {
    let Some(item) = returned.get(row) else {
        return Err(PyValueError::new_err(format!(
            "no returned values for row {row}"
        )));
    };
    if width == 1 {
        return Ok(smallvec![item.clone()]);
    }
    let tuple = item
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("returned rows must be tuples"))?;
    if tuple.len() != width {
        return Err(PyValueError::new_err(format!(
            "a returned row has {} values for {width} columns",
            tuple.len()
        )));
    }
    Ok(tuple.iter().collect())
}

/// The snapshots of rows just written: per row, a dict of the attributes in `layout`
/// (`(name, place)` pairs in the model's column order; `place` ≥ 0: the value's place in
/// the row's `width` parameters of `params`, row by row; `place` < 0: `-place - 1` is
/// its place in what RETURNING brought back, `returned`, one item per row as
/// [`set_returned`] takes them: `returned_width` values each, which may include a
/// written column such as a given primary key). This is each object's `__dict__` as
/// written, made when the session registers the objects rather than copied when they
/// are written.
#[pyfunction]
pub fn written_snapshots<'py>(
    py: Python<'py>,
    layout: &Bound<'py, PyTuple>,
    params: &Bound<'py, PyList>,
    width: usize,
    returned: &Bound<'py, PyList>,
    returned_width: usize,
) -> PyResult<Bound<'py, PyList>> {
    let mut names: Vec<Bound<'py, PyString>> = Vec::with_capacity(layout.len());
    let mut sources: Vec<Source> = Vec::with_capacity(layout.len());
    for item in layout.iter() {
        let (name, place): (Bound<'py, PyString>, isize) = item.extract()?;
        names.push(name);
        sources.push(match usize::try_from(place) {
            Ok(at) if at < width => Source::Written(at),
            Ok(_) => return Err(PyValueError::new_err("a written place beyond the row")),
            Err(_) if place.unsigned_abs() <= returned_width => {
                Source::Returned(place.unsigned_abs() - 1)
            }
            Err(_) => return Err(PyValueError::new_err("a returned place beyond the row")),
        });
    }
    let params: Vec<Bound<'py, PyAny>> = params.iter().collect();
    let returned: Vec<Bound<'py, PyAny>> = returned.iter().collect();
    // no written columns (every value came back): one row per returned item
    let rows = params.len().checked_div(width).unwrap_or(returned.len());
    if params
        .len()
        .checked_rem(width)
        .is_some_and(|rest| rest != 0)
    {
        return Err(PyValueError::new_err("the parameters are not whole rows"));
    }
    let _gc = GcPause::new(py, rows);
    let out = PyList::empty(py);
    for row in 0..rows {
        let back = if returned_width == 0 {
            SmallVec::new()
        } else {
            returned_part(&returned, row, returned_width)?
        };
        let snapshot = PyDict::new(py);
        for (name, source) in names.iter().zip(&sources) {
            let value = match *source {
                Source::Written(at) => &params[row * width + at],
                Source::Returned(at) => back
                    .get(at)
                    .ok_or_else(|| PyValueError::new_err("a returned place beyond the row"))?,
            };
            snapshot.set_item(name, value)?;
        }
        out.append(snapshot)?;
    }
    Ok(out)
}

/// Sets what RETURNING brought back on the objects just written: on `objs[i]`, each of
/// `names` to its value in `returned[i]` (the value itself for one name, a tuple for
/// more), as `object.__setattr__` does.
#[pyfunction]
pub fn set_returned<'py>(
    objs: &Bound<'py, PyList>,
    names: &Bound<'py, PyTuple>,
    returned: &Bound<'py, PyList>,
) -> PyResult<()> {
    let names = names
        .iter()
        .map(|name| {
            name.cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("an attribute name must be a str"))
        })
        .collect::<PyResult<Vec<_>>>()?;
    if returned.len() != objs.len() {
        return Err(PyValueError::new_err(format!(
            "{} returned rows for {} objects",
            returned.len(),
            objs.len()
        )));
    }
    let returned: Vec<Bound<'py, PyAny>> = returned.iter().collect();
    for (row, obj) in objs.iter().enumerate() {
        let values = returned_part(&returned, row, names.len())?;
        for (name, value) in names.iter().zip(&values) {
            set_attr(&obj, name, value)?;
        }
    }
    Ok(())
}
