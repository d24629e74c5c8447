//! Compile errors: what is wrong, and where in the spec when a spec position is known.

use std::fmt;

/// A position in a source file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A compile-time error: what is wrong, where in the spec, and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub location: Option<Location>,
    pub message: String,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error { location: None, message: message.into() }
    }

    pub fn at(location: Location, message: impl Into<String>) -> Error {
        Error { location: Some(location), message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}
