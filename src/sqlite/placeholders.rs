//! `$N` placeholders for SQLite.
//!
//! SQLite treats `$1` as a *named* parameter: binding by name is a linear search of
//! the statement's parameter list (`sqlite3_bind_parameter_index`, and
//! `sqlite3_bind_parameter_name` the other way), so a statement with thousands of
//! `$N` costs O(n²) to bind. `?N` means the same thing (the N-th parameter) and
//! binds by index. So before preparing, `$N` is rewritten to `?N` wherever SQLite's
//! tokenizer would read it as a parameter: not inside '…' strings, "…", `…` or
//! […] identifiers, `--` or `/* */` comments, and not when more identifier
//! characters follow (`$1a` is the parameter named "1a"). The rewrite keeps the
//! length (`$` becomes `?`), so error offsets still point into the caller's SQL.
//!
//! The scan also tells whether every parameter is `?` or `?N` ("positional"): then
//! parameter index i is position i and binding needs no name lookups at all.
//! Scans are cached per SQL text ([`Plans`]), so a repeated statement pays one
//! hash lookup; SQL without `$`, `:`, `@` or `#` is never scanned.

use crate::error::{Error, Result};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The outcome of scanning one SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The SQL to prepare, when it differs from the caller's.
    pub rewritten: Option<String>,
    /// Every parameter is `?` or `?N`: index i binds position i.
    pub positional: bool,
    /// Nothing but whitespace and comments: no statement to prepare.
    pub blank: bool,
}

/// Whether `b` may continue an identifier in SQLite (letters, digits, `_`, `$`,
/// and every byte of a non-ASCII character).
fn id_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// Index just past a quoted token starting at `i` and closed by `close`
/// (doubling the closing character escapes it, except for `[…]`).
fn skip_quoted(s: &[u8], i: usize, close: u8, doubling: bool) -> usize {
    let mut j = i + 1;
    while j < s.len() {
        if s[j] == close {
            if doubling && s.get(j + 1) == Some(&close) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    s.len()
}

/// Index just past a `$name`, `:name`, `@name` or `#name` parameter starting at
/// `i` (SQLite also accepts `::` and a `(…)` suffix in such names).
fn skip_named(s: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < s.len() {
        if id_char(s[j]) {
            j += 1;
        } else if s[j] == b':' && s.get(j + 1) == Some(&b':') {
            j += 2;
        } else if s[j] == b'(' {
            return s[j..]
                .iter()
                .position(|&c| c == b')')
                .map_or(s.len(), |p| j + p + 1);
        } else {
            break;
        }
    }
    j
}

/// The error of an SQL text with no statement in it.
pub const BLANK: &str =
    "the SQL text is empty (only whitespace or comments): there is no statement to run";

/// Whether `s` holds nothing but whitespace and comments (`--` to the end of the
/// line, `/* … */`): SQLite would prepare no statement from it. Stops at the first
/// other byte, so an ordinary statement costs a look at its first bytes.
fn is_blank(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i].is_ascii_whitespace() {
            i += 1;
        } else if s[i..].starts_with(b"--") {
            match s[i..].iter().position(|&c| c == b'\n') {
                Some(p) => i += p + 1,
                None => return true,
            }
        } else if s[i..].starts_with(b"/*") {
            match s[i + 2..].windows(2).position(|w| w == b"*/") {
                Some(p) => i += 2 + p + 2,
                None => return true,
            }
        } else {
            return false;
        }
    }
    true
}

