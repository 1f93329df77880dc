//! What each request is: the workload's commands, the keys they touch and
//! the values they write.

use std::fmt;

use crate::rng::{mix, Rng, Zipf};

/// A `--workload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// `SET key value`.
    Set,
    /// `GET key`, over keys written before the run.
    Get,
    /// `GET` for READ_PCT percent of requests, `SET` for the rest.
    Mixed {
        /// Percentage of reads, 0 to 100.
        read_pct: u8,
    },
    /// `INCR counter`.
    Incr,
    /// `LOCK.ACQUIRE name owner ttl WAIT ms`, then `LOCK.RELEASE name token`
    /// as soon as the token arrives; the pair is one measured operation.
    Lock,
    /// Any command, its arguments split on spaces, with `__key__`,
    /// `__value__` and `__rand_int__` replaced per request.
    Custom(Vec<CustomArg>),
}

/// One argument of a custom command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomArg {
    /// Sent as written.
    Literal(Vec<u8>),
    /// `__key__` or `__rand_int__`: the request's key.
    Key,
    /// `__value__`: a value of `--value-size` bytes.
    Value,
}

impl Workload {
    /// Whether the etcd gateway client can run it.
    pub fn runs_on_etcd(&self) -> bool {
        matches!(self, Workload::Set | Workload::Get | Workload::Mixed { .. })
    }

    /// Whether keys must hold values before the run starts.
    pub fn reads(&self) -> bool {
        matches!(self, Workload::Get | Workload::Mixed { read_pct: 1.. })
    }

    /// The first command of the next operation.
    pub(crate) fn next(&self, keys: &mut KeyGen, rng: &mut Rng) -> Cmd {
        let key = keys.next(rng);
        let kind = match self {
            Workload::Set => CmdKind::Set,
            Workload::Get => CmdKind::Get,
            Workload::Mixed { read_pct } => {
                if rng.below(100) < u64::from(*read_pct) {
                    CmdKind::Get
                } else {
                    CmdKind::Set
                }
            }
            Workload::Incr => CmdKind::Incr,
            Workload::Lock => CmdKind::Acquire,
            Workload::Custom(_) => CmdKind::Custom,
        };
        Cmd {
            kind,
            key,
            token: 0,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Set => f.write_str("set"),
            Workload::Get => f.write_str("get"),
            Workload::Mixed { read_pct } => write!(f, "mixed:{read_pct}"),
            Workload::Incr => f.write_str("incr"),
            Workload::Lock => f.write_str("lock"),
            Workload::Custom(args) => {
                let words: Vec<String> = args
                    .iter()
                    .map(|arg| match arg {
                        CustomArg::Literal(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                        CustomArg::Key => "__key__".into(),
                        CustomArg::Value => "__value__".into(),
                    })
                    .collect();
                write!(f, "custom:{}", words.join(" "))
            }
        }
    }
}

/// Most arguments in a custom command.
pub const CUSTOM_ARGS_MAX: usize = 64;

/// Parses `--workload`.
pub fn parse_workload(text: &str) -> Result<Workload, String> {
    match text {
        "set" => return Ok(Workload::Set),
        "get" => return Ok(Workload::Get),
        "incr" => return Ok(Workload::Incr),
        "lock" => return Ok(Workload::Lock),
        _ => {}
    }
    if let Some(pct) = text.strip_prefix("mixed:") {
        let read_pct = pct
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= 100)
            .ok_or_else(|| format!("`{text}`: READ_PCT must be 0 to 100"))?;
        return Ok(Workload::Mixed { read_pct });
    }
    if let Some(command) = text.strip_prefix("custom:") {
        let args: Vec<CustomArg> = command
            .split_whitespace()
            .map(|word| match word {
                "__key__" | "__rand_int__" => CustomArg::Key,
                "__value__" => CustomArg::Value,
                _ => CustomArg::Literal(word.as_bytes().to_vec()),
            })
            .collect();
        if args.is_empty() || args.len() > CUSTOM_ARGS_MAX {
            return Err(format!(
                "`{text}`: a custom command needs 1 to {CUSTOM_ARGS_MAX} words"
            ));
        }
        return Ok(Workload::Custom(args));
    }
    Err(format!(
        "`{text}`: expected set, get, mixed:READ_PCT, incr, lock or custom:\"CMD ARGS\""
    ))
}

/// A `--key-dist`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// Zipf with this exponent: key 0 is the hottest.
    Zipf(f64),
}

/// Largest Zipf exponent accepted; beyond it one key takes everything.
pub const ZIPF_EXPONENT_MAX: f64 = 10.0;

