//! Sans-I/O codec of the PostgreSQL frontend/backend protocol, version 3.0.
//!
//! [`frontend`] appends the messages we send to a caller's buffer; [`backend`]
//! decodes one message at a time from received bytes, answering "need more
//! bytes" for a partial frame. Nothing here reads or writes a socket.

pub mod backend;
pub mod frontend;

/// Largest backend message we accept (type byte excluded). PostgreSQL itself
/// caps a field at 1 GiB; anything larger is a broken or hostile peer.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// Protocol version 3.0 as sent in the StartupMessage.
pub const PROTOCOL_VERSION: i32 = 196_608;
