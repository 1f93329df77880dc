//! Simulated durable storage for one replica: an append-only byte log of
//! checksummed records. Writes land in a volatile tail until `sync`; a crash
//! keeps a random prefix of the tail and may tear the last record, which
//! recovery detects by checksum and cuts, as the real write-ahead log does.

use pinwheel_consensus::{Ballot, Durable, Entry, Membership, Prng, SlotEntry, Snapshot};

use crate::kv::fnv;

const TAG_PROMISE: u8 = 1;
const TAG_ENTRY: u8 = 2;
const TAG_SNAPSHOT: u8 = 3;

/// One replica's disk.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    bytes: Vec<u8>,
    synced_len: usize,
}

impl Storage {
    /// Appends a promise record (volatile until `sync`).
    pub fn write_promise(&mut self, ballot: Ballot) {
        let mut body = vec![TAG_PROMISE];
        put_ballot(&mut body, ballot);
        self.append(&body);
    }

    /// Appends an entry record.
    pub fn write_entry(&mut self, entry: &SlotEntry) {
        let mut body = vec![TAG_ENTRY];
        body.extend_from_slice(&entry.slot.to_le_bytes());
        put_ballot(&mut body, entry.ballot);
        put_entry(&mut body, &entry.entry);
        self.append(&body);
    }

    /// Stores a snapshot and compacts: the disk is rewritten to the promise,
    /// the snapshot and the entries above it (an atomic rename in reality).
    /// Everything written so far must be synced first.
    pub fn write_snapshot(&mut self, snapshot: &Snapshot) {
        assert_eq!(
            self.synced_len,
            self.bytes.len(),
            "compaction of an unsynced log"
        );
        let durable = self.recover();
        // Accepting at a ballot implied promising it; keep that when the
        // entries that carried it are compacted away.
        let implied = durable
            .entries
            .iter()
            .map(|e| e.ballot)
            .filter(|b| !b.is_chosen())
            .max();
        let mut fresh = Storage::default();
        fresh.write_promise(durable.promised.max(implied.unwrap_or(Ballot::ZERO)));
        let mut body = vec![TAG_SNAPSHOT];
        body.extend_from_slice(&snapshot.slot.to_le_bytes());
        body.extend_from_slice(&(snapshot.data.len() as u32).to_le_bytes());
        body.extend_from_slice(&snapshot.data);
        fresh.append(&body);
        for entry in durable.entries.iter().filter(|e| e.slot > snapshot.slot) {
            fresh.write_entry(entry);
        }
        fresh.sync();
        *self = fresh;
    }

    /// Makes everything written so far durable.
    pub fn sync(&mut self) {
        self.synced_len = self.bytes.len();
    }

    /// Bytes not yet synced.
    pub fn unsynced(&self) -> usize {
        self.bytes.len() - self.synced_len
    }

    /// Power loss: the unsynced tail survives only as a random prefix, whose
    /// last record may be torn mid-way.
    pub fn crash(&mut self, prng: &mut Prng) {
        let tail = self.unsynced() as u64;
        let keep = self.synced_len + prng.up_to(tail) as usize;
        self.bytes.truncate(keep);
        self.synced_len = keep;
    }

    /// Reads back every intact record and cuts the log at the first torn
    /// one, so later appends follow the last good record.
    pub fn recover(&mut self) -> Durable {
        let (durable, valid_len) = self.read();
        self.bytes.truncate(valid_len);
        self.synced_len = self.synced_len.min(valid_len);
        durable
    }

    fn read(&self) -> (Durable, usize) {
        let mut durable = Durable::default();
        let mut at = 0;
        while let Some((body, next)) = frame_at(&self.bytes, at) {
            let Some(record) = parse(body) else { break };
            at = next;
            match record {
                Record::Promise(b) => durable.promised = durable.promised.max(b),
                Record::Entry(e) => durable.entries.push(e),
                Record::Snapshot(s) => {
                    durable.entries.retain(|e| e.slot > s.slot);
                    durable.snapshot = Some(s);
                }
            }
        }
        (durable, at)
    }

    fn append(&mut self, body: &[u8]) {
        self.bytes
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&fnv(body).to_le_bytes());
        self.bytes.extend_from_slice(body);
    }
}

