use proptest::prelude::*;

use super::{group, run};
use crate::{Group, Limits, Reply, SnapshotError};

fn round_trip(g: &Group) -> Group {
    let mut bytes = Vec::new();
    g.encode_snapshot(&mut bytes);
    let back = Group::decode_snapshot(&bytes, *g.limits()).expect("decodes");
    let mut again = Vec::new();
    back.encode_snapshot(&mut again);
    assert_eq!(bytes, again, "the encoding is canonical");
    back
}

#[test]
fn snapshot_keeps_keys_ttls_locks_and_the_token_counter() {
    let mut g = group();
    run(&mut g, 0, "MSET a 1 b 2");
    run(&mut g, 0, "PEXPIRE a 500");
    run(&mut g, 0, "LOCK.ACQUIRE l alice 100");
    let args: [&[u8]; 6] = [b"LOCK.ACQUIRE", b"l", b"bob", b"100", b"WAIT", b"50"];
    let mut effects = Vec::new();
    super::run_full(&mut g, 0, &args, 7, &mut effects);
    let mut back = round_trip(&g);
    assert_eq!(back, g);
    assert_eq!(run(&mut back, 0, "PTTL a"), Reply::Int(500));
    // The restored counter keeps tokens increasing.
    run(&mut back, 0, "LOCK.RELEASE l 1");
    assert_eq!(run(&mut back, 0, "LOCK.ACQUIRE m carol 10"), Reply::Int(3));
    assert_eq!(round_trip(&group()), group());
}

#[test]
fn corrupt_snapshots_are_refused() {
    let mut g = group();
    run(&mut g, 0, "SET a 1");
    run(&mut g, 0, "LOCK.ACQUIRE l alice 100");
    let mut bytes = Vec::new();
    g.encode_snapshot(&mut bytes);
    for cut in 0..bytes.len() {
        assert!(Group::decode_snapshot(&bytes[..cut], Limits::default()).is_err());
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Group::decode_snapshot(&trailing, Limits::default()).is_err());
    // Counter (bytes 8..16) below the holder's token: fencing would break.
    let mut rewound = bytes.clone();
    rewound[8..16].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(
        Group::decode_snapshot(&rewound, Limits::default()),
        Err(SnapshotError("token 1 beyond the counter".into()))
    );
    // Change sequence (bytes 16..24) below a key's stamp: a later write
    // could take that stamp again and a WATCH would miss it.
    let mut rewound = bytes.clone();
    rewound[16..24].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(
        Group::decode_snapshot(&rewound, Limits::default()),
        Err(SnapshotError("stamp 1 beyond the change sequence".into()))
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Group::decode_snapshot(&bytes, Limits::default());
        let mut framed = b"PWST\x02\x00\x00\x00".to_vec();
        framed.extend_from_slice(&bytes);
        let _ = Group::decode_snapshot(&framed, Limits::default());
    }
}
