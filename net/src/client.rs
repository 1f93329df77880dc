//! The client side of RESP: a command encoder and a reply decoder for every
//! RESP2 and RESP3 type (`+ - : $ * _ , # % ~ = ( > | !`), nested, bounded
//! by [`ReplyLimits`], and total over its input: garbage is an error, never
//! a panic.
//!
//! The decoder is incremental in the mini-redis way: it is handed whatever
//! bytes have arrived, answers `Ok(None)` until a whole reply is buffered,
//! and only then allocates. [`ReplyDecoder::scan`] finds the end and the
//! type of a reply without allocating at all, which is what a load
//! generator needs on its hot path; [`ReplyDecoder::decode`] builds the
//! [`Reply`] when the contents matter.

use crate::resp::parse_int;

/// One decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+text`
    Simple(Vec<u8>),
    /// `-text`: the first word is the error's kind (`ERR`, `WRONGTYPE`).
    Error(Vec<u8>),
    /// `!len`: an error that may hold any bytes (RESP3).
    BlobError(Vec<u8>),
    /// `:n`
    Integer(i64),
    /// `$len`
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` (RESP2) and `_` (RESP3).
    Nil,
    /// `*n`
    Array(Vec<Reply>),
    /// `,x` (RESP3), including `inf`, `-inf` and `nan`.
    Double(f64),
    /// `#t` / `#f` (RESP3).
    Boolean(bool),
    /// `(digits`: a number of any size (RESP3), kept as its digits.
    BigNumber(Vec<u8>),
    /// `=len` with a three-byte format such as `txt` (RESP3).
    Verbatim {
        /// The format, e.g. `txt` or `mkd`.
        format: [u8; 3],
        /// The text after `fmt:`.
        text: Vec<u8>,
    },
    /// `%n`: key/value pairs in the server's order (RESP3).
    Map(Vec<(Reply, Reply)>),
    /// `~n` (RESP3).
    Set(Vec<Reply>),
    /// `>n`: an out-of-band push such as a pub/sub message (RESP3).
    Push(Vec<Reply>),
    /// `|n` attributes followed by the reply they describe (RESP3).
    Attributed {
        /// The attribute map.
        attributes: Vec<(Reply, Reply)>,
        /// The reply itself.
        reply: Box<Reply>,
    },
}

impl Reply {
    /// True for `-` and `!` errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::BlobError(_))
    }
}

/// The outer type of a reply, as [`ReplyDecoder::scan`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// `+`
    Simple,
    /// `-` or `!`
    Error,
    /// `:`
    Integer,
    /// `$` with a length
    Bulk,
    /// Any null: `$-1`, `*-1`, `_`
    Nil,
    /// Anything else: aggregates, doubles, booleans, big numbers, verbatim.
    Other,
}

/// Where a complete reply ends and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Bytes the reply occupies at the front of the buffer.
    pub len: usize,
    /// Its outer type (attributes are looked through).
    pub kind: ReplyKind,
}

/// Why a reply could not be decoded. The stream cannot be resynchronized
/// after any of these, so the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad reply: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn bad<T>(what: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(what.into()))
}

/// Bounds on what one reply may hold, so a hostile or broken server cannot
/// make the client buffer or recurse without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Longest bulk string, blob error or verbatim string, in bytes.
    pub bulk_max_bytes: usize,
    /// Most elements in one reply, counted over every nesting level (a
    /// map pair counts two).
    pub elements_max: usize,
    /// Deepest nesting of aggregates.
    pub depth_max: usize,
    /// Longest header or simple line (`+`, `-`, `:`, `,`, `(`...), in bytes.
    pub line_max_bytes: usize,
}

