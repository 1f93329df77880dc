//! `CLIENT KILL`, `CLIENT REPLY` and `CLIENT NO-EVICT`.

use std::rc::Rc;

use pinwheel_net::resp::parse_int;
use pinwheel_state::Reply;

use crate::core::CoreCtx;
use crate::session::{ClientRecord, SessionState};

/// Which connections a `CLIENT KILL` names; every given filter must hold.
#[derive(Debug, Clone, Default)]
struct KillFilter {
    addr: Option<String>,
    laddr: Option<String>,
    id: Option<u64>,
    /// `TYPE`: true for `normal` (every client here), false for a type no
    /// client here has (`master`, `replica`, `pubsub`).
    normal: Option<bool>,
    skip_me: bool,
    /// `CLIENT KILL ip:port`, Redis's first form: answered OK or an error
    /// instead of a count, and it may kill the caller.
    old_form: bool,
}

impl KillFilter {
    fn matches(&self, record: &ClientRecord) -> bool {
        let shown = |addr: Option<std::net::SocketAddr>| addr.map(|a| a.to_string());
        self.addr
            .as_ref()
            .is_none_or(|a| shown(record.peer).as_ref() == Some(a))
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| shown(record.local).as_ref() == Some(a))
            && self.id.is_none_or(|id| id == record.id)
            && self.normal != Some(false)
    }
}

/// Redis 7's two forms: `CLIENT KILL ip:port`, or pairs of `ID id`,
/// `ADDR ip:port`, `LADDR ip:port`, `TYPE type`, `USER name`, `SKIPME
/// yes|no`. With no users configured, `USER default` names everyone and
/// any other user does not exist.
fn parse_kill(args: &[&[u8]]) -> Result<KillFilter, Reply> {
    if let [addr] = args {
        return Ok(KillFilter {
            addr: Some(String::from_utf8_lossy(addr).into_owned()),
            old_form: true,
            ..KillFilter::default()
        });
    }
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    for pair in args.chunks(2) {
        let [option, value] = pair else {
            return Err(Reply::err("ERR syntax error"));
        };
        let text = || String::from_utf8_lossy(value).into_owned();
        match option.to_ascii_lowercase().as_slice() {
            b"id" => match parse_int(value) {
                Some(id) if id > 0 => filter.id = Some(id as u64),
                _ => return Err(Reply::err("ERR client-id should be greater than 0")),
            },
            b"addr" => filter.addr = Some(text()),
            b"laddr" => filter.laddr = Some(text()),
            b"type" => filter.normal = Some(client_type(value)?),
            b"user" if value.eq_ignore_ascii_case(b"default") => {}
            b"user" => {
                return Err(Reply::error(format!(
                    "ERR No such user '{}'",
                    crate::exec::printable(value, 128)
                )))
            }
            b"skipme" if value.eq_ignore_ascii_case(b"yes") => filter.skip_me = true,
            b"skipme" if value.eq_ignore_ascii_case(b"no") => filter.skip_me = false,
            _ => return Err(Reply::err("ERR syntax error")),
        }
    }
    Ok(filter)
}

/// True for `normal`, false for the types Redis knows that no client here
/// has; an error for any other.
fn client_type(name: &[u8]) -> Result<bool, Reply> {
    match name.to_ascii_lowercase().as_slice() {
        b"normal" => Ok(true),
        b"master" | b"replica" | b"slave" | b"pubsub" => Ok(false),
        _ => Err(Reply::error(format!(
            "ERR Unknown client type '{}'",
            crate::exec::printable(name, 128)
        ))),
    }
}

/// `CLIENT KILL`: every core closes its matching connections (their
/// tasks are dropped on their own core, which closes the socket and
/// cancels a lock wait); the caller, if it matches and may be killed,
/// gets its answer first and then closes. Answers the count, or OK / `No
/// such client` in the old form. A connection on its way to another core
/// at that moment is in neither core's list and is missed.
pub(crate) async fn kill(ctx: &Rc<CoreCtx>, session: &mut SessionState, args: &[&[u8]]) -> Reply {
    let filter = match parse_kill(args) {
        Ok(filter) => filter,
        Err(error) => return error,
    };
    let me = session.id;
    let others = filter.clone();
    let killed = ctx
        .on_all_cores(move |c| {
            let victims: Vec<_> = c
                .clients
                .borrow()
                .values()
                .filter(|client| client.record.id != me && others.matches(&client.record))
                .map(|client| client.kill.clone())
                .collect();
            victims.iter().for_each(|kill| kill.fire());
            victims.len()
        })
        .await;
    let mut count: usize = match killed {
        Ok(counts) => counts.into_iter().sum(),
        Err(error) => return error,
    };
    // The old form has no SKIPME: a client may kill itself with it.
    let kill_me = (filter.old_form || !filter.skip_me)
        && session
            .record()
            .is_some_and(|record| filter.matches(record));
    if kill_me {
        session.quit = true;
        count += 1;
    }
    match (filter.old_form, count) {
        (false, count) => Reply::Int(count as i64),
        (true, 0) => Reply::err("ERR No such client"),
        (true, _) => Reply::Ok,
    }
}

/// `CLIENT REPLY ON|OFF|SKIP`, as Redis: OFF answers nothing and silences
/// every reply until ON; SKIP answers nothing and silences the next
/// command's reply (not while OFF); ON answers OK and ends both.
pub(crate) fn reply_mode(session: &mut SessionState, mode: &[u8]) -> Reply {
    if !session.is_connection() {
        return Reply::err("ERR CLIENT REPLY needs a client connection");
    }
    match mode.to_ascii_lowercase().as_slice() {
        b"on" => {
            session.replies_off = false;
            session.skip_next = false;
            session.skip_this = false;
        }
        b"off" => session.replies_off = true,
        b"skip" if !session.replies_off => session.skip_next = true,
        b"skip" => {}
        _ => return Reply::err("ERR syntax error"),
    }
    Reply::Ok
}

/// `CLIENT NO-EVICT ON|OFF`: accepted, and changes nothing, because
/// Pinwheel never evicts a client (it has no `maxmemory-clients`).
pub(crate) fn no_evict(value: &[u8]) -> Reply {
    if value.eq_ignore_ascii_case(b"on") || value.eq_ignore_ascii_case(b"off") {
        Reply::Ok
    } else {
        Reply::err("ERR syntax error")
    }
}
