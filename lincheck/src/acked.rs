//! The acknowledged-writes check for crash tests: nothing acknowledged is
//! lost across a restart.
//!
//! Each key gets strictly increasing values (`SET key 1`, `SET key 2`, ...)
//! from one writer. The writer records every value before sending it and
//! every acknowledgement it receives. After the server is killed and
//! restarted, one read per key must find the latest acknowledged value or
//! a later one that was sent (a write in flight at the kill may or may not
//! have survived), never an older value, absence, or a value never sent.
//! Much weaker than [`crate::check_kv`], and linear in the history: it is
//! the check a kill -9 cycle can afford after every restart.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::HistoryError;
use crate::reply::Shown;

/// One key's writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct KeyWrites {
    /// Every value sent, increasing.
    sent: Vec<u64>,
    /// The largest value acknowledged.
    acked: Option<u64>,
}

/// The record of a crash test's writes, cumulative over its cycles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckedWrites {
    keys: BTreeMap<Vec<u8>, KeyWrites>,
    values: usize,
    /// The first misuse, reported by [`AckedWrites::check`].
    misuse: Option<HistoryError>,
}

/// A key whose final read breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckedViolation {
    /// The read found less than the latest acknowledged value.
    Lost {
        /// The key.
        key: Vec<u8>,
        /// The latest acknowledged value.
        acked: u64,
        /// What the read found (`None`: absent).
        found: Option<u64>,
    },
    /// The read found a value never sent to the key (or not a number).
    NeverWritten {
        /// The key.
        key: Vec<u8>,
        /// What the read found.
        found: Vec<u8>,
    },
}

impl fmt::Display for AckedViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckedViolation::Lost { key, acked, found } => {
                let found = found.map_or("nothing".to_string(), |v| v.to_string());
                write!(
                    f,
                    "key {}: {acked} was acknowledged, but the read after restart found {found}",
                    Shown(key)
                )
            }
            AckedViolation::NeverWritten { key, found } => write!(
                f,
                "key {}: the read after restart found {}, which was never written",
                Shown(key),
                Shown(found)
            ),
        }
    }
}

/// What [`AckedWrites::check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckedReport {
    /// Keys read.
    pub keys: usize,
    /// Keys with at least one acknowledged write.
    pub acked_keys: usize,
    /// Keys whose read found a value sent but never acknowledged (the
    /// write in flight at the kill survived).
    pub unacked_survivors: usize,
    /// Every key that breaks the rule, in key order.
    pub violations: Vec<AckedViolation>,
}

impl AckedReport {
    /// True when every acknowledged write survived.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for AckedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_ok() { "ok" } else { "LOST WRITES" };
        writeln!(
            f,
            "acknowledged writes {verdict}: {} keys read, {} with acknowledged writes, {} found a \
             later unacknowledged value",
            self.keys, self.acked_keys, self.unacked_survivors
        )?;
        for violation in &self.violations {
            writeln!(f, "  {violation}")?;
        }
        Ok(())
    }
}

impl AckedWrites {
    /// An empty record.
    pub fn new() -> Self {
        AckedWrites::default()
    }

    /// Records that `value` is about to be written to `key`. Values of one
    /// key must strictly increase.
    pub fn sent(&mut self, key: impl AsRef<[u8]>, value: u64) {
        let writes = self.keys.entry(key.as_ref().to_vec()).or_default();
        self.values += 1;
        match writes.sent.last() {
            Some(&previous) if previous >= value => {
                let problem = HistoryError::NotIncreasing {
                    key: key.as_ref().to_vec(),
                    previous,
                    value,
                };
                self.misuse.get_or_insert(problem);
            }
            _ => writes.sent.push(value),
        }
    }

    /// Records that the write of `value` to `key` was acknowledged.
    pub fn acked(&mut self, key: impl AsRef<[u8]>, value: u64) {
        let key = key.as_ref();
        match self.keys.get_mut(key) {
            Some(writes) if writes.sent.binary_search(&value).is_ok() => {
                writes.acked = writes.acked.max(Some(value));
            }
            _ => {
                let problem = HistoryError::AckedNotSent {
                    key: key.to_vec(),
                    value,
                };
                self.misuse.get_or_insert(problem);
            }
        }
    }

    /// Checks one read per key after a restart: `(key, value)` pairs, the
    /// value as the server returned it (`None`: the key is absent). Every
    /// key with an acknowledged write must be among them.
    pub fn check<K, V>(
        &self,
        reads: impl IntoIterator<Item = (K, Option<V>)>,
    ) -> Result<AckedReport, HistoryError>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if let Some(misuse) = &self.misuse {
            return Err(misuse.clone());
        }
        if self.values > crate::HISTORY_OPS_MAX {
            return Err(HistoryError::TooManyOps {
                ops: self.values,
                max: crate::HISTORY_OPS_MAX,
            });
        }
        let reads: BTreeMap<Vec<u8>, Option<Vec<u8>>> = reads
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_vec(), v.map(|v| v.as_ref().to_vec())))
            .collect();
        if let Some((key, _)) = self
            .keys
            .iter()
            .find(|(key, writes)| writes.acked.is_some() && !reads.contains_key(*key))
        {
            return Err(HistoryError::NoFinalRead { key: key.clone() });
        }
        let mut report = AckedReport {
            keys: reads.len(),
            acked_keys: self.keys.values().filter(|w| w.acked.is_some()).count(),
            ..AckedReport::default()
        };
        let nothing_sent = KeyWrites::default();
        for (key, found) in reads {
            let writes = self.keys.get(&key).unwrap_or(&nothing_sent);
            judge(key, found, writes, &mut report);
        }
        Ok(report)
    }
}

/// One key's read against its writes.
fn judge(key: Vec<u8>, found: Option<Vec<u8>>, writes: &KeyWrites, report: &mut AckedReport) {
    let value = match &found {
        None => None,
        Some(bytes) => {
            let parsed = std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .filter(|v| writes.sent.binary_search(v).is_ok());
            match parsed {
                Some(value) => Some(value),
                None => {
                    report.violations.push(AckedViolation::NeverWritten {
                        key,
                        found: bytes.clone(),
                    });
                    return;
                }
            }
        }
    };
    match writes.acked {
        Some(acked) if value.is_none_or(|v| v < acked) => {
            report.violations.push(AckedViolation::Lost {
                key,
                acked,
                found: value,
            });
        }
        acked if value.is_some() && value > acked => report.unacked_survivors += 1,
        _ => {}
    }
}
