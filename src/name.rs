//! Segment names and the files that hold them.

use std::ffi::CString;

use crate::error::Error;
use crate::sys;

/// Prefix of every segment file in the shm directory, so that `shmkit ls`
/// finds them and nothing else.
pub const FILE_PREFIX: &str = "shmkit.";

/// Longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Checks a segment name: 1–200 characters of `[A-Za-z0-9._-]`, not `.` or
/// `..`, not starting with `-` (it would read as an option to `shmkit`).
///
/// # Errors
/// [`Error::InvalidName`] saying which rule the name breaks.
pub fn validate(name: &str) -> Result<(), Error> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_LEN {
        "it is longer than 200 characters"
    } else if name == "." || name == ".." {
        "'.' and '..' are reserved"
    } else if name.starts_with('-') {
        "it starts with '-', which would read as an option on a command line; names may not start with '-'"
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        "only A-Z, a-z, 0-9, '.', '_' and '-' are allowed"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName { name: name.escape_debug().to_string(), reason })
}

/// The path of the file behind a (valid) name.
pub(crate) fn path_of(name: &str) -> Result<CString, Error> {
    validate(name)?;
    // A valid name has no NUL byte, so this cannot fail; map it anyway.
    CString::new(format!("{}/{FILE_PREFIX}{name}", sys::SHM_DIR))
        .map_err(|_| Error::InvalidName { name: name.escape_debug().to_string(), reason: "it contains a NUL byte" })
}

/// A private path to build a segment under before it is published as
/// `name`: in the shm directory (so `link` can publish it), and holding a
/// `~`, which no segment name may contain, so it never collides with one and
/// `shmkit ls` skips it.
pub(crate) fn temp_path_of(name: &str) -> Result<CString, Error> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    validate(name)?;
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    CString::new(format!("{}/{FILE_PREFIX}~tmp.{}.{seq}.{name}", sys::SHM_DIR, std::process::id()))
        .map_err(|_| Error::InvalidName { name: name.escape_debug().to_string(), reason: "it contains a NUL byte" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        for bad in ["", ".", "..", "a/b", "a\0b", "a b", "é", "-x", "--help", "-", &"x".repeat(201)] {
            assert!(matches!(validate(bad), Err(Error::InvalidName { .. })), "{bad:?}");
        }
        for good in ["a", "...", "a.b-c_D9", "a-", "a--b", "_-x", &"x".repeat(200)] {
            validate(good).unwrap();
        }
        match validate("-x") {
            Err(e @ Error::InvalidName { .. }) => assert!(e.to_string().contains("may not start with '-'"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
