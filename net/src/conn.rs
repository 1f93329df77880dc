//! The client connection loop: read, parse every complete command, let the
//! handler answer each in order, write the replies in one go.

use std::future::Future;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::resp::{Args, Parser, RespWriter};
use crate::{Handoff, ProtocolLimits, Shutdown};

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Send the replies so far, then close (`QUIT`).
    Close,
}

/// Answers the commands of one connection. The runtime implements it; the
/// network layer never knows what a command means.
pub trait Handler {
    /// Answers one command by writing its reply to `out`.
    fn call<'a>(
        &'a mut self,
        args: Args<'a>,
        out: &'a mut RespWriter,
    ) -> impl Future<Output = Flow> + 'a;

    /// True when `args` may wait a long time for its answer (a lock wait).
    /// While it waits, the connection is watched for hang-up; if the client
    /// goes, the command's future is dropped, which is how the handler
    /// learns to cancel it.
    fn may_block(&self, _args: &Args<'_>) -> bool {
        false
    }

    /// The client broke the protocol or a limit; the connection closes.
    fn protocol_error(&mut self) {}

    /// The connection waited (for input, or for its client to take
    /// output); the commands that follow start now. A handler that times
    /// commands chains one command's end to the next one's start between
    /// these calls, and reads the clock afresh after one.
    fn resumed(&mut self) {}

    /// Offers a command to answer later, in order, together with the other
    /// commands of the same input. A handler takes a command it can run
    /// without waiting on its own (it answers it at once, or sends it on
    /// with the others bound for the same place), copying what it needs:
    /// the input it came from is consumed. Whatever it took runs before any
    /// command it is later given through [`Handler::call`]. The default
    /// takes nothing, so every command goes through `call`.
    fn queue(&mut self, _args: &Args<'_>) -> Queued {
        Queued::Declined
    }

    /// Waits until every queued command has its answer.
    fn settle(&mut self) -> impl Future<Output = ()> + '_ {
        std::future::ready(())
    }

    /// Writes the oldest settled answer to `out`; false when none is left.
    fn write_next(&mut self, _out: &mut RespWriter) -> bool {
        false
    }

    /// Asked whenever the connection is quiet (every command answered,
    /// every reply written, no input left over): true to hand it to
    /// another core, through [`Handler::hand_off`]. The default keeps it.
    fn wants_handoff(&mut self) -> bool {
        false
    }

    /// The handoff [`Handler::wants_handoff`] asked for could not be made
    /// (duplicating the socket failed, for example because no descriptor
    /// was free): the connection stays on this core and is served on. It
    /// is asked again only after its next input, and a handler may wait
    /// longer before it wants another try.
    fn handoff_failed(&mut self) {}

    /// A signal that closes the connection from outside its loop (`CLIENT
    /// KILL` from another connection). When it fires, whatever the
    /// connection is doing is dropped on its own core, as if its client
    /// had hung up: a command waiting for its answer is abandoned (its
    /// future dropped), replies not yet written are lost, and the socket
    /// closes. Asked once, when the connection starts being served here.
    /// The default never fires.
    fn kill_signal(&self) -> Shutdown {
        Shutdown::new()
    }

    /// Takes the connection to wherever [`Handler::wants_handoff`] chose.
    /// The default drops it, which closes it; a handler that ever wants a
    /// handoff implements this.
    fn hand_off(self, connection: Handoff) -> impl Future<Output = ()>
    where
        Self: Sized,
    {
        drop(connection);
        std::future::ready(())
    }
}

/// What [`Handler::queue`] did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Taken; its answer comes from [`Handler::write_next`].
    Taken,
    /// Not while other commands are queued (it goes elsewhere, or the
    /// queue is full): answer those first, then offer it again.
    AfterAnswers,
    /// Never: answer the queued commands, then [`Handler::call`] it.
    Declined,
}

/// Bytes asked of the socket per read; also the read buffer's resting size.
pub const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Replies are sent once this many bytes have built up, even mid-batch, so
/// a long pipeline streams its answers instead of holding them all.
pub const REPLY_FLUSH_BYTES: usize = 64 * 1024;
/// Output capacity kept between batches.
const REPLY_RETAINED_MAX_BYTES: usize = 256 * 1024;

