//! Compact storage for a result's rows: one 16-byte [`Cell`] per value, row after row,
//! and the bytes of every text, blob, JSON, numeric and UUID value in one shared buffer.
//!
//! Decoding a row is then a few stores and one `memcpy` per variable-length value: no
//! heap allocation per value and none per row. Values without a compact form (arrays,
//! intervals, times with a zone) are kept as a [`Value`] on the side.

use super::{Row, Value};

/// Where a variable-length value lives in [`Rows`]' byte buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

/// One value of one row. Payloads mean what they mean in [`Value`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Date(i32),
    Time(i64),
    Timestamp(i64),
    TimestampTz(i64),
    /// UTF-8 text (checked when it was stored).
    Text(Span),
    Bytes(Span),
    /// Canonical decimal text.
    Decimal(Span),
    /// JSON document text.
    Json(Span),
    /// The 16 bytes of a UUID.
    Uuid(Span),
    /// Index into the side table of values without a compact form.
    Other(u32),
}

/// Which cell [`Rows::push_str`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Text,
    Decimal,
    Json,
}

/// The rows of one result. Build with the `push_*` methods, one row's values in column
/// order, then [`Rows::end_row`].
#[derive(Clone, Default)]
pub struct Rows {
    ncols: usize,
    nrows: usize,
    cells: Vec<Cell>,
    bytes: Vec<u8>,
    others: Vec<Value>,
    /// Owned copies of the rows for `rows[i]` in tests.
    #[cfg(test)]
    view: std::sync::OnceLock<Vec<Row>>,
}

/// What [`Rows::mark`] remembers to take back a half-decoded row.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    cells: usize,
    bytes: usize,
    others: usize,
}

impl Rows {
    /// No rows yet, of `ncols` columns each.
    pub fn new(ncols: usize) -> Rows {
        Rows {
            ncols,
            ..Rows::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.nrows
    }

    pub fn is_empty(&self) -> bool {
        self.nrows == 0
    }

    /// Number of columns of every row.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// The cells of row `i` (empty when `i` is out of range).
    #[inline]
    pub fn row(&self, i: usize) -> &[Cell] {
        let start = i * self.ncols;
        self.cells.get(start..start + self.ncols).unwrap_or(&[])
    }

    /// Every row's cells in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[Cell]> + '_ {
        (0..self.nrows).map(|i| self.row(i))
    }

    /// The bytes a span points at.
    #[inline]
    pub fn bytes(&self, span: Span) -> &[u8] {
        let start = span.start as usize;
        self.bytes
            .get(start..start + span.len as usize)
            .unwrap_or(&[])
    }

    /// The text a `Text`, `Decimal` or `Json` span points at.
    pub fn str(&self, span: Span) -> &str {
        // Text spans are made only from `&str` (see `push_str`): never invalid.
        std::str::from_utf8(self.bytes(span)).unwrap_or_default()
    }

    /// A value of the side table.
    pub fn other(&self, i: u32) -> Option<&Value> {
        self.others.get(i as usize)
    }

    /// Reserves room for `rows` more rows with about `bytes_per_row` bytes of payload each.
    pub fn reserve(&mut self, rows: usize, bytes_per_row: usize) {
        self.cells.reserve(rows.saturating_mul(self.ncols));
        self.bytes.reserve(rows.saturating_mul(bytes_per_row));
    }

    /// Where the next row starts, to take a half-built row back with [`Rows::truncate`].
    pub fn mark(&self) -> Mark {
        Mark {
            cells: self.cells.len(),
            bytes: self.bytes.len(),
            others: self.others.len(),
        }
    }

    /// Forgets what was pushed since `mark`.
    pub fn truncate(&mut self, mark: Mark) {
        self.cells.truncate(mark.cells);
        self.bytes.truncate(mark.bytes);
        self.others.truncate(mark.others);
    }

    /// Ends the row whose values were just pushed.
    pub fn end_row(&mut self) {
        self.nrows += 1;
        debug_assert_eq!(self.cells.len(), self.nrows * self.ncols);
    }

    #[inline]
    pub fn push(&mut self, cell: Cell) {
        self.cells.push(cell);
    }

    /// Copies `data` into the byte buffer; `None` past 4 GiB of payload.
    #[inline]
    fn span(&mut self, data: &[u8]) -> Option<Span> {
        let start = u32::try_from(self.bytes.len()).ok()?;
        let len = u32::try_from(data.len()).ok()?;
        start.checked_add(len)?;
        self.bytes.extend_from_slice(data);
        Some(Span { start, len })
    }

    /// Pushes text as a `Text`, `Decimal` or `Json` cell.
    #[inline]
    pub fn push_str(&mut self, s: &str, kind: TextKind) {
        self.push_text(s.as_bytes(), kind);
    }

