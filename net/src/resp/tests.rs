use proptest::prelude::*;

use super::*;
use crate::ProtocolLimits;

/// Parses every complete command in `input`, feeding it `step` bytes at a
/// time as a socket would.
fn parse_all(input: &[u8], step: usize) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut parser = Parser::new(ProtocolLimits::default());
    let mut commands = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while end < input.len() {
        end = (end + step).min(input.len());
        while let Some(length) = parser.parse(&input[start..end])? {
            let args = parser.args(&input[start..start + length]);
            if !args.is_empty() {
                commands.push(args.iter().map(<[u8]>::to_vec).collect());
            }
            start += length;
        }
    }
    Ok(commands)
}

fn strings(command: &[&str]) -> Vec<Vec<u8>> {
    command.iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn multibulk_and_inline_commands_parse() {
    let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\nset a \"b c\"\r\n*0\r\n\r\n";
    let commands = parse_all(input, input.len()).unwrap();
    assert_eq!(
        commands,
        vec![
            strings(&["GET", "k"]),
            strings(&["PING"]),
            strings(&["set", "a", "b c"])
        ]
    );
}

#[test]
fn binary_bulk_data_is_kept_whole() {
    let input = b"*2\r\n$4\r\n\r\n\0\xff\r\n$0\r\n\r\n";
    let commands = parse_all(input, 1).unwrap();
    assert_eq!(commands, vec![vec![b"\r\n\0\xff".to_vec(), Vec::new()]]);
}

#[test]
fn bad_lengths_are_protocol_errors() {
    for (input, text) in [
        (&b"*99999999999\r\n"[..], "invalid multibulk length"),
        (b"*1\r\n$4294967296\r\n", "invalid bulk length"),
        (b"*1\r\n$-5\r\n", "invalid bulk length"),
        (b"*x\r\n", "invalid multibulk length"),
        (b"*1\r\n+GET\r\n", "expected '$', got '+'"),
        (b"*1\r\n$3\r\nGETxx", "expected CRLF after bulk data"),
        (b"set a \"b\r\n", "unbalanced quotes in request"),
    ] {
        let error = parse_all(input, input.len()).unwrap_err();
        assert_eq!(error.0, text, "input {:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn unterminated_lines_hit_their_limits() {
    let inline = vec![b'a'; 70 * 1024];
    assert_eq!(
        parse_all(&inline, 4096).unwrap_err().0,
        "too big inline request"
    );
    let mut header = b"*".to_vec();
    header.extend(vec![b'1'; 70 * 1024]);
    assert_eq!(
        parse_all(&header, 4096).unwrap_err().0,
        "too big mbulk count string"
    );
}

#[test]
fn incomplete_command_waits_for_more() {
    let mut parser = Parser::new(ProtocolLimits::default());
    assert_eq!(parser.parse(b"*2\r\n$3\r\nGET\r\n$1\r").unwrap(), None);
    assert_eq!(
        parser.parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap(),
        Some(20)
    );
}

#[test]
fn integers_parse_strictly() {
    assert_eq!(parse_int(b"0"), Some(0));
    assert_eq!(parse_int(b"-12"), Some(-12));
    assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"+1",
        b"01",
        b"-0",
        b" 1",
        b"1 ",
        b"9223372036854775808",
        b"1e3",
    ] {
        assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn writer_encodes_both_protocols() {
    let mut w = RespWriter::new();
    w.nil();
    w.map(1);
    w.bulk(b"k");
    w.double(1.5);
    w.error("ERR bad\r\nthing");
    assert_eq!(
        w.bytes(),
        b"$-1\r\n*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n-ERR bad  thing\r\n"
    );
    let mut w = RespWriter::new();
    w.set_protocol(Protocol::Resp3);
    w.nil();
    w.map(1);
    w.double(f64::INFINITY);
    w.verbatim(b"hi");
    assert_eq!(w.bytes(), b"_\r\n%1\r\n,inf\r\n=6\r\ntxt:hi\r\n");
}

fn encode(command: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", command.len()).into_bytes();
    for arg in command {
        out.extend(format!("${}\r\n", arg.len()).bytes());
        out.extend(arg);
        out.extend(b"\r\n");
    }
    out
}

proptest! {
    #[test]
    fn any_split_parses_the_same(
        commands in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5), 1..6),
        step in 1usize..40,
    ) {
        let input: Vec<u8> = commands.iter().flat_map(|c| encode(c)).collect();
        prop_assert_eq!(parse_all(&input, step).unwrap(), commands);
    }

    #[test]
    fn random_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..300), step in 1usize..50) {
        let _ = parse_all(&input, step);
    }
}
