//! The value a command answers with, independent of the wire protocol.

use std::borrow::Cow;
use std::fmt;

/// A command's answer. The network layer encodes it as RESP2 or RESP3; the
/// state machine never sees bytes on the wire.
///
/// Embedded callers read it with the accessors (`as_str`, `as_int`,
/// `is_nil`, `into_bytes`...), which take it the way Redis clients do: a
/// simple status is a string too, and a bulk string holding a number reads
/// as one. `Display` prints it as `redis-cli` does (`"text"`,
/// `(integer) 5`, `(nil)`, `(error) ERR ...`, numbered array lines);
/// `Debug` shows strings as text, with bytes that are not printable UTF-8
/// escaped (`\xff`, `\n`), instead of lists of numbers.
#[derive(Clone, PartialEq)]
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

    /// True for the null reply (a missing key, a lock not granted).
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Nil)
    }

    /// The error text (starting with its code, `ERR ...`), if an error.
    pub fn as_error(&self) -> Option<&str> {
        match self {
            Reply::Error(text) => Some(text),
            _ => None,
        }
    }

    /// The bytes of a string reply: bulk, verbatim, or a status (`OK`,
    /// `PONG`). `None` for the rest, nil and errors included.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(bytes) | Reply::Verbatim(bytes) => Some(bytes),
            Reply::Status(text) => Some(text.as_bytes()),
            Reply::Ok => Some(b"OK"),
            _ => None,
        }
    }

    /// A string reply as text; `None` if it is not a string or not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()?).ok()
    }

    /// An integer reply, or a string reply holding a decimal integer (a
    /// counter read back with `GET`), as Redis clients convert them.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(_) | Reply::Status(_) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// A double reply, or an integer or string reply holding a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Reply::Double(x) => Some(*x),
            Reply::Int(n) => Some(*n as f64),
            Reply::Bulk(_) | Reply::Status(_) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// The items of an array reply.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The pairs of a map reply (`LOCK.INFO`, `HELLO`).
    pub fn as_map(&self) -> Option<&[(Reply, Reply)]> {
        match self {
            Reply::Map(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// The bytes of a string reply (see [`Reply::as_bytes`]), taken.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(bytes) | Reply::Verbatim(bytes) => Some(bytes),
            Reply::Status(text) => Some(text.into_owned().into_bytes()),
            Reply::Ok => Some(b"OK".to_vec()),
            _ => None,
        }
    }

    /// A string reply as text, taken; `None` if not a string or not UTF-8.
    pub fn into_string(self) -> Option<String> {
        String::from_utf8(self.into_bytes()?).ok()
    }

    /// The items of an array reply, taken.
    pub fn into_array(self) -> Option<Vec<Reply>> {
        match self {
            Reply::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Writes `bytes` as text between quotes: printable UTF-8 as it is,
/// everything else escaped (`\"`, `\\`, `\n`, `\r`, `\t`, `\xNN`).
fn write_quoted(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => {
                    let mut utf8 = [0; 4];
                    for byte in c.encode_utf8(&mut utf8).bytes() {
                        write!(f, "\\x{byte:02x}")?;
                    }
                }
                c => write!(f, "{c}")?,
            }
        }
        for byte in chunk.invalid() {
            write!(f, "\\x{byte:02x}")?;
        }
    }
    f.write_str("\"")
}

/// Bytes shown through [`write_quoted`] in `Debug` output.
struct Quoted<'a>(&'a [u8]);

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0)
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok => f.write_str("Ok"),
            Reply::Status(text) => f.debug_tuple("Status").field(text).finish(),
            Reply::Error(text) => f.debug_tuple("Error").field(text).finish(),
            Reply::Int(n) => f.debug_tuple("Int").field(n).finish(),
            Reply::Bulk(bytes) => f.debug_tuple("Bulk").field(&Quoted(bytes)).finish(),
            Reply::Nil => f.write_str("Nil"),
            Reply::Array(items) => f.debug_tuple("Array").field(items).finish(),
            Reply::Map(pairs) => f.debug_tuple("Map").field(pairs).finish(),
            Reply::Double(x) => f.debug_tuple("Double").field(x).finish(),
            Reply::Verbatim(bytes) => f.debug_tuple("Verbatim").field(&Quoted(bytes)).finish(),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_cli(f, 0)
    }
}