    /// Pushes UTF-8 bytes as a `Text`, `Decimal` or `Json` cell; false (and nothing
    /// pushed) when they are not UTF-8.
    #[inline]
    pub fn push_utf8(&mut self, raw: &[u8], kind: TextKind) -> bool {
        if !raw.is_ascii() && std::str::from_utf8(raw).is_err() {
            return false;
        }
        self.push_text(raw, kind);
        true
    }

    /// `raw` is UTF-8.
    #[inline]
    fn push_text(&mut self, raw: &[u8], kind: TextKind) {
        match self.span(raw) {
            Some(span) => self.cells.push(match kind {
                TextKind::Text => Cell::Text(span),
                TextKind::Decimal => Cell::Decimal(span),
                TextKind::Json => Cell::Json(span),
            }),
            None => {
                let s = String::from_utf8_lossy(raw).into_owned();
                self.push_other(match kind {
                    TextKind::Text => Value::Text(s),
                    TextKind::Decimal => Value::Decimal(s),
                    TextKind::Json => Value::Json(s),
                })
            }
        }
    }

    /// Pushes a byte string.
    #[inline]
    pub fn push_bytes(&mut self, b: &[u8]) {
        match self.span(b) {
            Some(span) => self.cells.push(Cell::Bytes(span)),
            None => self.push_other(Value::Bytes(b.to_vec())),
        }
    }

    /// Pushes a UUID.
    #[inline]
    pub fn push_uuid(&mut self, u: &[u8; 16]) {
        match self.span(u) {
            Some(span) => self.cells.push(Cell::Uuid(span)),
            None => self.push_other(Value::Uuid(*u)),
        }
    }

    fn push_other(&mut self, v: Value) {
        match u32::try_from(self.others.len()) {
            Ok(i) => {
                self.others.push(v);
                self.cells.push(Cell::Other(i));
            }
            // Four billion arrays in one result: memory ran out long before.
            Err(_) => self.cells.push(Cell::Null),
        }
    }

    /// Pushes any value.
    pub fn push_value(&mut self, v: Value) {
        let cell = match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(b),
            Value::Int(i) => Cell::Int(i),
            Value::Float(f) => Cell::Float(f),
            Value::Date(d) => Cell::Date(d),
            Value::Time(t) => Cell::Time(t),
            Value::Timestamp(t) => Cell::Timestamp(t),
            Value::TimestampTz(t) => Cell::TimestampTz(t),
            Value::Text(s) => return self.push_str(&s, TextKind::Text),
            Value::Decimal(s) => return self.push_str(&s, TextKind::Decimal),
            Value::Json(s) => return self.push_str(&s, TextKind::Json),
            Value::Bytes(b) => return self.push_bytes(&b),
            Value::Uuid(u) => return self.push_uuid(&u),
            other @ (Value::TimeTz(..) | Value::Interval { .. } | Value::Array(_)) => {
                return self.push_other(other)
            }
        };
        self.cells.push(cell);
    }

    /// The owned value of a cell.
    pub fn value(&self, cell: Cell) -> Value {
        match cell {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Int(i) => Value::Int(i),
            Cell::Float(f) => Value::Float(f),
            Cell::Date(d) => Value::Date(d),
            Cell::Time(t) => Value::Time(t),
            Cell::Timestamp(t) => Value::Timestamp(t),
            Cell::TimestampTz(t) => Value::TimestampTz(t),
            Cell::Text(s) => Value::Text(self.str(s).to_owned()),
            Cell::Decimal(s) => Value::Decimal(self.str(s).to_owned()),
            Cell::Json(s) => Value::Json(self.str(s).to_owned()),
            Cell::Bytes(s) => Value::Bytes(self.bytes(s).to_vec()),
            Cell::Uuid(s) => Value::Uuid(self.bytes(s).try_into().unwrap_or([0; 16])),
            Cell::Other(i) => self.other(i).cloned().unwrap_or(Value::Null),
        }
    }

    /// Every row as owned values.
    pub fn to_vec(&self) -> Vec<Row> {
        self.iter()
            .map(|r| r.iter().map(|&c| self.value(c)).collect())
            .collect()
    }

    /// Whether two cells hold the same value (a row key compared across rows).
    pub fn same(&self, a: Cell, b: Cell) -> bool {
        match (a, b) {
            (Cell::Text(x), Cell::Text(y))
            | (Cell::Bytes(x), Cell::Bytes(y))
            | (Cell::Decimal(x), Cell::Decimal(y))
            | (Cell::Json(x), Cell::Json(y))
            | (Cell::Uuid(x), Cell::Uuid(y)) => self.bytes(x) == self.bytes(y),
            (Cell::Other(x), Cell::Other(y)) => self.other(x) == self.other(y),
            (Cell::Float(x), Cell::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    /// Feeds a cell's value to a hasher (consistent with [`Rows::same`]).
    pub fn hash_cell<H: std::hash::Hasher>(&self, cell: Cell, h: &mut H) {
        use std::hash::Hash;
        std::mem::discriminant(&cell).hash(h);
        match cell {
            Cell::Null => {}
            Cell::Bool(b) => b.hash(h),
            Cell::Int(i) | Cell::Time(i) | Cell::Timestamp(i) | Cell::TimestampTz(i) => i.hash(h),
            Cell::Date(d) => d.hash(h),
            Cell::Float(f) => f.to_bits().hash(h),
            Cell::Text(s) | Cell::Bytes(s) | Cell::Decimal(s) | Cell::Json(s) | Cell::Uuid(s) => {
                self.bytes(s).hash(h)
            }
            Cell::Other(i) => {
                if let Some(v) = self.other(i) {
                    format!("{v:?}").hash(h)
                }
            }
        }
    }
}

impl From<Vec<Row>> for Rows {
    fn from(rows: Vec<Row>) -> Rows {
        let ncols = rows.first().map_or(0, |r| r.len());
        let mut out = Rows::new(ncols);
        out.cells.reserve(rows.len() * ncols);
        for row in rows {
            let n = row.len();
            for v in row.into_iter().take(ncols) {
                out.push_value(v);
            }
            for _ in n..ncols {
                out.push(Cell::Null);
            }
            out.end_row();
        }
        out
    }
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.nrows == other.nrows
            && self.ncols == other.ncols
            && self.iter().zip(other.iter()).all(|(a, b)| {
                a.iter()
                    .zip(b)
                    .all(|(&x, &y)| self.value(x) == other.value(y))
            })
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|r| r.iter().map(|&c| self.value(c)).collect::<Vec<_>>()),
            )
            .finish()
    }
}

