//! The Redis serialization protocol, both versions: parsing commands and
//! encoding replies.

mod parser;
mod writer;

pub use parser::{parse_int, Args, Parser, ProtocolError};
pub use writer::{format_double, Protocol, RespWriter};

#[cfg(test)]
mod tests;