impl Reply {
    /// `redis-cli`'s rendering; `indent` is the width of the enclosing
    /// arrays' item numbers, for the lines after an item's first.
    fn write_cli(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        match self {
            Reply::Ok => f.write_str("OK"),
            Reply::Status(text) => f.write_str(text),
            Reply::Error(text) => write!(f, "(error) {text}"),
            Reply::Int(n) => write!(f, "(integer) {n}"),
            Reply::Bulk(bytes) => write_quoted(f, bytes),
            Reply::Nil => f.write_str("(nil)"),
            Reply::Double(x) => write!(f, "(double) {x}"),
            Reply::Verbatim(bytes) => f.write_str(&String::from_utf8_lossy(bytes)),
            Reply::Array(items) if items.is_empty() => f.write_str("(empty array)"),
            Reply::Map(pairs) if pairs.is_empty() => f.write_str("(empty hash)"),
            Reply::Array(items) => {
                let width = items.len().to_string().len();
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, "\n{:indent$}", "")?;
                    }
                    write!(f, "{:>width$}) ", i + 1)?;
                    item.write_cli(f, indent + width + 2)?;
                }
                Ok(())
            }
            Reply::Map(pairs) => {
                let width = pairs.len().to_string().len();
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        write!(f, "\n{:indent$}", "")?;
                    }
                    write!(f, "{:>width$}# ", i + 1)?;
                    key.write_cli(f, indent + width + 2)?;
                    f.write_str(" => ")?;
                    value.write_cli(f, indent + width + 2)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reply;

    fn bulk(bytes: &[u8]) -> Reply {
        Reply::Bulk(bytes.to_vec())
    }

    #[test]
    fn strings_show_as_text_with_the_rest_escaped() {
        assert_eq!(format!("{:?}", bulk(b"hello")), r#"Bulk("hello")"#);
        assert_eq!(format!("{}", bulk(b"hello")), r#""hello""#);
        let mixed = bulk("café \"q\" \\ \n\t\0".as_bytes());
        assert_eq!(format!("{mixed}"), r#""café \"q\" \\ \n\t\x00""#);
        let invalid = bulk(b"ok\xff\xfe!");
        assert_eq!(format!("{invalid:?}"), r#"Bulk("ok\xff\xfe!")"#);
        assert_eq!(format!("{}", bulk(b"")), r#""""#);
        let info = Reply::Verbatim(b"# Server\r\n".to_vec());
        assert_eq!(format!("{info:?}"), r##"Verbatim("# Server\r\n")"##);
    }

    #[test]
    fn display_reads_like_redis_cli() {
        assert_eq!(Reply::Ok.to_string(), "OK");
        assert_eq!(Reply::Status("PONG".into()).to_string(), "PONG");
        assert_eq!(Reply::Int(-3).to_string(), "(integer) -3");
        assert_eq!(Reply::Nil.to_string(), "(nil)");
        assert_eq!(Reply::err("ERR no").to_string(), "(error) ERR no");
        assert_eq!(Reply::Double(1.5).to_string(), "(double) 1.5");
        assert_eq!(Reply::Array(vec![]).to_string(), "(empty array)");
        let nested = Reply::Array(vec![
            bulk(b"a"),
            Reply::Array(vec![Reply::Int(1), Reply::Nil]),
        ]);
        assert_eq!(
            nested.to_string(),
            "1) \"a\"\n2) 1) (integer) 1\n   2) (nil)"
        );
        let ten = Reply::Array((0..10).map(Reply::Int).collect());
        assert!(ten.to_string().starts_with(" 1) (integer) 0\n"));
        assert!(ten.to_string().ends_with("\n10) (integer) 9"));
        let map = Reply::Map(vec![
            (bulk(b"owner"), bulk(b"me")),
            (bulk(b"token"), Reply::Int(7)),
        ]);
        assert_eq!(
            map.to_string(),
            "1# \"owner\" => \"me\"\n2# \"token\" => (integer) 7"
        );
    }

    #[test]
    fn accessors_convert_as_redis_clients_do() {
        assert_eq!(bulk(b"v").as_bytes(), Some(&b"v"[..]));
        assert_eq!(bulk(b"v").as_str(), Some("v"));
        assert_eq!(bulk(b"\xff").as_str(), None);
        assert_eq!(Reply::Ok.as_str(), Some("OK"));
        assert_eq!(Reply::Status("PONG".into()).as_str(), Some("PONG"));
        assert_eq!(Reply::Int(5).as_str(), None);
        assert_eq!(Reply::Nil.as_bytes(), None);
        assert_eq!(Reply::err("ERR x").as_bytes(), None);
        assert_eq!(Reply::err("ERR x").as_error(), Some("ERR x"));
        assert_eq!(Reply::Int(5).as_int(), Some(5));
        assert_eq!(bulk(b"-12").as_int(), Some(-12));
        assert_eq!(bulk(b"1.5").as_int(), None);
        assert_eq!(bulk(b"1.5").as_f64(), Some(1.5));
        assert_eq!(Reply::Double(2.0).as_f64(), Some(2.0));
        assert_eq!(Reply::Nil.as_int(), None);
        assert!(Reply::Nil.is_nil() && !bulk(b"").is_nil());
        assert_eq!(bulk(b"v").into_bytes(), Some(b"v".to_vec()));
        assert_eq!(bulk(b"v").into_string(), Some("v".to_string()));
        let array = Reply::Array(vec![Reply::Nil]);
        assert_eq!(array.as_array(), Some(&[Reply::Nil][..]));
        assert_eq!(array.into_array(), Some(vec![Reply::Nil]));
        let map = Reply::Map(vec![(bulk(b"k"), Reply::Int(1))]);
        assert_eq!(map.as_map().map(<[_]>::len), Some(1));
        assert_eq!(Reply::Int(1).into_array(), None);
    }
}
