//! Incremental parser for client commands: RESP multibulk arrays and inline
//! (telnet-style) lines.
//!
//! Arguments are never copied: the parser records each one as a byte range
//! of the read buffer. It is resumable, so a command that arrives in many
//! reads is scanned once, not once per read.

use crate::ProtocolLimits;

/// A protocol violation. The text follows Redis's `Protocol error: ` texts,
/// so clients that match on them keep working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: impl Into<String>) -> Self {
        ProtocolError(text.into())
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Where the parser stands inside the command it is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing of the current command has been understood yet.
    Start,
    /// Inside a multibulk array with this many arguments still to read.
    Multibulk { remaining: usize },
}

/// The arguments of one parsed command, borrowed from the read buffer.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(u32, u32)],
}

impl<'a> Args<'a> {
    /// How many arguments, the command name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True for a command with no arguments at all (never handed out).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `index` (0 is the command name).
    pub fn get(&self, index: usize) -> &'a [u8] {
        let (start, end) = self.ranges[index];
        &self.buf[start as usize..end as usize]
    }

    /// The arguments in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// A resumable command parser. Feed it the unconsumed part of the read
/// buffer, starting at the first byte of the command being read.
#[derive(Debug)]
pub struct Parser {
    limits: ProtocolLimits,
    state: State,
    /// Bytes of the current command already understood.
    cursor: usize,
    /// Argument ranges, relative to the start of the current command.
    ranges: Vec<(u32, u32)>,
}

/// The largest capacity the argument list keeps between commands, so one
/// huge command does not pin its memory for the connection's lifetime.
const RANGES_RETAINED_MAX: usize = 1024;

impl Parser {
    /// A parser enforcing `limits`.
    pub fn new(limits: ProtocolLimits) -> Parser {
        Parser {
            limits,
            state: State::Start,
            cursor: 0,
            ranges: Vec::new(),
        }
    }