/// Why a connection ended here; for logs and statistics.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client closed its side.
    ClientClosed,
    /// The client asked (`QUIT`).
    Quit,
    /// The client broke the protocol or a limit; it got an error first.
    ProtocolError,
    /// The server is shutting down.
    Shutdown,
    /// Reading or writing failed (reset by peer, for example).
    Io,
    /// The handler asked for the connection to be handed off: it is quiet,
    /// and its socket is the caller's to pass on.
    HandedOff,
}

/// Serves one client until it leaves, breaks the protocol, the server
/// shuts down, or the handler wants it handed off. Commands already
/// received when shutdown fires are answered.
pub async fn serve_connection<H: Handler>(
    stream: &mut TcpStream,
    handler: &mut H,
    limits: ProtocolLimits,
    shutdown: &Shutdown,
) -> Ending {
    let mut input = InputBuffer::new();
    let mut parser = Parser::new(limits);
    let mut out = RespWriter::new();
    // A handoff is considered only after this call has read something, so
    // a connection served again after a handoff that failed reads on
    // instead of asking again at once.
    let mut has_read = false;
    loop {
        if let Some(ending) =
            answer_buffered(&mut input, &mut parser, handler, &mut out, stream, &limits).await
        {
            let _ = flush(stream, &mut out).await;
            return ending;
        }
        if flush(stream, &mut out).await.is_err() {
            return Ending::Io;
        }
        input.compact();
        if has_read && input.is_empty() && !shutdown.has_fired() && handler.wants_handoff() {
            return Ending::HandedOff;
        }
        let read = read_or_shutdown(&mut input, stream, shutdown).await;
        match read {
            None => return Ending::Shutdown,
            Some(Ok(0)) => return Ending::ClientClosed,
            Some(Ok(_)) => {
                has_read = true;
                handler.resumed();
            }
            Some(Err(_)) => return Ending::Io,
        }
    }
}

/// After shutdown fires, a connection still reads what its client already
/// sent, until the client has been quiet this long: commands in flight are
/// answered, not dropped.
const SHUTDOWN_QUIET: std::time::Duration = std::time::Duration::from_millis(100);

/// Reads more input; `None` when the connection should end for shutdown.
async fn read_or_shutdown(
    input: &mut InputBuffer,
    stream: &mut TcpStream,
    shutdown: &Shutdown,
) -> Option<std::io::Result<usize>> {
    if !shutdown.has_fired() {
        let read = futures_lite::future::or(async { Some(input.read_from(stream).await) }, async {
            shutdown.wait().await;
            None
        })
        .await;
        if read.is_some() {
            return read;
        }
    }
    futures_lite::future::or(async { Some(input.read_from(stream).await) }, async {
        glommio::timer::sleep(SHUTDOWN_QUIET).await;
        None
    })
    .await
}

/// Answers every complete command in the buffer. Returns how the connection
/// ends if it must, after writing the error that explains it.
async fn answer_buffered<H: Handler>(
    input: &mut InputBuffer,
    parser: &mut Parser,
    handler: &mut H,
    out: &mut RespWriter,
    stream: &mut TcpStream,
    limits: &ProtocolLimits,
) -> Option<Ending> {
    loop {
        let pending = input.pending();
        let length = match parser.parse(pending) {
            Ok(Some(length)) => length,
            Ok(None) => return answer_queued(handler, out, stream, limits).await.err(),
            Err(error) => {
                if let Err(ending) = answer_queued(handler, out, stream, limits).await {
                    return Some(ending);
                }
                out.error(&format!("ERR {error}"));
                handler.protocol_error();
                return Some(Ending::ProtocolError);
            }
        };
        let args = parser.args(&pending[..length]);
        // An empty command (a blank inline line) is skipped.
        let taken = args.is_empty()
            || match queue(handler, &args, out, stream, limits).await {
                Ok(taken) => taken,
                Err(ending) => return Some(ending),
            };
        if !taken {
            let before = out.len();
            let flow = if handler.may_block(&args) {
                match call_watching_hangup(handler, args, out, stream).await {
                    Some(flow) => flow,
                    None => return Some(Ending::ClientClosed),
                }
            } else {
                handler.call(args, out).await
            };
            if let Some(ending) = check_reply_limit(handler, out, before, limits) {
                return Some(ending);
            }
            if flow == Flow::Close {
                return Some(Ending::Quit);
            }
        }
        input.consume(length);
        if out.len() >= REPLY_FLUSH_BYTES && flush_midway(handler, stream, out).await.is_err() {
            return Some(Ending::Io);
        }
    }
}