/// Default `bulk_max_bytes`: 512 MiB, Redis's largest string.
pub const REPLY_BULK_MAX_BYTES_DEFAULT: usize = 512 * 1024 * 1024;
/// Default `elements_max`: 16 Mi elements.
pub const REPLY_ELEMENTS_MAX_DEFAULT: usize = 16 * 1024 * 1024;
/// Default `depth_max`: 64 levels, far beyond any real reply.
pub const REPLY_DEPTH_MAX_DEFAULT: usize = 64;
/// Default `line_max_bytes`: 64 KiB, as Redis's inline limit.
pub const REPLY_LINE_MAX_BYTES_DEFAULT: usize = 64 * 1024;
/// Most elements preallocated for one aggregate before its elements have
/// been seen, so a lying header cannot allocate much.
const PREALLOC_ELEMENTS_MAX: usize = 1024;

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            bulk_max_bytes: REPLY_BULK_MAX_BYTES_DEFAULT,
            elements_max: REPLY_ELEMENTS_MAX_DEFAULT,
            depth_max: REPLY_DEPTH_MAX_DEFAULT,
            line_max_bytes: REPLY_LINE_MAX_BYTES_DEFAULT,
        }
    }
}

/// Decodes replies from a byte buffer; stateless between calls, so the
/// caller keeps the bytes and calls again when more arrive.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyDecoder {
    limits: ReplyLimits,
}

/// A step of the recursive walk: `None` means "need more bytes".
type Step<T> = Result<Option<(T, usize)>, DecodeError>;

