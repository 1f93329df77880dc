//! Recording a history: one record per operation, invoked and then (maybe)
//! returned, as a test's clients saw it.

use crate::error::HistoryError;
use crate::reply::Reply;

/// Which operation of a history: its index in [`History::records`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub usize);

impl OpId {
    /// The index in [`History::records`].
    pub fn index(self) -> usize {
        self.0
    }
}

/// The end of an operation the client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returned {
    /// When the reply arrived, on the history's clock.
    pub at_ns: u64,
    /// The reply.
    pub reply: Reply,
}

/// One operation: who sent which command on which key when, and what came
/// back if anything did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<C> {
    /// The client (connection or thread) that sent it; only shown in
    /// reports, never assumed to run one command at a time.
    pub client: u64,
    /// The key, or for a lock history the lock's name.
    pub key: Vec<u8>,
    /// The command.
    pub command: C,
    /// When the client was about to send it (taken before the send).
    pub invoked_ns: u64,
    /// The reply and when it arrived (taken after the receive), or `None`
    /// when the outcome is unknown: the client timed out, the connection
    /// died, the server was killed. Such an operation may or may not have
    /// taken effect, at any moment after it was invoked.
    pub returned: Option<Returned>,
}

/// A recorded history. Times are nanoseconds on one monotonic clock of the
/// test process (any origin). `C` is [`crate::Command`] for key-value
/// histories and [`crate::LockCommand`] for lock histories.
///
/// Record from several threads by wrapping it in a mutex, or keep one per
/// client and [`History::extend`] them into one at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History<C> {
    records: Vec<Record<C>>,
    restarts_ns: Vec<u64>,
    /// The first misuse of the recording API, reported by the checkers.
    misuse: Option<HistoryError>,
}

impl<C> Default for History<C> {
    fn default() -> Self {
        History {
            records: Vec::new(),
            restarts_ns: Vec::new(),
            misuse: None,
        }
    }
}

impl<C> History<C> {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Records that `client` is about to send `command` on `key`; the
    /// operation stays of unknown outcome until [`History::returned`].
    pub fn invoke(&mut self, client: u64, key: impl AsRef<[u8]>, command: C, at_ns: u64) -> OpId {
        self.records.push(Record {
            client,
            key: key.as_ref().to_vec(),
            command,
            invoked_ns: at_ns,
            returned: None,
        });
        OpId(self.records.len() - 1)
    }

    /// Records the reply to `op`. Calling it twice, or with an id this
    /// history did not hand out, makes the checkers refuse the history.
    pub fn returned(&mut self, op: OpId, at_ns: u64, reply: Reply) {
        let problem = match self.records.get_mut(op.0) {
            None => Some(HistoryError::NoSuchOp { op: op.0 }),
            Some(record) if record.returned.is_some() => {
                Some(HistoryError::ReturnedTwice { op: op.0 })
            }
            Some(record) => {
                record.returned = Some(Returned { at_ns, reply });
                None
            }
        };
        if self.misuse.is_none() {
            self.misuse = problem;
        }
    }

    /// Records a whole operation that returned.
    pub fn record(
        &mut self,
        client: u64,
        key: impl AsRef<[u8]>,
        command: C,
        invoked_ns: u64,
        returned_ns: u64,
        reply: Reply,
    ) -> OpId {
        let op = self.invoke(client, key, command, invoked_ns);
        self.returned(op, returned_ns, reply);
        op
    }

    /// Records a whole operation whose outcome is unknown.
    pub fn record_unknown(
        &mut self,
        client: u64,
        key: impl AsRef<[u8]>,
        command: C,
        invoked_ns: u64,
    ) -> OpId {
        self.invoke(client, key, command, invoked_ns)
    }

    /// Marks that the server (a node, or the whole cluster) was restarted:
    /// `at_ns` lies after every reply from before the restart and before
    /// every operation sent to the restarted server. The lock checker
    /// requires tokens to grow across it; reports show it.
    pub fn restart(&mut self, at_ns: u64) {
        self.restarts_ns.push(at_ns);
    }

    /// Appends another history (another client's); its operation ids
    /// shift by this history's length.
    pub fn extend(&mut self, other: History<C>) {
        let shift = self.records.len();
        if self.misuse.is_none() {
            self.misuse = other.misuse.map(|misuse| shift_op(misuse, shift));
        }
        self.records.extend(other.records);
        self.restarts_ns.extend(other.restarts_ns);
    }

    /// Every operation, in the order recorded.
    pub fn records(&self) -> &[Record<C>] {
        &self.records
    }

    /// The restart marks, in the order given.
    pub fn restarts_ns(&self) -> &[u64] {
        &self.restarts_ns
    }

    /// Operations recorded.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The checks every checker makes first: the recording API was used
    /// right, the history is within [`crate::HISTORY_OPS_MAX`], and no
    /// operation returned before it was invoked.
    pub(crate) fn validate(&self) -> Result<(), HistoryError> {
        if let Some(misuse) = &self.misuse {
            return Err(misuse.clone());
        }
        if self.records.len() > crate::HISTORY_OPS_MAX {
            return Err(HistoryError::TooManyOps {
                ops: self.records.len(),
                max: crate::HISTORY_OPS_MAX,
            });
        }
        for (index, record) in self.records.iter().enumerate() {
            if let Some(returned) = &record.returned {
                if returned.at_ns < record.invoked_ns {
                    return Err(HistoryError::ReturnedBeforeInvoked {
                        op: index,
                        invoked_ns: record.invoked_ns,
                        returned_ns: returned.at_ns,
                    });
                }
            }
        }
        Ok(())
    }
}

fn shift_op(misuse: HistoryError, shift: usize) -> HistoryError {
    match misuse {
        HistoryError::ReturnedTwice { op } => HistoryError::ReturnedTwice { op: op + shift },
        HistoryError::NoSuchOp { op } => HistoryError::NoSuchOp { op: op + shift },
        other => other,
    }
}
