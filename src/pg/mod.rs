//! PostgreSQL client written from the protocol documentation. Plain Rust: no pyo3 here.
//!
//! Layers, bottom up:
//! - [`protocol`]: sans-I/O message codec (bytes in, typed messages out, and back).
//! - [`auth`]: SCRAM-SHA-256 (with SASLprep) and MD5 password exchanges.
//! - [`types`]: binary codecs between [`crate::value::Value`] and PostgreSQL types.
//! - [`config`]: connection URL and option parsing.
//! - [`statement_cache`]: per-connection LRU of prepared statements.
//! - [`tls`]: rustls settings per `sslmode`; [`transport`]: plaintext or TLS bytes.
//! - [`connection`]: the sans-I/O connection state machine ([`connection::PgConnection`]),
//!   with [`query`] holding the per-statement steps.
//!
//! Tests: unit tests need no server. `server_tests` run against a real server
//! when `ORMKIT_TEST_PG_URL` (and friends) are set, e.g. after
//! `eval "$(scripts/pg_cluster.sh start)"`; without it they pass vacuously.

// The shared `crate::error::Error` is deliberately one flat struct carrying every
// server field; errors are the cold path, so its size in `Result` is accepted.
#![allow(clippy::result_large_err)]
// Tests may unwrap; library code may not (`clippy::unwrap_used` is denied).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod auth;
pub mod config;
pub mod connection;
pub mod protocol;
pub mod query;
pub mod statement_cache;
pub mod tls;
pub mod transport;
pub mod types;

#[cfg(test)]
mod connection_tests;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod server_tests;