impl ReplyDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: ReplyLimits) -> ReplyDecoder {
        ReplyDecoder { limits }
    }

    /// Finds the first reply in `buf` without allocating: `Ok(None)` if it
    /// is not complete yet.
    pub fn scan(&self, buf: &[u8]) -> Result<Option<Scanned>, DecodeError> {
        let mut budget = self.limits.elements_max;
        let step = self.walk::<false>(buf, 0, 0, &mut budget)?;
        Ok(step.map(|((_, kind), len)| Scanned { len, kind }))
    }

    /// Decodes the first reply in `buf` and says how many bytes it took:
    /// `Ok(None)` if it is not complete yet.
    pub fn decode(&self, buf: &[u8]) -> Result<Option<(Reply, usize)>, DecodeError> {
        let mut budget = self.limits.elements_max;
        let step = self.walk::<true>(buf, 0, 0, &mut budget)?;
        Ok(step.map(|((reply, _), len)| (reply.unwrap_or(Reply::Nil), len)))
    }

    /// Walks one value starting at `pos`; builds it only when `BUILD`.
    /// Returns the value (if built), its kind and the position after it.
    fn walk<const BUILD: bool>(
        &self,
        buf: &[u8],
        pos: usize,
        depth: usize,
        budget: &mut usize,
    ) -> Step<(Option<Reply>, ReplyKind)> {
        let Some((line, mut next)) = self.line(buf, pos)? else {
            return Ok(None);
        };
        let Some((&tag, body)) = line.split_first() else {
            return bad("empty line where a reply type was expected");
        };
        let built = match tag {
            b'+' => (
                BUILD.then(|| Reply::Simple(body.to_vec())),
                ReplyKind::Simple,
            ),
            b'-' => (BUILD.then(|| Reply::Error(body.to_vec())), ReplyKind::Error),
            b':' => (Some(Reply::Integer(int(body)?)), ReplyKind::Integer),
            b'_' if body.is_empty() => (Some(Reply::Nil), ReplyKind::Nil),
            b',' => (Some(Reply::Double(double(body)?)), ReplyKind::Other),
            b'#' => (Some(Reply::Boolean(boolean(body)?)), ReplyKind::Other),
            b'(' => (
                {
                    let digits = big_number(body)?;
                    BUILD.then(|| Reply::BigNumber(digits.to_vec()))
                },
                ReplyKind::Other,
            ),
            b'$' | b'!' | b'=' => {
                let Some(len) = self.length(body, tag == b'$')? else {
                    return Ok(Some(((Some(Reply::Nil), ReplyKind::Nil), next)));
                };
                if len > self.limits.bulk_max_bytes {
                    return bad(format!(
                        "bulk of {len} bytes, over {}",
                        self.limits.bulk_max_bytes
                    ));
                }
                let Some((blob, after)) = blob(buf, next, len)? else {
                    return Ok(None);
                };
                next = after;
                blob_reply::<BUILD>(tag, blob)?
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                return self.aggregate::<BUILD>(tag, body, buf, next, depth, budget);
            }
            _ => return bad(format!("unknown reply type byte 0x{tag:02x}")),
        };
        Ok(Some((built, next)))
    }

    /// Walks an aggregate whose header line (`tag` + `body`) ended at `pos`.
    fn aggregate<const BUILD: bool>(
        &self,
        tag: u8,
        body: &[u8],
        buf: &[u8],
        mut pos: usize,
        depth: usize,
        budget: &mut usize,
    ) -> Step<(Option<Reply>, ReplyKind)> {
        if depth >= self.limits.depth_max {
            return bad(format!(
                "nested deeper than {} levels",
                self.limits.depth_max
            ));
        }
        let Some(count) = self.length(body, tag == b'*')? else {
            return Ok(Some(((Some(Reply::Nil), ReplyKind::Nil), pos)));
        };
        let paired = matches!(tag, b'%' | b'|');
        let elements = if paired {
            count.checked_mul(2)
        } else {
            Some(count)
        };
        let Some(elements) = elements.filter(|&n| n <= *budget) else {
            return bad(format!("more than {} elements", self.limits.elements_max));
        };
        *budget -= elements;
        let mut items = Vec::with_capacity(if BUILD {
            elements.min(PREALLOC_ELEMENTS_MAX)
        } else {
            0
        });
        for _ in 0..elements {
            let Some(((item, _), after)) = self.walk::<BUILD>(buf, pos, depth + 1, budget)? else {
                return Ok(None);
            };
            pos = after;
            if let Some(item) = item.filter(|_| BUILD) {
                items.push(item);
            }
        }
        if tag == b'|' {
            // Attributes describe the reply that follows; the caller sees
            // that reply's kind.
            let Some(((reply, kind), after)) = self.walk::<BUILD>(buf, pos, depth + 1, budget)?
            else {
                return Ok(None);
            };
            let built = reply.filter(|_| BUILD).map(|reply| Reply::Attributed {
                attributes: pairs(items),
                reply: Box::new(reply),
            });
            return Ok(Some(((built, kind), after)));
        }
        let built = BUILD.then(|| match tag {
            b'*' => Reply::Array(items),
            b'~' => Reply::Set(items),
            b'>' => Reply::Push(items),
            _ => Reply::Map(pairs(items)),
        });
        Ok(Some(((built, ReplyKind::Other), pos)))
    }

    /// The line starting at `pos` without its CRLF, and the position after
    /// the CRLF; `None` if the CRLF has not arrived.
    fn line<'a>(&self, buf: &'a [u8], pos: usize) -> Step<&'a [u8]> {
        let rest = buf.get(pos..).unwrap_or_default();
        let window = &rest[..rest.len().min(self.limits.line_max_bytes + 2)];
        match window.iter().position(|&b| b == b'\n') {
            Some(end) if end >= 1 && window[end - 1] == b'\r' => {
                Ok(Some((&window[..end - 1], pos + end + 1)))
            }
            Some(_) => bad("line ends in a bare LF"),
            None if window.len() > self.limits.line_max_bytes => bad(format!(
                "line longer than {} bytes",
                self.limits.line_max_bytes
            )),
            None => Ok(None),
        }
    }

    /// A length header: `None` for -1 where `nullable`; the caller checks
    /// it against its own limit.
    fn length(&self, body: &[u8], nullable: bool) -> Result<Option<usize>, DecodeError> {
        match parse_int(body).or_else(|| (body == b"0").then_some(0)) {
            Some(-1) if nullable => Ok(None),
            Some(n) if n >= 0 => usize::try_from(n)
                .map(Some)
                .map_err(|_| DecodeError("length overflows".into())),
            _ => bad(format!("bad length {:?}", String::from_utf8_lossy(body))),
        }
    }
}

/// `len` bytes at `pos` followed by CRLF.
fn blob(buf: &[u8], pos: usize, len: usize) -> Step<&[u8]> {
    let end = pos
        .checked_add(len)
        .ok_or_else(|| DecodeError("length overflows".into()))?;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return bad("bulk string not followed by CRLF");
    }
    Ok(Some((&buf[pos..end], end + 2)))
}

