//! Speaking to a target: commands to bytes, bytes to replies, and a reply
//! to an outcome (done, a lock token, or an error of some kind).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use pinwheel_net::client::{encode_bulk, encode_header, Reply, ReplyDecoder, ReplyKind};

use crate::target::Protocol;
use crate::workload::{key_name, Cmd, CmdKind, CustomArg, Values, Workload};

/// Fencing-token lease asked for by the lock workload, in milliseconds:
/// long enough that no lease runs out between grant and release.
pub const LOCK_TTL_MS: u64 = 10_000;
/// How long a contended LOCK.ACQUIRE may queue, in milliseconds.
pub const LOCK_WAIT_MS: u64 = 5_000;
/// Longest HTTP response head from etcd's gateway.
const HTTP_HEAD_MAX_BYTES: usize = 16 * 1024;
/// Longest HTTP response body.
const HTTP_BODY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A complete reply at the front of a buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    pub(crate) len: usize,
    /// RESP: the reply's type. HTTP: always `Other`.
    pub(crate) kind: ReplyKind,
    /// HTTP status; 0 for RESP.
    pub(crate) status: u16,
}

/// What a reply means for the operation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    /// A lock was granted with this token; release it next.
    Token(u64),
    /// Failed, of this kind (`mismatch`, `lock_not_granted`...).
    Error(String),
    /// The server answered with an error: its kind (the first word, or
    /// `http_STATUS`) and its text, for the report's error messages.
    Refused {
        kind: String,
        text: String,
    },
}

/// Encoder and decoder for one protocol and workload.
#[derive(Debug)]
pub(crate) struct Codec {
    protocol: Protocol,
    workload: Workload,
    decoder: ReplyDecoder,
    values: Values,
    verify: bool,
    owner_prefix: String,
    scratch: Vec<u8>,
    body: Vec<u8>,
}

