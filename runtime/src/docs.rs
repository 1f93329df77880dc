//! `COMMAND DOCS`'s argument lists, in Redis 7's shape (`name`, `type`,
//! `token`, `flags` optional/multiple, nested `arguments`), from which
//! `redis-cli` builds its hints and its `help <command>` text.
//!
//! They live here, not in the state crate's catalogue: only this reply
//! reads them, while the catalogue is the table every command is looked up
//! in and the deterministic core's contract. A command not listed here
//! answers its docs without `arguments`, which redis-cli shows as no hint.

use pinwheel_state::{Cmd, Reply};

/// What one argument is, as Redis's `type` names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ArgType {
    Key,
    String,
    Integer,
    Double,
    Pattern,
    UnixTime,
    /// A bare keyword (`NX`); its `token` is the word.
    PureToken,
    /// One of the nested arguments.
    OneOf(&'static [Arg]),
    /// All of the nested arguments, in order.
    Block(&'static [Arg]),
}

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    /// The keyword written before the value (`EX seconds`), if any.
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
}

const fn arg(name: &'static str, kind: ArgType) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
    }
}

impl Arg {
    const fn opt(self) -> Arg {
        Arg {
            optional: true,
            ..self
        }
    }

    const fn many(self) -> Arg {
        Arg {
            multiple: true,
            ..self
        }
    }

    const fn token(self, token: &'static str) -> Arg {
        Arg {
            token: Some(token),
            ..self
        }
    }
}

const fn key(name: &'static str) -> Arg {
    arg(name, ArgType::Key)
}
const fn string(name: &'static str) -> Arg {
    arg(name, ArgType::String)
}
const fn integer(name: &'static str) -> Arg {
    arg(name, ArgType::Integer)
}
const fn unix_time(name: &'static str) -> Arg {
    arg(name, ArgType::UnixTime)
}
const fn pure(name: &'static str, token: &'static str) -> Arg {
    arg(name, ArgType::PureToken).token(token)
}
const fn one_of(name: &'static str, choices: &'static [Arg]) -> Arg {
    arg(name, ArgType::OneOf(choices))
}

const KEY: &[Arg] = &[key("key")];
const KEYS: &[Arg] = &[key("key").many()];
const KEY_VALUE: &[Arg] = &[key("key"), string("value")];
const PAIRS: &[Arg] = &[arg("data", ArgType::Block(KEY_VALUE)).many()];
const FLUSH: &[Arg] = &[one_of(
    "flush-type",
    &[pure("async", "ASYNC"), pure("sync", "SYNC")],
)
.opt()];
const EXPIRE_CONDITION: Arg = one_of(
    "condition",
    &[
        pure("nx", "NX"),
        pure("xx", "XX"),
        pure("gt", "GT"),
        pure("lt", "LT"),
    ],
)
.opt();
const SET: &[Arg] = &[
    key("key"),
    string("value"),
    one_of(
        "condition",
        &[
            pure("nx", "NX"),
            pure("xx", "XX"),
            string("comparison-value").token("IFEQ"),
        ],
    )
    .opt(),
    pure("get", "GET").opt(),
    one_of(
        "expiration",
        &[
            integer("seconds").token("EX"),
            integer("milliseconds").token("PX"),
            unix_time("unix-time-seconds").token("EXAT"),
            unix_time("unix-time-milliseconds").token("PXAT"),
            pure("keepttl", "KEEPTTL"),
        ],
    )
    .opt(),
];
const GETEX: &[Arg] = &[
    key("key"),
    one_of(
        "expiration",
        &[
            integer("seconds").token("EX"),
            integer("milliseconds").token("PX"),
            unix_time("unix-time-seconds").token("EXAT"),
            unix_time("unix-time-milliseconds").token("PXAT"),
            pure("persist", "PERSIST"),
        ],
    )
    .opt(),
];
const SCAN: &[Arg] = &[
    integer("cursor"),
    arg("pattern", ArgType::Pattern).token("MATCH").opt(),
    integer("count").token("COUNT").opt(),
    string("type").token("TYPE").opt(),
];
const HELLO: &[Arg] = &[arg(
    "arguments",
    ArgType::Block(&[
        integer("protover"),
        arg(
            "auth",
            ArgType::Block(&[string("username"), string("password")]),
        )
        .token("AUTH")
        .opt(),
        string("clientname").token("SETNAME").opt(),
    ]),
)
.opt()];
const LOCK_ACQUIRE: &[Arg] = &[
    key("name"),
    string("owner"),
    integer("ttl_ms"),
    integer("ms").token("WAIT").opt(),
];

