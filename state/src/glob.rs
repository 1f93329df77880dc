//! Redis's glob patterns (`KEYS`, `SCAN MATCH`).

/// True when `subject` matches `pattern` with Redis's `stringmatchlen`
/// rules: `*` any run of bytes, `?` one byte, `[abc]`, `[a-z]`, `[^x]`
/// classes, and `\` making the next byte literal (also inside a class).
/// An unterminated class ends at the end of the pattern, as in Redis.
///
/// Unlike Redis's recursive matcher this backtracks only to the most recent
/// `*`, which is enough because every other token consumes exactly one
/// byte; the work is at most `pattern.len() * subject.len()` steps.
pub fn glob_match(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    // Where to resume after the latest `*`: (pattern index, subject index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            p += 1;
            star = Some((p, s));
            continue;
        }
        if s == subject.len() {
            return pattern[p..].iter().all(|&b| b == b'*');
        }
        if p < pattern.len() {
            if let Some(next) = match_one(pattern, p, subject[s]) {
                p = next;
                s += 1;
                continue;
            }
        }
        match star {
            // Let the last `*` swallow one more byte and retry from there.
            Some((star_p, star_s)) => {
                p = star_p;
                s = star_s + 1;
                star = Some((star_p, s));
            }
            None => return false,
        }
    }
}

/// Matches the single-byte token at `pattern[p]` (not `*`) against `byte`;
/// on success, the index just past the token.
fn match_one(pattern: &[u8], p: usize, byte: u8) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, byte),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == byte).then_some(p + 2),
        literal => (literal == byte).then_some(p + 1),
    }
}

/// Matches a class whose body starts at `pattern[p]` (just past `[`).
fn match_class(pattern: &[u8], mut p: usize, byte: u8) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        match pattern.get(p) {
            None => break,
            Some(b']') => {
                p += 1;
                break;
            }
            Some(b'\\') if p + 1 < pattern.len() => {
                matched |= pattern[p + 1] == byte;
                p += 2;
            }
            Some(&low) if p + 2 < pattern.len() && pattern[p + 1] == b'-' => {
                let high = pattern[p + 2];
                let (low, high) = if low <= high {
                    (low, high)
                } else {
                    (high, low)
                };
                matched |= (low..=high).contains(&byte);
                p += 3;
            }
            Some(&literal) => {
                matched |= literal == byte;
                p += 1;
            }
        }
    }
    (matched != negate).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn stars_and_questions() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(!glob_match(b"h?llo", b"hllo"));
        assert!(glob_match(b"h*llo", b"hllo"));
        assert!(glob_match(b"h*llo", b"heeeello"));
        assert!(glob_match(b"a*b*c", b"aXbYbZc"));
        assert!(!glob_match(b"a*b*c", b"aXbYbZ"));
        assert!(glob_match(b"**a**", b"bab"));
        assert!(!glob_match(b"abc", b"abcd"));
        assert!(!glob_match(b"", b"a"));
        assert!(glob_match(b"", b""));
    }

    #[test]
    fn classes() {
        assert!(glob_match(b"h[ae]llo", b"hello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[ae]llo", b"hillo"));
        assert!(glob_match(b"h[^e]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-b]llo", b"hbllo"));
        assert!(glob_match(b"h[b-a]llo", b"hallo"));
        assert!(!glob_match(b"h[a-b]llo", b"hcllo"));
        assert!(glob_match(b"[\\]]", b"]"));
        assert!(!glob_match(b"[]", b"a"));
        assert!(glob_match(b"[^]", b"a"));
        assert!(glob_match(b"[abc", b"c"));
        assert!(!glob_match(b"[", b"["));
    }

    #[test]
    fn escapes() {
        assert!(glob_match(b"a\\*b", b"a*b"));
        assert!(!glob_match(b"a\\*b", b"axb"));
        assert!(glob_match(b"a\\", b"a\\"));
        assert!(glob_match(b"\\?", b"?"));
        assert!(!glob_match(b"\\?", b"x"));
    }

    #[test]
    fn pathological_pattern_is_quick() {
        let subject = vec![b'a'; 4096];
        let mut pattern = b"a*".repeat(64);
        pattern.push(b'b');
        assert!(!glob_match(&pattern, &subject));
    }
}
