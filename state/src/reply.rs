//! The value a command answers with, independent of the wire protocol.

use std::borrow::Cow;

/// A command's answer. The network layer encodes it as RESP2 or RESP3; the
/// state machine never sees bytes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A simple status string such as `PONG` or `string` (for `TYPE`).
    Status(Cow<'static, str>),
    /// An error; the text starts with its code (`ERR`, `WRONGTYPE`, `OOM`...).
    Error(Cow<'static, str>),
    /// An integer.
    Int(i64),
    /// A binary-safe string.
    Bulk(Vec<u8>),
    /// The null reply (`$-1` in RESP2, `_` in RESP3).
    Nil,
    /// An ordered list.
    Array(Vec<Reply>),
    /// Key-value pairs: a RESP3 map, a flat array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// A floating point number: a RESP3 double, a bulk string in RESP2.
    Double(f64),
    /// Human-readable text (`INFO`): a RESP3 verbatim string, bulk in RESP2.
    Verbatim(Vec<u8>),
}

impl Reply {
    /// An `ERR`-coded error with a static text (the `ERR ` prefix included).
    pub const fn err(text: &'static str) -> Reply {
        Reply::Error(Cow::Borrowed(text))
    }

    /// An error built at run time; `text` must start with its code.
    pub fn error(text: String) -> Reply {
        Reply::Error(Cow::Owned(text))
    }

    /// True when this reply is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
