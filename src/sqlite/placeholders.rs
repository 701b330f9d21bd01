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
//! Scans are cached per SQL text ([`Plans`]), so a repeated statement pays a hash
//! lookup, and SQL without `$`, `:`, `@` or `#` none at all.

use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// The outcome of scanning one SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The SQL to prepare, when it differs from the caller's.
    pub rewritten: Option<String>,
    /// Every parameter is `?` or `?N`: index i binds position i.
    pub positional: bool,
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
    }
}

/// Cached scans, by SQL text.
pub struct Plans {
    cache: Mutex<LruCache<Box<str>, Arc<Scan>>>,
}

/// What to prepare for one SQL text.
pub enum Planned<'a> {
    /// The caller's text; `positional` as in [`Scan`].
    Same(&'a str, bool),
    Scanned(Arc<Scan>, &'a str),
}

impl Planned<'_> {
    pub fn sql(&self) -> &str {
        match self {
            Planned::Same(sql, _) => sql,
            Planned::Scanned(scan, sql) => scan.rewritten.as_deref().unwrap_or(sql),
        }
    }

    pub fn positional(&self) -> bool {
        match self {
            Planned::Same(_, positional) => *positional,
            Planned::Scanned(scan, _) => scan.positional,
        }
    }
}

/// Distinct SQL texts with a `$`, `:`, `@` or `#` whose scan is kept.
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
    /// The SQL to prepare for `sql`: the text itself when it holds no character
    /// that can start a named parameter, else the cached (or a new) scan.
    pub fn plan<'a>(&self, sql: &'a str) -> Planned<'a> {
        if !sql.bytes().any(|b| matches!(b, b'$' | b':' | b'@' | b'#')) {
            return Planned::Same(sql, true);
        }
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(found) = cache.get(sql) {
            return Planned::Scanned(found.clone(), sql);
        }
        drop(cache);
        let found = Arc::new(scan(sql));
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.put(sql.into(), found.clone());
        Planned::Scanned(found, sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> String {
        scan(sql).rewritten.unwrap_or_else(|| sql.to_owned())
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
    fn plans_are_cached_and_plain_sql_is_not_scanned() {
        let plans = Plans::default();
        assert!(matches!(
            plans.plan("SELECT ?"),
            Planned::Same("SELECT ?", true)
        ));
        let a = plans.plan("SELECT $1");
        assert_eq!(a.sql(), "SELECT ?1");
        let b = plans.plan("SELECT $1");
        match (a, b) {
            (Planned::Scanned(x, _), Planned::Scanned(y, _)) => assert!(Arc::ptr_eq(&x, &y)),
            _ => panic!("expected cached scans"),
        }
        let c = plans.plan("SELECT ':x'");
        assert_eq!(c.sql(), "SELECT ':x'");
        assert!(c.positional());
    }
}