/// The arguments of `cmd`, when they are documented.
pub(crate) fn arguments(cmd: Cmd) -> Option<&'static [Arg]> {
    Some(match cmd {
        Cmd::Ping => const { &[string("message").opt()] },
        Cmd::Echo => const { &[string("message")] },
        Cmd::Hello => HELLO,
        Cmd::Select => const { &[integer("index")] },
        Cmd::Info => const { &[string("section").opt().many()] },
        Cmd::Flushall | Cmd::Flushdb => FLUSH,
        Cmd::Keys => const { &[arg("pattern", ArgType::Pattern)] },
        Cmd::Scan => SCAN,
        Cmd::Get | Cmd::Getdel | Cmd::Type | Cmd::Incr | Cmd::Decr | Cmd::Strlen => KEY,
        Cmd::Ttl | Cmd::Pttl | Cmd::Persist | Cmd::Expiretime | Cmd::Pexpiretime => KEY,
        Cmd::Set => SET,
        Cmd::Setnx | Cmd::Getset | Cmd::Append => KEY_VALUE,
        Cmd::Setex => const { &[key("key"), integer("seconds"), string("value")] },
        Cmd::Psetex => const { &[key("key"), integer("milliseconds"), string("value")] },
        Cmd::Getex => GETEX,
        Cmd::Mget | Cmd::Del | Cmd::Unlink | Cmd::Exists => KEYS,
        Cmd::Mset | Cmd::Msetnx => PAIRS,
        Cmd::Incrby => const { &[key("key"), integer("increment")] },
        Cmd::Decrby => const { &[key("key"), integer("decrement")] },
        Cmd::Incrbyfloat => const { &[key("key"), arg("increment", ArgType::Double)] },
        Cmd::Getrange => const { &[key("key"), integer("start"), integer("end")] },
        Cmd::Setrange => const { &[key("key"), integer("offset"), string("value")] },
        Cmd::Expire => const { &[key("key"), integer("seconds"), EXPIRE_CONDITION] },
        Cmd::Pexpire => const { &[key("key"), integer("milliseconds"), EXPIRE_CONDITION] },
        Cmd::Expireat => const { &[key("key"), unix_time("unix-time-seconds"), EXPIRE_CONDITION] },
        Cmd::Pexpireat => {
            const {
                &[
                    key("key"),
                    unix_time("unix-time-milliseconds"),
                    EXPIRE_CONDITION,
                ]
            }
        }
        Cmd::Delifeq => const { &[key("key"), string("value")] },
        Cmd::LockAcquire => LOCK_ACQUIRE,
        Cmd::LockRelease => const { &[key("name"), integer("token")] },
        Cmd::LockRenew => const { &[key("name"), integer("token"), integer("ttl_ms")] },
        Cmd::LockInfo => const { &[key("name")] },
        Cmd::Quit | Cmd::Time | Cmd::Dbsize | Cmd::Randomkey => const { &[] },
        _ => return None,
    })
}

