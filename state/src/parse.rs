//! Argument parsing and number formatting with Redis's exact rules, and the
//! error texts clients match on.

use crate::Reply;

/// Redis's reply to a malformed option list.
pub(crate) const SYNTAX: Reply = Reply::err("ERR syntax error");
/// Redis's reply to an argument or value that is not a 64-bit integer.
pub(crate) const NOT_INTEGER: Reply = Reply::err("ERR value is not an integer or out of range");
/// Redis's reply to an argument or value that is not a float.
pub(crate) const NOT_FLOAT: Reply = Reply::err("ERR value is not a valid float");
/// Redis's reply to a string that would grow past the value limit.
pub(crate) const TOO_BIG: Reply =
    Reply::err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");

/// Longest float argument, in bytes (Redis's `MAX_LONG_DOUBLE_CHARS`).
const FLOAT_MAX_BYTES: usize = 5 * 1024;
/// Decimal places Redis prints for `INCRBYFLOAT` results (`%.17Lf`).
const FLOAT_DECIMALS_MAX: usize = 17;

/// Parses a signed 64-bit integer the way Redis's `string2ll` does: optional
/// `-`, no `+`, no spaces, no leading zeros (`0` alone is fine), no overflow.
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        // -2^63 is representable although 2^63 is not.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses an integer argument or answers Redis's error for it.
pub(crate) fn int_arg(bytes: &[u8]) -> Result<i64, Reply> {
    parse_i64(bytes).ok_or(NOT_INTEGER)
}

/// Parses a float the way Redis's `string2ld` does: no leading space, no
/// trailing garbage, never NaN. Infinity parses (and then fails the
/// `INCRBYFLOAT` result check, as in Redis).
pub(crate) fn parse_f64(bytes: &[u8]) -> Option<f64> {
    if bytes.is_empty() || bytes.len() > FLOAT_MAX_BYTES || bytes[0].is_ascii_whitespace() {
        return None;
    }
    let value: f64 = std::str::from_utf8(bytes).ok()?.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// Formats an `INCRBYFLOAT` result as Redis does (`%.17Lf`, trailing zeros
/// and a trailing dot removed, never `-0`): plain decimal notation, no
/// exponent. We compute in `f64`, not Redis's 80-bit long double, and print
/// the shortest decimal that reads back as the same `f64`; so `10.5 + 0.1`
/// gives `10.6` as in Redis.
pub(crate) fn format_f64(value: f64) -> Vec<u8> {
    let mut text = format!("{value}");
    if let Some(dot) = text.find('.') {
        if text.len() - dot - 1 > FLOAT_DECIMALS_MAX {
            text = format!("{value:.FLOAT_DECIMALS_MAX$}");
            let trimmed = text.trim_end_matches('0').trim_end_matches('.');
            text.truncate(trimmed.len());
        }
    }
    if text == "-0" {
        text = "0".to_owned();
    }
    text.into_bytes()
}

/// True when `arg` equals `word`, ignoring ASCII case (option names).
pub(crate) fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Redis's `invalid expire time in '<command>' command` error.
pub(crate) fn invalid_expire(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn floats_follow_string2ld() {
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"10.5"), Some(10.5));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"1x"), None);
        assert_eq!(parse_f64(b""), None);
    }

    #[test]
    fn floats_print_like_redis() {
        assert_eq!(format_f64(10.5 + 0.1), b"10.6");
        assert_eq!(format_f64(5000.0), b"5000");
        assert_eq!(format_f64(-0.0), b"0");
        assert_eq!(format_f64(3.0e-20), b"0");
        assert_eq!(format_f64(1.5e-5), b"0.000015");
        assert_eq!(format_f64(1e20), b"100000000000000000000");
        assert_eq!(format_f64(-2.25), b"-2.25");
    }
}