/// The reply for a `$`, `!` or `=` blob.
fn blob_reply<const BUILD: bool>(
    tag: u8,
    blob: &[u8],
) -> Result<(Option<Reply>, ReplyKind), DecodeError> {
    Ok(match tag {
        b'$' => (BUILD.then(|| Reply::Bulk(blob.to_vec())), ReplyKind::Bulk),
        b'!' => (
            BUILD.then(|| Reply::BlobError(blob.to_vec())),
            ReplyKind::Error,
        ),
        _ => {
            if blob.len() < 4 || blob[3] != b':' {
                return bad("verbatim string without a `fmt:` prefix");
            }
            let format = [blob[0], blob[1], blob[2]];
            let text = BUILD.then(|| blob[4..].to_vec());
            (
                text.map(|text| Reply::Verbatim { format, text }),
                ReplyKind::Other,
            )
        }
    })
}

fn pairs(items: Vec<Reply>) -> Vec<(Reply, Reply)> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    pairs
}

fn int(body: &[u8]) -> Result<i64, DecodeError> {
    parse_int(body)
        .or_else(|| (body == b"0" || body == b"-0").then_some(0))
        .ok_or_else(|| DecodeError(format!("bad integer {:?}", String::from_utf8_lossy(body))))
}

fn double(body: &[u8]) -> Result<f64, DecodeError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|text| text.parse::<f64>().ok())
        .ok_or_else(|| DecodeError(format!("bad double {:?}", String::from_utf8_lossy(body))))
}

fn boolean(body: &[u8]) -> Result<bool, DecodeError> {
    match body {
        b"t" => Ok(true),
        b"f" => Ok(false),
        _ => bad("boolean neither t nor f"),
    }
}

fn big_number(body: &[u8]) -> Result<&[u8], DecodeError> {
    let digits = body
        .strip_prefix(b"-")
        .or_else(|| body.strip_prefix(b"+"))
        .unwrap_or(body);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return bad("big number with a non-digit");
    }
    Ok(body)
}

/// Appends `args` to `out` as a RESP command (an array of bulk strings),
/// the form every server accepts.
pub fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    encode_header(out, b'*', args.len());
    for arg in args {
        encode_bulk(out, arg.as_ref());
    }
}

