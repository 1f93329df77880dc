//! The `HELP` subcommands' texts, in Redis 7's shape: an array of status
//! lines, a header naming the command first and `HELP` itself last.

use pinwheel_state::Reply;

/// `COMMAND HELP`.
pub(crate) const COMMAND: &[&str] = &[
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands.",
    "DOCS [<command-name> ...]",
    "    Return documentary information about commands, with their arguments.",
    "    By default, the reply includes all of the server's commands.",
    "INFO [<command-name> ...]",
    "    Return details about the given commands, or all when none is given.",
    "LIST",
    "    Return a list of all commands.",
];

/// `CONFIG HELP`.
pub(crate) const CONFIG: &[&str] = &[
    "GET <pattern> [<pattern> ...]",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value> [<directive> <value> ...]",
    "    Set the configuration <directive> to <value>. Only maxclients",
    "    (max-connections) changes at run time; save \"\" and appendonly no",
    "    are accepted; the rest are fixed at start.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command and the latency histograms.",
];

/// `CLIENT HELP`.
pub(crate) const CLIENT: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * ID <client-id>",
    "      Kill the connection with that ID.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST",
    "    Return information about client connections.",
    "NO-EVICT (ON|OFF)",
    "    Accepted for compatibility; a no-op: Pinwheel never evicts clients.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
];

/// `LATENCY HELP`.
pub(crate) const LATENCY: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "DUMP [<command> ...]",
    "    Return each command's HDR histogram (nanoseconds) in the V2 format,",
    "    base64-encoded.",
    "HISTOGRAM [<command> ...]",
    "    Return a cumulative distribution of latencies in the format of a",
    "    histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "LATEST",
    "    Return the latest latency samples (calls of 1 ms or more) for all",
    "    commands.",
    "RESET [<command> ...]",
    "    Reset latency data of one or more commands.",
    "    (default: reset all data for all commands)",
];

/// The reply to `<command> HELP`: the header, `lines`, then `HELP`.
pub(crate) fn reply(command: &str, lines: &[&'static str]) -> Reply {
    let header = format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    let mut items = Vec::with_capacity(lines.len() + 3);
    items.push(Reply::Status(header.into()));
    items.extend(lines.iter().map(|line| Reply::Status((*line).into())));
    items.push(Reply::Status("HELP".into()));
    items.push(Reply::Status("    Prints this help.".into()));
    Reply::Array(items)
}