impl Codec {
    pub(crate) fn new(
        protocol: Protocol,
        workload: Workload,
        values: Values,
        verify: bool,
        owner_prefix: String,
    ) -> Codec {
        Codec {
            protocol,
            workload,
            decoder: ReplyDecoder::default(),
            values,
            verify,
            owner_prefix,
            scratch: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Appends `cmd` to `out`; `host` is the address for HTTP's Host header.
    pub(crate) fn encode(&mut self, cmd: &Cmd, host: &str, out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Redis => self.encode_resp(cmd, out),
            Protocol::Etcd => self.encode_http(cmd, host, out),
        }
    }

    fn encode_resp(&mut self, cmd: &Cmd, out: &mut Vec<u8>) {
        let key = &mut self.scratch;
        key.clear();
        key_name(key, cmd.kind, cmd.key);
        match cmd.kind {
            CmdKind::Set => {
                encode_header(out, b'*', 3);
                encode_bulk(out, b"SET");
                encode_bulk(out, key);
                encode_header(out, b'$', self.values.len());
                self.values.push(out, cmd.key);
                out.extend_from_slice(b"\r\n");
            }
            CmdKind::Get | CmdKind::Incr => {
                encode_header(out, b'*', 2);
                encode_bulk(
                    out,
                    if cmd.kind == CmdKind::Get {
                        b"GET"
                    } else {
                        b"INCR"
                    },
                );
                encode_bulk(out, key);
            }
            CmdKind::Acquire => {
                let owner = format!("{}{}", self.owner_prefix, cmd.token);
                let (ttl, wait) = (LOCK_TTL_MS.to_string(), LOCK_WAIT_MS.to_string());
                let args: [&[u8]; 6] = [
                    b"LOCK.ACQUIRE",
                    key,
                    owner.as_bytes(),
                    ttl.as_bytes(),
                    b"WAIT",
                    wait.as_bytes(),
                ];
                pinwheel_net::client::encode_command(out, &args);
            }
            CmdKind::Release => {
                let token = cmd.token.to_string();
                pinwheel_net::client::encode_command(
                    out,
                    &[&b"LOCK.RELEASE"[..], key, token.as_bytes()],
                );
            }
            CmdKind::Custom => self.encode_custom(cmd, out),
        }
    }

    fn encode_custom(&mut self, cmd: &Cmd, out: &mut Vec<u8>) {
        let Workload::Custom(args) = &self.workload else {
            unreachable!("custom commands come from the custom workload")
        };
        encode_header(out, b'*', args.len());
        for arg in args {
            match arg {
                CustomArg::Literal(bytes) => encode_bulk(out, bytes),
                CustomArg::Key => encode_bulk(out, &self.scratch),
                CustomArg::Value => {
                    let mut value = Vec::new();
                    self.values.push(&mut value, cmd.key);
                    encode_bulk(out, &value);
                }
            }
        }
    }

    fn encode_http(&mut self, cmd: &Cmd, host: &str, out: &mut Vec<u8>) {
        self.scratch.clear();
        key_name(&mut self.scratch, cmd.kind, cmd.key);
        let key = BASE64.encode(&self.scratch);
        let (path, body) = match cmd.kind {
            CmdKind::Get => ("range", format!("{{\"key\":\"{key}\"}}")),
            _ => {
                self.scratch.clear();
                self.values.push(&mut self.scratch, cmd.key);
                let value = BASE64.encode(&self.scratch);
                (
                    "put",
                    format!("{{\"key\":\"{key}\",\"value\":\"{value}\"}}"),
                )
            }
        };
        let head = format!(
            "POST /v3/kv/{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(body.as_bytes());
    }

    /// The first complete reply in `buf`, if one has arrived.
    pub(crate) fn scan(&self, buf: &[u8]) -> Result<Option<Frame>, String> {
        match self.protocol {
            Protocol::Redis => {
                Ok(self
                    .decoder
                    .scan(buf)
                    .map_err(|e| e.to_string())?
                    .map(|s| Frame {
                        len: s.len,
                        kind: s.kind,
                        status: 0,
                    }))
            }
            Protocol::Etcd => Ok(http_scan(buf, None)?.map(|(len, status)| Frame {
                len,
                kind: ReplyKind::Other,
                status,
            })),
        }
    }

    /// What the reply `bytes` (a whole [`Frame`]) to `cmd` means.
    pub(crate) fn classify(&mut self, cmd: &Cmd, frame: Frame, bytes: &[u8]) -> Outcome {
        match self.protocol {
            Protocol::Redis => self.classify_resp(cmd, frame, bytes),
            Protocol::Etcd => self.classify_http(cmd, frame, bytes),
        }
    }

    fn classify_resp(&mut self, cmd: &Cmd, frame: Frame, bytes: &[u8]) -> Outcome {
        if frame.kind == ReplyKind::Error {
            let text = self.error_text(bytes);
            return Outcome::Refused {
                kind: error_word(&text),
                text: error_message(&text),
            };
        }
        let expected = match cmd.kind {
            CmdKind::Acquire => return self.acquired(frame, bytes),
            CmdKind::Release if self.verify => ReplyKind::Integer,
            CmdKind::Set if self.verify => ReplyKind::Simple,
            CmdKind::Incr if self.verify => ReplyKind::Integer,
            CmdKind::Get if self.verify => return self.check_get(cmd, frame, bytes),
            _ => return Outcome::Done,
        };
        if frame.kind != expected {
            return Outcome::Error("mismatch".into());
        }
        if cmd.kind == CmdKind::Release && !bytes.starts_with(b":1\r\n") {
            return Outcome::Error("lock_release_refused".into());
        }
        Outcome::Done
    }

    fn acquired(&self, frame: Frame, bytes: &[u8]) -> Outcome {
        match (frame.kind, self.decoder.decode(bytes)) {
            (ReplyKind::Nil, _) => Outcome::Error("lock_not_granted".into()),
            (_, Ok(Some((Reply::Integer(token), _)))) => match u64::try_from(token) {
                Ok(token) => Outcome::Token(token),
                Err(_) => Outcome::Error("mismatch".into()),
            },
            _ => Outcome::Error("mismatch".into()),
        }
    }

    fn check_get(&mut self, cmd: &Cmd, frame: Frame, bytes: &[u8]) -> Outcome {
        let ok = frame.kind == ReplyKind::Bulk
            && match self.decoder.decode(bytes) {
                Ok(Some((Reply::Bulk(value), _))) => {
                    self.values.matches(&value, cmd.key, &mut self.body)
                }
                _ => false,
            };
        if ok {
            Outcome::Done
        } else {
            Outcome::Error("mismatch".into())
        }
    }

    /// The text of an error reply, e.g. `ERR unknown command ...`.
    fn error_text(&self, bytes: &[u8]) -> Vec<u8> {
        match self.decoder.decode(bytes) {
            Ok(Some((Reply::Error(text) | Reply::BlobError(text), _))) => text,
            Ok(Some((Reply::Attributed { reply, .. }, _))) => match *reply {
                Reply::Error(text) | Reply::BlobError(text) => text,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    fn classify_http(&mut self, cmd: &Cmd, frame: Frame, bytes: &[u8]) -> Outcome {
        if frame.status != 200 {
            let mut body = Vec::new();
            let _ = http_scan(bytes, Some(&mut body));
            let text = format!("HTTP {} {}", frame.status, error_message(&body));
            return Outcome::Refused {
                kind: format!("http_{}", frame.status),
                text: text.trim_end().to_string(),
            };
        }
        if !(self.verify && cmd.kind == CmdKind::Get) {
            return Outcome::Done;
        }
        let mut body = Vec::new();
        if http_scan(bytes, Some(&mut body)).is_err() {
            return Outcome::Error("mismatch".into());
        }
        let value = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|json| json["kvs"][0]["value"].as_str().map(str::to_owned))
            .and_then(|b64| BASE64.decode(b64).ok());
        match value {
            Some(value) if self.values.matches(&value, cmd.key, &mut self.scratch) => Outcome::Done,
            _ => Outcome::Error("mismatch".into()),
        }
    }
}

/// Most characters of an error's first word kept as its kind.
const ERROR_KIND_MAX_CHARS: usize = 32;
/// Most characters of an error's text kept for the report.
pub const ERROR_TEXT_MAX_CHARS: usize = 160;
/// Redis's unknown-command error goes on to list the command's arguments
/// (keys, owners, values), which would make every failed request's text
/// different; the report keeps the part before them.
const REDIS_ARGS_SUFFIX: &str = ", with args beginning with:";

/// An error's text as the report shows it: printable, without Redis's
/// list of the arguments, and bounded.
pub(crate) fn error_message(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let text = match text.find(REDIS_ARGS_SUFFIX) {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut message: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_TEXT_MAX_CHARS)
        .collect();
    if text.chars().count() > ERROR_TEXT_MAX_CHARS {
        message.push('…');
    }
    message
}

/// An error reply's kind: its first word, printable, bounded.
pub(crate) fn error_word(text: &[u8]) -> String {
    let word: String = text
        .split(|&b| b == b' ')
        .next()
        .unwrap_or_default()
        .iter()
        .take(ERROR_KIND_MAX_CHARS)
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
        .collect();
    if word.is_empty() {
        "error".into()
    } else {
        word
    }
}

/// Finds a whole HTTP/1.1 response at the front of `buf`: its length and
/// status. With `body`, also copies the (de-chunked) body there.
pub(crate) fn http_scan(
    buf: &[u8],
    mut body: Option<&mut Vec<u8>>,
) -> Result<Option<(usize, u16)>, String> {
    let window = &buf[..buf.len().min(HTTP_HEAD_MAX_BYTES)];
    let Some(head_len) = window
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
    else {
        if window.len() == HTTP_HEAD_MAX_BYTES {
            return Err(format!("HTTP head longer than {HTTP_HEAD_MAX_BYTES} bytes"));
        }
        return Ok(None);
    };
    let head =
        std::str::from_utf8(&buf[..head_len]).map_err(|_| "HTTP head is not text".to_string())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.strip_prefix("HTTP/1."))
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| "bad HTTP status line".to_string())?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| "bad Content-Length".to_string())?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
    if chunked {
        return chunks(buf, head_len, body).map(|end| end.map(|end| (end, status)));
    }
    let length = length.ok_or_else(|| "HTTP response without a length".to_string())?;
    if length > HTTP_BODY_MAX_BYTES {
        return Err(format!("HTTP body over {HTTP_BODY_MAX_BYTES} bytes"));
    }
    if buf.len() < head_len + length {
        return Ok(None);
    }
    if let Some(body) = body.as_mut() {
        body.extend_from_slice(&buf[head_len..head_len + length]);
    }
    Ok(Some((head_len + length, status)))
}

/// Walks a chunked body starting at `pos`; the end of the response.
fn chunks(
    buf: &[u8],
    mut pos: usize,
    mut body: Option<&mut Vec<u8>>,
) -> Result<Option<usize>, String> {
    let mut total = 0usize;
    loop {
        let Some(eol) = buf[pos..]
            .windows(2)
            .take(HTTP_HEAD_MAX_BYTES)
            .position(|w| w == b"\r\n")
        else {
            return Ok(None);
        };
        let size_text =
            std::str::from_utf8(&buf[pos..pos + eol]).map_err(|_| "bad chunk size".to_string())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size".to_string())?;
        total = total.saturating_add(size);
        if total > HTTP_BODY_MAX_BYTES {
            return Err(format!("HTTP body over {HTTP_BODY_MAX_BYTES} bytes"));
        }
        let data = pos + eol + 2;
        if buf.len() < data + size + 2 {
            return Ok(None);
        }
        if &buf[data + size..data + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        if let Some(body) = body.as_mut() {
            body.extend_from_slice(&buf[data..data + size]);
        }
        pos = data + size + 2;
        if size == 0 {
            return Ok(Some(pos));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_drop_redis_argument_lists_and_stay_bounded() {
        let redis = b"ERR unknown command 'LOCK.ACQUIRE', with args beginning with: 'k1' 'o' ";
        assert_eq!(error_message(redis), "ERR unknown command 'LOCK.ACQUIRE'");
        assert_eq!(
            error_message(b"WRONGTYPE Operation\r\n"),
            "WRONGTYPE Operation  "
        );
        assert_eq!(error_message(b"ERR \xff"), "ERR \u{fffd}");
        let long = vec![b'x'; 500];
        let message = error_message(&long);
        assert_eq!(message.chars().count(), ERROR_TEXT_MAX_CHARS + 1);
        assert!(message.ends_with('…'));
        assert_eq!(error_word(redis), "ERR");
    }
}