#[cfg(test)]
impl std::ops::Index<usize> for Rows {
    type Output = Row;

    fn index(&self, i: usize) -> &Row {
        &self.view.get_or_init(|| self.to_vec())[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smallvec::smallvec;

    #[test]
    fn round_trip() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-7),
            Value::Float(1.5),
            Value::Text("héllo".into()),
            Value::Bytes(vec![0, 1, 255]),
            Value::Decimal("-12.340".into()),
            Value::Date(-3),
            Value::Time(5),
            Value::TimeTz(5, 3600),
            Value::Timestamp(9),
            Value::TimestampTz(-9),
            Value::Interval {
                months: 1,
                days: 2,
                micros: 3,
            },
            Value::Uuid([7; 16]),
            Value::Json("{\"a\":1}".into()),
            Value::Array(vec![Value::Int(1), Value::Null]),
        ];
        let row: Row = values.iter().cloned().collect();
        let rows = Rows::from(vec![row.clone(), row.clone()]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.ncols(), values.len());
        assert_eq!(rows.to_vec(), vec![row.clone(), row.clone()]);
        assert_eq!(rows[1].as_slice(), values.as_slice());
        assert_eq!(std::mem::size_of::<Cell>(), 16);
        assert_eq!(rows.clone(), rows);
        assert!(rows.row(2).is_empty());
    }

    #[test]
    fn half_rows_are_taken_back() {
        let mut rows = Rows::new(2);
        rows.push(Cell::Int(1));
        rows.push_str("a", TextKind::Text);
        rows.end_row();
        let mark = rows.mark();
        rows.push_str("bbb", TextKind::Text);
        rows.truncate(mark);
        assert_eq!(
            rows.to_vec(),
            vec![smallvec![Value::Int(1), Value::Text("a".into())] as Row]
        );
        assert_eq!(rows.bytes.len(), 1);
    }

    #[test]
    fn keys_compare_by_value() {
        let mut rows = Rows::new(1);
        for s in ["x", "y", "x"] {
            rows.push_str(s, TextKind::Text);
            rows.end_row();
        }
        let (a, b, c) = (rows.row(0)[0], rows.row(1)[0], rows.row(2)[0]);
        assert!(rows.same(a, c));
        assert!(!rows.same(a, b));
        let hash = |cell| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            rows.hash_cell(cell, &mut h);
            std::hash::Hasher::finish(&h)
        };
        assert_eq!(hash(a), hash(c));
        assert!(!rows.same(Cell::Int(1), Cell::Float(1.0)));
    }

    #[test]
    fn short_rows_are_padded() {
        let rows = Rows::from(vec![
            smallvec![Value::Int(1), Value::Int(2)] as Row,
            smallvec![Value::Int(3)] as Row,
        ]);
        assert_eq!(rows.row(1), &[Cell::Int(3), Cell::Null]);
    }
}