/// Appends one bulk string (`$len\r\nbytes\r\n`), for callers that build a
/// command piece by piece after [`encode_header`].
pub fn encode_bulk(out: &mut Vec<u8>, arg: &[u8]) {
    encode_header(out, b'$', arg.len());
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Appends a `tag` + decimal `len` + CRLF header, e.g. `*3\r\n`.
pub fn encode_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(bytes: &[u8]) -> Reply {
        let (reply, len) = ReplyDecoder::default().decode(bytes).unwrap().unwrap();
        assert_eq!(len, bytes.len());
        reply
    }

    /// Encodes a reply the way a server would, for round trips.
    fn encode(reply: &Reply, out: &mut Vec<u8>) {
        let blob = |out: &mut Vec<u8>, tag: u8, bytes: &[u8]| {
            encode_header(out, tag, bytes.len());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        };
        let line = |out: &mut Vec<u8>, tag: u8, text: &[u8]| {
            out.push(tag);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        };
        match reply {
            Reply::Simple(text) => line(out, b'+', text),
            Reply::Error(text) => line(out, b'-', text),
            Reply::BlobError(bytes) => blob(out, b'!', bytes),
            Reply::Integer(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(bytes) => blob(out, b'$', bytes),
            Reply::Nil => out.extend_from_slice(b"_\r\n"),
            Reply::Double(x) => line(out, b',', format!("{x:?}").as_bytes()),
            Reply::Boolean(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Reply::BigNumber(digits) => line(out, b'(', digits),
            Reply::Verbatim { format, text } => {
                blob(out, b'=', &[&format[..], b":", text].concat())
            }
            Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
                let tag = match reply {
                    Reply::Array(_) => b'*',
                    Reply::Set(_) => b'~',
                    _ => b'>',
                };
                encode_header(out, tag, items.len());
                items.iter().for_each(|item| encode(item, out));
            }
            Reply::Map(pairs) => encode_pairs(out, b'%', pairs),
            Reply::Attributed { attributes, reply } => {
                encode_pairs(out, b'|', attributes);
                encode(reply, out);
            }
        }
    }

    fn encode_pairs(out: &mut Vec<u8>, tag: u8, pairs: &[(Reply, Reply)]) {
        encode_header(out, tag, pairs.len());
        for (key, value) in pairs {
            encode(key, out);
            encode(value, out);
        }
    }

    #[test]
    fn every_type_decodes() {
        assert_eq!(decode_all(b"+OK\r\n"), Reply::Simple(b"OK".to_vec()));
        assert_eq!(decode_all(b"-ERR no\r\n"), Reply::Error(b"ERR no".to_vec()));
        assert_eq!(decode_all(b":-42\r\n"), Reply::Integer(-42));
        assert_eq!(decode_all(b":0\r\n"), Reply::Integer(0));
        assert_eq!(
            decode_all(b"$3\r\na\r\n\r\n"),
            Reply::Bulk(b"a\r\n".to_vec())
        );
        assert_eq!(decode_all(b"$0\r\n\r\n"), Reply::Bulk(Vec::new()));
        assert_eq!(decode_all(b"$-1\r\n"), Reply::Nil);
        assert_eq!(decode_all(b"*-1\r\n"), Reply::Nil);
        assert_eq!(decode_all(b"_\r\n"), Reply::Nil);
        assert_eq!(decode_all(b",1.5\r\n"), Reply::Double(1.5));
        assert_eq!(decode_all(b",-inf\r\n"), Reply::Double(f64::NEG_INFINITY));
        assert_eq!(decode_all(b"#t\r\n"), Reply::Boolean(true));
        assert_eq!(
            decode_all(b"(-123456789012345678901234567890\r\n"),
            Reply::BigNumber(b"-123456789012345678901234567890".to_vec())
        );
        assert_eq!(
            decode_all(b"=8\r\ntxt:hey!\r\n"),
            Reply::Verbatim {
                format: *b"txt",
                text: b"hey!".to_vec()
            }
        );
        assert_eq!(
            decode_all(b"!5\r\nSY NX\r\n"),
            Reply::BlobError(b"SY NX".to_vec())
        );
        assert_eq!(
            decode_all(b"*2\r\n:1\r\n*1\r\n+a\r\n"),
            Reply::Array(vec![
                Reply::Integer(1),
                Reply::Array(vec![Reply::Simple(b"a".to_vec())])
            ])
        );
        assert_eq!(
            decode_all(b"%1\r\n+k\r\n:1\r\n"),
            Reply::Map(vec![(Reply::Simple(b"k".to_vec()), Reply::Integer(1))])
        );
        assert_eq!(
            decode_all(b"~1\r\n#f\r\n"),
            Reply::Set(vec![Reply::Boolean(false)])
        );
        assert_eq!(
            decode_all(b">1\r\n+m\r\n"),
            Reply::Push(vec![Reply::Simple(b"m".to_vec())])
        );
        assert_eq!(
            decode_all(b"|1\r\n+ttl\r\n:3\r\n:7\r\n"),
            Reply::Attributed {
                attributes: vec![(Reply::Simple(b"ttl".to_vec()), Reply::Integer(3))],
                reply: Box::new(Reply::Integer(7)),
            }
        );
    }

    #[test]
    fn scan_reports_kind_and_length_without_building() {
        let decoder = ReplyDecoder::default();
        let scanned = |bytes: &[u8]| decoder.scan(bytes).unwrap().unwrap();
        assert_eq!(
            scanned(b"-WRONGTYPE x\r\n+OK\r\n"),
            Scanned {
                len: 14,
                kind: ReplyKind::Error
            }
        );
        assert_eq!(scanned(b"$2\r\nab\r\n").kind, ReplyKind::Bulk);
        assert_eq!(scanned(b"$-1\r\n").kind, ReplyKind::Nil);
        assert_eq!(
            scanned(b"|1\r\n+a\r\n+b\r\n:1\r\n").kind,
            ReplyKind::Integer
        );
        assert_eq!(scanned(b"*1\r\n:1\r\n").kind, ReplyKind::Other);
    }

    #[test]
    fn partial_input_waits_and_garbage_is_an_error() {
        let decoder = ReplyDecoder::default();
        for partial in [
            &b""[..],
            b"+O",
            b"+OK\r",
            b"$3\r\nab",
            b"$3\r\nabc\r",
            b"*2\r\n:1\r\n",
            b"|1\r\n+a\r\n+b\r\n",
        ] {
            assert_eq!(decoder.decode(partial).unwrap(), None, "{partial:?}");
        }
        for garbage in [
            &b"?\r\n"[..],
            b"\r\n",
            b"+a\nb",
            b":x\r\n",
            b"$-2\r\n",
            b"$1\r\nab\r\n",
            b"#x\r\n",
            b"=2\r\nab\r\n",
            b"_x\r\n",
            b"%-1\r\n",
            b"(1a\r\n",
        ] {
            assert!(decoder.decode(garbage).is_err(), "{garbage:?}");
        }
    }

    #[test]
    fn limits_hold() {
        let limits = ReplyLimits {
            bulk_max_bytes: 4,
            elements_max: 3,
            depth_max: 2,
            line_max_bytes: 8,
        };
        let decoder = ReplyDecoder::new(limits);
        assert!(decoder.decode(b"$5\r\n").is_err());
        assert!(decoder.decode(b"*4\r\n").is_err());
        assert!(
            decoder.decode(b"*2\r\n*2\r\n:1\r\n").is_err(),
            "element budget spans levels"
        );
        assert!(decoder.decode(b"*1\r\n*1\r\n*1\r\n").is_err(), "too deep");
        assert!(
            decoder.decode(b"+123456789").is_err(),
            "line too long without CRLF"
        );
        assert_eq!(decoder.decode(b"+1234567").unwrap(), None);
    }

    #[test]
    fn command_encoding() {
        let mut out = Vec::new();
        encode_command(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    fn arb_reply() -> impl Strategy<Value = Reply> {
        let bytes = prop::collection::vec(any::<u8>(), 0..16);
        let text = "[a-zA-Z0-9 ]{0,12}".prop_map(String::into_bytes);
        let leaf = prop_oneof![
            text.clone().prop_map(Reply::Simple),
            text.clone().prop_map(Reply::Error),
            bytes.clone().prop_map(Reply::BlobError),
            any::<i64>().prop_map(Reply::Integer),
            bytes.clone().prop_map(Reply::Bulk),
            Just(Reply::Nil),
            any::<f64>()
                .prop_filter("nan != nan", |x| !x.is_nan())
                .prop_map(Reply::Double),
            any::<bool>().prop_map(Reply::Boolean),
            "-?[1-9][0-9]{0,40}".prop_map(|s| Reply::BigNumber(s.into_bytes())),
            bytes.prop_map(|text| Reply::Verbatim {
                format: *b"txt",
                text
            }),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let list = prop::collection::vec(inner.clone(), 0..6);
            let map = prop::collection::vec((inner.clone(), inner.clone()), 0..4);
            prop_oneof![
                list.clone().prop_map(Reply::Array),
                list.clone().prop_map(Reply::Set),
                list.prop_map(Reply::Push),
                map.clone().prop_map(Reply::Map),
                (map, inner).prop_map(|(attributes, reply)| Reply::Attributed {
                    attributes,
                    reply: Box::new(reply)
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let decoder = ReplyDecoder::new(ReplyLimits { bulk_max_bytes: 64, elements_max: 64, depth_max: 4, line_max_bytes: 32 });
            let _ = decoder.decode(&bytes);
            let _ = decoder.scan(&bytes);
        }

        #[test]
        fn mangled_replies_never_panic(reply in arb_reply(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = Vec::new();
            encode(&reply, &mut bytes);
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = ReplyDecoder::default().decode(&bytes);
        }

        #[test]
        fn round_trip_in_any_split(reply in arb_reply(), cut in any::<prop::sample::Index>()) {
            let mut bytes = Vec::new();
            encode(&reply, &mut bytes);
            bytes.extend_from_slice(b"+next\r\n");
            let decoder = ReplyDecoder::default();
            let whole = bytes.len() - 7;
            let cut = cut.index(whole);
            prop_assert_eq!(decoder.decode(&bytes[..cut]).unwrap(), None);
            prop_assert_eq!(decoder.scan(&bytes[..cut]).unwrap(), None);
            let (decoded, len) = decoder.decode(&bytes).unwrap().unwrap();
            prop_assert_eq!(len, whole);
            prop_assert_eq!(decoder.scan(&bytes).unwrap().unwrap().len, whole);
            prop_assert_eq!(decoded, reply);
        }
    }
}
