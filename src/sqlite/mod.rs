//! Embedded SQLite through rusqlite (bundled) and tokio-rusqlite. Plain Rust: no pyo3 here.

pub mod connection;
pub mod errors;
pub mod pool;
pub mod stream;
pub mod types;

pub use connection::Output;
pub use pool::{PoolConfig, SqlitePool, Target};
