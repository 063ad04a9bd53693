//! The crate's error type for creating, opening and removing segments.

use std::fmt;
use std::io;

/// Why a segment could not be created, opened or removed.
///
/// Each variant is one cause, with a message a person can act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The name breaks the naming rules (1–200 of `[A-Za-z0-9._-]`, not `.`/`..`,
    /// not starting with `-`).
    InvalidName {
        /// The name, escaped for printing.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `create` found the name taken.
    AlreadyExists {
        /// The segment name.
        name: String,
    },
    /// `open` found no segment of that name.
    NotFound {
        /// The segment name.
        name: String,
    },
    /// The name is a symbolic link; shmkit never follows one.
    Symlink {
        /// The segment name.
        name: String,
    },
    /// The name is not a regular file (a FIFO, socket, device or directory).
    NotRegularFile {
        /// The segment name.
        name: String,
    },
    /// The file belongs to another user.
    ForeignOwner {
        /// The segment name.
        name: String,
        /// The file's owner.
        uid: u32,
        /// Our effective uid.
        expected: u32,
    },
    /// The file is readable or writable by group or others.
    InsecureMode {
        /// The segment name.
        name: String,
        /// The file's permission bits.
        mode: u32,
    },
    /// The file is too small or its size disagrees with its header.
    BadSize {
        /// The segment name.
        name: String,
        /// Size of the file in bytes.
        size: u64,
        /// Size the header or the layout calls for.
        expected: u64,
    },
    /// The file does not start with shmkit's magic bytes.
    BadMagic {
        /// The segment name.
        name: String,
    },
    /// The segment was made by an incompatible format version.
    VersionMismatch {
        /// The segment name.
        name: String,
        /// Version in the segment.
        found: u32,
        /// Version this library reads.
        expected: u32,
    },
    /// The header is damaged: its checksum or a field is wrong.
    Corrupt {
        /// The segment name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The segment holds another kind of object (e.g. an Array, not a Value).
    WrongKind {
        /// The segment name.
        name: String,
        /// What the segment holds, e.g. `Array<f32>[1024]`.
        holds: String,
        /// What the caller asked for, e.g. `Value<u64>`.
        wanted: String,
    },
    /// The segment holds the right kind of object with another element type
    /// or capacity.
    WrongType {
        /// The segment name.
        name: String,
        /// What the segment holds, e.g. `Queue<Job>[64]`.
        holds: String,
        /// What the caller asked for, e.g. `Queue<Job>[128]` (the capacity
        /// only if the call named one).
        wanted: String,
        /// The first difference between the two layouts of a same-named
        /// element type, e.g. `field 'weight' is f32 at offset 8 there, u32
        /// at offset 8 here` ("there" is the segment, "here" the caller).
        difference: Option<String>,
    },
    /// Every slot of the segment's liveness registry is held by a live handle
    /// (at open, or in a `fork()`ed child that needs a slot of its own for a
    /// handle its parent made).
    RegistryFull {
        /// The segment name.
        name: String,
        /// Number of slots.
        slots: u32,
    },
    /// The segment does not fit: it is larger than the shm filesystem's
    /// free space or than the memory the kernel can give out
    /// (`MemAvailable`). A segment is memory (a tmpfs file), reserved whole
    /// when it is created.
    NoSpace {
        /// The segment name.
        name: String,
        /// Bytes asked for.
        bytes: u64,
    },
    /// The OS refused access to the file.
    PermissionDenied {
        /// The segment name.
        name: String,
    },
    /// An endpoint that only one process may hold at a time (the sending or
    /// receiving end of a single-producer queue, a pipe end) is held by a
    /// live process. A dead holder's end is taken over instead.
    Busy {
        /// The segment name.
        name: String,
        /// Which end, e.g. `"sender"`.
        end: &'static str,
    },
    /// An argument is out of range (e.g. a capacity of zero).
    InvalidArgument(String),
    /// The object cannot be used in a `fork()`ed child through a handle
    /// its parent made (an end only one process may hold): open it anew in
    /// the child.
    Forked {
        /// The segment name.
        name: String,
        /// What cannot be shared with the parent, e.g. `"sender"`.
        what: &'static str,
    },
    /// Another OS error.
    Io {
        /// What was being done.
        op: &'static str,
        /// The segment name.
        name: String,
        /// The OS error.
        source: io::Error,
    },
}

impl Error {
    /// Maps an OS error from opening or creating `name` to the matching variant.
    pub(crate) fn from_open(op: &'static str, name: &str, e: io::Error) -> Error {
        let name = name.to_owned();
        match e.raw_os_error() {
            Some(libc::EEXIST) => Error::AlreadyExists { name },
            Some(libc::ENOENT) => Error::NotFound { name },
            Some(libc::ELOOP) => Error::Symlink { name },
            Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied { name },
            Some(libc::ENXIO) | Some(libc::ENODEV) | Some(libc::EISDIR) => Error::NotRegularFile { name },
            _ => Error::Io { op, name, source: e },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidName { name, reason } => {
                write!(f, "invalid segment name \"{name}\": {reason}")
            }
            Error::AlreadyExists { name } => {
                write!(f, "segment '{name}' already exists (open it, or remove it with shmkit::unlink)")
            }
            Error::NotFound { name } => write!(f, "segment '{name}' does not exist"),
            Error::Symlink { name } => {
                write!(f, "segment '{name}' is a symbolic link; shmkit refuses to follow it")
            }
            Error::NotRegularFile { name } => {
                write!(f, "segment '{name}' is not a regular file (a FIFO, socket or device?); refused")
            }
            Error::ForeignOwner { name, uid, expected } => {
                write!(f, "segment '{name}' belongs to uid {uid}, not to this user (uid {expected}); refused")
            }
            Error::InsecureMode { name, mode } => write!(
                f,
                "segment '{name}' has mode {mode:04o}: group or others may access it; refused \
                 (opt in with OpenOptions::allow_shared_mode)"
            ),
            Error::BadSize { name, size, expected } => {
                write!(f, "segment '{name}' is {size} bytes but its layout needs {expected}: truncated or corrupted")
            }
            Error::BadMagic { name } => {
                write!(f, "'{name}' is not a shmkit segment (wrong magic bytes)")
            }
            Error::VersionMismatch { name, found, expected } => {
                let age = if found < expected { "an older" } else { "a newer" };
                write!(
                    f,
                    "segment '{name}' has format version {found}, from {age} shmkit; this shmkit reads version \
                     {expected} (remove it with `shmkit rm` and create it anew)"
                )
            }
            Error::Corrupt { name, reason } => write!(f, "segment '{name}' is corrupted: {reason}"),
            Error::WrongType { name, holds, difference: Some(difference), .. } => {
                write!(f, "segment '{name}' holds {holds}; {difference}")
            }
            Error::WrongKind { name, holds, wanted } | Error::WrongType { name, holds, wanted, difference: None } => {
                write!(f, "segment '{name}' holds {holds}, not {wanted}")
            }
            Error::RegistryFull { name, slots } => {
                write!(f, "segment '{name}' has all {slots} liveness slots taken by live handles")
            }
            Error::NoSpace { name, bytes } => {
                write!(
                    f,
                    "no room for segment '{name}' ({bytes} bytes): a segment is memory (a tmpfs file in /dev/shm), \
                     and the shm filesystem's free space or the available memory is smaller"
                )
            }
            Error::PermissionDenied { name } => {
                write!(f, "permission denied for segment '{name}'")
            }
            Error::Busy { name, end } => {
                write!(f, "the {end} of segment '{name}' is held by a live process")
            }
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Forked { name, what } => write!(
                f,
                "the {what} of segment '{name}' was made by the parent of this fork()ed process and cannot be \
                 shared with it; open the segment anew in the child"
            ),
            Error::Io { op, name, source } => write!(f, "{op} segment '{name}': {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
