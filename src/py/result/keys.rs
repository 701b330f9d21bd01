//! Whether a result's primary keys are all present and distinct, read from the raw
//! cells before any Python object is made.
//!
//! The session registers a large result in its identity map only when it needs to (see
//! `UnitOfWork.load_fresh`), which is safe when every row is a different object: no key
//! is NULL and no two rows have the same key. Only cells whose raw value maps one to one
//! to the Python value are judged here (integers, text and bytes without a converter,
//! UUIDs, dates and timestamps); anything else answers "not known distinct".

use super::hydrate::Plan;
use crate::py::convert::cells::Conv;
use crate::value::rows::{Cell, Rows};
use pyo3::prelude::*;
use pyo3::types::PyString;
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher, RandomState};

/// Whether `cell`, converted by `conv`, gives a Python value equal to another's exactly
/// when the raw values are equal. (SQLite text read by the `datetime` or `uuid`
/// converter is not: two spellings can give one value.)
fn faithful(cell: Cell, conv: &Conv<'_>) -> bool {
    match cell {
        Cell::Uuid(_) => matches!(conv, Conv::Plain | Conv::Uuid),
        Cell::Int(_) | Cell::Text(_) | Cell::Bytes(_) => matches!(conv, Conv::Plain),
        Cell::Date(_) | Cell::Timestamp(_) | Cell::TimestampTz(_) => {
            matches!(
                conv,
                Conv::Plain | Conv::Date | Conv::DateTime | Conv::DateTimeTz
            )
        }
        _ => false,
    }
}

/// True when the attributes `key` (primary key names) are hydrated from columns whose
/// values are, on every row, present, faithful and distinct.
pub fn distinct_keys<'py>(plan: &Plan<'py>, rows: &Rows, key: &[Bound<'py, PyString>]) -> bool {
    let Some(sources) = plan.sources(key) else {
        return false;
    };
    let cell = |row: &[Cell], i: usize| row.get(i).copied().unwrap_or(Cell::Null);
    if !rows.iter().all(|row| {
        sources
            .iter()
            .all(|(i, conv)| faithful(cell(row, *i), conv))
    }) {
        return false;
    }
    if let [(i, _)] = sources[..] {
        if let Some(answer) = distinct_ints(rows, i) {
            return answer;
        }
    }
    let columns: SmallVec<[usize; 4]> = sources.iter().map(|(i, _)| *i).collect();
    let hasher = RandomState::new();
    let mut by_hash: HashMap<u64, SmallVec<[usize; 1]>> = HashMap::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let mut h = hasher.build_hasher();
        for &i in &columns {
            rows.hash_cell(cell(row, i), &mut h);
        }
        let bucket = by_hash.entry(h.finish()).or_default();
        let same = |other: &usize| {
            let other = rows.row(*other);
            columns
                .iter()
                .all(|&i| rows.same(cell(row, i), cell(other, i)))
        };
        if bucket.iter().any(same) {
            return false;
        }
        bucket.push(r);
    }
    true
}

/// For a column of integers, whether they are distinct (None when a cell is not an
/// integer). Keys in increasing order, what `ORDER BY pk` gives, need no hashing.
fn distinct_ints(rows: &Rows, i: usize) -> Option<bool> {
    let ints = rows
        .iter()
        .map(|row| match row.get(i) {
            Some(Cell::Int(v)) => Some(*v),
            _ => None,
        })
        .collect::<Option<Vec<i64>>>()?;
    if ints.windows(2).all(|w| w[0] < w[1]) {
        return Some(true);
    }
    let mut seen = HashSet::with_capacity(ints.len());
    Some(ints.into_iter().all(|v| seen.insert(v)))
}
