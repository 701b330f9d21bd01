//! Per-connection cache of prepared statements, an LRU keyed by SQL text.
//!
//! A hit promotes the entry. Inserting past capacity hands back the evicted
//! entry so the connection can Close it on the server. Capacity 0 disables
//! the cache: every statement uses the unnamed statement (PgBouncer in
//! transaction mode).

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;

/// One result column as described by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
    /// The format we request for this column (0 text, 1 binary).
    pub format: i16,
}

/// What the server told us about a prepared statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Server-side name; empty for the unnamed statement.
    pub name: String,
    pub param_types: Vec<u32>,
    pub columns: Arc<[Column]>,
    /// The column names, shared with every result of this statement.
    pub column_names: Arc<[String]>,
}

impl Statement {
    pub fn new(name: String, param_types: Vec<u32>, columns: Vec<Column>) -> Statement {
        Statement {
            name,
            param_types,
            column_names: columns.iter().map(|c| c.name.clone()).collect(),
            columns: columns.into(),
        }
    }
}

/// The LRU of prepared statements of one connection.
#[derive(Debug)]
pub struct StatementCache {
    entries: Option<LruCache<String, Arc<Statement>>>,
    next_id: u64,
    hits: u64,
    misses: u64,
}

impl StatementCache {
    pub fn new(capacity: usize) -> StatementCache {
        StatementCache {
            entries: NonZeroUsize::new(capacity).map(LruCache::new),
            next_id: 0,
            hits: 0,
            misses: 0,
        }
    }

    /// Whether statements are cached at all.
    pub fn enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// Looks `sql` up, promoting it on a hit and counting hits and misses.
    pub fn get(&mut self, sql: &str) -> Option<Arc<Statement>> {
        let found = self.entries.as_mut().and_then(|e| e.get(sql).cloned());
        if found.is_some() {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        found
    }

    /// A fresh server-side name, or "" when caching is disabled.
    pub fn next_name(&mut self) -> String {
        if !self.enabled() {
            return String::new();
        }
        self.next_id += 1;
        format!("ok_{}", self.next_id)
    }

    /// Stores a prepared statement; returns the entry it evicted, whose
    /// server-side statement the caller must Close.
    pub fn insert(&mut self, sql: String, statement: Arc<Statement>) -> Option<Arc<Statement>> {
        let entries = self.entries.as_mut()?;
        // `push` hands back the evicted entry, or the old value of the same key.
        entries.push(sql, statement).map(|(_, old)| old)
    }

    /// Forgets `sql` (after a "cached plan must not change result type" or
    /// "prepared statement does not exist" error).
    pub fn remove(&mut self, sql: &str) -> Option<Arc<Statement>> {
        self.entries.as_mut()?.pop(sql)
    }

    /// Forgets everything (the server-side statements are gone too, e.g.
    /// after DISCARD ALL).
    pub fn clear(&mut self) {
        if let Some(e) = self.entries.as_mut() {
            e.clear();
        }
    }

    /// Forgets everything and returns the server-side names, to Close.
    pub fn drain_names(&mut self) -> Vec<String> {
        let Some(e) = self.entries.as_mut() else {
            return Vec::new();
        };
        let names = e.iter().map(|(_, s)| s.name.clone()).collect();
        e.clear();
        names
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, LruCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses, current size).
    pub fn stats(&self) -> (u64, u64, usize) {
        (self.hits, self.misses, self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmt(name: &str) -> Arc<Statement> {
        Arc::new(Statement::new(
            name.into(),
            vec![23],
            vec![Column {
                name: "x".into(),
                type_oid: 23,
                format: 1,
            }],
        ))
    }

    #[test]
    fn lru_promotes_and_evicts() {
        let mut c = StatementCache::new(2);
        assert_eq!(c.next_name(), "ok_1");
        assert!(c.insert("a".into(), stmt("ok_1")).is_none());
        assert!(c.insert("b".into(), stmt("ok_2")).is_none());
        assert!(c.get("a").is_some()); // promotes a
        let evicted = c.insert("c".into(), stmt("ok_3")).unwrap();
        assert_eq!(evicted.name, "ok_2");
        assert!(c.get("b").is_none());
        assert_eq!(c.stats(), (1, 1, 2));
    }

    #[test]
    fn reinsert_returns_old_entry() {
        let mut c = StatementCache::new(2);
        c.insert("a".into(), stmt("ok_1"));
        assert_eq!(c.insert("a".into(), stmt("ok_2")).unwrap().name, "ok_1");
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn remove_and_clear() {
        let mut c = StatementCache::new(4);
        c.insert("a".into(), stmt("ok_1"));
        c.insert("b".into(), stmt("ok_2"));
        assert_eq!(c.remove("a").unwrap().name, "ok_1");
        assert!(c.remove("a").is_none());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn capacity_zero_is_unnamed() {
        let mut c = StatementCache::new(0);
        assert!(!c.enabled());
        assert_eq!(c.next_name(), "");
        assert!(c.insert("a".into(), stmt("")).is_none());
        assert!(c.get("a").is_none());
        assert_eq!(c.stats(), (0, 1, 0));
    }
}