/// Offers a command to the handler's queue: `Ok(true)` when it was taken,
/// `Ok(false)` when it must be called (every queued command has been
/// answered by then), `Err` when the connection must end.
async fn queue<H: Handler>(
    handler: &mut H,
    args: &Args<'_>,
    out: &mut RespWriter,
    stream: &mut TcpStream,
    limits: &ProtocolLimits,
) -> Result<bool, Ending> {
    let mut queued = handler.queue(args);
    if queued == Queued::AfterAnswers {
        answer_queued(handler, out, stream, limits).await?;
        queued = handler.queue(args);
    }
    if queued == Queued::Taken {
        return Ok(true);
    }
    answer_queued(handler, out, stream, limits).await?;
    Ok(false)
}

/// Waits for the queued commands' answers and writes them in order, each
/// held to the reply limit like a called command's.
async fn answer_queued<H: Handler>(
    handler: &mut H,
    out: &mut RespWriter,
    stream: &mut TcpStream,
    limits: &ProtocolLimits,
) -> Result<(), Ending> {
    handler.settle().await;
    loop {
        let before = out.len();
        if !handler.write_next(out) {
            return Ok(());
        }
        if let Some(ending) = check_reply_limit(handler, out, before, limits) {
            return Err(ending);
        }
        if out.len() >= REPLY_FLUSH_BYTES && flush_midway(handler, stream, out).await.is_err() {
            return Err(Ending::Io);
        }
    }
}

/// A reply that took the connection's unanswered bytes past the limit is
/// replaced by an error, and the connection ends.
fn check_reply_limit<H: Handler>(
    handler: &mut H,
    out: &mut RespWriter,
    before: usize,
    limits: &ProtocolLimits,
) -> Option<Ending> {
    if out.len() <= limits.reply_buffer_max_bytes {
        return None;
    }
    out.truncate(before);
    out.error("ERR reply exceeds the reply buffer limit (reply_buffer_max_bytes)");
    handler.protocol_error();
    Some(Ending::ProtocolError)
}

/// Runs a command that may wait long while watching the socket: `None`
/// when the client hung up first (the command's future is dropped).
/// Bytes the client pipelines meanwhile stay in the socket, unread, until
/// the command is answered; seeing them ends the watch.
async fn call_watching_hangup<H: Handler>(
    handler: &mut H,
    args: Args<'_>,
    out: &mut RespWriter,
    stream: &TcpStream,
) -> Option<Flow> {
    let call = async { Some(handler.call(args, out).await) };
    let hangup = async {
        let mut probe = [0u8; 1];
        match stream.peek(&mut probe).await {
            Ok(0) | Err(_) => None,
            Ok(_) => std::future::pending().await,
        }
    };
    futures_lite::future::or(call, hangup).await
}

/// Flushes before the input is all answered; a slow client can hold this
/// up for long, so the handler hears that the next command starts anew.
async fn flush_midway<H: Handler>(
    handler: &mut H,
    stream: &mut TcpStream,
    out: &mut RespWriter,
) -> std::io::Result<()> {
    flush(stream, out).await?;
    handler.resumed();
    Ok(())
}

async fn flush(stream: &mut TcpStream, out: &mut RespWriter) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let result = stream.write_all(out.bytes()).await;
    out.clear(REPLY_RETAINED_MAX_BYTES);
    result
}

/// The read buffer: `data[start..end]` is received but not yet consumed.
struct InputBuffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    fn new() -> InputBuffer {
        InputBuffer {
            data: vec![0; READ_CHUNK_BYTES],
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn consume(&mut self, length: usize) {
        self.start += length;
        debug_assert!(self.start <= self.end);
    }

    /// Moves the unconsumed bytes to the front, and gives back the memory a
    /// huge command needed once it is gone.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.data.len() > READ_CHUNK_BYTES {
                self.data = vec![0; READ_CHUNK_BYTES];
            }
        } else if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    async fn read_from(&mut self, stream: &mut TcpStream) -> std::io::Result<usize> {
        if self.data.len() - self.end < READ_CHUNK_BYTES {
            let grown = (self.data.len() * 2).max(self.end + READ_CHUNK_BYTES);
            self.data.resize(grown, 0);
        }
        let read = stream.read(&mut self.data[self.end..]).await?;
        self.end += read;
        Ok(read)
    }
}
