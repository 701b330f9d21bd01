//! The one error type every layer returns. Conversion to a Python exception
//! happens in exactly one place (`py::errors`), choosing the class from `kind`.

use std::fmt;

/// Which PEP 249 class an error maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Interface,
    /// A bad connection URL or engine option (an `InterfaceError` and a `ValueError`).
    Argument,
    Database,
    Data,
    Operational,
    Integrity,
    Internal,
    Programming,
    NotSupported,
    PoolTimeout,
}

impl ErrorKind {
    /// The class for a PostgreSQL SQLSTATE, chosen by its two-character class.
    pub fn from_sqlstate(code: &str) -> ErrorKind {
        match code.get(..2).unwrap_or("") {
            "23" => ErrorKind::Integrity,
            "22" => ErrorKind::Data,
            "42" | "26" | "34" | "3D" | "3F" | "2B" | "44" => ErrorKind::Programming,
            "08" | "53" | "54" | "55" | "57" | "58" | "40" | "25" | "28" | "HV" => {
                ErrorKind::Operational
            }
            "0A" => ErrorKind::NotSupported,
            "XX" | "39" | "38" | "2D" | "P0" | "F0" | "24" => ErrorKind::Internal,
            _ => ErrorKind::Database,
        }
    }
}

/// An error with every field a server may report. Fields a layer does not
/// know stay `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub sqlstate: Option<String>,
    pub severity: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub position: Option<u32>,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub column: Option<String>,
    pub constraint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            sqlstate: None,
            severity: None,
            detail: None,
            hint: None,
            position: None,
            schema: None,
            table: None,
            column: None,
            constraint: None,
        }
    }

    pub fn interface(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Interface, message)
    }

    pub fn argument(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Argument, message)
    }

    pub fn operational(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Operational, message)
    }

    pub fn data(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Data, message)
    }

    pub fn programming(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Programming, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn pool_timeout(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::PoolTimeout, message)
    }

    /// A statement given the wrong number of parameters (both backends word it so).
    pub fn parameter_count(expected: usize, got: usize) -> Error {
        Error::programming(format!(
            "the statement takes {expected} parameter{}, {got} {} given",
            if expected == 1 { "" } else { "s" },
            if got == 1 { "was" } else { "were" }
        ))
    }

    pub fn with_sqlstate(mut self, code: impl Into<String>) -> Error {
        self.sqlstate = Some(code.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.sqlstate {
            write!(f, " (SQLSTATE {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes() {
        assert_eq!(ErrorKind::from_sqlstate("23505"), ErrorKind::Integrity);
        assert_eq!(ErrorKind::from_sqlstate("22003"), ErrorKind::Data);
        assert_eq!(ErrorKind::from_sqlstate("42P01"), ErrorKind::Programming);
        assert_eq!(ErrorKind::from_sqlstate("57014"), ErrorKind::Operational);
        assert_eq!(ErrorKind::from_sqlstate("0A000"), ErrorKind::NotSupported);
        assert_eq!(ErrorKind::from_sqlstate("XX000"), ErrorKind::Internal);
        assert_eq!(ErrorKind::from_sqlstate(""), ErrorKind::Database);
    }
}