fn text(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// One argument as `COMMAND DOCS` shows it: a map of its fields.
pub(crate) fn argument_reply(arg: &Arg) -> Reply {
    let kind = match arg.kind {
        ArgType::Key => "key",
        ArgType::String => "string",
        ArgType::Integer => "integer",
        ArgType::Double => "double",
        ArgType::Pattern => "pattern",
        ArgType::UnixTime => "unix-time",
        ArgType::PureToken => "pure-token",
        ArgType::OneOf(_) => "oneof",
        ArgType::Block(_) => "block",
    };
    let mut fields = vec![(text("name"), text(arg.name)), (text("type"), text(kind))];
    if let Some(token) = arg.token {
        fields.push((text("token"), text(token)));
    }
    let flags: Vec<Reply> = [(arg.optional, "optional"), (arg.multiple, "multiple")]
        .into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, flag)| Reply::Status(flag.into()))
        .collect();
    if !flags.is_empty() {
        fields.push((text("flags"), Reply::Array(flags)));
    }
    if let ArgType::OneOf(nested) | ArgType::Block(nested) = arg.kind {
        let nested = nested.iter().map(argument_reply).collect();
        fields.push((text("arguments"), Reply::Array(nested)));
    }
    Reply::Map(fields)
}

/// The argument line Redis's docs (and redis-cli) print for `args`:
/// `key value [NX | XX] [EX seconds]`-like, for tests and the arity check.
#[cfg(test)]
fn synopsis(args: &[Arg]) -> String {
    args.iter().map(one_synopsis).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
fn one_synopsis(arg: &Arg) -> String {
    let body = match arg.kind {
        ArgType::PureToken => String::new(),
        ArgType::OneOf(nested) => nested
            .iter()
            .map(one_synopsis)
            .collect::<Vec<_>>()
            .join("|"),
        ArgType::Block(nested) => synopsis(nested),
        _ => arg.name.to_string(),
    };
    let head = match (arg.token, body.is_empty()) {
        (Some(token), true) => token.to_string(),
        (Some(token), false) => format!("{token} {body}"),
        (None, _) => body,
    };
    let head = if arg.multiple {
        format!("{head} [{head} ...]")
    } else {
        head
    };
    if arg.optional {
        format!("[{head}]")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pinwheel_state::{Kind, COMMANDS};

    /// Fewest words `args` can take, and whether more may follow.
    fn words(args: &[Arg]) -> (usize, bool) {
        let mut least = 0;
        let mut open = false;
        for arg in args {
            let (inner, inner_open) = match arg.kind {
                ArgType::Block(nested) => words(nested),
                ArgType::OneOf(nested) => {
                    let each: Vec<_> = nested
                        .iter()
                        .map(|a| words(std::slice::from_ref(a)))
                        .collect();
                    let least = each.iter().map(|w| w.0).min().unwrap_or(0);
                    (
                        least,
                        each.iter().any(|w| w.1) || each.iter().any(|w| w.0 != least),
                    )
                }
                ArgType::PureToken => (0, false),
                _ => (1, false),
            };
            let inner = inner
                + usize::from(arg.token.is_some() && !matches!(arg.kind, ArgType::PureToken))
                + usize::from(matches!(arg.kind, ArgType::PureToken));
            if !arg.optional {
                least += inner;
            }
            open |= arg.optional || arg.multiple || inner_open;
        }
        (least, open)
    }

    #[test]
    fn documented_arguments_agree_with_the_arity() {
        for spec in COMMANDS.iter().filter(|s| s.kind != Kind::Internal) {
            let Some(args) = arguments(spec.cmd) else {
                continue;
            };
            let (least, open) = words(args);
            let shown = format!("{}: {}", spec.name, synopsis(args));
            assert_eq!(spec.arity.unsigned_abs() as usize, least + 1, "{shown}");
            // A fixed arity allows no optional words; an open one may have
            // none (QUIT is -1 in Redis too).
            assert!(spec.arity < 0 || !open, "{shown}");
        }
    }

    #[test]
    fn locks_and_set_are_documented_as_redis_cli_shows_them() {
        assert_eq!(
            synopsis(arguments(Cmd::LockAcquire).unwrap()),
            "name owner ttl_ms [WAIT ms]"
        );
        assert_eq!(
            synopsis(arguments(Cmd::LockRenew).unwrap()),
            "name token ttl_ms"
        );
        assert_eq!(
            synopsis(arguments(Cmd::Set).unwrap()),
            "key value [NX|XX|IFEQ comparison-value] [GET] \
             [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"
        );
        assert_eq!(
            synopsis(arguments(Cmd::Mset).unwrap()),
            "key value [key value ...]"
        );
    }
}