/// Parses `--key-dist`.
pub fn parse_key_dist(text: &str) -> Result<KeyDist, String> {
    if text == "uniform" {
        return Ok(KeyDist::Uniform);
    }
    let s = text
        .strip_prefix("zipf:")
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("`{text}`: expected uniform or zipf:S"))?;
    if !(s > 0.0 && s <= ZIPF_EXPONENT_MAX) {
        return Err(format!(
            "`{text}`: S must be above 0 and at most {ZIPF_EXPONENT_MAX}"
        ));
    }
    Ok(KeyDist::Zipf(s))
}

/// Draws key indexes in `0..keys`.
#[derive(Debug, Clone)]
pub(crate) struct KeyGen {
    keys: u64,
    zipf: Option<Zipf>,
}

impl KeyGen {
    pub(crate) fn new(keys: u64, dist: KeyDist) -> KeyGen {
        let zipf = match dist {
            KeyDist::Uniform => None,
            KeyDist::Zipf(s) => Some(Zipf::new(keys, s)),
        };
        KeyGen { keys, zipf }
    }

    pub(crate) fn next(&mut self, rng: &mut Rng) -> u64 {
        match &self.zipf {
            None => rng.below(self.keys),
            Some(zipf) => zipf.sample(rng) - 1,
        }
    }
}

/// The kinds of command the tool sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmdKind {
    Set,
    Get,
    Incr,
    Acquire,
    Release,
    Custom,
}

/// One command: what, on which key, and for `Acquire` the owner number
/// and for `Release` the fencing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cmd {
    pub(crate) kind: CmdKind,
    pub(crate) key: u64,
    pub(crate) token: u64,
}

/// Digits in a key's number, as redis-benchmark pads them, so every key
/// has the same length.
const KEY_DIGITS: usize = 12;

/// Appends the name of key `index` for `kind` (`key:000000000042`).
pub(crate) fn key_name(out: &mut Vec<u8>, kind: CmdKind, index: u64) {
    let prefix: &[u8] = match kind {
        CmdKind::Incr => b"counter:",
        CmdKind::Acquire | CmdKind::Release => b"lock:",
        _ => b"key:",
    };
    out.extend_from_slice(prefix);
    push_padded(out, index, KEY_DIGITS);
}

/// Appends `n` in decimal, zero-padded to `width`.
pub(crate) fn push_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    at = at.min(digits.len() - width.min(digits.len()));
    out.extend_from_slice(&digits[at..]);
}

/// The values a run writes. Without `--verify` every value is the same
/// run of `x` (as redis-benchmark's); with it, each key's value is derived
/// from the seed and the key, so a GET can be checked without remembering
/// anything per key.
#[derive(Debug, Clone)]
pub(crate) struct Values {
    verify: bool,
    seed: u64,
    constant: Vec<u8>,
}

impl Values {
    pub(crate) fn new(size: usize, verify: bool, seed: u64) -> Values {
        Values {
            verify,
            seed,
            constant: vec![b'x'; size],
        }
    }

    /// Bytes per value.
    pub(crate) fn len(&self) -> usize {
        self.constant.len()
    }

    /// Appends key `index`'s value.
    pub(crate) fn push(&self, out: &mut Vec<u8>, index: u64) {
        if !self.verify {
            out.extend_from_slice(&self.constant);
            return;
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut word = mix(self.seed ^ mix(index));
        for i in 0..self.constant.len() {
            if i % 16 == 0 {
                word = mix(word.wrapping_add(i as u64));
            }
            out.push(HEX[((word >> ((i % 16) * 4)) & 0xf) as usize]);
        }
    }

    /// Whether `bytes` is key `index`'s value.
    pub(crate) fn matches(&self, bytes: &[u8], index: u64, scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        self.push(scratch, index);
        bytes == scratch.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_parse() {
        assert_eq!(
            parse_workload("mixed:90").unwrap(),
            Workload::Mixed { read_pct: 90 }
        );
        assert!(parse_workload("mixed:101").is_err());
        assert_eq!(
            parse_workload("custom:HSET h __key__ __value__").unwrap(),
            Workload::Custom(vec![
                CustomArg::Literal(b"HSET".to_vec()),
                CustomArg::Literal(b"h".to_vec()),
                CustomArg::Key,
                CustomArg::Value
            ])
        );
        assert!(parse_workload("custom:").is_err());
        assert!(parse_key_dist("zipf:0").is_err());
    }

    #[test]
    fn keys_are_padded() {
        let mut out = Vec::new();
        key_name(&mut out, CmdKind::Get, 42);
        assert_eq!(out, b"key:000000000042");
    }

    #[test]
    fn verify_values_differ_per_key() {
        let values = Values::new(32, true, 9);
        let (mut a, mut b, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        values.push(&mut a, 1);
        values.push(&mut b, 2);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(values.matches(&a, 1, &mut scratch));
        assert!(!values.matches(&a, 2, &mut scratch));
    }
}
