//! Password authentication exchanges, free of I/O: each takes the server's
//! bytes and returns the bytes to send back.
//!
//! - [`scram`]: SCRAM-SHA-256 (RFC 5802 / RFC 7677), channel binding "n,,".
//! - [`saslprep`]: RFC 4013 normalisation of the SCRAM password.
//! - [`md5`]: PostgreSQL's legacy `md5` password hash.

pub mod md5;
pub mod saslprep;
pub mod scram;