    /// Parses as much of one command as `buf` holds. `buf` must start where
    /// the previous complete command ended and keep every byte it held at
    /// the previous call. Returns the command's length in bytes once it is
    /// complete (its arguments are then in [`Parser::args`]; a command with
    /// no arguments, such as an empty line, is to be skipped), `None` while
    /// more bytes are needed.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        if self.state == State::Start {
            self.ranges.clear();
            self.ranges.shrink_to(RANGES_RETAINED_MAX);
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {
                    if !self.parse_multibulk_header(buf)? {
                        return Ok(None);
                    }
                }
                Some(_) => return self.parse_inline(buf),
            }
        }
        self.parse_bulks(buf)
    }

    /// The arguments of the command `parse` just completed.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        Args {
            buf,
            ranges: &self.ranges,
        }
    }

    /// How many bytes of an incomplete command are already buffered and
    /// accounted for; the caller uses it to enforce `command_max_bytes`.
    pub fn pending_bytes(&self) -> usize {
        self.cursor
    }

    fn finish(&mut self) -> Option<usize> {
        let length = self.cursor;
        self.state = State::Start;
        self.cursor = 0;
        Some(length)
    }

    fn parse_multibulk_header(&mut self, buf: &[u8]) -> Result<bool, ProtocolError> {
        let Some(line_end) = find_crlf(buf, 1, self.limits.inline_max_bytes) else {
            if buf.len() > self.limits.inline_max_bytes {
                return Err(ProtocolError::new("too big mbulk count string"));
            }
            return Ok(false);
        };
        let count = parse_int(&buf[1..line_end])
            .ok_or_else(|| ProtocolError::new("invalid multibulk length"))?;
        if count > self.limits.args_max as i64 {
            return Err(ProtocolError::new("invalid multibulk length"));
        }
        self.cursor = line_end + 2;
        // `*0` and `*-1` are empty commands: Redis skips them silently.
        let remaining = count.max(0) as usize;
        self.state = State::Multibulk { remaining };
        Ok(true)
    }

    fn parse_bulks(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let State::Multibulk { mut remaining } = self.state else {
            unreachable!("parse_bulks runs inside a multibulk array");
        };
        while remaining > 0 {
            let Some(range) = self.parse_one_bulk(buf)? else {
                self.state = State::Multibulk { remaining };
                return Ok(None);
            };
            self.ranges.push(range);
            remaining -= 1;
        }
        Ok(self.finish())
    }

    fn parse_one_bulk(&mut self, buf: &[u8]) -> Result<Option<(u32, u32)>, ProtocolError> {
        let start = self.cursor;
        let Some(&first) = buf.get(start) else {
            return Ok(None);
        };
        if first != b'$' {
            return Err(ProtocolError::new(format!(
                "expected '$', got '{}'",
                first as char
            )));
        }
        let Some(line_end) = find_crlf(buf, start + 1, self.limits.inline_max_bytes) else {
            if buf.len() - start > self.limits.inline_max_bytes {
                return Err(ProtocolError::new("too big bulk count string"));
            }
            return Ok(None);
        };
        let length = parse_int(&buf[start + 1..line_end])
            .filter(|&n| n >= 0 && n as u64 <= self.limits.bulk_max_bytes as u64)
            .ok_or_else(|| ProtocolError::new("invalid bulk length"))?
            as usize;
        let data_start = line_end + 2;
        let data_end = data_start + length;
        if data_end + 2 > self.limits.command_max_bytes {
            return Err(ProtocolError::new(format!(
                "command exceeds {} bytes",
                self.limits.command_max_bytes
            )));
        }
        if buf.len() < data_end + 2 {
            return Ok(None);
        }
        if &buf[data_end..data_end + 2] != b"\r\n" {
            return Err(ProtocolError::new("expected CRLF after bulk data"));
        }
        self.cursor = data_end + 2;
        Ok(Some((data_start as u32, data_end as u32)))
    }

    /// Inline commands are split on spaces; a token may be wrapped in double
    /// or single quotes to hold spaces (escapes inside quotes are not
    /// interpreted: tools that need binary data use multibulk).
    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let search = &buf[..buf.len().min(self.limits.inline_max_bytes + 1)];
        let Some(newline) = search.iter().position(|&b| b == b'\n') else {
            if buf.len() > self.limits.inline_max_bytes {
                return Err(ProtocolError::new("too big inline request"));
            }
            return Ok(None);
        };
        let mut line_end = newline;
        if line_end > 0 && buf[line_end - 1] == b'\r' {
            line_end -= 1;
        }
        split_inline(&buf[..line_end], &mut self.ranges)?;
        if self.ranges.len() > self.limits.args_max {
            return Err(ProtocolError::new("invalid multibulk length"));
        }
        self.cursor = newline + 1;
        Ok(self.finish())
    }
}

fn split_inline(line: &[u8], ranges: &mut Vec<(u32, u32)>) -> Result<(), ProtocolError> {
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b' ' | b'\t' => i += 1,
            quote @ (b'"' | b'\'') => {
                let close = line[i + 1..]
                    .iter()
                    .position(|&b| b == quote)
                    .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
                ranges.push(((i + 1) as u32, (i + 1 + close) as u32));
                i += close + 2;
            }
            _ => {
                let end = line[i..]
                    .iter()
                    .position(|&b| b == b' ' || b == b'\t')
                    .map_or(line.len(), |n| i + n);
                ranges.push((i as u32, end as u32));
                i = end;
            }
        }
    }
    Ok(())
}

/// Finds `\r\n` at or after `from`, looking at most `limit` bytes ahead.
fn find_crlf(buf: &[u8], from: usize, limit: usize) -> Option<usize> {
    let end = buf.len().min(from.saturating_add(limit).saturating_add(1));
    let window = buf.get(from..end)?;
    window
        .windows(2)
        .position(|pair| pair == b"\r\n")
        .map(|at| from + at)
}

/// Parses a strict decimal integer as Redis's `string2ll` does: an optional
/// `-`, digits, no spaces, no `+`, no leading zeros, no overflow.
pub fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        let d = i64::from(digit - b'0');
        value = if negative {
            value.checked_mul(10)?.checked_sub(d)?
        } else {
            value.checked_mul(10)?.checked_add(d)?
        };
    }
    if negative && value == 0 {
        return None;
    }
    Some(value)
}
