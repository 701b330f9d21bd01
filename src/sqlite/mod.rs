//! Embedded SQLite through rusqlite (bundled), on connection threads of our own.
//! Plain Rust: no pyo3 here.

pub mod budget;
pub mod connection;
pub mod decimal;
mod decimal_aggregates;
pub mod decimal_functions;
mod decimal_math;
mod decimal_text;
mod decimal_value;
pub mod errors;
pub mod job;
pub mod json_list;
pub mod keyed_insert;
pub mod placeholders;
pub mod pool;
pub mod readers;
pub mod stream;
pub mod transaction;
pub mod types;
pub mod writer;

pub use connection::Output;
pub use pool::{PoolConfig, SqlitePool, Target};
