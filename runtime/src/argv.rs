//! A command's arguments in one owned allocation, for crossing cores.

use smallvec::SmallVec;

/// Arguments packed end to end, with their end offsets: two allocations
/// whatever the argument count, and cheap to move between threads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedArgv {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

/// Arguments as slices; commands of up to eight arguments need no heap.
pub type ArgSlices<'a> = SmallVec<[&'a [u8]; 8]>;

impl OwnedArgv {
    /// Copies `args`.
    pub fn new<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> OwnedArgv {
        let mut argv = OwnedArgv::default();
        for arg in args {
            argv.push(arg);
        }
        argv
    }

    /// Appends one argument.
    pub fn push(&mut self, arg: &[u8]) {
        self.bytes.extend_from_slice(arg);
        self.ends.push(self.bytes.len());
    }

    /// Bytes of all arguments together.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// How many arguments.
    #[cfg(test)]
    #[allow(clippy::len_without_is_empty)] // only tests count arguments
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The arguments as slices.
    pub fn slices(&self) -> ArgSlices<'_> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let arg = &self.bytes[start..end];
                start = end;
                arg
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_including_empty_arguments() {
        let args: [&[u8]; 4] = [b"SET", b"", b"k", b"\0v"];
        let argv = OwnedArgv::new(args);
        assert_eq!(argv.len(), 4);
        assert_eq!(argv.slices().as_slice(), &args);
    }
}