/// Scans `sql` as SQLite's tokenizer would, rewriting `$N` (N ≥ 1) to `?N`.
pub fn scan(sql: &str) -> Scan {
    let s = sql.as_bytes();
    let mut dollars: Vec<usize> = Vec::new();
    let mut positional = true;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        i = match b {
            b'\'' | b'"' | b'`' => skip_quoted(s, i, b, true),
            b'[' => skip_quoted(s, i, b']', false),
            b'-' if s.get(i + 1) == Some(&b'-') => s[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(s.len(), |p| i + p + 1),
            b'/' if s.get(i + 1) == Some(&b'*') => s[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(s.len(), |p| i + 2 + p + 2),
            b'$' => {
                let digits = s[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                let end = i + 1 + digits;
                let named_tail = end < s.len()
                    && (id_char(s[end])
                        || s[end] == b'('
                        || (s[end] == b':' && s.get(end + 1) == Some(&b':')));
                let all_zero = s[i + 1..end].iter().all(|&c| c == b'0');
                if digits > 0 && !named_tail && !all_zero {
                    dollars.push(i);
                    end
                } else {
                    positional = false;
                    skip_named(s, i)
                }
            }
            b':' | b'@' | b'#' => {
                positional = false;
                skip_named(s, i)
            }
            // Identifiers, keywords and numbers: one token, so a `$` inside one
            // (`a$1`, which SQLite allows) is not a parameter.
            c if id_char(c) => i + s[i..].iter().take_while(|&&c| id_char(c)).count(),
            _ => i + 1,
        };
    }
    let rewritten = if dollars.is_empty() {
        None
    } else {
        let mut bytes = s.to_vec();
        for at in dollars {
            bytes[at] = b'?';
        }
        // Only an ASCII byte was replaced by another: still valid UTF-8.
        String::from_utf8(bytes).ok()
    };
    Scan {
        rewritten,
        positional,
        blank: is_blank(s),
    }
}

/// What is known of one SQL text: its scan, and whether it ran over the inline
/// budget lately (see `budget.rs`).
pub struct Plan {
    scan: Scan,
    /// The text holds a NUL character: SQLite would stop reading there.
    nul: bool,
    /// Runs left that go straight to a connection thread.
    skips: AtomicU16,
    /// Overruns in a row (each one doubles the skips of the next, see `ran_over`).
    overruns: AtomicU8,
    /// As a keyed insert, its keys could not be worked out: RETURNING gives them.
    keys_returned: AtomicBool,
}

/// Plans by SQL text, for the statements of one pool (an LRU of [`CAPACITY`]).
pub struct Plans {
    cache: Mutex<LruCache<Box<str>, Arc<Plan>>>,
}

/// The plan of one SQL text.
pub struct Planned<'a> {
    plan: Arc<Plan>,
    sql: &'a str,
}

impl Planned<'_> {
    /// The SQL to prepare. A text with a NUL character is refused: SQLite would prepare
    /// what comes before it and silently ignore the rest.
    pub fn sql(&self) -> Result<&str> {
        if self.plan.scan.blank {
            return Err(Error::programming(BLANK));
        }
        if self.plan.nul {
            return Err(Error::data(
                "the SQL text contains a NUL character (SQLite would ignore everything after it)",
            ));
        }
        Ok(self.plan.scan.rewritten.as_deref().unwrap_or(self.sql))
    }

    pub fn positional(&self) -> bool {
        self.plan.scan.positional
    }

    /// Whether this run should skip the caller's thread (counting the skip).
    pub fn skip_inline(&self) -> bool {
        self.plan
            .skips
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The statement ran over the inline budget: its next `runs` runs skip it, and
    /// twice as many after each further overrun in a row (at most 64 times `runs`),
    /// so a statement that is always slow costs one wasted inline try per
    /// `64 * runs` runs instead of one per `runs`.
    pub fn ran_over(&self, runs: u16) {
        let row = self.plan.overruns.load(Ordering::Relaxed).min(6);
        self.plan.overruns.store(row + 1, Ordering::Relaxed);
        self.plan
            .skips
            .store(runs.saturating_mul(1 << row), Ordering::Relaxed);
    }

    /// Whether this INSERT, as a keyed insert (`keyed_insert`), takes its keys from
    /// RETURNING because they could not be worked out once.
    pub fn keys_returned(&self) -> bool {
        self.plan.keys_returned.load(Ordering::Relaxed)
    }

    /// The keys of this INSERT could not be worked out: RETURNING gives them from now on.
    pub fn return_keys(&self) {
        self.plan.keys_returned.store(true, Ordering::Relaxed);
    }

    /// The statement ran inline within the budget: the next overrun starts over.
    pub fn ran_within(&self) {
        if self.plan.overruns.load(Ordering::Relaxed) != 0 {
            self.plan.overruns.store(0, Ordering::Relaxed);
        }
    }
}

/// Distinct SQL texts whose plan is kept.
const CAPACITY: usize = 512;

impl Default for Plans {
    fn default() -> Self {
        Plans {
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl Plans {
    fn cache(&self) -> MutexGuard<'_, LruCache<Box<str>, Arc<Plan>>> {
        match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The plan of `sql`: cached, or made now (a text without `$`, `:`, `@` or `#`
    /// is not scanned: it can hold neither `$N` nor a named parameter).
    pub fn plan<'a>(&self, sql: &'a str) -> Planned<'a> {
        if let Some(found) = self.cache().get(sql) {
            return Planned {
                plan: found.clone(),
                sql,
            };
        }
        let scanned = if sql.bytes().any(|b| matches!(b, b'$' | b':' | b'@' | b'#')) {
            scan(sql)
        } else {
            Scan {
                rewritten: None,
                positional: true,
                blank: is_blank(sql.as_bytes()),
            }
        };
        let plan = Arc::new(Plan {
            scan: scanned,
            nul: sql.as_bytes().contains(&0),
            skips: AtomicU16::new(0),
            overruns: AtomicU8::new(0),
            keys_returned: AtomicBool::new(false),
        });
        self.cache().put(sql.into(), plan.clone());
        Planned { plan, sql }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> String {
        scan(sql).rewritten.unwrap_or_else(|| sql.to_owned())
    }

    #[test]
    fn a_text_with_a_nul_character_is_refused() {
        let plans = Plans::default();
        for _ in 0..2 {
            // made, then from the cache
            let err = plans
                .plan("SELECT 1\0; DROP TABLE t")
                .sql()
                .expect_err("a NUL is refused");
            assert!(err.to_string().contains("NUL character"), "{err}");
        }
        assert!(plans.plan("SELECT '\\0'").sql().is_ok());
    }

    #[test]
    fn a_text_of_only_whitespace_and_comments_is_refused() {
        let plans = Plans::default();
        for sql in [
            "",
            "   \n\t",
            "-- nothing",
            "/* a */ -- b\n  ",
            "/* unterminated",
        ] {
            let err = plans.plan(sql).sql().expect_err("blank");
            assert!(
                err.to_string().contains("the SQL text is empty"),
                "{sql:?}: {err}"
            );
            assert!(scan(sql).blank, "{sql:?}");
        }
        for sql in ["SELECT 1", "  -- c\nSELECT 1", "/* c */SELECT $1", "x"] {
            assert!(plans.plan(sql).sql().is_ok(), "{sql:?}");
        }
    }

    #[test]
    fn dollar_numbers_become_question_numbers() {
        assert_eq!(rewrite("SELECT $1, $2"), "SELECT ?1, ?2");
        assert_eq!(rewrite("VALUES ($1,$2),($10)"), "VALUES (?1,?2),(?10)");
        assert_eq!(rewrite("SELECT $1+$2"), "SELECT ?1+?2");
        assert_eq!(rewrite("SELECT $01"), "SELECT ?01");
        assert!(scan("SELECT $1").positional);
    }

    #[test]
    fn strings_identifiers_and_comments_are_left_alone() {
        let cases = [
            "SELECT '$1', $1",
            "SELECT 'it''s $1', $1",
            "SELECT \"col$1\", $1",
            "SELECT \"a\"\"$1\", $1",
            "SELECT [a $1], $1",
            "SELECT `$1`, $1",
            "SELECT -- $1\n $1",
            "SELECT /* $1 */ $1",
            "SELECT x'24', $1",
        ];
        for sql in cases {
            let out = rewrite(sql);
            let last = sql.rfind('$').expect("a $");
            let mut expected = sql.to_owned();
            expected.replace_range(last..=last, "?");
            assert_eq!(out, expected, "{sql}");
        }
        assert_eq!(rewrite("SELECT '$1"), "SELECT '$1");
        assert_eq!(rewrite("SELECT 1 /* $1"), "SELECT 1 /* $1");
        assert_eq!(rewrite("SELECT 1 -- $1"), "SELECT 1 -- $1");
    }

    #[test]
    fn dollar_names_and_identifiers_stay_named() {
        for sql in [
            "SELECT $1a",
            "SELECT $$",
            "SELECT $$1",
            "SELECT $abc",
            "SELECT $0",
            "SELECT $1::text",
            "SELECT $1(x)",
        ] {
            let s = scan(sql);
            assert_eq!(s.rewritten, None, "{sql}");
            assert!(!s.positional, "{sql}");
        }
        // `$` inside an identifier or after a number is not a parameter.
        let s = scan("SELECT a$1 FROM t$2");
        assert_eq!(s.rewritten, None);
        assert!(s.positional);
        assert_eq!(rewrite("SELECT 1, $1"), "SELECT 1, ?1");
    }

    #[test]
    fn other_named_parameters_are_not_positional() {
        assert!(!scan("SELECT :a").positional);
        assert!(!scan("SELECT @a, $1").positional);
        assert!(!scan("SELECT #a").positional);
        assert!(scan("SELECT ':a', \"@b\", ?, ?2").positional);
        assert_eq!(rewrite("SELECT :a, $2"), "SELECT :a, ?2");
    }

    #[test]
    fn mixed_question_marks() {
        let s = scan("SELECT ?, $2, ?3");
        assert_eq!(s.rewritten.as_deref(), Some("SELECT ?, ?2, ?3"));
        assert!(s.positional);
    }

    #[test]
    fn non_ascii_text_survives() {
        assert_eq!(
            rewrite("SELECT 'žluť $1', $1 AS \"ü$2\""),
            "SELECT 'žluť $1', ?1 AS \"ü$2\""
        );
        assert_eq!(rewrite("SELECT ü$1"), "SELECT ü$1");
    }

    #[test]
    fn plans_are_cached_and_remember_slow_statements() {
        let plans = Plans::default();
        let plain = plans.plan("SELECT ?");
        assert_eq!(plain.sql().expect("no NUL"), "SELECT ?");
        assert!(plain.positional());
        let a = plans.plan("SELECT $1");
        assert_eq!(a.sql().expect("no NUL"), "SELECT ?1");
        let b = plans.plan("SELECT $1");
        assert!(Arc::ptr_eq(&a.plan, &b.plan));
        let c = plans.plan("SELECT ':x'");
        assert_eq!(c.sql().expect("no NUL"), "SELECT ':x'");
        assert!(c.positional());
        assert!(!a.skip_inline());
        a.ran_over(2);
        assert!(b.skip_inline());
        assert!(plans.plan("SELECT $1").skip_inline());
        assert!(!b.skip_inline());
        // Overruns in a row double the skips; a run within the budget resets them.
        a.ran_over(2);
        let skipped =
            |p: &Planned<'_>| std::iter::from_fn(|| p.skip_inline().then_some(())).count();
        assert_eq!(skipped(&a), 4);
        for _ in 0..10 {
            a.ran_over(2);
        }
        assert_eq!(skipped(&a), 128);
        a.ran_within();
        a.ran_over(2);
        assert_eq!(skipped(&a), 2);
    }
}
