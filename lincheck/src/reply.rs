//! What a client saw come back, in the shape of RESP, and how bytes are
//! shown in reports.

use std::fmt;

/// A reply as the client observed it. Both checkers take this one type, so
/// a test converts its client library's reply value in one place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A nil (RESP2 `$-1` or `*-1`, RESP3 `_`).
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// One of the error replies the register model produces. Any other
    /// error (`-TRYAGAIN`, a timeout, a closed connection) says nothing
    /// about whether the command took effect: record it as an unknown
    /// outcome instead.
    Error(ErrorKind),
}

/// The error replies that are part of the register model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `ERR value is not an integer or out of range`: `INCRBY` on a value
    /// that is not a 64-bit integer.
    NotAnInteger,
    /// `ERR increment or decrement would overflow`.
    Overflow,
}

impl ErrorKind {
    /// The error as Redis and Pinwheel write it (without the leading `-`).
    pub fn message(self) -> &'static str {
        match self {
            ErrorKind::NotAnInteger => "ERR value is not an integer or out of range",
            ErrorKind::Overflow => "ERR increment or decrement would overflow",
        }
    }

    /// The kind of a server's error text, `None` when the model has no such
    /// error (then the outcome is unknown to the checker).
    pub fn from_message(message: &str) -> Option<ErrorKind> {
        let message = message.strip_prefix('-').unwrap_or(message).trim_end();
        [ErrorKind::NotAnInteger, ErrorKind::Overflow]
            .into_iter()
            .find(|kind| kind.message() == message)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok => f.write_str("OK"),
            Reply::Nil => f.write_str("nil"),
            Reply::Int(n) => write!(f, "{n}"),
            Reply::Bulk(bytes) => write!(f, "{}", Shown(bytes)),
            Reply::Error(kind) => write!(f, "-{}", kind.message()),
        }
    }
}

/// Longest run of a value shown in a report before it is cut with `...`.
pub(crate) const SHOWN_BYTES_MAX: usize = 40;

/// Bytes shown the way redis-cli quotes them: printable ASCII as is,
/// anything else as `\xNN`, cut after [`SHOWN_BYTES_MAX`].
pub(crate) struct Shown<'a>(pub &'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &byte in self.0.iter().take(SHOWN_BYTES_MAX) {
            match byte {
                b'"' | b'\\' => write!(f, "\\{}", byte as char)?,
                0x20..=0x7e => write!(f, "{}", byte as char)?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        f.write_str("\"")?;
        if self.0.len() > SHOWN_BYTES_MAX {
            write!(f, "...({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}
