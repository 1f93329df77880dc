//! Protocol limits: what one connection may send and leave unanswered.

/// Redis's own defaults where Redis has one, so clients behave alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolLimits {
    /// Longest bulk string (one argument), in bytes. Redis calls it
    /// `proto-max-bulk-len`. Default 64 MiB.
    pub bulk_max_bytes: usize,
    /// Most arguments in one command, the name included. Default 1,048,576.
    pub args_max: usize,
    /// Longest inline (telnet-style) command line, in bytes. Default 64 KiB,
    /// as in Redis.
    pub inline_max_bytes: usize,
    /// Most bytes one command may occupy while it is being received,
    /// headers included (Redis's `client-query-buffer-limit`). Default 1 GiB.
    pub command_max_bytes: usize,
    /// Most reply bytes a connection may hold unanswered; a command whose
    /// reply would exceed it gets an error and the connection is closed.
    /// Default 256 MiB.
    pub reply_buffer_max_bytes: usize,
}

/// Default `bulk_max_bytes`: 64 MiB.
pub const BULK_MAX_BYTES_DEFAULT: usize = 64 * 1024 * 1024;
/// Default `args_max`.
pub const ARGS_MAX_DEFAULT: usize = 1024 * 1024;
/// Default `inline_max_bytes`: 64 KiB, Redis's `PROTO_INLINE_MAX_SIZE`.
pub const INLINE_MAX_BYTES_DEFAULT: usize = 64 * 1024;
/// Default `command_max_bytes`: 1 GiB, Redis's `client-query-buffer-limit`.
pub const COMMAND_MAX_BYTES_DEFAULT: usize = 1024 * 1024 * 1024;
/// Default `reply_buffer_max_bytes`: 256 MiB.
pub const REPLY_BUFFER_MAX_BYTES_DEFAULT: usize = 256 * 1024 * 1024;

impl Default for ProtocolLimits {
    fn default() -> Self {
        ProtocolLimits {
            bulk_max_bytes: BULK_MAX_BYTES_DEFAULT,
            args_max: ARGS_MAX_DEFAULT,
            inline_max_bytes: INLINE_MAX_BYTES_DEFAULT,
            command_max_bytes: COMMAND_MAX_BYTES_DEFAULT,
            reply_buffer_max_bytes: REPLY_BUFFER_MAX_BYTES_DEFAULT,
        }
    }
}
