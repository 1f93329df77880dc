//! Encodes replies as RESP2 or RESP3 into a connection's output buffer.

/// The protocol version a connection speaks; `HELLO 3` switches to RESP3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, every connection's starting protocol.
    #[default]
    Resp2,
    /// RESP3: maps, doubles, nulls and verbatim strings have their own types.
    Resp3,
}

/// Appends encoded replies to a byte buffer. The connection loop writes the
/// buffer to the socket once per batch of pipelined commands.
#[derive(Debug, Default)]
pub struct RespWriter {
    buf: Vec<u8>,
    protocol: Protocol,
}

impl RespWriter {
    /// An empty writer speaking RESP2.
    pub fn new() -> RespWriter {
        RespWriter::default()
    }

    /// The protocol replies are encoded in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Switches the protocol for the replies that follow.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// The encoded bytes not yet sent.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// How many encoded bytes wait to be sent.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets the bytes after `len`; used to take back a partly encoded
    /// reply.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    /// Empties the buffer after it was sent, keeping at most
    /// `retained_max_bytes` of capacity.
    pub fn clear(&mut self, retained_max_bytes: usize) {
        self.buf.clear();
        self.buf.shrink_to(retained_max_bytes);
    }

    /// `+text`: `text` must not hold CR or LF.
    pub fn simple(&mut self, text: &str) {
        debug_assert!(!text.contains(['\r', '\n']));
        self.line(b'+', text.as_bytes());
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// `-text`: the text starts with its code (`ERR`, `WRONGTYPE`...). Line
    /// breaks in it become spaces, as Redis does, so the framing holds.
    pub fn error(&mut self, text: &str) {
        self.buf.push(b'-');
        self.buf.extend(
            text.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `:n`.
    pub fn int(&mut self, value: i64) {
        self.buf.push(b':');
        self.decimal(value);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `$len` and the bytes.
    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len());
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    pub fn nil(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn nil_array(&mut self) {
        match self.protocol {
            Protocol::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// `*len`: the `len` elements follow.
    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// A map of `len` pairs: `%len` in RESP3, `*2len` in RESP2. The keys and
    /// values follow, alternating.
    pub fn map(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', len * 2),
            Protocol::Resp3 => self.header(b'%', len),
        }
    }

    /// A set of `len` elements: `~len` in RESP3, `*len` in RESP2.
    pub fn set(&mut self, len: usize) {
        match self.protocol {
            Protocol::Resp2 => self.header(b'*', len),
            Protocol::Resp3 => self.header(b'~', len),
        }
    }

    /// A double: `,value` in RESP3, a bulk string in RESP2. Formatted as
    /// Redis does (`inf`, `-inf`, `nan`, shortest round-trip digits).
    pub fn double(&mut self, value: f64) {
        let text = format_double(value);
        match self.protocol {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.line(b',', text.as_bytes()),
        }
    }

    /// Text for people (`INFO`): `=len\r\ntxt:...` in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.protocol {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.header(b'=', text.len() + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    fn line(&mut self, prefix: u8, text: &[u8]) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn header(&mut self, prefix: u8, len: usize) {
        self.buf.push(prefix);
        self.decimal(len as i64);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn decimal(&mut self, value: i64) {
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }
}

/// Formats a double the way Redis replies with one.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{value}")
    }
}