enum Record {
    Promise(Ballot),
    Entry(SlotEntry),
    Snapshot(Snapshot),
}

fn frame_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(bytes.get(at + 4..at + 12)?.try_into().ok()?);
    let body = bytes.get(at + 12..at + 12 + len)?;
    (fnv(body) == sum).then_some((body, at + 12 + len))
}

fn put_ballot(out: &mut Vec<u8>, ballot: Ballot) {
    out.extend_from_slice(&ballot.round.to_le_bytes());
    out.extend_from_slice(&ballot.node.to_le_bytes());
}

fn put_entry(out: &mut Vec<u8>, entry: &Entry) {
    let items: &[Vec<u8>] = match entry {
        Entry::Noop => {
            out.push(0);
            return;
        }
        Entry::Batch(commands) => {
            out.push(1);
            commands
        }
        Entry::Config(m) => {
            out.push(2);
            out.extend_from_slice(&(m.voters.len() as u32).to_le_bytes());
            for v in &m.voters {
                out.extend_from_slice(&v.to_le_bytes());
            }
            return;
        }
    };
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        out.extend_from_slice(item);
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn ballot(&mut self) -> Option<Ballot> {
        Some(Ballot {
            round: self.u64()?,
            node: self.u32()?,
        })
    }
}

fn parse(body: &[u8]) -> Option<Record> {
    let mut c = Cursor(body);
    let tag = c.take(1)?[0];
    match tag {
        TAG_PROMISE => Some(Record::Promise(c.ballot()?)),
        TAG_ENTRY => {
            let slot = c.u64()?;
            let ballot = c.ballot()?;
            let entry = match c.take(1)?[0] {
                0 => Entry::Noop,
                1 => {
                    let n = c.u32()?;
                    let mut items = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        let len = c.u32()? as usize;
                        items.push(c.take(len)?.to_vec());
                    }
                    Entry::Batch(items.into())
                }
                _ => {
                    let n = c.u32()?;
                    let voters = (0..n).map(|_| c.u32()).collect::<Option<Vec<_>>>()?;
                    Entry::Config(Membership { voters })
                }
            };
            Some(Record::Entry(SlotEntry {
                slot,
                ballot,
                entry,
            }))
        }
        TAG_SNAPSHOT => {
            let slot = c.u64()?;
            let len = c.u32()? as usize;
            Some(Record::Snapshot(Snapshot {
                slot,
                data: c.take(len)?.to_vec(),
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_synced_records_and_cuts_torn_tail() {
        let mut prng = Prng::new(1);
        for _ in 0..50 {
            let mut disk = Storage::default();
            let b = Ballot { round: 2, node: 1 };
            disk.write_promise(b);
            disk.write_entry(&SlotEntry {
                slot: 1,
                ballot: b,
                entry: Entry::Batch(vec![vec![7; 30]].into()),
            });
            disk.sync();
            disk.write_entry(&SlotEntry {
                slot: 2,
                ballot: b,
                entry: Entry::Noop,
            });
            disk.crash(&mut prng);
            let durable = disk.recover();
            assert_eq!(durable.promised, b);
            assert!(durable.entries.len() == 1 || durable.entries.len() == 2);
            assert_eq!(durable.entries[0].slot, 1);
            // Appends after recovery must be readable: the torn tail was cut.
            disk.write_entry(&SlotEntry {
                slot: 3,
                ballot: b,
                entry: Entry::Noop,
            });
            disk.sync();
            assert_eq!(disk.recover().entries.last().unwrap().slot, 3);
        }
    }

    #[test]
    fn snapshot_compacts_entries_below_it() {
        let mut disk = Storage::default();
        let b = Ballot { round: 1, node: 0 };
        for slot in 1..=5 {
            disk.write_entry(&SlotEntry {
                slot,
                ballot: b,
                entry: Entry::Noop,
            });
        }
        disk.sync();
        disk.write_snapshot(&Snapshot {
            slot: 3,
            data: vec![1, 2],
        });
        let durable = disk.recover();
        assert_eq!(durable.snapshot.unwrap().slot, 3);
        assert_eq!(
            durable.entries.iter().map(|e| e.slot).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(durable.promised, b);
    }
}
