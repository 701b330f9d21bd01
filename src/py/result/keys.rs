//! Keys read from a result's raw cells before any Python object is made: [`KeyIndex`]
//! tells which earlier row a row's key repeats (the joined loader's one object per
//! distinct key, `Plan::unique_models`), and [`distinct_keys`] whether no row repeats
//! one.
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
    let mut index = KeyIndex::new(rows, &columns);
    (0..rows.len()).all(|r| index.number(r).1)
}

/// The distinct values of some columns of a result: which earlier row's values a row
/// repeats. Each distinct value gets a number, in order of first appearance.
pub struct KeyIndex<'a> {
    rows: &'a Rows,
    columns: &'a [usize],
    hasher: RandomState,
    /// the first row with each distinct value, by its number
    first: Vec<usize>,
    /// hash of a value → the numbers of the values with that hash
    by_hash: HashMap<u64, SmallVec<[usize; 1]>>,
}

impl<'a> KeyIndex<'a> {
    pub fn new(rows: &'a Rows, columns: &'a [usize]) -> KeyIndex<'a> {
        KeyIndex {
            rows,
            columns,
            hasher: RandomState::new(),
            first: Vec::new(),
            by_hash: HashMap::with_capacity(rows.len()),
        }
    }

    /// Whether rows `a` and `b` have the same values in the columns.
    pub fn same(&self, a: usize, b: usize) -> bool {
        let (a, b) = (self.rows.row(a), self.rows.row(b));
        self.columns
            .iter()
            .all(|&i| self.rows.same(cell(a, i), cell(b, i)))
    }

    /// The number of row `r`'s values, and whether they are new (no earlier row had them).
    pub fn number(&mut self, r: usize) -> (usize, bool) {
        let row = self.rows.row(r);
        let mut h = self.hasher.build_hasher();
        for &i in self.columns {
            self.rows.hash_cell(cell(row, i), &mut h);
        }
        let hash = h.finish();
        if let Some(bucket) = self.by_hash.get(&hash) {
            if let Some(&n) = bucket.iter().find(|&&n| self.same(self.first[n], r)) {
                return (n, false);
            }
        }
        let n = self.first.len();
        self.first.push(r);
        self.by_hash.entry(hash).or_default().push(n);
        (n, true)
    }
}

fn cell(row: &[Cell], i: usize) -> Cell {
    row.get(i).copied().unwrap_or(Cell::Null)
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
